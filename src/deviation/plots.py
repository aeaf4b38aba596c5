"""Figures of DevNet scores: the score distribution against the prior, ROC and PR curves.

matplotlib is an optional dependency (``pip install 'deviation[plot]'``). It is
imported lazily, inside the functions, so ``import deviation.plots`` works
without it; calling a function without it raises
:class:`~deviation.exceptions.MissingDependencyError`.

The figures are built with the object-oriented API only
(:class:`matplotlib.figure.Figure` with a
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg` canvas): pyplot and
its global state are never touched and the global backend is never switched,
so the functions work headless and from several threads, each building its own
figure.

Examples
--------
>>> from deviation import DevNet, load_thyroid
>>> from deviation.plots import plot_score_distribution, save_figure
>>> X, y = load_thyroid(return_X_y=True)
>>> model = DevNet(random_state=0).fit(X, y)
>>> fig = plot_score_distribution(
...     model.decision_function(X), y, threshold=model.threshold_,
...     prior_mean=model.prior_mean, prior_std=model.prior_std)
>>> save_figure(fig, "scores.png")  # doctest: +SKIP
PosixPath('scores.png')
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._atomic import atomic_target
from .exceptions import DataError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_attributions", "plot_roc_pr", "plot_score_distribution", "require_matplotlib", "save_figure"]

_MISSING_MATPLOTLIB = "plots need matplotlib: pip install 'deviation[plot]'"
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_MAX_BINS = 100
_CURVE_POINTS = 512
# The plotted range always shows the core of the prior, mean +/- this many stds.
_PRIOR_SPAN = 3.0


# ------------------------------------------------------------------ matplotlib
def _matplotlib() -> tuple[type, type, type]:
    """Import matplotlib lazily: ``(Figure, FigureCanvasAgg, Axes)``.

    ``import matplotlib`` comes first on purpose: ``from matplotlib.figure
    import ...`` alone can succeed from ``sys.modules`` even when the package
    itself is blocked or broken.
    """
    try:
        import matplotlib  # noqa: F401
        from matplotlib.axes import Axes
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(_MISSING_MATPLOTLIB) from exc
    return Figure, FigureCanvasAgg, Axes


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` now if plots cannot be drawn (before any other work is done)."""
    _matplotlib()


def _new_figure(figsize: tuple[float, float]) -> Figure:
    Figure, FigureCanvasAgg, _ = _matplotlib()
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas; no pyplot, no global backend
    return fig


def _root_figure(ax: Axes) -> Figure:
    Figure, _, _ = _matplotlib()
    try:
        fig = ax.get_figure(root=True)  # matplotlib >= 3.10
    except TypeError:
        fig = ax.figure
        while not isinstance(fig, Figure) and getattr(fig, "figure", None) not in (None, fig):
            fig = fig.figure  # a SubFigure's parent chain
    return fig


def _check_axes(ax: Any, name: str) -> Axes:
    _, _, Axes = _matplotlib()
    if not isinstance(ax, Axes):
        raise DataError(
            f"{name} must be a matplotlib Axes (e.g. from Figure.add_subplot()), "
            f"got {type(ax).__name__}."
        )
    return ax


# ------------------------------------------------------------------ validation
def _examples(arr: np.ndarray, k: int = 5) -> str:
    """Up to ``k`` distinct values of ``arr`` for an error message."""
    seen: dict[str, None] = {}
    for v in np.ravel(arr).tolist():
        seen.setdefault(repr(v), None)
        if len(seen) == k:
            break
    return "[" + ", ".join(seen) + "]"


def _object_to_float(arr: np.ndarray, *, allow_bool: bool) -> np.ndarray | None:
    """An object array as float64 when every element is a real number, else None.

    Strings such as ``"1"`` are not numbers here, even though numpy would convert them.
    """
    excluded = () if allow_bool else (bool, np.bool_)
    ok = all(
        isinstance(v, (numbers.Real, np.bool_)) and not isinstance(v, excluded)
        for v in arr.flat
    )
    return arr.astype(np.float64) if ok else None


