"""Property-based tests (hypothesis) of the readers, the preprocessing and the estimator.

Properties, for any generated input:

* the readers and the estimator raise only :class:`deviation.DeviationError`
  subclasses (never a bare ``ValueError``, ``KeyError``, ``IndexError``...);
* finite input gives finite scores, ``predict`` is ``score > threshold_`` and
  p-values lie in [0, 1];
* scores do not depend on the order of the scored rows;
* dense and sparse input give the same scores.

The number of examples comes from the hypothesis profile loaded in
``tests/conftest.py``: "ci" (30 per test, derandomized) by default,
``HYPOTHESIS_PROFILE=long`` for the fuzz run (``scripts/fuzz.sh``).  Each test
records how many examples it ran and their outcomes (``record_property``) for
``tools/reliability_report.py``.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.pipeline import Pipeline

from deviation import DevNet
from deviation.exceptions import DeviationError
from deviation.io import read_table
from deviation.preprocess import Preprocessor

TINY = {"epochs": 1, "batches_per_epoch": 2, "batch_size": 8, "random_state": 0}

# values a hostile file or array may hold
HOSTILE_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 1e300, -1e300, 1e-300, 5e-324, 1e30, 3.4e38]),
)
FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=32)
LABELS = st.sampled_from([0, 1, 2, -1, 0.5, np.nan, "yes", "1", True])


def record(record_property, counter: Counter) -> None:
    record_property("examples", sum(counter.values()))
    record_property("outcomes", json.dumps(dict(sorted(counter.items()))))


def outcome(counter: Counter, action) -> object:
    """Run ``action``; count its outcome; let only DeviationError subclasses through as expected failures."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = action()
    except DeviationError as exc:
        counter[type(exc).__name__] += 1
        return None
    counter["ok"] += 1
    return result


@st.composite
def labeled_data(draw, finite: bool = True, sparse: bool | None = None):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 6))
    elements = FINITE if finite else HOSTILE_FLOATS
    X = draw(arrays(np.float64, (n, d), elements=elements))
    density = draw(st.sampled_from([1.0, 0.5, 0.1, 0.0]))
    if density < 1.0:
        mask = draw(arrays(np.bool_, (n, d), elements=st.booleans()))
        X = np.where(mask if density >= 0.5 else mask & (np.arange(d) == 0), X, 0.0)
    n_anomalies = draw(st.integers(1, n - 1))
    y = np.zeros(n, dtype=np.int64)
    y[draw(st.permutations(range(n)))[:n_anomalies]] = 1
    make_sparse = draw(st.booleans()) if sparse is None else sparse
    return (sp.csr_matrix(X) if make_sparse else X), y


# --------------------------------------------------------------------------- estimator


def test_fit_and_score_raise_only_typed_errors(record_property):
    counter: Counter = Counter()

    @given(
        n=st.integers(0, 12),
        d=st.integers(0, 4),
        kind=st.sampled_from(["finite", "finite", "float", "object"]),
        label_kind=st.sampled_from(["binary", "binary", "hostile", "wrong_length"]),
        sparse=st.booleans(),
        data=st.data(),
    )
    def check(n, d, kind, label_kind, sparse, data):
        if kind == "finite":
            X = data.draw(arrays(np.float64, (n, d), elements=FINITE))
        elif kind == "float":
            X = data.draw(arrays(np.float64, (n, d), elements=st.one_of(FINITE, HOSTILE_FLOATS)))
        else:
            X = data.draw(arrays(object, (n, d), elements=st.one_of(FINITE, HOSTILE_FLOATS, st.text(max_size=3),
                                                                    st.none())))
        if sparse and kind != "object":
            X = sp.csr_matrix(X)
        if label_kind == "binary":
            labels = data.draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n))
        elif label_kind == "hostile":
            labels = data.draw(st.lists(LABELS, min_size=n, max_size=n))
        else:
            labels = data.draw(st.lists(st.sampled_from([0, 1]), max_size=14).filter(lambda v: len(v) != n))
        y = np.array(labels, dtype=object)
        model = outcome(counter, lambda: DevNet(**TINY).fit(X, y))
        if model is not None:
            scores = model.decision_function(X)
            assert np.isfinite(scores).all()

    check()
    record(record_property, counter)


