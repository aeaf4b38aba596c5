"""Write the legacy model-file fixtures of tests/test_persistence.py.

Run once, at commit 0b68722 (branch persist) (before persistence.py became the package
``deviation.persistence``), with::

    PYTHONPATH=src python tests/data/legacy/make_legacy.py

DO NOT RERUN: the files here are what deviation wrote *then*; the tests check
that today's deviation still loads them and scores the recorded inputs to the
same bits (``expected_scores.npz``). Rerunning with newer code would only test
the new code against itself.

Files written (all small):

- ``default.model``: ``Pipeline(Preprocessor, DevNet())`` (default preset) on a thyroid slice.
- ``paper.model``: ``Pipeline(Preprocessor, DevNet(preset="paper"))`` on the same slice.
- ``categorical.model``: a Pipeline fitted on a small DataFrame with a string column.
- ``devnet.model``: a bare ``DevNet`` (paper preset, no preprocessor) on an array.
- ``blend.blend.json`` and its members (``save_blend``): the devnet+catboost blend.
- ``inputs.npz``: the fixed inputs (``thyroid``: 50 rows; ``categorical_*``: the columns of the frame).
- ``expected_scores.npz``: ``decision_function`` of each model on its input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from deviation import DevNet, Preprocessor, load_thyroid, save

HERE = Path(__file__).resolve().parent
FAST = {"epochs": 3, "batches_per_epoch": 4, "random_state": 0}


def thyroid_slice() -> tuple[np.ndarray, np.ndarray]:
    """Every 8th unlabeled row and the first 60 anomalies of thyroid: 900 rows x 21 columns."""
    X, y = load_thyroid(return_X_y=True)
    rows = np.r_[np.flatnonzero(y == 0)[::8], np.flatnonzero(y == 1)[:60]]
    rows.sort()
    return X[rows], y[rows]


def categorical_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """300 rows: two numbers (one with gaps) and a colour; anomalies are large ``a``."""
    rng = np.random.default_rng(7)
    n = 300
    a = rng.normal(size=n)
    b = rng.uniform(size=n)
    b[rng.random(n) < 0.05] = np.nan
    colour = rng.choice(["red", "green", "blue"], size=n).astype(object)
    colour[rng.random(n) < 0.03] = None
    y = (a > 1.8).astype(int)
    return pd.DataFrame({"a": a, "b": b, "colour": colour}), y


def main() -> None:
    X, y = thyroid_slice()
    X_test = X[::18][:50]
    frame, y_frame = categorical_frame()
    stored = frame.iloc[::6].reset_index(drop=True)
    colour = stored["colour"].fillna("").to_numpy().astype(str)
    # the frame the tests rebuild from inputs.npz ("" stands for a missing colour)
    frame_test = pd.DataFrame({"a": stored["a"].to_numpy(), "b": stored["b"].to_numpy(),
                               "colour": pd.Series(colour, dtype=object).replace("", None)})
    expected: dict[str, np.ndarray] = {}

    default = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(**FAST))]).fit(X, y)
    save(default, HERE / "default.model", metadata={"fixture": "default"})
    expected["default"] = default.decision_function(X_test)

    paper = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(preset="paper", **FAST))]).fit(X, y)
    save(paper, HERE / "paper.model", metadata={"fixture": "paper"})
    expected["paper"] = paper.decision_function(X_test)

    cat = Pipeline([("prep", Preprocessor(scaling="quantile", n_quantiles=50)), ("detector", DevNet(**FAST))])
    cat.fit(frame, y_frame)
    save(cat, HERE / "categorical.model", metadata={"fixture": "categorical"})
    expected["categorical"] = cat.decision_function(frame_test)

    bare = DevNet(preset="paper", **FAST).fit(X / X.max(axis=0), y)
    save(bare, HERE / "devnet.model")
    expected["devnet"] = bare.decision_function(X_test / X.max(axis=0))

    try:
        import catboost  # noqa: F401
    except ImportError:  # pragma: no cover - catboost is in the dev environment
        print("catboost missing: no blend fixture")
    else:
        from deviation.blend import ScoreBlend, save_blend
        from deviation.compare import make_candidate

        # compare's members, made small: a short DevNet fit and 40 trees of depth 4 instead of 1,000 of 6
        devnet_member = make_candidate("devnet", random_state=0)
        devnet_member.steps[-1][1].set_params(epochs=3, batches_per_epoch=4)
        devnet_member.fit(X, y)
        trees = make_candidate("catboost", random_state=0)
        pre = trees.steps[0][1].fit(X)
        rival = trees.steps[-1][1]
        rival.model_ = catboost.CatBoostClassifier(iterations=40, depth=4, random_seed=0, thread_count=1,
                                                   verbose=0, allow_writing_files=False).fit(pre.transform(X), y)
        rival.n_features_in_ = X.shape[1]
        blend = ScoreBlend.from_fitted([("devnet", devnet_member), ("catboost", trees)], X, y, random_state=0)
        save_blend(blend, HERE / "blend.blend.json", metadata={"fixture": "blend"})
        expected["blend"] = blend.decision_function(X_test)

    np.savez(HERE / "inputs.npz", thyroid=X_test, thyroid_scale=X.max(axis=0),
             categorical_a=frame_test["a"].to_numpy(), categorical_b=frame_test["b"].to_numpy(),
             categorical_colour=colour)
    np.savez(HERE / "expected_scores.npz", **expected)
    for path in sorted(HERE.iterdir()):
        print(f"{path.name:50s} {path.stat().st_size:>9d}")


if __name__ == "__main__":
    main()
