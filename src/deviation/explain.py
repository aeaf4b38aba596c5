"""Which features pushed a row's score up: integrated gradients in the units of the score.

For a row ``x`` and a baseline ``x'`` (by default the mean of the unlabeled
training rows, ``DevNet.baseline_``, saved in the model file), the
attribution of feature ``i`` is

    IG_i(x) = (x_i - x'_i) * integral_0^1 d phi(x' + t (x - x')) / d x_i dt

and the attributions of a row add up to ``phi(x) - phi(x')`` (completeness):
each says how many standard deviations of the prior the feature moved the
score. The network is piecewise linear, so for the linear and the one-hidden-
layer networks (the paper's) the integral is computed exactly in closed form:
each hidden unit is active on one sub-interval of the path. With two hidden
layers (the default preset's networks) it is exact too: the path is cut where
first-layer units switch, and on each piece the second layer is linear. Deeper
networks use a midpoint Riemann sum over ``n_steps`` points.

Attributions are computed on the model's input after preprocessing, then the
one-hot columns of a categorical feature are summed back into that feature, so
the user sees their own column names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._memory import check_allocation
from .estimator import DevNet
from .exceptions import DataError, NotFittedError, ParameterError
from .mlp import input_gradients

__all__ = ["Explanation", "explain"]

_CHUNK = 4096
#: Rows per step of the exact two-hidden-layer integral.
_EXACT_ROWS = 256


@dataclass
class Explanation:
    """Attributions of the scores of some rows.

    Attributes
    ----------
    values : ndarray of shape (n_rows, n_features)
        Contribution of each (user-facing) feature to each row's score, in
        standard deviations of the prior. Row ``r`` adds up to
        ``scores[r] - baseline_score``.
    feature_names : list of str
    scores : ndarray of shape (n_rows,)
        The rows' deviation scores.
    baseline_score : float
        The score of the baseline.
    rows : ndarray of shape (n_rows,)
        Positions of the explained rows in the data given to :func:`explain`.
    """

    values: np.ndarray
    feature_names: list[str]
    scores: np.ndarray
    baseline_score: float
    rows: np.ndarray

    def completeness_gap(self) -> np.ndarray:
        """``sum(values[r]) - (scores[r] - baseline_score)`` per row: zero up to float error."""
        return self.values.sum(axis=1) - (self.scores - self.baseline_score)

    def to_frame(self) -> pd.DataFrame:
        """Wide table: one row per explained row, one column per feature."""
        return pd.DataFrame(self.values, index=pd.Index(self.rows, name="row"), columns=self.feature_names)

    def top(self, k: int = 5) -> pd.DataFrame:
        """The ``k`` features that pushed each row's score up the most.

        Parameters
        ----------
        k : int, default=5

        Returns
        -------
        pandas.DataFrame
            Long table with columns ``row``, ``rank`` (1 = largest),
            ``feature`` and ``attribution``, sorted by row then rank.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"k must be an int >= 1. Got {k!r} instead.")
        k = min(int(k), self.values.shape[1])
        order = np.argsort(-self.values, axis=1, kind="stable")[:, :k]  # (n, k)
        names = np.asarray(self.feature_names, dtype=object)
        return pd.DataFrame(
            {
                "row": np.repeat(self.rows, k),
                "rank": np.tile(np.arange(1, k + 1), len(self.rows)),
                "feature": names[order].ravel(),
                "attribution": np.take_along_axis(self.values, order, axis=1).ravel(),
            }
        )


def _split(model: Any) -> tuple[Any, DevNet]:
    if isinstance(model, DevNet):
        return None, model
    steps = getattr(model, "steps", None)
    if steps and isinstance(steps[-1][1], DevNet) and len(steps) == 2:
        return steps[0][1], steps[-1][1]
    raise ParameterError(
        "explain needs a DevNet or a Pipeline of (Preprocessor, DevNet); got "
        f"{type(model).__name__}."
    )


def _attribute_chunk(
    Z: np.ndarray, base: np.ndarray, devnet: DevNet, n_steps: int
) -> np.ndarray:
    """Integrated gradients of dense float32 rows ``Z`` (m, D) from ``base`` (D,)."""
    coefs, intercepts = devnet.coefs_, devnet.intercepts_
    delta = Z - base  # (m, D)
    if len(coefs) == 1:
        return delta * coefs[0][:, 0]
    if len(coefs) == 2:
        W1, b1, w2 = coefs[0], intercepts[0], coefs[1][:, 0]
        a = base @ W1 + b1  # (H,) pre-activations at the baseline
        d = delta @ W1  # (m, H) their change along the path
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(-a / d, 0.0, 1.0)  # where unit j switches on or off
        # share of the path on which each unit is active
        active = np.where(d > 0, 1.0 - t, np.where(d < 0, t, (a > 0).astype(np.float32)))
        return delta * ((active * w2) @ W1.T)
    if len(coefs) == 3:
        return _two_hidden_layers(delta, base, coefs, intercepts)
    grads = np.zeros_like(Z)
    for step in range(n_steps):
        alpha = np.float32((step + 0.5) / n_steps)
        grads += input_gradients(base + alpha * delta, coefs, intercepts)
    return delta * (grads / n_steps)


