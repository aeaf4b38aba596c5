"""ONNX export of a whole fitted model: column typing, preprocessing, input view, network, decisions.

One graph takes one input per column (named after the column, shape ``[N, 1]``,
float32 for numeric columns, string for categorical ones) and gives three
outputs of shape ``[N]``:

``score`` (float32)
    The deviation score, as :meth:`DevNet.decision_function` computes it.
``p_value`` (float32)
    The conformal p-value ``(1 + #{calibration scores >= s}) / (n + 1)`` when the
    model holds calibration scores (``calibration_scores_``, embedded in the graph),
    else the prior's upper tail ``P(S >= s)``, ``S ~ N(prior_mean, prior_std^2)``
    (Pang et al., KDD 2019, Proposition 4.1).
``is_anomaly`` (bool)
    ``score > threshold``, the model's threshold at its confidence.

What the graph computes, step by step, is what ``deviation score`` computes:
mean imputation of missing numbers (NaN), the model's scaling (min-max,
standard or normal-quantile), one-hot encoding of categorical columns (kept
levels, the ``<infrequent>`` level for values not kept, the missing level for
empty strings), the default preset's input view (min-max plus a
normal-quantile copy of each continuous column) and the merged network.
ONNX has no normal quantile function: it is Acklam's rational approximation
(relative error below 1.2e-9, far below float32's 6e-8), checked against
:func:`scipy.stats.norm.ppf` in the tests. Interpolation over the quantile knots
is a binary search over the sorted knots (``log2(n_knots)`` gathers per value),
so memory grows with the rows only.

Not exported (refused at export with a one-line error): score blends and
CatBoost picks, models fitted on sparse matrices (libsvm files), date columns
and numbers written as text (currency, thousands separators, percentages),
which ONNX cannot parse. Explanations stay in Python. The graph does not check
its inputs: a value the command line would refuse (infinite, far beyond the
training range) gives a score, not an error.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_target
from ._optional import import_optional
from .exceptions import DeviationError
from .io.schema import MISSING_MARKERS
from .preprocess.columns import is_missing_category
from .preprocess.kinds import INFREQUENT_LABEL, LEFT_OUT

__all__ = ["OPSET", "export_onnx", "normal_ppf_coefficients", "to_onnx"]

logger = logging.getLogger(__name__)

#: ONNX opset of the exported graph (Equal on strings needs 19).
OPSET = 19

# sklearn's QuantileTransformer bounds (sklearn.preprocessing._data.BOUNDS_THRESHOLD)
_BOUNDS = 1e-7
_CLIP_LOW = _BOUNDS - float(np.spacing(1))

# Acklam's rational approximation of the standard normal quantile function
# (P. J. Acklam, "An algorithm for computing the inverse normal cumulative
# distribution function", 2003): relative error below 1.15e-9 on (0, 1).
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def normal_ppf_coefficients() -> dict[str, tuple[float, ...]]:
    """The coefficients of Acklam's normal quantile approximation the graph uses.

    Returns
    -------
    dict
        ``a``, ``b`` (central region), ``c``, ``d`` (tails) and ``p_low`` (the
        tail boundary, 0.02425).
    """
    return {"a": _A, "b": _B, "c": _C, "d": _D, "p_low": (_P_LOW,)}


class ExportError(DeviationError):
    """A model that cannot be expressed as an ONNX graph (the message says which part and why)."""


class _Graph:
    """Nodes and constants of the graph being built, with unique names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any, hint: str = "c") -> str:
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        if array.dtype == object:
            tensor = self.helper.make_tensor(name, self.onnx.TensorProto.STRING, array.shape,
                                             [str(v).encode("utf-8") for v in array.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    # ------------------------------------------------------------ small building blocks
    def f64(self, x: str) -> str:
        return self.op("Cast", x, to=self.onnx.TensorProto.DOUBLE)

    def f32(self, x: str) -> str:
        return self.op("Cast", x, to=self.onnx.TensorProto.FLOAT)

    def columns(self, x: str, index: np.ndarray) -> str:
        """Columns ``index`` of a matrix ``x`` (shape (N, len(index)))."""
        return self.op("Gather", x, self.const(np.asarray(index, dtype=np.int64), np.int64, "idx"), axis=1)

    def polynomial(self, x: str, coefs: tuple[float, ...]) -> str:
        """Horner's rule: ``((c0 * x + c1) * x + ...) + c_last`` in double."""
        acc = self.const(coefs[0], np.float64)
        for c in coefs[1:]:
            acc = self.op("Add", self.op("Mul", acc, x), self.const(c, np.float64))
        return acc

    def count_at_most(self, x: str, knots: np.ndarray, strict: bool = False) -> str:
        """For each value of ``x`` (N, C), how many knots of its column are <= it (< it when ``strict``).

        ``knots`` (K, C) sorted ascending in each column. A binary search: one
        Gather per power of two up to K, so memory stays O(N * C).
        """
        n_knots, n_cols = knots.shape
        flat = self.const(np.ascontiguousarray(knots.T).ravel(), np.float64, "knots")
        offset = self.const((np.arange(n_cols, dtype=np.int64) * n_knots)[None, :], np.int64, "offset")
        zero = self.helper.make_tensor("zero", self.onnx.TensorProto.INT64, [1], [0])
        lo = self.op("ConstantOfShape", self.op("Shape", x), value=zero)
        step = 1 << (int(n_knots).bit_length() - 1)
        limit = self.const(n_knots, np.int64)
        one = self.const(1, np.int64)
        compare = "Less" if strict else "LessOrEqual"
        while step >= 1:
            candidate = self.op("Add", lo, self.const(step, np.int64))
            valid = self.op("LessOrEqual", candidate, limit)
            position = self.op("Sub", self.op("Min", candidate, limit), one)
            value = self.op("Gather", flat, self.op("Add", position, offset), axis=0)
            take = self.op("And", valid, self.op(compare, value, x))
            lo = self.op("Where", take, candidate, lo)
            step //= 2
        return lo

    def interp(self, x: str, xp: np.ndarray, fp: np.ndarray) -> str:
        """``numpy.interp`` of each column of ``x`` (N, C) over its own knots ``xp`` (K, C) and values ``fp`` (K,)."""
        n_knots, n_cols = xp.shape
        count = self.count_at_most(x, xp)
        j = self.op("Clip", self.op("Sub", count, self.const(1, np.int64)),
                    self.const(0, np.int64), self.const(n_knots - 2, np.int64))
        offset = self.const((np.arange(n_cols, dtype=np.int64) * n_knots)[None, :], np.int64, "offset")
        flat_x = self.const(np.ascontiguousarray(xp.T).ravel(), np.float64, "xp")
        fp_c = self.const(fp, np.float64, "fp")
        at = self.op("Add", j, offset)
        at1 = self.op("Add", at, self.const(1, np.int64))
        x0 = self.op("Gather", flat_x, at, axis=0)
        x1 = self.op("Gather", flat_x, at1, axis=0)
        f0 = self.op("Gather", fp_c, j, axis=0)
        f1 = self.op("Gather", fp_c, self.op("Add", j, self.const(1, np.int64)), axis=0)
        span = self.op("Sub", x1, x0)
        zero = self.const(0.0, np.float64)
        safe = self.op("Where", self.op("Equal", span, zero), self.const(1.0, np.float64), span)
        slope = self.op("Div", self.op("Sub", f1, f0), safe)
        value = self.op("Add", self.op("Mul", slope, self.op("Sub", x, x0)), f0)
        below = self.op("Less", x, self.const(xp[:1], np.float64))
        above = self.op("GreaterOrEqual", x, self.const(xp[-1:], np.float64))
        value = self.op("Where", below, self.const(fp[0], np.float64), value)
        return self.op("Where", above, self.const(fp[-1], np.float64), value)

    def snap(self, x: str, knots: np.ndarray, ulps: int = 4, scale: float | None = None) -> str:
        """``x`` (N, C) with values within ``ulps`` float32 ulps of a knot of their column set to that knot.

        A value equal to repeated knots (a tie in the training data) maps to the
        middle of the tie, one a hair off it to an end: the graph reads float32
        inputs, so a value the command line reads exactly as a knot may arrive
        an ulp away. Each value moves to the nearer of the knots around it when
        within 4 float32 ulps of that knot or of the column's largest knot
        (elsewhere it moves by at most that). Knots a few float64
        ulps apart (rounding of the quantile interpolation) count as one: the
        value most of them share. ``scale``: the magnitude whose ulps set the
        tolerance's floor (default: each column's largest knot).
        """
        targets = _merged_knots(knots)
        n_knots, n_cols = targets.shape
        count = self.count_at_most(x, targets)
        flat = self.const(np.ascontiguousarray(targets.T).ravel(), np.float64, "targets")
        offset = self.const((np.arange(n_cols, dtype=np.int64) * n_knots)[None, :], np.int64, "offset")
        low, high = self.const(0, np.int64), self.const(n_knots - 1, np.int64)
        near = []
        for index in (self.op("Sub", count, self.const(1, np.int64)), count):
            knot = self.op("Gather", flat, self.op("Add", self.op("Clip", index, low, high), offset), axis=0)
            near.append((knot, self.op("Abs", self.op("Sub", x, knot))))
        (below, d_below), (above, d_above) = near
        knot = self.op("Where", self.op("Less", d_above, d_below), above, below)
        distance = self.op("Min", d_below, d_above)
        # 4 ulps of the knot, or of the column's largest knot: a scaling that subtracts a mean
        # (standard) leaves the input's rounding error at the scale of the column, not of the value
        step = ulps * 2.0 ** -23
        magnitude = np.max(np.abs(targets), axis=0) if scale is None else np.full(n_cols, float(scale))
        floor = np.maximum(magnitude, 1e-30)[None, :] * step
        tolerance = self.op("Max", self.op("Mul", self.op("Abs", knot), self.const(step, np.float64)),
                            self.const(floor, np.float64))
        return self.op("Where", self.op("LessOrEqual", distance, tolerance), knot, x)

    def normal_ppf(self, p: str) -> str:
        """Standard normal quantile of ``p`` (double, in (0, 1)): Acklam's approximation."""
        half = self.const(0.5, np.float64)
        q = self.op("Sub", p, half)
        r = self.op("Mul", q, q)
        central = self.op("Div", self.op("Mul", self.polynomial(r, _A), q),
                          self.polynomial(r, (*_B, 1.0)))
        minus_two = self.const(-2.0, np.float64)

        def tail(prob: str) -> str:
            t = self.op("Sqrt", self.op("Mul", minus_two, self.op("Log", prob)))
            return self.op("Div", self.polynomial(t, _C), self.polynomial(t, (*_D, 1.0)))

        # the tails are evaluated everywhere (p stays in (0, 1): no log of 0) and picked below
        lower = tail(p)
        upper = self.op("Neg", tail(self.op("Sub", self.const(1.0, np.float64), p)))
        low = self.const(_P_LOW, np.float64)
        high = self.const(1.0 - _P_LOW, np.float64)
        out = self.op("Where", self.op("Less", p, low), lower, central)
        return self.op("Where", self.op("Greater", p, high), upper, out)

    def quantile_normal(self, x: str, quantiles: np.ndarray, references: np.ndarray) -> str:
        """sklearn's ``QuantileTransformer(output_distribution="normal").transform`` of ``x`` (N, C) in double.

        The mean of the forward and backward interpolations (ties), values beyond
        the first/last knot (within 1e-7) at 0/1, clipped to [1e-7, 1 - 1e-7]
        before the normal quantile (sklearn clips after it, the same for a monotone map).
        """
        quantiles = np.asarray(quantiles, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        x = self.snap(x, quantiles)
        forward = self.interp(x, quantiles, references)
        backward = self.interp(self.op("Neg", x), -quantiles[::-1], -references[::-1])
        u = self.op("Mul", self.const(0.5, np.float64), self.op("Sub", forward, backward))
        bound = self.const(_BOUNDS, np.float64)
        upper = self.op("Greater", self.op("Add", x, bound), self.const(quantiles[-1:], np.float64))
        lower = self.op("Less", self.op("Sub", x, bound), self.const(quantiles[:1], np.float64))
        u = self.op("Where", upper, self.const(1.0, np.float64), u)
        u = self.op("Where", lower, self.const(0.0, np.float64), u)
        u = self.op("Clip", u, self.const(_CLIP_LOW, np.float64), self.const(1.0 - _CLIP_LOW, np.float64))
        return self.normal_ppf(u)


def _merged_knots(knots: np.ndarray) -> np.ndarray:
    """Knots (K, C) with each run of values within 1e-12 (relative) of each other set to one value of the run.

    The value a run stands for: the one repeated most (a tie of training values),
    else one that is a float32 value (the input view's rows are float32), else the
    number with the fewest decimals within the run (a value the quantile
    interpolation rounded to either side, like 15.509999999999994 and 15.510000000000005).
    """
    out = np.array(knots, dtype=np.float64, copy=True)
    for c in range(out.shape[1]):
        col = out[:, c]
        gap = np.diff(col) > 1e-12 * np.maximum(np.abs(col[1:]), 1e-300)
        starts = np.r_[0, np.flatnonzero(gap) + 1]
        stops = np.r_[starts[1:], len(col)]
        for a, b in zip(starts[stops - starts > 1], stops[stops - starts > 1]):
            values, counts = np.unique(col[a:b], return_counts=True)
            target = values[np.argmax(counts)]
            exact = values[values.astype(np.float32).astype(np.float64) == values]
            if counts.max() == 1 and exact.size:
                target = exact[0]  # the input view reads float32 values
            elif counts.max() == 1:
                middle = 0.5 * (values[0] + values[-1])
                target = next((r for r in (round(middle, d) for d in range(18)) if values[0] <= r <= values[-1]),
                              values[0])
            col[a:b] = target
    return out


# ---------------------------------------------------------------- the pieces of a model
def _parts(model: Any) -> tuple[Any, Any]:
    """(Preprocessor or None, DevNet) of an exportable model, or ExportError."""
    from .estimator import DevNet

    if hasattr(model, "members_"):
        raise ExportError("a score blend cannot be exported to ONNX (its CatBoost member has no ONNX graph here); "
                          "export a DevNet model fitted with deviation fit")
    steps = [step for _, step in model.steps] if hasattr(model, "steps") else [model]
    est = steps[-1]
    if not isinstance(est, DevNet):
        raise ExportError(f"only DevNet models can be exported to ONNX, not {type(est).__name__}; "
                          "export a model fitted with deviation fit")
    if not hasattr(est, "coefs_"):
        raise ExportError("the DevNet is not fitted; fit it before exporting")
    if len(steps) > 2:
        raise ExportError(f"a pipeline of {len(steps)} steps cannot be exported; only Preprocessor -> DevNet")
    pre = steps[0] if len(steps) == 2 else None
    if pre is not None and not hasattr(pre, "output_to_input_"):
        raise ExportError(f"the first step of the pipeline is {type(pre).__name__}, not a fitted deviation "
                          "Preprocessor; only Preprocessor -> DevNet can be exported")
    if pre is not None and pre.input_kind_ == "sparse":
        raise ExportError("the model was fitted on a sparse matrix (e.g. a libsvm file); sparse models are not "
                          "exported to ONNX: score them with deviation score")
    if est.coefs_[0].shape[0] > 100_000:
        raise ExportError(f"the model reads {est.coefs_[0].shape[0]:,} features (wide sparse data); such models are "
                          "not exported to ONNX: score them with deviation score")
    return pre, est


def input_columns(model: Any) -> list[tuple[str, str]]:
    """The graph's inputs: (column name, ``"float"`` or ``"string"``), in the order the graph lists them.

    Parameters
    ----------
    model : Pipeline of (Preprocessor, DevNet), or DevNet

    Returns
    -------
    list of (str, str)

    Raises
    ------
    ExportError
        For a model or a column the graph cannot express (see the module docstring).
    """
    pre, est = _parts(model)
    if pre is None:
        names = getattr(est, "feature_names_in_", None)
        names = [str(n) for n in names] if names is not None else [f"x{j}" for j in range(est.n_features_in_)]
        return [(n, "float") for n in names]
    kinds = getattr(pre, "column_kinds_", None)
    categorical = set(pre.categorical_features_)
    if not kinds:
        return [(str(n), "string" if n in categorical else "float") for n in pre.feature_names_in_]
    out = []
    for ck in kinds:
        if ck.kind in LEFT_OUT:
            continue
        if ck.kind == "datetime":
            raise ExportError(f"column {ck.name!r} holds dates ({ck.spec.get('format')}), which an ONNX graph cannot "
                              "parse; refit without it (--drop) or give its parts as numeric columns to export")
        if ck.kind in ("numeric", "binary") and ck.spec:
            raise ExportError(f"column {ck.name!r} holds numbers written as text ({ck.reason}), which an ONNX graph "
                              "cannot parse; refit on plain numbers to export")
        out.append((ck.name, "string" if ck.kind == "categorical" else "float"))
    return out


def _missing_strings(model: Any) -> list[str]:
    """Strings the graph reads as a missing category: the empty string, and the reader's markers for CSV models."""
    schema = getattr(model, "input_schema_", None)
    fmt = schema.get("format") if isinstance(schema, dict) else getattr(schema, "format", None)
    return list(MISSING_MARKERS) if fmt in (None, "csv", "tsv") else [""]


def _preprocess(g: _Graph, pre: Any, inputs: dict[str, str], missing: list[str]) -> str:
    """The Preprocessor's output (N, n_features_out_) in float32, as :meth:`Preprocessor.transform`."""
    from sklearn.preprocessing import MinMaxScaler, QuantileTransformer, StandardScaler

    names = [str(n) for n in pre.feature_names_in_]
    numeric = [str(n) for n in pre.numeric_features_]
    blocks: dict[str, str] = {}
    if numeric:
        num = g.op("Concat", *[g.f64(inputs[n]) for n in numeric], axis=1)
        stats = np.asarray(pre.imputer_.statistics_, dtype=np.float64)
        stats = np.where(np.isnan(stats), 0.0, stats)  # keep_empty_features: columns without values are 0
        num = g.op("Where", g.op("IsNaN", num), g.const(stats[None, :], np.float64), num)
        binary = set(pre.binary_features_)
        scaled = [k for k, n in enumerate(numeric) if not (pre.scaling == "quantile" and n in binary)]
        scaler = pre.scaler_
        if scaler is not None and scaled:
            part = g.columns(num, np.asarray(scaled))
            if isinstance(scaler, MinMaxScaler):
                part = g.op("Add", g.op("Mul", part, g.const(scaler.scale_[None, :], np.float64)),
                            g.const(scaler.min_[None, :], np.float64))
            elif isinstance(scaler, StandardScaler):
                if scaler.mean_ is not None:
                    part = g.op("Sub", part, g.const(scaler.mean_[None, :], np.float64))
                if scaler.scale_ is not None:
                    part = g.op("Div", part, g.const(scaler.scale_[None, :], np.float64))
            elif isinstance(scaler, QuantileTransformer):
                part = g.quantile_normal(part, scaler.quantiles_, scaler.references_)
            else:
                raise ExportError(f"scaling {type(scaler).__name__} is not exported to ONNX")
            pieces = []
            for k in range(len(numeric)):
                if k in scaled:
                    pieces.append(g.columns(part, np.array([scaled.index(k)])))
                else:
                    pieces.append(g.columns(num, np.array([k])))
            num = g.op("Concat", *pieces, axis=1)
        for k, n in enumerate(numeric):
            blocks[n] = g.columns(num, np.array([k]))
    kinds = {ck.name: ck for ck in (getattr(pre, "column_kinds_", None) or [])}
    categories = pre.encoder_.categories_ if pre.encoder_ is not None else []
    markers = g.const(np.asarray(missing, dtype=object)[None, :], object, "missing") if len(categories) else ""
    for name, cats in zip(pre.categorical_features_, categories):
        text = inputs[name]
        is_missing = g.op("ReduceMax", g.op("Cast", g.op("Equal", text, markers), to=g.onnx.TensorProto.INT32),
                          g.const([1], np.int64), keepdims=1)
        is_missing = g.op("Cast", is_missing, to=g.onnx.TensorProto.BOOL)
        ck = kinds.get(name)
        levels = None if ck is None else [str(v) for v in ck.spec.get("levels", [])]
        columns = []
        for value in cats:
            if is_missing_category(value):
                hit = is_missing
            elif levels is not None and str(value) == INFREQUENT_LABEL:
                # a value present but not among the kept levels is pooled into <infrequent>
                if levels:
                    kept = g.op("Equal", text, g.const(np.asarray(levels, dtype=object)[None, :], object, "levels"))
                    known = g.op("Cast", g.op("ReduceMax", g.op("Cast", kept, to=g.onnx.TensorProto.INT32),
                                              g.const([1], np.int64), keepdims=1), to=g.onnx.TensorProto.BOOL)
                else:
                    known = g.op("Equal", text, g.const(np.asarray([[INFREQUENT_LABEL]], dtype=object), object))
                hit = g.op("And", g.op("Not", is_missing), g.op("Not", known))
            else:
                hit = g.op("And", g.op("Not", is_missing),
                           g.op("Equal", text, g.const(np.asarray([[str(value)]], dtype=object), object, "level")))
            columns.append(g.op("Cast", hit, to=g.onnx.TensorProto.DOUBLE))
        blocks[name] = g.op("Concat", *columns, axis=1) if len(columns) > 1 else columns[0]
    out = g.op("Concat", *[blocks[n] for n in names], axis=1) if len(names) > 1 else blocks[names[0]]
    return g.f32(out)


def _view(g: _Graph, view: Any, x32: str) -> str:
    """The default preset's input view of the float32 rows ``x32``: ``[minmax, quantile, minmax[:, binary]]``."""
    from ._limits import MAX_ABS_VALUE

    x = g.f64(x32)
    scaled = g.op("Div", g.op("Sub", x, g.const(view.data_min[None, :], np.float64)),
                  g.const(view.data_range[None, :], np.float64))
    scaled = g.f32(g.op("Clip", scaled, g.const(-MAX_ABS_VALUE, np.float64), g.const(MAX_ABS_VALUE, np.float64)))
    parts = [scaled]
    if view.n_continuous:
        cont = g.columns(x, view.continuous)
        parts.append(g.f32(g.quantile_normal(cont, view.quantiles, view.references)))
    if view.n_binary:
        parts.append(g.columns(scaled, view.binary))
    return g.op("Concat", *parts, axis=1) if len(parts) > 1 else scaled


def to_onnx(model: Any, *, double: bool = False, name: str = "deviation") -> Any:
    """The ONNX graph of a fitted model (see the module docstring for what it computes).

    Parameters
    ----------
    model : Pipeline of (Preprocessor, DevNet), or DevNet
        As :func:`deviation.load` returns it for a file of ``deviation fit``.
    double : bool, default=False
        Numeric inputs as float64 instead of float32: the graph then reads exactly
        the numbers ``deviation score`` reads (float32 rounds 7 significant digits
        away, which matters for columns whose values are large next to their spread).
    name : str
        The graph's name.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``.

    Raises
    ------
    ExportError
        For blends, CatBoost picks, sparse models, date columns and numbers
        written as text (one line naming the part and why).
    MissingDependencyError
        When ``onnx`` is not installed (``pip install 'deviation[onnx]'``).
    """
    onnx = import_optional("onnx", "onnx", "ONNX export")
    for part in ("onnx.checker", "onnx.numpy_helper"):
        import_optional(part, "onnx", "ONNX export")

    from .scoring import threshold

    pre, est = _parts(model)
    columns = input_columns(model)
    g = _Graph(onnx)
    tp = onnx.TensorProto
    inputs = {n: n for n, _ in columns}
    number = tp.DOUBLE if double else tp.FLOAT
    graph_inputs = [onnx.helper.make_tensor_value_info(n, tp.STRING if kind == "string" else number, ["N", 1])
                    for n, kind in columns]
    if pre is not None:
        x32 = _preprocess(g, pre, inputs, _missing_strings(model))
    else:
        x32 = g.f32(g.op("Concat", *[n for n, _ in columns], axis=1) if len(columns) > 1 else columns[0][0])
    view = getattr(est, "view_", None)
    h = x32 if view is None else _view(g, view, x32)
    for k, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        h = g.op("Add", g.op("MatMul", h, g.const(W, np.float32, f"W{k}")), g.const(b, np.float32, f"b{k}"))
        if k < len(est.coefs_) - 1:
            h = g.op("Relu", h)
    g.nodes.append(onnx.helper.make_node("Squeeze", [h, g.const([1], np.int64)], ["score"]))
    s64 = g.f64("score")
    calibration = getattr(est, "calibration_scores_", None)
    decided = s64
    if calibration is not None and len(calibration):
        # A row equal to a calibration row (a duplicate, or a calibration row itself) scores exactly its
        # calibration score in Python, and within a few float32 ulps of it here (float32 sums in another
        # order): scores within 4 ulps (of the score, or of 1) of a calibration score count as equal to it,
        # for the p-value's ">=" and the threshold's ">" alike. (On thyroid, default preset, 1,333 calibration
        # scores: 495 of 7,200 p-values one step lower without this, 2 one step higher with 4 ulps, 4 with 8,
        # 9 with 16; docs/deploy.md section 1.4.)
        cal = np.sort(np.asarray(calibration, dtype=np.float64))
        decided = g.op("Squeeze", g.snap(g.op("Unsqueeze", s64, g.const([1], np.int64)), cal[:, None], ulps=4,
                                         scale=1.0), g.const([1], np.int64))
    if calibration is not None and not len(calibration):
        p = g.op("Add", g.op("Mul", s64, g.const(0.0, np.float64)), g.const(1.0, np.float64))  # (1 + 0) / (0 + 1)
    elif calibration is not None:
        below = g.count_at_most(g.op("Unsqueeze", decided, g.const([1], np.int64)), cal[:, None], strict=True)
        above = g.op("Sub", g.const(len(cal), np.int64), g.op("Squeeze", below, g.const([1], np.int64)))
        p = g.op("Div", g.op("Cast", g.op("Add", above, g.const(1, np.int64)), to=tp.DOUBLE),
                 g.const(len(cal) + 1.0, np.float64))
    else:
        z = g.op("Div", g.op("Sub", s64, g.const(float(est.prior_mean), np.float64)),
                 g.const(float(est.prior_std) * np.sqrt(2.0), np.float64))
        # erf in float32 (ONNX Runtime's Erf kernel); 0.5 * erfc(z) is within 1e-7 of norm.sf
        erf = g.f64(g.op("Erf", g.f32(z)))
        p = g.op("Mul", g.const(0.5, np.float64), g.op("Sub", g.const(1.0, np.float64), erf))
    g.nodes.append(onnx.helper.make_node("Cast", [p], ["p_value"], to=tp.FLOAT))
    cut = threshold(model)
    g.nodes.append(onnx.helper.make_node("Greater", [decided, g.const(float(cut), np.float64, "threshold")],
                                         ["is_anomaly"]))
    outputs = [onnx.helper.make_tensor_value_info("score", tp.FLOAT, ["N"]),
               onnx.helper.make_tensor_value_info("p_value", tp.FLOAT, ["N"]),
               onnx.helper.make_tensor_value_info("is_anomaly", tp.BOOL, ["N"])]
    graph = onnx.helper.make_graph(g.nodes, name, graph_inputs, outputs, g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="deviation")
    proto.ir_version = min(proto.ir_version, 9)  # readable by ONNX Runtime 1.16 and later
    meta = {"threshold": repr(float(cut)), "confidence": repr(float(est.confidence)),
            "p_values": "prior" if calibration is None else "conformal",
            "preset": str(est.preset)}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: str | os.PathLike, *, double: bool = False) -> Any:
    """Write the ONNX graph of a fitted model to ``path`` (atomically: never a partial file).

    Parameters
    ----------
    model : Pipeline of (Preprocessor, DevNet), or DevNet
    path : str or os.PathLike
        The ``.onnx`` file to write.
    double : bool, default=False
        Numeric inputs as float64 (see :func:`to_onnx`).

    Returns
    -------
    onnx.ModelProto
        The graph written (see :func:`to_onnx`).

    Raises
    ------
    ExportError, MissingDependencyError
        As :func:`to_onnx`.
    OSError
        When the file cannot be written.
    """
    proto = to_onnx(model, double=double)
    target = Path(path)
    with atomic_target(target) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    logger.info("ONNX graph written to %s (%d nodes)", target, len(proto.graph.node))
    return proto
