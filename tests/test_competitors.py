"""The paper's competitors (and the GBT rival, and DevNet-Rep): they learn, and from the labels."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from deviation import load_thyroid
from deviation.exceptions import DataError
from deviation.protocol import evaluate_scores, paper_split
from deviation.rivals import GradientBoosting, IForest
from reproduction.competitors import REPEN, DeepSVDD, FSNet
from reproduction.variants import DevNetRep

WEAKLY_SUPERVISED = [REPEN, DeepSVDD, FSNet, GradientBoosting, DevNetRep]
ALL = [IForest, *WEAKLY_SUPERVISED]
PREVALENCE = 534 / 7200


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Tiny networks: torch's thread pool only adds contention on a shared 2-core machine.
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):  # also HistGradientBoosting's OpenMP pool
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split():
    X, y = load_thyroid(return_X_y=True)
    return paper_split(np.asarray(X), y, np.random.default_rng(1))


def _fit_eval(cls, split, y_train=None, **kw):
    y_train = split.y_train if y_train is None else y_train
    model = cls(random_state=1, **kw).fit(split.X_train, y_train)
    return evaluate_scores(split.y_test, model.decision_function(split.X_test))


def test_iforest_beats_random_on_thyroid(split):
    m = _fit_eval(IForest, split)
    assert m["auc_roc"] > 0.6 and m["auc_pr"] > 1.3 * PREVALENCE


@pytest.mark.parametrize("cls", WEAKLY_SUPERVISED, ids=lambda c: c.__name__)
def test_learns_from_the_labels(cls, split):
    # Beats random on real data, and beats itself trained with shuffled labels
    # (the same number of "labeled anomalies", picked at random).
    real = _fit_eval(cls, split)
    shuffled = _fit_eval(cls, split, np.random.default_rng(99).permutation(split.y_train))
    assert real["auc_roc"] > 0.6, real
    assert real["auc_pr"] > 1.5 * PREVALENCE, real
    assert real["auc_roc"] > shuffled["auc_roc"] + 0.1, (real, shuffled)
    assert real["auc_pr"] > shuffled["auc_pr"] + 0.03, (real, shuffled)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_same_seed_same_scores_and_no_global_seeding(cls, split):
    X, y = split.X_train[:2000], split.y_train[:2000]
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state().clone()
    kw = {} if cls in (IForest, GradientBoosting) else {"epochs": 2}
    a = cls(random_state=3, **kw).fit(X, y).decision_function(split.X_test)
    b = cls(random_state=3, **kw).fit(X, y).decision_function(split.X_test)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(split.y_test),) and np.isfinite(a).all()
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_sparse_input_gives_the_dense_scores(cls, split):
    X, y = split.X_train[:2000], split.y_train[:2000]
    kw = {} if cls in (IForest, GradientBoosting) else {"epochs": 2}
    dense = cls(random_state=0, **kw).fit(X, y).decision_function(split.X_test[:300])
    sparse = cls(random_state=0, **kw).fit(sp.csr_matrix(X), y).decision_function(sp.csr_matrix(split.X_test[:300]))
    np.testing.assert_allclose(dense, sparse, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", WEAKLY_SUPERVISED, ids=lambda c: c.__name__)
def test_needs_labeled_anomalies(cls, split):
    with pytest.raises(DataError, match="labeled anomaly"):
        cls().fit(split.X_train[:100], np.zeros(100))


def test_fsnet_probability_is_the_softmax_over_prototype_distances(split):
    model = FSNet(epochs=2, random_state=0).fit(split.X_train, split.y_train)
    p = model.predict_proba(split.X_test[:50])
    np.testing.assert_allclose(p.sum(1), 1.0)
    # P(anomaly) ranks rows like decision_function
    order = np.argsort(model.decision_function(split.X_test[:50]))
    assert np.all(np.diff(p[order, 1]) >= 0)


@pytest.mark.parametrize("seed", [0, 7, np.random.RandomState(3)])
def test_package_rivals_draw_the_same_stream_as_the_torch_seeded_competitors(seed):
    """deviation.rivals (no torch) drops the former torch seed: the rivals' results stay what they were."""
    import copy

    from deviation.rivals import make_rng
    from reproduction.competitors._common import make_generators

    ours = make_rng(copy.deepcopy(seed)).integers(0, 2**31 - 1, size=5)
    theirs = make_generators(copy.deepcopy(seed))[0].integers(0, 2**31 - 1, size=5)
    np.testing.assert_array_equal(ours, theirs)