def _two_hidden_layers(
    delta: np.ndarray, base: np.ndarray, coefs: list[np.ndarray], intercepts: list[np.ndarray]
) -> np.ndarray:
    """Exact integrated gradients of a network with two hidden ReLU layers.

    Along the path ``base + t * delta`` the first layer's units switch at most
    once each, at known ``t``; between two switches the second layer's
    pre-activations are linear in ``t``, so the share of each segment on which
    a second-layer unit is active follows from its values at the segment's
    ends. The gradient is ``W1 diag(1[z1 > 0]) W2 diag(1[z2 > 0]) w3``, so
    the integral needs, per row, the share of the path on which unit ``j`` of
    the first layer and unit ``k`` of the second are both active, summed over
    the segments.
    """
    W1, W2, w3 = (np.asarray(c, dtype=np.float64) for c in coefs)
    b1, b2 = (np.asarray(b, dtype=np.float64) for b in intercepts[:2])
    V = (W2 * w3[:, 0]).T  # (H2, H1)
    delta = delta.astype(np.float64)
    a = np.asarray(base, dtype=np.float64) @ W1 + b1  # (H1,) first-layer pre-activations at t = 0
    through = np.empty((len(delta), W1.shape[1]))
    # a few hundred rows at a time: the (rows, segments, units) arrays stay in cache
    for lo in range(0, len(delta), _EXACT_ROWS):
        d = delta[lo : lo + _EXACT_ROWS] @ W1  # (m, H1) change of the pre-activations along the path
        with np.errstate(divide="ignore", invalid="ignore"):
            switch = np.where(d != 0, -a / d, 1.0)
        # (m, S + 1): segment ends, 0 and 1 included; switches outside [0, 1] collapse onto its ends
        ends = np.sort(np.clip(switch, 0.0, 1.0), axis=1)
        ends = np.concatenate([np.zeros((len(d), 1)), ends, np.ones((len(d), 1))], axis=1)
        z1_ends = a + ends[:, :, None] * d[:, None, :]  # (m, S + 1, H1)
        z2_ends = np.maximum(z1_ends, 0.0) @ W2 + b2  # (m, S + 1, H2), linear in t on each segment
        mid = 0.5 * (ends[:, 1:] + ends[:, :-1])
        on1 = a + mid[:, :, None] * d[:, None, :] > 0  # (m, S, H1), constant on each segment
        v0, v1 = z2_ends[:, :-1], z2_ends[:, 1:]
        pos0, pos1 = v0 > 0, v1 > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            # share of the segment on which z2 > 0, for z2 going linearly from v0 to v1
            share = np.where(pos0 == pos1, pos0, np.maximum(v0, v1) / np.abs(v0 - v1))
        on2 = share * np.diff(ends, axis=1)[:, :, None]  # (m, S, H2) active length per segment
        # through[m, j] = sum_s on1[m, s, j] * sum_k on2[m, s, k] W2[j, k] w3[k]: the path-averaged
        # derivative of the score by first-layer unit j's output, counted while j is active
        through[lo : lo + _EXACT_ROWS] = np.sum(np.where(on1, on2 @ V, 0.0), axis=1)
    return (delta * (through @ W1.T)).astype(np.float32)


