"""The paper's four competitors (section 5.2) and one modern rival.

Each is a small scikit-learn style estimator: ``fit(X, y)`` with ``y`` 1 for a
labeled anomaly and 0 for an unlabeled row, ``decision_function(X)`` higher for
more anomalous rows, ``random_state`` seeding a NumPy and a torch generator.
"""

from .catboost import CatBoostRival, catboost_available
from .dsvdd import DeepSVDD
from .fsnet import FSNet
from .gbt import GradientBoosting
from .iforest import IForest
from .repen import REPEN

__all__ = ["CatBoostRival", "DeepSVDD", "FSNet", "GradientBoosting", "IForest", "REPEN", "catboost_available"]
