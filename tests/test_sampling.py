import numpy as np
import pytest

from deviation.sampling import balanced_batches


def test_every_batch_is_exactly_half_labeled_anomalies():
    y = np.zeros(1000, dtype=int)
    y[[3, 77, 500]] = 1
    unl, anom = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    rows, labels = balanced_batches(np.random.default_rng(0), unl, anom, 40, 512)
    assert rows.shape == (40, 512)
    assert labels.sum() == 256
    for batch in rows:
        np.testing.assert_array_equal(y[batch], labels)  # positions alternate 0, 1
    # drawn uniformly with replacement: all three anomalies appear, about equally
    counts = np.bincount(rows[:, 1::2].ravel(), minlength=1000)[anom]
    assert counts.min() > 0.8 * counts.mean()


def test_odd_batch_size_is_refused():
    with pytest.raises(ValueError, match="even"):
        balanced_batches(np.random.default_rng(0), np.arange(5), np.arange(5, 7), 1, 7)