def test_finite_input_gives_finite_consistent_scores(record_property):
    counter: Counter = Counter()

    @given(data=labeled_data(), confidence=st.floats(0.5, 0.999))
    def check(data, confidence):
        X, y = data
        model = DevNet(**TINY, confidence=confidence).fit(X, y)
        scores = model.decision_function(X)
        assert scores.shape == (X.shape[0],) and scores.dtype == np.float64
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(model.predict(X), (scores > model.threshold_).astype(np.int64))
        p = model.p_values(X)
        assert ((p >= 0) & (p <= 1)).all()
        # a higher score never has a higher p-value
        order = np.argsort(scores, kind="stable")
        assert (np.diff(p[order]) <= 1e-12).all()
        counter["ok"] += 1

    check()
    record(record_property, counter)


def test_scores_do_not_depend_on_row_order(record_property):
    counter: Counter = Counter()

    @given(data=labeled_data(), seed=st.integers(0, 2**16))
    def check(data, seed):
        X, y = data
        model = DevNet(**TINY).fit(X, y)
        perm = np.random.default_rng(seed).permutation(X.shape[0])
        direct = model.decision_function(X)
        permuted = model.decision_function(X[perm])
        np.testing.assert_allclose(permuted, direct[perm], rtol=1e-6, atol=1e-6)
        # the rows scored one at a time give the same scores as well
        single = np.array([model.decision_function(X[i : i + 1])[0] for i in range(min(X.shape[0], 5))])
        np.testing.assert_allclose(single, direct[: len(single)], rtol=1e-6, atol=1e-6)
        counter["ok"] += 1

    check()
    record(record_property, counter)


def test_dense_and_sparse_give_the_same_model(record_property):
    counter: Counter = Counter()

    @given(data=labeled_data(sparse=False))
    def check(data):
        X, y = data
        # the paper's network reads X as given: sparse and dense training give the same model
        dense = DevNet(**TINY, preset="paper").fit(X, y)
        sparse = DevNet(**TINY, preset="paper").fit(sp.csr_matrix(X), y)
        np.testing.assert_allclose(sparse.decision_function(sp.csr_matrix(X)), dense.decision_function(X),
                                   rtol=1e-5, atol=1e-5)
        # the default preset trains the paper's network on sparse input, and its dense model
        # (with its input view) scores the sparse matrix exactly like the dense rows
        sparse_default = DevNet(**TINY).fit(sp.csr_matrix(X), y)
        np.testing.assert_array_equal(sparse_default.decision_function(sp.csr_matrix(X)),
                                      sparse.decision_function(sp.csr_matrix(X)))
        dense_default = DevNet(**TINY).fit(X, y)
        np.testing.assert_array_equal(dense_default.decision_function(sp.csr_matrix(X)),
                                      dense_default.decision_function(X))
        counter["ok"] += 1

    check()
    record(record_property, counter)


