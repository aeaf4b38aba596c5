"""The paper's four competitors (section 5.2) and one modern rival.

REPEN, Deep SVDD and FSNet are here (they need torch); iForest and the
gradient-boosted trees are the package's own rivals (:mod:`deviation.rivals`,
no torch), re-exported. Each is a small scikit-learn style estimator:
``fit(X, y)`` with ``y`` 1 for a labeled anomaly and 0 for an unlabeled row,
``decision_function(X)`` higher for more anomalous rows, ``random_state``
seeding a NumPy (and, for the neural ones, a torch) generator.
"""

from deviation.rivals import CatBoostRival, GradientBoosting, IForest, catboost_available

from .dsvdd import DeepSVDD
from .fsnet import FSNet
from .repen import REPEN

__all__ = ["CatBoostRival", "DeepSVDD", "FSNet", "GradientBoosting", "IForest", "REPEN", "catboost_available"]
