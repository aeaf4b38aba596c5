"""The bundled demo: DevNet on the real thyroid data under the paper's protocol.

Run with ``deviation demo``, ``python -m deviation.demo`` or, from a clone,
``bash scripts/demo.sh``; no torch needed. Per run: a new stratified 80/20 split, an unlabeled training part
holding 2% anomalies, 30 labeled anomalies; AUC-ROC and AUC-PR on the test
part. Each split is scored by the default preset and by ``preset="paper"``
(the paper's configuration); prints mean +- std over the runs next to the
paper's Table 1.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import numpy as np

from .datasets import load_thyroid
from .estimator import DevNet
from .protocol import evaluate_scores, paper_split

__all__ = ["PAPER_THYROID", "header_lines", "main", "run_demo", "summary_lines"]

PAPER_THYROID = {"auc_roc": (0.783, 0.003), "auc_pr": (0.274, 0.011)}


def header_lines(runs: int) -> list[str]:
    """The report's title and column headings."""
    return [
        "DevNet on thyroid (7,200 x 21, 534 anomalies): paper protocol, "
        f"{runs} runs of 30 labeled anomalies, 2% contamination",
        f"{'':4} {'default preset':>30} {'preset=paper':>30}",
        f"{'run':>4}" + f" {'AUC-ROC':>8} {'AUC-PR':>8} {'fit+score s':>12}" * 2,
    ]


def summary_lines(arrays: dict[str, np.ndarray]) -> list[str]:
    """Mean +- std of each preset over the runs, next to the paper's Table 1."""
    lines = ["", f"{'':24} {'AUC-ROC':>15} {'AUC-PR':>15} {'fit+score s':>12}"]
    for label, prefix in (("deviation (default)", ""), ("deviation (paper)", "paper_")):
        roc, pr, sec = (arrays[prefix + k] for k in ("auc_roc", "auc_pr", "seconds"))
        lines.append(f"{label:24} {roc.mean():>7.3f} +- {roc.std():.3f} {pr.mean():>7.3f} +- {pr.std():.3f} "
                     f"{sec.mean():>12.3f}")
    (r, rs), (p, ps) = PAPER_THYROID["auc_roc"], PAPER_THYROID["auc_pr"]
    lines.append(f"{'paper, Table 1':24} {r:>7.3f} +- {rs:.3f} {p:>7.3f} +- {ps:.3f}")
    return lines


def run_demo(runs: int = 10, seed: int = 0, out: TextIO | None = None) -> dict[str, np.ndarray]:
    """Run the protocol ``runs`` times; with ``out``, write the report there as it goes.

    Needs no torch: on the CPU DevNet trains with its NumPy engine.

    Parameters
    ----------
    runs : int, default=10
        Number of protocol runs; run ``r`` is seeded with ``seed + r``.
    seed : int, default=0
        Seed of the first run (its split and its models).
    out : text stream, optional
        Where the report goes, a line per run as it finishes (``deviation
        demo`` passes standard output); None writes nothing.

    Returns
    -------
    dict
        ``auc_roc``, ``auc_pr`` and ``seconds`` (fit plus scoring) per run of
        the default preset, and the same keys prefixed ``paper_`` for
        ``preset="paper"``.
    """
    def write(lines: list[str]) -> None:
        if out is not None:
            out.write("".join(line + "\n" for line in lines))
            out.flush()

    X, y = load_thyroid(return_X_y=True)
    results: dict[str, list[float]] = {}
    write(header_lines(runs))
    for run in range(runs):
        split = paper_split(X, y, np.random.default_rng(seed + run))
        line = f"{run + 1:>4}"
        for prefix, preset in (("", "default"), ("paper_", "paper")):
            start = time.perf_counter()
            # the paper's protocol trains on every row (no calibration hold-out), as the paper did
            model = DevNet(preset=preset, random_state=seed + run, calibration_size=0)
            model.fit(split.X_train, split.y_train)
            scores = model.decision_function(split.X_test)
            seconds = time.perf_counter() - start
            metrics = evaluate_scores(split.y_test, scores)
            for key, value in (*metrics.items(), ("seconds", seconds)):
                results.setdefault(prefix + key, []).append(value)
            line += f" {metrics['auc_roc']:>8.3f} {metrics['auc_pr']:>8.3f} {seconds:>12.3f}"
        write([line])
    arrays = {k: np.asarray(v) for k, v in results.items()}
    write(summary_lines(arrays))
    return arrays


def main(argv: list[str] | None = None) -> int:
    """``python -m deviation.demo [--runs N] [--seed S]``: the same as ``deviation demo``; returns the exit code."""
    from .cli import main as cli_main

    return cli_main(["demo", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