def _validate_scores(scores: Any, name: str = "scores") -> np.ndarray:
    if scores is None:
        raise DataError(f"{name} is None; pass a 1-D array of anomaly scores.")
    arr = np.asarray(scores)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        if arr.dtype == object:
            num = _object_to_float(arr, allow_bool=False)
            if num is None:
                raise DataError(
                    f"{name} must hold numbers; found values such as "
                    f"{_examples(arr)}."
                )
            arr = num
        else:
            raise DataError(
                f"{name} must hold real numbers, got dtype {arr.dtype}. "
                "Pass the output of DevNet.decision_function."
            )
    if arr.ndim != 1:
        raise DataError(
            f"{name} must be 1-D (one score per row); got shape {arr.shape}. "
            "Flatten it first (e.g. scores.ravel())."
        )
    if arr.shape[0] == 0:
        raise DataError(f"{name} is empty; there is nothing to plot.")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise DataError(
            f"{name} must be finite; {len(idx):,} value(s) are NaN or infinite "
            f"(first at index {int(idx[0])}: {arr[idx[0]]})."
        )
    return arr


def _validate_labels(labels: Any, n: int, name: str, scores_name: str = "scores") -> np.ndarray:
    if labels is None:
        raise DataError(f"{name} is None; pass 0/1 labels (1 = anomaly), one per score.")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D (one label per score); got shape {arr.shape}.")
    if arr.shape[0] != n:
        raise DataError(
            f"{name} and {scores_name} have different lengths: {scores_name} has {n:,} values, "
            f"{name} has {arr.shape[0]:,}. Pass one label per score."
        )
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.dtype == object:
        num = _object_to_float(arr, allow_bool=True)
    else:
        num = arr.astype(np.float64) if arr.dtype.kind in "iuf" else None
    if num is None:
        raise DataError(
            f"{name} must hold 0 (normal or unlabeled) and 1 (anomaly) only; found values "
            f"such as {_examples(arr)}."
        )
    ok = (num == 0) | (num == 1)
    if not ok.all():
        found = _examples(arr[~ok])
        raise DataError(
            f"{name} must hold 0 (normal or unlabeled) and 1 (anomaly) only; found {found}. "
            "Map your labels to 1 for anomalies and 0 for everything else."
        )
    return num.astype(np.int8)


