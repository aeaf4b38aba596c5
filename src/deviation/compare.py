"""Compare DevNet with its rivals on the user's own weakly labeled data, and recommend one.

:func:`compare` estimates each candidate's quality from the labels alone: a
stratified K-fold split holds out a share of the labeled anomalies together
with the same share of the unlabeled rows; each candidate is trained on the
rest, and the held-out labeled anomalies are ranked against the held-out
unlabeled rows (AUC-PR and AUC-ROC). The preferred candidate (the
devnet+catboost blend when CatBoost is installed, else the default DevNet) is
recommended unless another candidate is significantly ahead of it: a lead in
mean AUC-PR significant in a one-sided paired t-test at the 5% level over the
folds. Then the leader (the highest mean AUC-PR) is recommended instead, so
the pick is never a candidate that the user's own cross-validation shows to be
significantly behind another (see :func:`decide`). A close race goes to the
preferred candidate because the cross-validation is noisy with few labeled
anomalies, and a wrong switch costs more than it gains (``docs/ACCURACY.md``);
the report says so in words when the folds cannot separate the candidates.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    "Decision",
    "Step",
    "compare",
    "decide",
    "default_methods",
    "make_candidate",
    "recommend",
    "save_recommended",
]

CANDIDATES = ("devnet", "devnet-paper", "catboost", "hist-gbt", "iforest", "devnet+catboost")
#: Blends, by name: their members (candidates themselves).
BLENDS = {"devnet+catboost": ("devnet", "catboost")}
#: Unlabeled rows the tree models train on in each fold of :func:`compare` (every labeled anomaly kept).
TREE_MAX_UNLABELED = 5_000
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


@dataclass(frozen=True)
class Step:
    """One candidate-fold done by :func:`compare`, as passed to its ``progress`` callback.

    Attributes
    ----------
    method : str
        The candidate just fitted and scored.
    fold : int
        Its fold (0-based).
    done : int
        Candidate-folds done so far, this one included (1 to ``total``).
    total : int
        Candidate-folds in the whole comparison (``n_folds * len(methods)``).
    seconds : float
        Wall-clock seconds this step took (the first candidate of a fold also
        pays for the fold's shared preprocessing).
    elapsed : float
        Wall-clock seconds since the cross-validation started.
    """

    method: str
    fold: int
    done: int
    total: int
    seconds: float
    elapsed: float


@dataclass(frozen=True)
class Decision:
    """Why :func:`decide` recommends what it does, and how sure the folds are.

    Attributes
    ----------
    best : str
        The recommended method.
    leader : str
        The method with the highest mean AUC-PR.
    preferred : str or None
        The candidate kept unless significantly beaten (None when none of
        :data:`PREFERENCE` was compared).
    reason : {"leader", "preferred", "preferred-behind", "only"}
        ``"leader"``: the leader is recommended (it is the preferred candidate,
        or no preferred candidate was compared); ``"preferred"``: the preferred
        candidate is kept although another leads, because no candidate is
        significantly ahead of it; ``"preferred-behind"``: the preferred
        candidate is significantly behind ``behind_of`` and left, the leader is
        recommended; ``"only"``: a single candidate.
    behind_of : str or None
        For ``"preferred-behind"``: the candidate significantly ahead of the
        preferred one (the one with the smallest p-value).
    versus : pandas.DataFrame
        One row per other method (index ``method``): ``difference`` (mean
        per-fold AUC-PR of ``best`` minus that method's), ``stderr`` (its
        standard error over the folds), ``p_ahead`` (one-sided paired t-test
        p-value of ``best`` being ahead), ``p_behind`` (of ``best`` being
        behind), ``ahead`` (``best`` significantly ahead at :data:`SWITCH_LEVEL`)
        and ``behind`` (significantly behind: never true for the recommended
        method).
    n_folds : int
    level : float
        The significance level (:data:`SWITCH_LEVEL`).
    """

    best: str
    leader: str
    preferred: str | None
    reason: str
    behind_of: str | None
    versus: pd.DataFrame
    n_folds: int
    level: float

    @property
    def separated(self) -> bool:
        """Whether ``best`` is significantly ahead of every other candidate."""
        return bool(len(self.versus)) and bool(self.versus.ahead.all())

    @property
    def inseparable(self) -> list[str]:
        """The candidates the folds cannot separate from ``best`` (neither significantly ahead nor behind)."""
        return [str(m) for m, row in self.versus.iterrows() if not row.ahead and not row.behind]

    def _pair(self, method: str) -> str:
        row = self.versus.loc[method]
        return f"{row.difference:+.3f} ± {row.stderr:.3f}"

    def sentences(self) -> list[str]:
        """The recommendation and its uncertainty, in plain words (one sentence a line)."""
        if self.reason == "only":
            return [f"{self.best} is the only candidate: nothing to compare it with."]
        k = self.n_folds
        lines = []
        if self.reason == "preferred-behind":
            lines.append(
                f"{self.preferred}, preferred by default, is significantly behind {self.behind_of} here, so it is "
                "not recommended.")
        ahead = [str(m) for m, row in self.versus.iterrows() if row.ahead]
        close = self.inseparable
        if ahead:
            pairs = ", ".join(f"{m} ({self._pair(m)})" for m in ahead)
            lines.append(f"{self.best} is significantly better than {pairs} (mean AUC-PR difference ± standard "
                         f"error over {k} folds, one-sided paired t-test at {self.level:.0%}).")
        if close:
            pairs = ", ".join(f"{m} ({self._pair(m)})" for m in close)
            lines.append(f"The folds cannot separate {self.best} from {pairs} (mean AUC-PR difference ± standard "
                         f"error over {k} folds): the choice among them is uncertain.")
        if self.reason == "preferred":
            lines.append(
                f"{self.best} is recommended because it is the preferred candidate (the most accurate on data "
                f"with known labels, docs/ACCURACY.md) and no candidate is significantly ahead of it; "
                f"{self.leader} leads on these folds by {-self.versus.loc[self.leader, 'difference']:.3f} AUC-PR, "
                "within the noise.")
        elif close:
            why = ("it has the highest mean AUC-PR" if self.preferred is None or self.reason == "preferred-behind"
                   else "it is the preferred candidate and has the highest mean AUC-PR")
            lines.append(f"{self.best} is recommended because {why}.")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready values (what ``deviation compare --json`` prints under ``decision``)."""
        return {
            "recommended": self.best,
            "leader": self.leader,
            "preferred": self.preferred,
            "reason": self.reason,
            "behind_of": self.behind_of,
            "separated": self.separated,
            "inseparable": self.inseparable,
            "level": self.level,
            "n_folds": self.n_folds,
            "versus": [
                {"method": str(m), "mean_auc_pr_difference": float(r.difference), "stderr": float(r.stderr),
                 "p_ahead": float(r.p_ahead), "p_behind": float(r.p_behind),
                 "significantly_better": bool(r.ahead), "significantly_worse": bool(r.behind)}
                for m, r in self.versus.iterrows()
            ],
            "message": " ".join(self.sentences()),
        }


@dataclass
class Comparison:
    """What :func:`compare` measured.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per method, best first: ``auc_pr``, ``auc_pr_std``, ``auc_roc``,
        ``auc_roc_std`` (over folds) and ``fit_seconds`` (mean per fold, the
        candidate's preprocessing included).
    folds : pandas.DataFrame
        One row per method and fold.
    best : str
        The recommended method (see :func:`decide`).
    n_folds : int
    n_rows_used : int
        Rows used by the cross-validation (after any subsampling of unlabeled rows).
    leader : str
        The method with the highest mean AUC-PR (may differ from ``best``).
    decision : Decision or None
        Why ``best`` was chosen and how sure the folds are about it.
    seconds : float
        Wall-clock seconds the cross-validation took.
    """

    table: pd.DataFrame
    folds: pd.DataFrame
    best: str
    n_folds: int
    n_rows_used: int
    leader: str = ""
    decision: Decision | None = None
    seconds: float = 0.0

    def report(self) -> str:
        """The table, the recommendation and how uncertain it is, as plain text."""
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
        decision = self.decision if self.decision is not None else decide(self.folds)
        lines.extend(decision.sentences())
        lines.append(
            f"Estimated by {self.n_folds}-fold cross-validation on {self.n_rows_used} rows: held-out labeled "
            "anomalies ranked against held-out unlabeled rows. Unlabeled anomalies count as normal here, so "
            "every number is below the true accuracy; the order of the methods is what to read."
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready values (what ``deviation compare --json`` prints)."""
        decision = self.decision if self.decision is not None else decide(self.folds)
        return {
            "recommended": self.best,
            "leader": self.leader or decision.leader,
            "n_folds": self.n_folds,
            "n_rows_used": self.n_rows_used,
            "seconds": round(float(self.seconds), 3),
            "methods": self.table.reset_index().to_dict(orient="records"),
            "decision": decision.to_dict(),
        }


def _check_labels(y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row); got shape {y.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("y must hold 0 (unlabeled) and 1 (labeled anomaly) only.")
    return y.astype(np.int64)


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def _unscaled(pre: Any) -> Any:
    """The preprocessor ``pre`` with ``scaling="none"``, from its fitted parts (no refit).

    Imputation, column kinds and the one-hot encoding do not depend on the
    scaling, so this transforms exactly as ``Preprocessor(scaling="none")``
    fitted on the same rows would.
    """
    from .preprocess import Preprocessor

    return Preprocessor.from_fitted(
        {**pre.get_params(deep=False), "scaling": "none"},
        input_kind=pre.input_kind_,
        feature_names_in=list(pre.feature_names_in_),
        numeric_features=pre.numeric_features_,
        categorical_features=pre.categorical_features_,
        binary_features=pre.binary_features_,
        all_missing_features=pre.all_missing_features_,
        imputer=pre.imputer_,
        scaler=None,
        encoder=pre.encoder_,
        column_kinds=getattr(pre, "column_kinds_", None),
    )


class _OncePerCompare(logging.Filter):
    """Lets a warning through once: the folds repeat the same preprocessing warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # a warning that names its subject (once_key) is the same warning whatever row counts it quotes
        once_key = getattr(record, "once_key", None)
        key = (record.name, once_key if once_key is not None else record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


@contextmanager
def warn_once() -> Iterator[None]:
    """While the block runs, each distinct warning of the package's loggers is logged once.

    The folds of :func:`compare` and the refit of :func:`save_recommended`
    repeat the same preprocessing warnings; ``deviation compare`` runs both
    inside one such block, so each is printed once per command.
    """
    from . import blend, estimator, preprocess, rivals  # noqa: F401  (their loggers exist before the filter is set)

    once = _OncePerCompare()
    loggers = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict)
               if name == "deviation" or name.startswith("deviation.")]
    for each in loggers:
        each.addFilter(once)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(once)


class _FoldInputs:
    """The preprocessed rows of one fold: each preprocessor fitted once and shared by the candidates that use it.

    The column typing behind a :class:`~deviation.preprocess.Preprocessor` is
    the slow part of a fit on text columns; candidates that differ only in the
    scaling share it (the unscaled one is built from the scaled one's parts).
    """

    def __init__(self, X_tr: Any, X_te: Any) -> None:
        self.X_tr, self.X_te = X_tr, X_te
        self._bases: dict[tuple, tuple[Any, float]] = {}
        self._done: dict[tuple, tuple[Any, Any, Any, float]] = {}

    def get(self, pre: Any) -> tuple[Any, Any, Any, float]:
        """``(fitted preprocessor, train rows, test rows, seconds)`` for an unfitted preprocessor.

        ``seconds`` is what fitting it and transforming the training rows
        costs on its own (the figure a candidate's ``fit_seconds`` includes).
        """
        params = pre.get_params(deep=False)
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        if key not in self._done:
            base_key = tuple(item for item in key if item[0] != "scaling")
            start = time.perf_counter()
            base = self._bases.get(base_key)
            if base is not None and params["scaling"] == "none":
                fitted, fit_seconds = _unscaled(base[0]), base[1]
            else:
                fitted = pre.fit(self.X_tr)
                fit_seconds = time.perf_counter() - start
                self._bases.setdefault(base_key, (fitted, fit_seconds))
            start = time.perf_counter()
            Z_tr = fitted.transform(self.X_tr)
            seconds = fit_seconds + time.perf_counter() - start
            self._done[key] = (fitted, Z_tr, fitted.transform(self.X_te), seconds)
        return self._done[key]


def compare(
    X: Any,
    y: Any,
    *,
    methods: Sequence[str] | None = None,
    n_folds: int = 5,
    max_unlabeled: int | None = 20_000,
    categorical: Any = "auto",
    random_state: int | None = None,
    progress: Callable[[Step], None] | None = None,
    tree_max_unlabeled: int | None = TREE_MAX_UNLABELED,
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
    progress : callable, optional
        Called with a :class:`Step` after each candidate is fitted and scored
        on a fold (``n_folds * len(methods)`` calls, ``done`` rising by one
        each time): the command line draws its progress bar with it. The
        function itself prints nothing; it logs one INFO line per fold.
    tree_max_unlabeled : int or None, default=5000
        In each fold the tree models (catboost, hist-gbt, and catboost inside
        the blend) train on at most this many unlabeled rows (a uniform
        sample; every labeled anomaly of the fold is kept). Trees cost time in
        proportion to their rows, and more unlabeled rows add little when
        there are a few labeled anomalies to learn from. ``None``: all the
        fold's rows. :func:`save_recommended` trains on all rows.

    Returns
    -------
    Comparison

    Raises
    ------
    DataError
        With fewer than 2 labeled anomalies or no unlabeled row.
    ParameterError
        For an unknown method or an invalid ``n_folds``.

    Notes
    -----
    Within a fold, candidates with the same preprocessing share one fitted
    :class:`~deviation.preprocess.Preprocessor` (and the unscaled one of the
    tree models is built from it): the result is the same as fitting each
    candidate's own, in a fraction of the time on tables with text columns.
    """
    methods = tuple(default_methods() if methods is None else methods)
    for name in methods:
        if name not in CANDIDATES:
            raise ParameterError(f"unknown method {name!r}; choose from {', '.join(CANDIDATES)}.")
    if not methods:
        raise ParameterError("methods is empty; name at least one candidate.")
    if not (isinstance(n_folds, (int, np.integer)) and n_folds >= 2):
        raise ParameterError(f"n_folds must be an int >= 2. Got {n_folds!r} instead.")
    if tree_max_unlabeled is not None and not (isinstance(tree_max_unlabeled, (int, np.integer))
                                               and tree_max_unlabeled >= 1):
        raise ParameterError(f"tree_max_unlabeled must be an int >= 1 or None. Got {tree_max_unlabeled!r} instead.")
    if progress is not None and not callable(progress):
        raise ParameterError(f"progress must be a callable or None. Got {progress!r} instead.")
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
    methods = tuple(dict.fromkeys(methods))
    rng = np.random.default_rng(random_state)
    rows = np.arange(len(y))
    unlabeled = np.flatnonzero(y == 0)
    if max_unlabeled is not None and len(unlabeled) > max_unlabeled:
        rows = np.sort(np.r_[rng.choice(unlabeled, max_unlabeled, replace=False), np.flatnonzero(y == 1)])
    X_cv = _rows(X, rows)
    y_cv = y[rows]
    k = int(min(n_folds, n_anomalies))
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(rng.integers(SEED_BOUND)))
    order = sorted(methods, key=lambda m: m in BLENDS)  # blends after their members
    total, done = k * len(order), 0
    records = []
    started = last = time.perf_counter()
    with warn_once():
        for fold, (train, test) in enumerate(folds.split(np.zeros(len(y_cv)), y_cv)):
            inputs = _FoldInputs(_rows(X_cv, train), _rows(X_cv, test))
            seed = int(rng.integers(SEED_BOUND))
            fitted: dict[str, tuple[Any, float, np.ndarray]] = {}

            def fit_single(name: str) -> tuple[Any, float, np.ndarray]:
                candidate = make_candidate(name, seed, categorical=categorical)
                pre, Z_tr, Z_te, pre_seconds = inputs.get(candidate.steps[0][1])
                inner = candidate.steps[-1][1]
                if tree_max_unlabeled is not None and "max_train_rows" in inner.get_params():
                    inner.set_params(max_train_rows=int(tree_max_unlabeled))
                start = time.perf_counter()
                inner.fit(Z_tr, y_cv[train])
                seconds = pre_seconds + time.perf_counter() - start
                return Pipeline([("preprocessor", pre), ("model", inner)]), seconds, inner.decision_function(Z_te)

            for name in order:
                if name in BLENDS:
                    # standardise and average the members (fitted in this fold already when compared themselves)
                    from .blend import ScoreBlend

                    members = {m: fitted[m] if m in fitted else fit_single(m) for m in BLENDS[name]}
                    start = time.perf_counter()
                    model = ScoreBlend.from_fitted([(m, members[m][0]) for m in BLENDS[name]], inputs.X_tr,
                                                   y_cv[train], random_state=seed)
                    seconds = time.perf_counter() - start + sum(members[m][1] for m in BLENDS[name])
                    scores = model.decision_function(inputs.X_te)
                else:
                    model, seconds, scores = fit_single(name)
                fitted[name] = (model, seconds, scores)
                records.append({
                    "method": name,
                    "fold": fold,
                    "auc_pr": float(average_precision_score(y_cv[test], scores)),
                    "auc_roc": float(roc_auc_score(y_cv[test], scores)),
                    "fit_seconds": seconds,
                })
                logger.debug("fold %d %s: AUC-PR %.3f", fold, name, records[-1]["auc_pr"])
                done += 1
                now = time.perf_counter()
                if progress is not None:
                    progress(Step(method=name, fold=fold, done=done, total=total, seconds=now - last,
                                  elapsed=now - started))
                last = now
            logger.info("fold %d of %d done in %.0f s: %s", fold + 1, k, time.perf_counter() - started,
                        ", ".join(f"{r['method']} {r['auc_pr']:.3f}" for r in records[-len(order):]))
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
    decision = decide(per_fold)
    return Comparison(table=table, folds=per_fold, best=decision.best, n_folds=k, n_rows_used=len(rows),
                      leader=decision.leader, decision=decision, seconds=time.perf_counter() - started)


def preferred_method(methods: Sequence[str]) -> str | None:
    """The candidate kept unless clearly beaten: the first of :data:`PREFERENCE` among ``methods``."""
    return next((m for m in PREFERENCE if m in methods), None)


#: Level of the one-sided paired t-test: a candidate significantly behind another at this level is not recommended.
SWITCH_LEVEL = 0.05


def _one_sided_p(diff: np.ndarray) -> float:
    """p-value of a one-sided paired t-test that the mean of ``diff`` is above 0."""
    mean = float(diff.mean())
    stderr = float(diff.std(ddof=1) / np.sqrt(len(diff)))
    if not stderr > 0:  # the same difference on every fold
        return 0.0 if mean > 0 else (0.5 if mean == 0 else 1.0)
    return float(scipy.stats.t.sf(mean / stderr, len(diff) - 1))


def _behind(wide: pd.DataFrame, method: str, level: float) -> list[tuple[float, str]]:
    """The candidates significantly ahead of ``method`` (p-value, name), smallest p first."""
    found = []
    for other in wide.columns:
        if other != method:
            p = _one_sided_p((wide[other] - wide[method]).to_numpy(dtype=np.float64))
            if p < level:
                found.append((p, str(other)))
    return sorted(found)


def decide(folds: pd.DataFrame, default: str | None = None, level: float = SWITCH_LEVEL) -> Decision:
    """The method to recommend from per-fold results, and how sure the folds are about it.

    The rule, on the per-fold AUC-PR (columns ``method``, ``fold``,
    ``auc_pr`` of ``folds``):

    1. A candidate is *significantly behind* another when the mean of their
       per-fold differences is above 0 in a one-sided paired t-test at
       ``level`` (the difference must exceed ``t(1 - level, n_folds - 1)``
       standard errors: 2.13 with 5 folds). Such a candidate is never
       recommended. The leader (highest mean AUC-PR) is never significantly
       behind anyone, so some candidate always qualifies.
    2. The preferred candidate (``default``, by default
       :func:`preferred_method` of the candidates: the devnet+catboost blend,
       else the default DevNet) is recommended unless it is significantly
       behind some candidate (any of them, not only the leader): a close race
       goes to it, because it was the most accurate on data with known labels
       and the folds are noisy with few labeled anomalies.
    3. Otherwise (no preferred candidate compared, or it is significantly
       behind), the leader is recommended.

    Parameters
    ----------
    folds : pandas.DataFrame
        One row per method and fold.
    default : str, optional
        The preferred candidate.
    level : float, default=SWITCH_LEVEL
        Significance level of the tests.

    Returns
    -------
    Decision
        The pick, the reason, and the recommended method against each other
        (mean difference, standard error, p-values, significance).
    """
    wide = folds.pivot(index="fold", columns="method", values="auc_pr")
    means = wide.mean()
    leader = str(means.idxmax())
    if default is None:
        default = preferred_method(list(wide.columns))
    elif default not in wide.columns:
        default = None
    n = len(wide)
    behind_of = None
    if default is None or n < 2:
        best, reason = leader, "leader"  # one fold: nothing to test, the leader
    else:
        beaten_by = _behind(wide, default, level)
        if beaten_by:
            best, reason, behind_of = leader, "preferred-behind", beaten_by[0][1]
        else:
            best, reason = default, ("leader" if default == leader else "preferred")
    if wide.shape[1] == 1:
        reason = "only"
    rows = []
    for other in wide.columns:
        if other == best:
            continue
        diff = (wide[best] - wide[other]).to_numpy(dtype=np.float64)
        stderr = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        p_ahead = _one_sided_p(diff) if n > 1 else 1.0
        p_behind = _one_sided_p(-diff) if n > 1 else 1.0
        rows.append({"method": str(other), "difference": float(diff.mean()), "stderr": stderr,
                     "p_ahead": p_ahead, "p_behind": p_behind, "ahead": p_ahead < level, "behind": p_behind < level})
    versus = pd.DataFrame(rows, columns=["method", "difference", "stderr", "p_ahead", "p_behind", "ahead", "behind"])
    versus = versus.set_index("method").sort_values("difference", kind="stable")
    return Decision(best=best, leader=leader, preferred=default, reason=reason, behind_of=behind_of,
                    versus=versus, n_folds=n, level=level)


def recommend(folds: pd.DataFrame, default: str | None = None) -> str:
    """The method to recommend from per-fold results (columns ``method``, ``fold``, ``auc_pr``).

    The preferred candidate (``default``, by default :func:`preferred_method`
    of the candidates) unless some candidate is significantly ahead of it in a
    one-sided paired t-test at level :data:`SWITCH_LEVEL` over the folds; then
    the method with the highest mean AUC-PR. See :func:`decide` for the rule
    and the uncertainty that goes with it.
    """
    return decide(folds, default).best


#: File suffix of a saved model, by method (``None``: no non-pickle format).
SAVE_SUFFIX = {"devnet": ".model", "devnet-paper": ".model", "catboost": ".model", "hist-gbt": None, "iforest": None,
               "devnet+catboost": ".model"}


def _fit_calibrated(model: Any, X: Any, y: np.ndarray, random_state: int | None) -> Any:
    """Fit a blend or rival pipeline on all rows but a calibration part of the unlabeled ones, then calibrate it.

    The part follows DevNet's rule (:func:`deviation.calibration.calibration_rows`,
    ``"auto"``: 20% of the unlabeled rows, at most 5,000); the model then has
    conformal p-values (:class:`deviation.calibration.ConformalMixin`).
    """
    from .calibration import calibration_rows

    unlabeled = np.flatnonzero(y == 0)
    n_calibration = calibration_rows(len(unlabeled), "auto")
    if not n_calibration:
        return model.fit(X, y)
    # a generator of its own: the model's seed is unchanged
    held = np.random.default_rng([0 if random_state is None else int(random_state), 19]).choice(
        unlabeled, n_calibration, replace=False)
    keep = np.setdiff1d(np.arange(len(y)), held)
    take = (lambda rows: X.iloc[rows]) if hasattr(X, "iloc") else (lambda rows: X[rows])
    model.fit(take(keep), y[keep])
    X_calibration = take(np.sort(held))
    if hasattr(model, "steps"):
        model.steps[-1][1].calibrate(model[:-1].transform(X_calibration))
    else:
        model.calibrate(X_calibration)
    return model


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
    """Fit ``method`` on ``X, y`` and save it as one ``deviation`` model file (no pickle).

    A DevNet holds its calibration rows out itself; a blend or CatBoost is
    fitted on all rows but a calibration part of the unlabeled ones (the same
    rule) and calibrated on that part, so every saved model has conformal
    p-values and a threshold (``docs/decisions.md``).

    Every savable method is written as one checksummed ``.model`` file
    (:func:`deviation.persistence.save`), read back with :func:`deviation.load`
    and scored with ``deviation score``: DevNet as a (Preprocessor, DevNet)
    pipeline; CatBoost as a pipeline of its Preprocessor and the CatBoost rival
    (the trees in CatBoost's own format inside the file); the devnet+catboost
    blend with both members inside. The suffix of ``path`` is set to
    ``.model``. The file is written atomically; its metadata (``metadata``
    and ``n_calibration``, the rows held out for calibration) is kept in it.

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
    y = _check_labels(y)
    if method in BLENDS or not method.startswith("devnet"):
        # a blend's name starts with "devnet" too, yet it holds nothing out itself
        model = _fit_calibrated(make_candidate(method, random_state, categorical=categorical), X, y, random_state)
    else:
        # DevNet holds its calibration rows out itself (calibration_size)
        model = make_candidate(method, random_state, categorical=categorical).fit(X, y)
    final = model if method in BLENDS else model.steps[-1][1]
    calibration = getattr(final, "calibration_scores_", None)
    metadata = {**(metadata or {}), "n_calibration": 0 if calibration is None else int(len(calibration))}
    if method in BLENDS:
        from .blend import save_blend

        return save_blend(model, path, metadata=metadata)
    pre, inner = model.steps[0][1], model.steps[-1][1]
    if method.startswith("devnet"):
        model = Pipeline([("preprocessor", pre), ("devnet", inner)])
    save(model, path, metadata=metadata)
    return path
