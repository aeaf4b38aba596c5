"""Run one other DevNet port on the splits of a .npz file; write timings and scores as JSON.

Runs inside benchmarks/.venv-ports (see ports_env.sh), started by
compare_ports.py, never imported by the library:

    .venv-ports/bin/python _ports_runner.py CONFIG splits.npz out.json

The .npz holds ``X_train_<k>``, ``y_train_<k>``, ``X_test_<k>`` for k in
``range(n_runs)`` and ``n_runs``. For each split the runner times ``fit`` on the
training part plus ``decision_function`` on the test part, after one untimed
warm-up fit. The test labels never enter this process: AUCs are computed by the
caller from the returned scores.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time

import numpy as np
import torch

# DeepOD at the paper's settings, as close as its API allows: one hidden layer
# of 20 ReLU units with biases, batches of 512, lr 1e-3, 50 epochs. Not
# settable: its optimizer (Adam with weight decay 1e-5, not RMSprop with
# clipnorm and an L2 penalty on the hidden layer), and an "epoch" is one
# weighted pass over the n training rows (ceil(n / 512) batches, 12 on thyroid),
# not 20 batches, so 600 updates instead of 1,000.
DEEPOD_PAPER = dict(epochs=50, batch_size=512, lr=1e-3, hidden_dims="20", act="ReLU", bias=True)
# DeepOD's own defaults (epochs 100, batch 64, hidden '100,50', no bias, Adam).
DEEPOD_DEFAULT: dict = {}


def _deepod(params: dict, seed: int, warm: bool):
    from deepod.models.tabular import DevNet

    p = dict(params)
    if warm:
        p["epochs"] = 1
    return DevNet(device="cpu", verbose=0, random_state=seed, **p)


def _pyod(seed: int, warm: bool):
    from pyod.models.devnet import DevNet

    # PyOD ignores its random_seed parameter and seeds the global RNGs at import;
    # reseed them per run so that the runs differ as ours do.
    np.random.seed(seed)
    torch.manual_seed(seed)
    return DevNet(epochs=1) if warm else DevNet()


def make(config: str, seed: int, warm: bool = False):
    if config == "deepod_paper":
        return _deepod(DEEPOD_PAPER, seed, warm)
    if config == "deepod_default":
        return _deepod(DEEPOD_DEFAULT, seed, warm)
    if config == "pyod":
        return _pyod(seed, warm)
    raise SystemExit(f"unknown config {config!r}")


def main() -> None:
    config, npz_path, out_path = sys.argv[1:4]
    data = np.load(npz_path)
    n_runs = int(data["n_runs"])
    splits = [
        (data[f"X_train_{k}"].astype(np.float32), data[f"y_train_{k}"], data[f"X_test_{k}"].astype(np.float32))
        for k in range(n_runs)
    ]
    sink = io.StringIO()  # PyOD prints every epoch; keep the pipe quiet
    with contextlib.redirect_stdout(sink):
        X_tr, y_tr, X_te = splits[0]
        make(config, 0, warm=True).fit(X_tr, y_tr).decision_function(X_te)
    times, scores = [], []
    for run, (X_tr, y_tr, X_te) in enumerate(splits):
        with contextlib.redirect_stdout(sink):
            model = make(config, run)
            start = time.perf_counter()
            model.fit(X_tr, y_tr)
            s = model.decision_function(X_te)
            times.append(time.perf_counter() - start)
        scores.append(np.asarray(s, dtype=np.float64).ravel().tolist())
        sink.seek(0)
        sink.truncate()
    info = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    with open(out_path, "w") as fh:
        json.dump({"config": config, "times": times, "scores": scores, "info": info}, fh)


if __name__ == "__main__":
    main()