def _finite_real(value: Any, name: str, *, positive: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (value > 0 or not positive)
    if not ok:
        kind = "a finite number > 0" if positive else "a finite number"
        raise DataError(f"{name} must be {kind}; got {value!r}.")
    return value


# ------------------------------------------------------------------ helpers
def _n_bins(values: np.ndarray) -> int:
    """Bin count of numpy's ``"auto"`` rule (max of Sturges and Freedman-Diaconis), capped."""
    n = values.shape[0]
    sturges = math.ceil(math.log2(n)) + 1
    span = float(values.max() - values.min())
    q75, q25 = np.percentile(values, [75, 25])
    iqr = float(q75 - q25)
    fd = 0
    if iqr > 0 and span > 0:
        fd = math.ceil(span / (2.0 * iqr * n ** (-1.0 / 3.0)))
    return int(min(max(sturges, fd, 1), _MAX_BINS))


def _count(n: int) -> str:
    return f"n={n:,}"


# ------------------------------------------------------------------ public API
def plot_score_distribution(
    scores: Any,
    labels: Any = None,
    *,
    threshold: float,
    prior_mean: float = 0.0,
    prior_std: float = 1.0,
    ax: Axes | None = None,
    title: str | None = None,
    calibrated: bool | None = None,
) -> Figure:
    """Histogram of the scores against the Gaussian prior (the DevNet paper's Figure 1b).

    Draws, on shared bins and as densities, the scores of the normal or
    unlabeled rows (label 0, or every row when ``labels`` is None) and of the
    anomalies (label 1); the prior density ``N(prior_mean, prior_std^2)`` over
    the plotted range; and a dashed vertical line at ``threshold``. The legend,
    below the axes so that it never covers the bars, gives the row count of
    each histogram and the threshold with the number of rows above it; with
    both groups, its title says how much they overlap: the share of label-0
    rows above the threshold and of anomalies at or below it. No cut-off
    separates rows whose scores fall in the overlap: moving the threshold
    trades one kind of error for the other.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Finite anomaly scores, e.g. from :meth:`deviation.DevNet.decision_function`.
    labels : array-like of shape (n_samples,), optional
        1 for anomalies, 0 for normal or unlabeled rows (bool accepted). Without
        labels a single histogram of all scores is drawn; with labels but no
        anomaly only the label-0 histogram is drawn.
    threshold : float
        Score above which a row is flagged, e.g. :attr:`deviation.DevNet.threshold_`.
    prior_mean, prior_std : float, default=0.0, 1.0
        The prior of the scores of normal rows (the model's ``prior_mean`` and
        ``prior_std``). ``prior_std`` must be > 0.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; by default a new figure (7 x 4.5 inches) is made.
    title : str, optional
        Axes title; by default "Scores against the prior".
    calibrated : bool, optional
        Names the threshold in the legend: ``True`` "conformal threshold" (from
        the model's calibration scores, :mod:`deviation.calibration`),
        ``False`` "prior threshold" (Proposition 4.1); None: "threshold".

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the figure holding ``ax``.

    Raises
    ------
    deviation.exceptions.DataError
        For scores that are not 1-D finite numbers, labels that are not 0/1 or
        not one per score, a non-finite threshold or prior, or a bad ``ax``.
    deviation.exceptions.MissingDependencyError
        When matplotlib is not installed.

    Notes
    -----
    The plotted x range covers the scores, the threshold and the core of the
    prior (``prior_mean +/- 3 prior_std``), so the prior's bell is always
    visible. Bins (at most 100, numpy's "auto" rule) span the scores only.
    """
    from scipy.stats import norm

    _matplotlib()
    values = _validate_scores(scores)
    y = None if labels is None else _validate_labels(labels, values.shape[0], "labels")
    threshold = _finite_real(threshold, "threshold")
    prior_mean = _finite_real(prior_mean, "prior_mean")
    prior_std = _finite_real(prior_std, "prior_std", positive=True)
    if ax is None:
        fig = _new_figure((7.0, 5.2))
        ax = fig.add_subplot()
    else:
        ax = _check_axes(ax, "ax")
        fig = _root_figure(ax)

    if not math.isfinite(float(values.max()) - float(values.min())):
        raise DataError("scores span a range too wide to bin (it overflows float64); rescale them.")
    edges = np.histogram_bin_edges(values, bins=_n_bins(values))

    if y is None:
        groups = [(values, f"scores ({_count(values.shape[0])})", "C0")]
    else:
        normal, anomalous = values[y == 0], values[y == 1]
        groups = []
        if normal.size:
            groups.append((normal, f"label 0: normal / unlabeled ({_count(normal.size)})", "C0"))
        if anomalous.size:
            groups.append((anomalous, f"label 1: anomalies ({_count(anomalous.size)})", "C1"))
    for group, label, color in groups:
        ax.hist(group, bins=edges, density=True, alpha=0.55, color=color, label=label)

    lo = min(float(edges[0]), threshold, prior_mean - _PRIOR_SPAN * prior_std)
    hi = max(float(edges[-1]), threshold, prior_mean + _PRIOR_SPAN * prior_std)
    x = np.unique(np.append(np.linspace(lo, hi, _CURVE_POINTS), prior_mean))  # the peak is drawn
    ax.plot(
        x,
        norm.pdf(x, loc=prior_mean, scale=prior_std),
        color="k",
        linewidth=1.5,
        label=f"prior N({prior_mean:g}, {prior_std:g}\u00b2)",
        gid="prior",
    )
    n_above = int(np.count_nonzero(values > threshold))
    kind = {None: "threshold", True: "conformal threshold", False: "prior threshold"}[calibrated]
    ax.axvline(
        threshold,
        color="C3",
        linestyle="--",
        linewidth=1.5,
        label=f"{kind} = {threshold:.3f} ({n_above:,} above)",
        gid="threshold",
    )
    pad = 0.02 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("deviation score")
    ax.set_ylabel("density")
    ax.set_title("Scores against the prior" if title is None else title)
    overlap = None
    if y is not None and (y == 0).any() and (y == 1).any():
        normal_above = float(np.mean(values[y == 0] > threshold))
        anomalies_below = float(np.mean(values[y == 1] <= threshold))
        overlap = (f"overlap: {100 * normal_above:.1f}% of label 0 above the threshold, "
                   f"{100 * anomalies_below:.1f}% of anomalies at or below it;\nno cut-off separates "
                   "rows in the overlap, a higher one trades false alarms for missed anomalies")
    # below the axes (constrained layout makes room), so it never covers a bar
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize="small", title=overlap,
              title_fontsize="small")
    return fig