def explain(
    model: Any,
    X: Any,
    *,
    rows: Any = None,
    baseline: Any = None,
    n_steps: int = 64,
) -> Explanation:
    """Attribute the scores of rows of ``X`` to their features (integrated gradients).

    Parameters
    ----------
    model : DevNet or Pipeline of (Preprocessor, DevNet)
        A fitted model, e.g. from :func:`deviation.load`.
    X : array-like, DataFrame or sparse matrix
        Data in the form the model scores.
    rows : array-like of int, optional
        Positions of the rows to explain (default: all). Only these rows are
        made dense.
    baseline : array-like of shape (n_model_inputs,), optional
        Reference point on the model's input (after preprocessing). Default:
        ``baseline_``, the mean unlabeled training row.
    n_steps : int, default=64
        Riemann steps for networks with more than two hidden layers (the
        linear and one-hidden-layer networks are integrated exactly).

    Returns
    -------
    Explanation

    Examples
    --------
    >>> from deviation import DevNet, load_thyroid
    >>> from deviation.explain import explain
    >>> X, y = load_thyroid(return_X_y=True)
    >>> model = DevNet(random_state=0).fit(X, y)
    >>> ex = explain(model, X, rows=[0, 1])
    >>> bool(abs(ex.completeness_gap()).max() < 1e-4)
    True
    """
    pre, devnet = _split(model)
    if not hasattr(devnet, "coefs_"):
        raise NotFittedError("This model is not fitted yet; fit it before explaining its scores.")
    if not (isinstance(n_steps, (int, np.integer)) and n_steps >= 1):
        raise ParameterError(f"n_steps must be an int >= 1. Got {n_steps!r} instead.")
    if rows is not None:
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise DataError("rows must be a 1-D array of row positions (ints).")
        n = X.shape[0]
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise DataError(f"rows holds positions outside the {n} rows of X.")
        rows = np.where(rows < 0, rows + n, rows)
        X = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    Z = pre.transform(X) if pre is not None else devnet._validate_X(X, reset=False)
    if rows is None:
        rows = np.arange(Z.shape[0])

    if baseline is None:
        baseline = getattr(devnet, "baseline_", None)
        if baseline is None:
            raise DataError("the model has no baseline_ (saved by an older version); pass baseline=.")
    base = np.asarray(baseline, dtype=np.float32).ravel()
    if base.shape != (devnet.n_features_in_,) or not np.isfinite(base).all():
        raise DataError(
            f"baseline must be {devnet.n_features_in_} finite values (one per model input); "
            f"got shape {np.asarray(baseline).shape}."
        )

    n_model = Z.shape[1]
    view = getattr(devnet, "view_", None)
    if view is not None:
        # the default preset's network reads view_.transform(row): integrate along the straight
        # path between the two views, then add each view column back onto its input column
        base_net = view.transform(base[None, :])[0]
        fold_view = sp.csr_matrix(
            (np.ones(view.n_features_out, dtype=np.float32), (np.arange(view.n_features_out), view.source_columns())),
            shape=(view.n_features_out, n_model),
        )
    else:
        base_net = base
    n_in = len(pre.feature_names_in_) if pre is not None and hasattr(pre, "output_to_input_") else n_model
    # float32 attributions, their float64 copy when folded back and the result (float64, one per input)
    check_allocation(
        Z.shape[0] * (n_model * 12 + n_in * 8),
        f"the attributions of {Z.shape[0]:,} rows x {n_model:,} model inputs",
        "explain fewer rows (rows=..., or deviation explain --flagged) or use a machine with more memory",
    )
    values = np.empty((Z.shape[0], n_model), dtype=np.float32)
    scores = np.empty(Z.shape[0], dtype=np.float64)
    # rows are made dense a chunk at a time, about 64 MB whatever the width
    step = max(1, min(_CHUNK, (1 << 24) // max(n_model, 1)))
    for start in range(0, Z.shape[0], step):
        idx = np.arange(start, min(start + step, Z.shape[0]))
        part = Z[idx]
        chunk = np.asarray(part.toarray() if sp.issparse(part) else part, dtype=np.float32)
        # the scores of decision_function itself (its column-major forward pass sums the default
        # preset's output unit in another order than forward_numpy)
        scores[idx] = devnet._score_validated(chunk)
        if view is not None:
            chunk = view.transform(chunk)
            values[idx] = np.asarray(fold_view.T @ _attribute_chunk(chunk, base_net, devnet, int(n_steps)).T).T
        else:
            values[idx] = _attribute_chunk(chunk, base_net, devnet, int(n_steps))
    baseline_score = float(devnet._score_validated(base[None, :])[0])

    if pre is not None and hasattr(pre, "output_to_input_"):
        # sum the columns each input feature became (one-hot blocks) back into that feature
        src = np.asarray(pre.output_to_input_)
        n_in = len(pre.feature_names_in_)
        fold = sp.csr_matrix((np.ones(n_model, dtype=np.float64), (np.arange(n_model), src)), shape=(n_model, n_in))
        values64 = np.asarray((fold.T @ values.T.astype(np.float64)).T)
        names = [str(n) for n in pre.feature_names_in_]
    else:
        values64 = values.astype(np.float64)
        fitted_names = getattr(devnet, "feature_names_in_", None)
        names = [str(n) for n in fitted_names] if fitted_names is not None else [f"x{i}" for i in range(n_model)]
    return Explanation(values64, names, scores, baseline_score, np.asarray(rows))
