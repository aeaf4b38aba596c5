"""The bundled demo: DevNet on the real thyroid data under the paper's protocol.

Run with ``deviation demo``, ``python -m deviation.demo`` or, from a clone,
``bash scripts/demo.sh``; no torch needed. Per run: a new stratified 80/20 split, an unlabeled training part
holding 2% anomalies, 30 labeled anomalies; AUC-ROC and AUC-PR on the test
part. Each split is scored by the default preset and by ``preset="paper"``
(the paper's configuration); prints mean +- std over the runs next to the
paper's Table 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

import numpy as np

from .datasets import load_thyroid
from .estimator import DevNet
from .protocol import evaluate_scores, paper_split

__all__ = ["PAPER_THYROID", "main", "run_demo"]

PAPER_THYROID = {"auc_roc": (0.783, 0.003), "auc_pr": (0.274, 0.011)}


def run_demo(runs: int = 10, seed: int = 0, out: TextIO | None = None) -> dict[str, np.ndarray]:
    """Run the protocol ``runs`` times and write a small report to ``out``.

    Needs no torch: on the CPU DevNet trains with its NumPy engine.

    Parameters
    ----------
    runs : int, default=10
        Number of protocol runs; run ``r`` is seeded with ``seed + r``.
    seed : int, default=0
        Seed of the first run (its split and its models).
    out : text stream, optional
        Where the report goes; standard output by default.

    Returns
    -------
    dict
        ``auc_roc``, ``auc_pr`` and ``seconds`` (fit plus scoring) per run of
        the default preset, and the same keys prefixed ``paper_`` for
        ``preset="paper"``.
    """
    out = sys.stdout if out is None else out
    X, y = load_thyroid(return_X_y=True)
    results: dict[str, list[float]] = {}
    print("DevNet on thyroid (7,200 x 21, 534 anomalies): paper protocol, "
          f"{runs} runs of 30 labeled anomalies, 2% contamination", file=out)
    print(f"{'':4} {'default preset':>30} {'preset=paper':>30}", file=out)
    print(f"{'run':>4}" + f" {'AUC-ROC':>8} {'AUC-PR':>8} {'fit+score s':>12}" * 2, file=out)
    for run in range(runs):
        split = paper_split(X, y, np.random.default_rng(seed + run))
        line = f"{run + 1:>4}"
        for prefix, preset in (("", "default"), ("paper_", "paper")):
            start = time.perf_counter()
            model = DevNet(preset=preset, random_state=seed + run).fit(split.X_train, split.y_train)
            scores = model.decision_function(split.X_test)
            seconds = time.perf_counter() - start
            metrics = evaluate_scores(split.y_test, scores)
            for key, value in (*metrics.items(), ("seconds", seconds)):
                results.setdefault(prefix + key, []).append(value)
            line += f" {metrics['auc_roc']:>8.3f} {metrics['auc_pr']:>8.3f} {seconds:>12.3f}"
        print(line, file=out)
    arrays = {k: np.asarray(v) for k, v in results.items()}
    print("", file=out)
    print(f"{'':24} {'AUC-ROC':>15} {'AUC-PR':>15} {'fit+score s':>12}", file=out)
    for label, prefix in (("deviation (default)", ""), ("deviation (paper)", "paper_")):
        roc, pr, sec = (arrays[prefix + k] for k in ("auc_roc", "auc_pr", "seconds"))
        print(f"{label:24} {roc.mean():>7.3f} +- {roc.std():.3f} {pr.mean():>7.3f} +- {pr.std():.3f} "
              f"{sec.mean():>12.3f}", file=out)
    (r, rs), (p, ps) = PAPER_THYROID["auc_roc"], PAPER_THYROID["auc_pr"]
    print(f"{'paper, Table 1':24} {r:>7.3f} +- {rs:.3f} {p:>7.3f} +- {ps:.3f}", file=out)
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m deviation.demo``: ``--runs`` and ``--seed``; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="number of runs (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    run_demo(args.runs, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
