"""The census attributes and all their pairwise crosses hashed into 2^20 sparse columns.

A stand-in for the paper's URL (3.2M features) and news20 (1.3M) sets, which
are not obtainable: 33 categorical attributes and 528 pairwise crosses give
561 non-zeros per row in 1,048,576 columns. scikit-learn's FeatureHasher
hashes each distinct token once (tokens ``attr=value`` and
``attr1=value1&attr2=value2``); the rows are then assembled with NumPy.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from deviation import read_table

N_FEATURES = 2**20


def hashed_census(data_dir: Path, cache: Path | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    if cache is not None and cache.exists():
        z = np.load(cache)
        X = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        return X, z["y"]
    t = read_table(data_dir / "paper" / "census_nominal.tar.xz", label="class", anomaly_value="50000+.")
    frame = t.X.astype(str)
    names = list(frame.columns)
    codes, vocab = [], []
    for c in names:
        code, uniques = pd.factorize(frame[c])
        codes.append(code.astype(np.int64))
        vocab.append([str(u) for u in uniques])
    hasher = FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)
    cols = []
    # one hashed column per distinct token; rows index into the per-group lookup tables
    for i, c in enumerate(names):
        table = hasher.transform([[f"{c}={v}"] for v in vocab[i]]).indices
        cols.append(table[codes[i]])
    for i, j in itertools.combinations(range(len(names)), 2):
        pair = codes[i] * len(vocab[j]) + codes[j]
        uniq, inverse = np.unique(pair, return_inverse=True)
        tokens = [[f"{names[i]}={vocab[i][u // len(vocab[j])]}&{names[j]}={vocab[j][u % len(vocab[j])]}"] for u in uniq]
        cols.append(hasher.transform(tokens).indices[inverse])
    indices = np.stack(cols, axis=1)  # (n, 561)
    n, k = indices.shape
    X = sp.csr_matrix(
        (np.ones(n * k, dtype=np.float32), indices.ravel(), np.arange(0, n * k + 1, k)),
        shape=(n, N_FEATURES),
    )
    X.sum_duplicates()  # hash collisions within a row add up
    X.sort_indices()
    if cache is not None:
        np.savez(cache, data=X.data, indices=X.indices, indptr=X.indptr, shape=X.shape, y=t.y)
    return X, t.y