def test_pipeline_on_frames_with_missing_and_text_values(record_property):
    """Preprocessor + DevNet on DataFrames with NaN, text and huge values: typed errors only, finite scores."""
    counter: Counter = Counter()
    cell = st.one_of(HOSTILE_FLOATS, st.none(), st.sampled_from(["a", "b", "", " 1", "1e5", "inf"]))

    @given(
        columns=st.lists(st.lists(cell, min_size=12, max_size=12), min_size=1, max_size=4),
        n_anomalies=st.integers(0, 3),
        scaling=st.sampled_from(["minmax", "standard", "quantile", "none"]),
    )
    def check(columns, n_anomalies, scaling):
        frame = pd.DataFrame({f"c{i}": col for i, col in enumerate(columns)})
        y = (np.arange(12) < n_anomalies).astype(int)
        model = outcome(
            counter,
            lambda: Pipeline([("p", Preprocessor(scaling=scaling)), ("d", DevNet(**TINY))]).fit(frame, y),
        )
        if model is not None:
            scores = outcome(Counter(), lambda: model.decision_function(frame))
            assert scores is not None, "a model fitted on a frame must score that frame"
            assert np.isfinite(scores).all()
            shuffled = frame.sample(frac=1.0, random_state=0)
            np.testing.assert_allclose(model.decision_function(shuffled), scores[shuffled.index.to_numpy()],
                                       rtol=1e-6, atol=1e-6)

    check()
    record(record_property, counter)


# --------------------------------------------------------------------------- readers


def _read(counter: Counter, name: str, content: bytes, label: str | None):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        return outcome(counter, lambda: read_table(path, label))


def test_read_table_on_arbitrary_bytes_raises_only_data_errors(record_property):
    counter: Counter = Counter()

    @given(
        content=st.one_of(
            st.binary(max_size=300),
            st.text(alphabet=st.sampled_from(list("01,.;\"\n\r\t ae-+xINFnaé\x00")), max_size=200).map(str.encode),
        ),
        name=st.sampled_from(["d.csv", "d.tsv", "d.libsvm", "d.arff", "d.npz", "d.parquet", "d.csv.gz", "d.zip"]),
        compress=st.booleans(),
    )
    def check(content, name, compress):
        if compress and name.endswith(".gz"):
            content = gzip.compress(content, mtime=0)
        label = None if name.split(".")[1] in ("libsvm", "npz") else "a"
        _read(counter, name, content, label)

    check()
    record(record_property, counter)


def test_read_table_csv_round_trip(record_property):
    """A CSV of finite numbers and 0/1/empty labels reads back exactly; anything else is a DataError."""
    counter: Counter = Counter()

    @given(
        X=arrays(np.float64, st.tuples(st.integers(1, 15), st.integers(1, 4)),
                 elements=st.floats(allow_nan=True, allow_infinity=False)),
        labels=st.lists(st.sampled_from(["0", "1", ""]), min_size=15, max_size=15),
        truncate=st.integers(0, 40),
    )
    def check(X, labels, truncate):
        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
        frame["class"] = labels[: len(frame)]
        text = frame.to_csv(index=False, float_format="%.17g").encode()
        cut = text[: max(len(text) - truncate, 1)] if truncate else text
        table = _read(counter, "d.csv", cut, "class")
        if table is None or truncate:
            return
        np.testing.assert_array_equal(table.X.to_numpy(dtype=np.float64), X)
        np.testing.assert_array_equal(table.y, [1 if v == "1" else 0 for v in labels[: len(frame)]])

    check()
    record(record_property, counter)


def test_read_table_libsvm_lines(record_property):
    counter: Counter = Counter()
    token = st.one_of(
        st.builds(lambda i, v: f"{i}:{v}", st.integers(-1, 8), st.one_of(FINITE.map(repr), st.sampled_from(
            ["nan", "inf", "x", "", "1e400"]))),
        st.sampled_from(["#c", ":", "1:", "qid:1"]),
    )
    line = st.builds(lambda lab, toks: " ".join([lab, *toks]),
                     st.sampled_from(["0", "1", "2", "-1", "0.5", "x", ""]), st.lists(token, max_size=4))

    @given(lines=st.lists(line, min_size=1, max_size=10))
    def check(lines):
        table = _read(counter, "d.libsvm", ("\n".join(lines) + "\n").encode(), "y")
        if table is not None:
            assert sp.issparse(table.X) and table.X.shape[0] == len(table.y)
            assert set(np.unique(table.y)) <= {0, 1}

    check()
    record(record_property, counter)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("ERROR", logger="deviation")