def plot_roc_pr(
    y_true: Any,
    scores: Any,
    *,
    ax: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Figure:
    """ROC and precision-recall curves of the scores, side by side.

    The left panel is the ROC curve with the AUC-ROC in its legend and the
    chance diagonal; the right panel is the precision-recall curve with the
    AUC-PR (average precision, the DevNet paper's main metric) in its legend
    and the base rate (fraction of anomalies, the precision of random scores).
    The values come from :func:`sklearn.metrics.roc_auc_score` and
    :func:`sklearn.metrics.average_precision_score`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for anomalies, 0 for normal rows (bool accepted); both must occur.
    scores : array-like of shape (n_samples,)
        Finite anomaly scores, higher for more anomalous rows.
    ax : pair of matplotlib.axes.Axes, optional
        ``(roc_ax, pr_ax)`` in one figure; by default a new figure (10 x 4.5
        inches) with two panels is made.
    title : str, optional
        Figure title (``suptitle``), none by default.

    Returns
    -------
    matplotlib.figure.Figure
        The new figure, or the figure holding ``ax``.

    Raises
    ------
    deviation.exceptions.DataError
        For scores that are not 1-D finite numbers, labels that are not 0/1 or
        not one per score, labels with a single class, or a bad ``ax``.
    deviation.exceptions.MissingDependencyError
        When matplotlib is not installed.
    """
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    _matplotlib()
    values = _validate_scores(scores)
    y = _validate_labels(y_true, values.shape[0], "y_true")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.shape[0]:
        raise DataError(
            f"y_true holds only {'0' if n_pos == 0 else '1'}s; ROC and PR curves need at least "
            "one anomaly (1) and one normal row (0)."
        )
    if ax is None:
        fig = _new_figure((10.0, 4.5))
        ax_roc, ax_pr = fig.subplots(1, 2)
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object))) if not isinstance(ax, str) else [ax]
        if len(axes) != 2:
            raise DataError(f"ax must be a pair of Axes (roc_ax, pr_ax); got {len(axes)} item(s).")
        ax_roc, ax_pr = (_check_axes(a, f"ax[{i}]") for i, a in enumerate(axes))
        fig = _root_figure(ax_roc)
        if _root_figure(ax_pr) is not fig:
            raise DataError("ax must be two Axes of the same figure.")

    fpr, tpr, _ = roc_curve(y, values)
    auc_roc = float(roc_auc_score(y, values))
    ax_roc.plot(fpr, tpr, color="C0", linewidth=1.5, label=f"AUC-ROC = {auc_roc:.3f}", gid="roc")
    ax_roc.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1,
                label="chance (AUC-ROC = 0.500)", gid="chance")
    ax_roc.set_xlim(0, 1)
    ax_roc.set_ylim(0, 1.02)
    ax_roc.set_xlabel("false positive rate")
    ax_roc.set_ylabel("true positive rate")
    ax_roc.set_title(f"ROC ({_count(y.shape[0])}, {n_pos:,} anomalies)")
    ax_roc.legend(loc="lower right", fontsize="small")

    precision, recall, _ = precision_recall_curve(y, values)
    auc_pr = float(average_precision_score(y, values))
    base_rate = n_pos / y.shape[0]
    ax_pr.plot(recall, precision, color="C1", linewidth=1.5, drawstyle="steps-post",
               label=f"AUC-PR (average precision) = {auc_pr:.3f}", gid="pr")
    ax_pr.axhline(base_rate, color="grey", linestyle="--", linewidth=1,
                  label=f"base rate = {base_rate:.3f}", gid="base_rate")
    ax_pr.set_xlim(0, 1)
    ax_pr.set_ylim(0, 1.02)
    ax_pr.set_xlabel("recall")
    ax_pr.set_ylabel("precision")
    ax_pr.set_title("Precision-recall")
    ax_pr.legend(loc="upper right", fontsize="small")
    if title is not None:
        fig.suptitle(title)
    return fig


