"""Fit plus scoring time of DevNet on thyroid with the paper's 1,000 updates.

For each of ``--runs`` splits of the paper's protocol, time ``fit`` on the
training part (5,760 rows) plus ``decision_function`` on the test part (1,440
rows): the paper preset with the lean NumPy engine and with the torch autograd
engine on the CPU, and the default preset (two networks) with the NumPy
engine. Writes a table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/fit_speed.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _report import machine, write_section

from deviation import DevNet, load_thyroid
from deviation.protocol import evaluate_scores, paper_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch's CPU threads (default: torch's own choice); 1 on a loaded machine, where "
                             "torch's spinning threads can take ten times longer")
    args = parser.parse_args()
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    X, y = load_thyroid(return_X_y=True)
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    # warm up imports and BLAS for both engines
    DevNet(epochs=1, batches_per_epoch=2, random_state=0).fit(X, y)
    DevNet(epochs=1, batches_per_epoch=2, random_state=0, engine="torch", device="cpu").fit(X, y)
    configs = (("paper", "numpy"), ("paper", "torch"), ("default", "numpy"))
    measured: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {c: ([], [], []) for c in configs}
    # the two NumPy-engine presets take turns on each split, so that a slower or busier stretch of
    # the machine falls on both and their ratio is measured under the same conditions; torch runs
    # after them (its idle threads keep spinning for a while after each call)
    turns = [[("paper", "numpy"), ("default", "numpy")]] * args.runs + [[("paper", "torch")]] * args.runs
    for i, turn in enumerate(turns):
        split = paper_split(X, y, np.random.default_rng(i % args.runs))
        for preset, engine in turn:
            run = i % args.runs
            times, roc, pr = measured[(preset, engine)]
            start = time.perf_counter()
            model = DevNet(preset=preset, engine=engine, device="cpu", random_state=run).fit(
                split.X_train, split.y_train)
            scores = model.decision_function(split.X_test)
            times.append(time.perf_counter() - start)
            m = evaluate_scores(split.y_test, scores)
            roc.append(m["auc_roc"])
            pr.append(m["auc_pr"])
    rows = []
    for (preset, engine), (times, roc, pr) in measured.items():
        rows.append((f"{preset}, {engine}", np.median(times), np.min(times), np.mean(roc), np.mean(pr)))
        print(f"{preset} {engine}: median {np.median(times):.3f} s, AUC-ROC {np.mean(roc):.3f}, AUC-PR {np.mean(pr):.3f}")
    table = [
        "## Fit plus scoring time on thyroid (1,000 updates of 512 rows)",
        "",
        f"`python benchmarks/fit_speed.py --runs {args.runs}"
        + (f" --torch-threads {args.torch_threads}" if args.torch_threads is not None else "")
        + "`: fit on the 5,760 training rows of a paper-protocol "
        "split, then score the 1,440 test rows; the same splits and seeds for every row, the two NumPy-engine "
        "presets taking turns on each split (torch after them). "
        "Targets: 0.2 s or less for the paper preset (issue 3); the default preset at most 3 times the paper "
        "preset (issue 8).",
        "",
        "| preset, engine | median fit+score (s) | fastest (s) | AUC-ROC | AUC-PR |",
        "|---|---|---|---|---|",
        *[f"| {e} | {med:.3f} | {mn:.3f} | {r:.3f} | {p:.3f} |" for e, med, mn, r, p in rows],
        "",
        f"Default / paper preset (numpy) median time ratio: {rows[2][1] / rows[0][1]:.2f}.",
        "",
        f"Machine: {machine()}. Load average (1/5/15 min) before -> after: {load_before} -> "
        f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())} (a load above 2 means other jobs shared the 2 cores).",
        "",
        "For comparison, measured earlier on this machine (REFERENCE.md): a faithful minimal PyTorch loop "
        "0.8-1.0 s, DeepOD 0.4.1's DevNet 2.2 s, PyOD's 2.5 s.",
    ]
    write_section("fit_speed", "\n".join(table))


if __name__ == "__main__":
    main()
