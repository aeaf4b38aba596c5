"""Compare DevNet with its rivals on the user's own weakly labeled data, and recommend one.

:func:`compare` estimates each candidate's quality from the labels alone: a
stratified K-fold split holds out a share of the labeled anomalies together
with the same share of the unlabeled rows; each candidate is trained on the
rest, and the held-out labeled anomalies are ranked against the held-out
unlabeled rows (AUC-PR and AUC-ROC). The preferred candidate (the
devnet+catboost blend when CatBoost is installed, else the default DevNet) is
recommended unless another candidate beats it clearly: a lead in mean AUC-PR
significant in a one-sided paired t-test at the 5% level over the folds (see
:func:`recommend`). A close race goes to the preferred candidate because the
cross-validation is noisy with few labeled anomalies, and a wrong switch costs
more than it gains (``docs/ACCURACY.md``).

Why the estimate is biased, and why the ranking still holds: the held-out
unlabeled rows contain the anomalies nobody labeled, and they count as
negatives. A method that scores them high (correctly) is penalised, so every
estimate is lower than the method's true AUC-PR on fully labeled data, by an
amount that grows with the contamination. The bias applies to every candidate
alike as long as the labeled anomalies are representative of the unlabeled
ones, so the order of the methods is preserved in expectation; what the
numbers are not is a measurement of the accuracy you will see.
``docs/ACCURACY.md`` reports how often the recommendation picked the truly best
method on data with known labels.

Candidates (all trained with unlabeled rows as normal where they use labels):

``devnet``         ``DevNet()`` (the default preset)
``devnet-paper``   ``DevNet(preset="paper")``
``catboost``       CatBoost, if installed (``pip install 'deviation[catboost]'``)
``hist-gbt``       scikit-learn's ``HistGradientBoostingClassifier`` (used when CatBoost is absent)
``iforest``        Isolation Forest (unsupervised)
``devnet+catboost`` the mean of the default DevNet's and CatBoost's standardised
                   scores (:class:`~deviation.blend.ScoreBlend`), if CatBoost is installed

Each is preceded by :class:`~deviation.preprocess.Preprocessor` (mean
imputation, one-hot encoding; min-max scaling for the DevNets), fitted inside
each fold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from ._limits import SEED_BOUND
from .exceptions import DataError, ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "CANDIDATES",
    "Comparison",
    "compare",
    "default_methods",
    "make_candidate",
    "recommend",
    "save_recommended",
]

CANDIDATES = ("devnet", "devnet-paper", "catboost", "hist-gbt", "iforest", "devnet+catboost")
#: Blends, by name: their members (candidates themselves).
BLENDS = {"devnet+catboost": ("devnet", "catboost")}
#: The candidate recommended unless another beats it clearly: the first of these that is compared.
PREFERENCE = ("devnet+catboost", "devnet")


def default_methods() -> tuple[str, ...]:
    """The candidates compared by default.

    With CatBoost installed: devnet, devnet-paper, catboost, iforest and the
    devnet+catboost blend; without it, HistGradientBoosting replaces CatBoost
    and there is no blend.
    """
    from .rivals import catboost_available

    if catboost_available():
        return ("devnet", "devnet-paper", "catboost", "iforest", "devnet+catboost")
    return ("devnet", "devnet-paper", "hist-gbt", "iforest")


def make_candidate(name: str, random_state: int | None = None, *, categorical: Any = "auto") -> Any:
    """An unfitted candidate: a Pipeline of a Preprocessor and the model (a ScoreBlend of such for a blend).

    Parameters
    ----------
    name : str
        One of :data:`CANDIDATES`.
    random_state : int or None
    categorical : "auto" or list of str
        Passed to the Preprocessor.
    """
    from .estimator import DevNet
    from .preprocess import Preprocessor

    if name in BLENDS:
        from .blend import ScoreBlend

        members = [(m, make_candidate(m, random_state, categorical=categorical)) for m in BLENDS[name]]
        return ScoreBlend(members, random_state=random_state)
    if name == "devnet":
        model: Any = DevNet(random_state=random_state)
        scaling = "minmax"
    elif name == "devnet-paper":
        model = DevNet(preset="paper", random_state=random_state)
        scaling = "minmax"
    elif name == "catboost":
        from .rivals import CatBoostRival

        model, scaling = CatBoostRival(thread_count=-1, random_state=random_state), "none"
    elif name == "hist-gbt":
        from .rivals import GradientBoosting

        model, scaling = GradientBoosting(random_state=random_state), "none"
    elif name == "iforest":
        from .rivals import IForest

        model, scaling = IForest(random_state=random_state), "minmax"
    else:
        raise ParameterError(f"unknown method {name!r}; choose from {', '.join(CANDIDATES)}.")
    return Pipeline([("preprocessor", Preprocessor(scaling=scaling, categorical=categorical)), ("model", model)])


@dataclass
class Comparison:
    """What :func:`compare` measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method, best first: ``auc_pr``, ``auc_pr_std``, ``auc_roc``,
        ``auc_roc_std`` (over folds) and ``fit_seconds`` (mean per fold).
    folds : pandas.DataFrame
        One row per method and fold.
    best : str
        The recommended method (see :func:`recommend`).
    leader : str
        The method with the highest mean AUC-PR (may differ from ``best``).
    n_folds : int
    n_rows_used : int
        Rows used by the cross-validation (after any subsampling of unlabeled rows).
    """

    table: pd.DataFrame
    folds: pd.DataFrame
    best: str
    n_folds: int
    n_rows_used: int
    leader: str = ""

    def report(self) -> str:
        """The table and the recommendation as plain text."""
        lines = [
            f"{'method':16} {'AUC-PR':>15} {'AUC-ROC':>15} {'fit s':>8}",
        ]
        for name, row in self.table.iterrows():
            lines.append(
                f"{name:16} {row.auc_pr:>7.3f} +- {row.auc_pr_std:.3f} {row.auc_roc:>7.3f} +- {row.auc_roc_std:.3f} "
                f"{row.fit_seconds:>8.2f}"
            )
        lines.append("")
        lines.append(f"recommended: {self.best}")
        leader = self.leader or self.best
        if leader != self.best:
            gap = self.table.loc[leader, "auc_pr"] - self.table.loc[self.best, "auc_pr"]
            lines.append(
                f"({leader} leads by {gap:.3f} AUC-PR, not significant over the folds (one-sided paired t-test, "
                f"{SWITCH_LEVEL:.0%}): not a clear win, so the preferred {self.best} is kept)"
            )
        elif len(self.table) > 1:
            runner_up = self.table.index[1]
            gap = self.table.auc_pr.iloc[0] - self.table.auc_pr.iloc[1]
            spread = max(self.table.auc_pr_std.iloc[0], self.table.auc_pr_std.iloc[1])
            if gap < spread:
                lines.append(
                    f"(ahead of {runner_up} by {gap:.3f} AUC-PR, less than the fold-to-fold spread {spread:.3f}: "
                    "a near tie)"
                )
        lines.append(
            f"Estimated by {self.n_folds}-fold cross-validation on {self.n_rows_used} rows: held-out labeled "
            "anomalies ranked against held-out unlabeled rows. Unlabeled anomalies count as normal here, so "
            "every number is below the true accuracy; the order of the methods is what to read."
        )
        return "\n".join(lines)


def _check_labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row); got shape {y.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("y must hold 0 (unlabeled) and 1 (labeled anomaly) only.")
    return y.astype(np.int64)


def compare(
    X: Any,
    y: Any,
    *,
    methods: Sequence[str] | None = None,
    n_folds: int = 5,
    max_unlabeled: int | None = 20_000,
    categorical: Any = "auto",
    random_state: int | None = None,
) -> Comparison:
    """Cross-validate the candidates on weakly labeled data and pick the best.

    Parameters
    ----------
    X : DataFrame, array-like or sparse matrix of shape (n_samples, n_features)
        Raw features (imputed, encoded and scaled inside each fold).
    y : array-like of shape (n_samples,)
        1 for a labeled anomaly, 0 for an unlabeled row.
    methods : sequence of str, optional
        Names from :data:`CANDIDATES`; default :func:`default_methods`.
    n_folds : int, default=5
        Folds of the stratified split (lowered to the number of labeled
        anomalies when there are fewer; at least 2 are needed).
    max_unlabeled : int or None, default=20000
        The cross-validation uses at most this many unlabeled rows (a uniform
        sample; every labeled anomaly is kept), so that it stays quick on big
        tables. ``None`` uses all rows.
    categorical : "auto" or list of str
        Columns to one-hot encode (see :class:`~deviation.preprocess.Preprocessor`).
    random_state : int or None

    Returns
    -------
    Comparison

    Raises
    ------
    DataError
        With fewer than 2 labeled anomalies or no unlabeled row.
    ParameterError
        For an unknown method or an invalid ``n_folds``.
    """
    methods = tuple(default_methods() if methods is None else methods)
    for name in methods:
        if name not in CANDIDATES:
            raise ParameterError(f"unknown method {name!r}; choose from {', '.join(CANDIDATES)}.")
    if not methods:
        raise ParameterError("methods is empty; name at least one candidate.")
    if not (isinstance(n_folds, (int, np.integer)) and n_folds >= 2):
        raise ParameterError(f"n_folds must be an int >= 2. Got {n_folds!r} instead.")
    y = _check_labels(y)
    if len(y) != X.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but y has {len(y)} labels; pass one label per row.")
    n_anomalies = int(y.sum())
    if n_anomalies < 2:
        raise DataError(
            f"compare needs at least 2 labeled anomalies to hold some out; y has {n_anomalies}. "
            "Label more anomalies, or fit DevNet directly."
        )
    if n_anomalies == len(y):
        raise DataError("y has no unlabeled row (0); compare needs unlabeled data.")
    rng = np.random.default_rng(random_state)
    rows = np.arange(len(y))
    unlabeled = np.flatnonzero(y == 0)
    if max_unlabeled is not None and len(unlabeled) > max_unlabeled:
        rows = np.sort(np.r_[rng.choice(unlabeled, max_unlabeled, replace=False), np.flatnonzero(y == 1)])
    X_cv = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    y_cv = y[rows]
    k = int(min(n_folds, n_anomalies))
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(rng.integers(SEED_BOUND)))
    records = []
    for fold, (train, test) in enumerate(folds.split(np.zeros(len(y_cv)), y_cv)):
        X_tr = X_cv.iloc[train] if hasattr(X_cv, "iloc") else X_cv[train]
        X_te = X_cv.iloc[test] if hasattr(X_cv, "iloc") else X_cv[test]
        seed = int(rng.integers(SEED_BOUND))
        fitted: dict[str, tuple[Any, float]] = {}
        for name in sorted(methods, key=lambda m: m in BLENDS):  # blends after their members
            start = time.perf_counter()
            if name in BLENDS and all(m in fitted for m in BLENDS[name]):
                # the members were fitted in this fold already: standardise and average them
                from .blend import ScoreBlend

                model = ScoreBlend.from_fitted([(m, fitted[m][0]) for m in BLENDS[name]], X_tr, y_cv[train],
                                               random_state=seed)
                seconds = time.perf_counter() - start + sum(fitted[m][1] for m in BLENDS[name])
            else:
                model = make_candidate(name, seed, categorical=categorical)
                model.fit(X_tr, y_cv[train])
                seconds = time.perf_counter() - start
            fitted[name] = (model, seconds)
            scores = model.decision_function(X_te)
            records.append({
                "method": name,
                "fold": fold,
                "auc_pr": float(average_precision_score(y_cv[test], scores)),
                "auc_roc": float(roc_auc_score(y_cv[test], scores)),
                "fit_seconds": seconds,
            })
            logger.info("fold %d %s: AUC-PR %.3f", fold, name, records[-1]["auc_pr"])
    per_fold = pd.DataFrame(records)
    grouped = per_fold.groupby("method", sort=False)
    table = pd.DataFrame({
        "auc_pr": grouped.auc_pr.mean(),
        "auc_pr_std": grouped.auc_pr.std(ddof=0),
        "auc_roc": grouped.auc_roc.mean(),
        "auc_roc_std": grouped.auc_roc.std(ddof=0),
        "fit_seconds": grouped.fit_seconds.mean(),
    }).sort_values("auc_pr", ascending=False, kind="stable")
    table.index.name = "method"
    leader = str(table.index[0])
    return Comparison(table=table, folds=per_fold, best=recommend(per_fold), n_folds=k,
                      n_rows_used=len(rows), leader=leader)


def preferred_method(methods: Sequence[str]) -> str | None:
    """The candidate kept unless clearly beaten: the first of :data:`PREFERENCE` among ``methods``."""
    return next((m for m in PREFERENCE if m in methods), None)


#: Level of the one-sided paired t-test a rival's lead must pass to replace the preferred candidate.
SWITCH_LEVEL = 0.05


def recommend(folds: pd.DataFrame, default: str | None = None) -> str:
    """The method to recommend from per-fold results (columns ``method``, ``fold``, ``auc_pr``).

    The method with the highest mean AUC-PR, unless ``default`` (by default
    :func:`preferred_method` of the candidates) is among the candidates and the
    leader's lead over it is not clear: not significant in a one-sided paired
    t-test at level :data:`SWITCH_LEVEL` over the folds (the mean per-fold
    difference must exceed ``t(1 - SWITCH_LEVEL, n_folds - 1)`` standard
    errors: 2.13 with 5 folds). Then ``default``.
    """
    wide = folds.pivot(index="fold", columns="method", values="auc_pr")
    means = wide.mean()
    leader = str(means.idxmax())
    if default is None:
        default = preferred_method(list(wide.columns))
    if leader == default or default not in wide.columns or len(wide) < 2:
        return leader
    diff = (wide[leader] - wide[default]).to_numpy()
    stderr = diff.std(ddof=1) / np.sqrt(len(diff))
    critical = scipy.stats.t.ppf(1.0 - SWITCH_LEVEL, len(diff) - 1)
    return leader if diff.mean() > critical * stderr else default


#: File suffix of a saved model, by method (``None``: no non-pickle format).
SAVE_SUFFIX = {"devnet": ".model", "devnet-paper": ".model", "catboost": ".model", "hist-gbt": None, "iforest": None,
               "devnet+catboost": ".model"}


def save_recommended(
    method: str,
    X: Any,
    y: Any,
    path: Any,
    *,
    categorical: Any = "auto",
    random_state: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Fit ``method`` on all of ``X, y`` and save it as one ``deviation`` model file (no pickle).

    Every savable method is written as one checksummed ``.model`` file
    (:func:`deviation.persistence.save`), read back with :func:`deviation.load`
    and scored with ``deviation score``: DevNet as a (Preprocessor, DevNet)
    pipeline; CatBoost as a pipeline of its Preprocessor and the CatBoost rival
    (the trees in CatBoost's own format inside the file); the devnet+catboost
    blend with both members inside. The suffix of ``path`` is set to
    ``.model``. The file is written atomically.

    Returns
    -------
    pathlib.Path
        The model file written.

    Raises
    ------
    ParameterError
        For ``hist-gbt`` and ``iforest``, which scikit-learn can only save with
        pickle: install CatBoost or pick a DevNet.
    """
    from .persistence import save

    suffix = SAVE_SUFFIX.get(method, None)
    if suffix is None:
        raise ParameterError(
            f"{method} cannot be saved: scikit-learn offers only pickle, which this library does not write. "
            "Install CatBoost (pip install 'deviation[catboost]') so that compare can recommend and save a "
            "tree model in its own format, or save a DevNet with --methods devnet."
        )
    path = Path(path)
    name = path.name
    for known in (".blend.json", ".model", ".cbm", ".zip", ".devnet", ".json"):
        if name.lower().endswith(known):
            name = name[: -len(known)]
            break
    path = path.with_name(name + suffix)
    if not path.parent.exists():
        raise DataError(f"cannot write {path}: directory {str(path.parent)!r} does not exist")
    model = make_candidate(method, random_state, categorical=categorical).fit(X, _check_labels(y))
    if method in BLENDS:
        from .blend import save_blend

        return save_blend(model, path, metadata=metadata)
    pre, inner = model.steps[0][1], model.steps[-1][1]
    if method.startswith("devnet"):
        model = Pipeline([("preprocessor", pre), ("devnet", inner)])
    save(model, path, metadata=metadata)
    return path