def _short_value(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def plot_attributions(
    explanation: Any,
    positions: Sequence[int],
    *,
    top: int = 5,
    labels: Sequence[str] | None = None,
    values: Sequence[Any] | None = None,
) -> Figure:
    """Bar charts of the features that pushed each chosen row's score up, and those that pushed it down.

    Each panel shows the ``top`` largest positive attributions (red, pushed
    the score up) and the ``top`` most negative ones (blue, pushed it down),
    sorted by value; features with no effect are left out.

    Parameters
    ----------
    explanation : deviation.explain.Explanation
    positions : sequence of int
        Indices into ``explanation.rows`` of the rows to draw (one panel each).
    top : int, default=5
        Bars per direction and panel.
    labels : sequence of str, optional
        A title per panel (default: ``row N``).
    values : sequence of mappings, optional
        Per panel, the row's original values by feature name, shown beside
        the names (``service = http``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    positions = list(positions)
    if not positions:
        raise DataError("no rows to plot; choose at least one row.")
    if not (isinstance(top, numbers.Integral) and top >= 1):
        raise DataError(f"top must be an int >= 1, got {top!r}.")
    n_rows = explanation.values.shape[0]
    if min(positions) < 0 or max(positions) >= n_rows:
        raise DataError(f"row positions must be in [0, {n_rows}); got {positions}.")
    k = min(int(top), explanation.values.shape[1])
    chosen = [_up_and_down(explanation.values[pos], k) for pos in positions]
    n_bars = [max(len(order), 1) for order in chosen]
    fig = _new_figure((7.0, 1.0 + sum(0.45 * n + 0.7 for n in n_bars)))
    axes = fig.subplots(len(positions), 1, squeeze=False, height_ratios=n_bars)[:, 0]
    names = np.asarray(explanation.feature_names, dtype=object)
    for panel, (ax, pos) in enumerate(zip(axes, positions)):
        vals = explanation.values[pos]
        order = chosen[panel]
        k = len(order)
        colors = ["tab:red" if v > 0 else "tab:blue" for v in vals[order]]
        ax.barh(np.arange(k), vals[order], color=colors)
        shown = values[panel] if values is not None else None
        ticks = [f"{n} = {_short_value(shown[n])}" if shown is not None and n in shown else str(n)
                 for n in names[order]]
        ax.set_yticks(np.arange(k), ticks)
        ax.axvline(0.0, color="black", linewidth=0.8)
        title = labels[panel] if labels is not None else f"row {explanation.rows[pos]}"
        ax.set_title(
            f"{title}: score {explanation.scores[pos]:.2f} "
            f"(baseline {explanation.baseline_score:.2f})",
            fontsize=10,
        )
    axes[-1].set_xlabel("contribution to the score (standard deviations of the prior)\n"
                        "red: pushed the score up, blue: pushed it down")
    return fig


def _up_and_down(values: np.ndarray, k: int) -> np.ndarray:
    """Feature indices of the ``k`` largest positive and ``k`` most negative values, ascending by value."""
    up = [i for i in np.argsort(-values, kind="stable")[:k] if values[i] > 0]
    down = [i for i in np.argsort(values, kind="stable")[:k] if values[i] < 0]
    order = np.array(down + up, dtype=np.intp)
    return order[np.argsort(values[order], kind="stable")]


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = 120) -> Path:
    """Write a figure to PNG, SVG or PDF atomically.

    The format follows the extension (``.png``, ``.svg`` or ``.pdf``, any
    case). The figure is rendered into a hidden temporary file in the target
    directory, flushed to disk and renamed over ``path`` with
    :func:`os.replace`, so readers never see a half-written file; on any error
    the temporary file is removed and an existing ``path`` is left untouched.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, e.g. from :func:`plot_score_distribution`.
    path : str or os.PathLike
        Target file. Its directory must exist.
    dpi : float, default=120
        Resolution of PNG output (and of rasterised parts of SVG and PDF).

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    deviation.exceptions.DataError
        For an unknown extension, a missing directory, a path that is a
        directory, a bad ``dpi`` or ``fig``, or an OS error while writing.
    deviation.exceptions.MissingDependencyError
        When matplotlib is not installed.
    """
    Figure, _, _ = _matplotlib()
    if not isinstance(fig, Figure):
        raise DataError(f"fig must be a matplotlib Figure, got {type(fig).__name__}.")
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"path must be a str or os.PathLike, got {type(path).__name__}.")
    dpi = _finite_real(dpi, "dpi", positive=True)
    p = Path(path).expanduser()
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise DataError(
            f"Cannot save a figure to '{p}': unknown extension {p.suffix or '(none)'!r}; "
            "use .png, .svg or .pdf."
        )
    parent = p.parent
    if not parent.is_dir():
        raise DataError(
            f"Cannot save a figure to '{p}': the directory '{parent}' does not exist; "
            f"create it first (mkdir -p '{parent}')."
        )
    if p.is_dir():
        raise DataError(f"Cannot save a figure to '{p}': it is a directory; pass a file path.")

    try:
        with atomic_target(p) as tmp, open(tmp, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)
    except OSError as exc:
        raise DataError(
            f"Cannot save a figure to '{p}': {type(exc).__name__}: {exc}. "
            "Check the permissions and free disk space."
        ) from exc
    return p
