"""Scoring throughput of ``decision_function``: the default preset against the paper preset.

Fits both presets (random_state=0) on 1,000,000 synthetic rows x 20 continuous
columns (a tenth of a percent labeled anomalies), then times
``decision_function`` on the same rows, best of ``--repeats``, both presets in
the same process so that their ratio is measured under the same load. Writes
a table into docs/BENCHMARKS.md (section ``score_speed``).

    PYTHONPATH=src .venv/bin/python benchmarks/score_speed.py [--rows 1000000] [--repeats 3] [--fit-repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _report import machine, write_section

from deviation import DevNet


def make_data(rows: int, columns: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mixed continuous distributions, and rows far out in the first columns as anomalies."""
    rng = np.random.default_rng(seed)
    kinds = [rng.normal, rng.lognormal, rng.standard_t, rng.exponential]
    X = np.column_stack([
        kinds[j % 4](size=rows) if j % 4 != 2 else rng.standard_t(3, size=rows) for j in range(columns)
    ])
    y = (rng.random(rows) < 0.001).astype(np.int64)
    X[y == 1, :3] += 6
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fit-repeats", type=int, default=3)
    args = parser.parse_args()
    X, y = make_data(args.rows, args.columns)
    load_before = _load()
    # fit time: the median of --fit-repeats fits of each preset, alternating, after a warm-up fit of
    # each on a few rows (the first fit of a process also pays for one-time imports and set-up)
    for preset in ("paper", "default"):
        DevNet(preset=preset, random_state=0, epochs=1).fit(X[:5000], y[:5000])
    fit_times: dict[str, list[float]] = {"paper": [], "default": []}
    models = {}
    for _ in range(args.fit_repeats):
        for preset in ("paper", "default"):
            start = time.perf_counter()
            models[preset] = DevNet(preset=preset, random_state=0).fit(X, y)
            fit_times[preset].append(time.perf_counter() - start)
    results = {}
    for preset in ("paper", "default"):
        model, fit_s = models[preset], float(np.median(fit_times[preset]))
        print(f"{preset}: fits {', '.join(f'{t:.2f}' for t in fit_times[preset])} s")
        model.decision_function(X[:10_000])  # warm up
        best, cpu = min(_timed(model, X) for _ in range(args.repeats))
        results[preset] = (fit_s, best, cpu)
        print(f"{preset}: fit {fit_s:.2f} s, decision_function {best:.3f} s ({cpu:.3f} CPU s), "
              f"{args.rows / best / 1e6:.2f}M rows/s")
        best, cpu = min(_timed_before(model, X) for _ in range(args.repeats))
        results[f"{preset}, scored as before issue 18"] = (fit_s, best, cpu)
        print(f"{preset} as before: {best:.3f} s ({cpu:.3f} CPU s), {args.rows / best / 1e6:.2f}M rows/s")
    ratio = results["paper"][1] / results["default"][1]
    before = results["paper, scored as before issue 18"][1] / results["default, scored as before issue 18"][1]
    fit_ratio = results["default"][0] / results["paper"][0]
    print(f"default / paper rows/s: {ratio:.2f}; fit time default / paper: {fit_ratio:.2f}")
    table = [
        f"## Scoring throughput in memory: {args.rows:,} rows x {args.columns} columns (issue 18)",
        "",
        f"`PYTHONPATH=src python benchmarks/score_speed.py --rows {args.rows} --repeats {args.repeats} "
        f"--fit-repeats {args.fit_repeats}`: "
        "both presets fitted (1,000 updates, random_state=0; fit time the median of "
        f"{args.fit_repeats} fits of each, alternating, after a warm-up fit of each on 5,000 rows) on the "
        "same synthetic rows (normal, log-normal, "
        "Student-t and exponential columns), then `decision_function` on all of them, best of "
        f"{args.repeats}, in one process ({os.cpu_count()} cores; scoring uses up to 4 threads). CPU seconds: "
        "`time.process_time()` of that call (all threads); rows per CPU second is what one fully available "
        "core does, whatever the other jobs on the machine. "
        "Targets (issue 18): the default preset at least 2.5M rows/s and at least 0.25 of the paper "
        "preset's rows/s in the same run; its fit at most 3 times the paper preset's.",
        "",
        "Rows \"scored as before issue 18\" are the same fitted models scored the way the code did before "
        "(`_before` in the script: 8,192-row chunks in the same threads, the default preset's view through "
        "scikit-learn's `QuantileTransformer`, the merged network row by row with `mlp.forward_numpy`).",
        "",
        "| preset | fit (s) | decision_function (s) | rows/s | CPU seconds | rows per CPU second |",
        "|---|---|---|---|---|---|",
        *[f"| {p} | {f:.2f} | {s:.3f} | {args.rows / s / 1e6:.2f}M | {c:.3f} | {args.rows / c / 1e6:.2f}M |"
          for p, (f, s, c) in results.items()],
        "",
        f"Default / paper rows/s: {ratio:.2f}; default / paper scored as before issue 18: {before:.2f}. "
        f"Fit time default / paper: {fit_ratio:.2f}.",
        "",
        f"Machine: {machine()}. Load average (1/5/15 min) before -> after: {load_before} -> {_load()} "
        "(a load above 2 means other jobs shared the 2 cores).",
    ]
    write_section("score_speed", "\n".join(table))


def _before(model: DevNet, X: np.ndarray) -> np.ndarray:
    """``decision_function`` as the code before issue 18 computed it (for comparison only)."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.preprocessing import QuantileTransformer

    from deviation.estimator import _SCORE_CHUNK, _SCORE_THREADS
    from deviation.mlp import forward_numpy

    view, qt = model.view_, None
    if view is not None and view.n_continuous:
        qt = QuantileTransformer(n_quantiles=len(view.references), output_distribution="normal")
        qt.quantiles_, qt.references_ = view.quantiles, view.references
        qt.n_quantiles_, qt.n_features_in_ = len(view.references), view.n_continuous
    out = np.empty(X.shape[0])

    def chunk(start: int) -> None:
        rows = np.asarray(X[start : start + _SCORE_CHUNK], dtype=np.float32)
        if view is not None:
            scaled = view.minmax(rows)
            parts = [scaled]
            if qt is not None:
                parts += [qt.transform(rows[:, view.continuous].astype(np.float64)).astype(np.float32),
                          scaled[:, view.binary]]
            rows = np.hstack(parts)
        out[start : start + _SCORE_CHUNK] = forward_numpy(rows, model.coefs_, model.intercepts_)

    with ThreadPoolExecutor(max_workers=_SCORE_THREADS) as pool:
        list(pool.map(chunk, range(0, X.shape[0], _SCORE_CHUNK)))
    return out


def _timed_before(model: DevNet, X: np.ndarray) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    _before(model, X)
    return time.perf_counter() - start, time.process_time() - cpu


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(model: DevNet, X: np.ndarray) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of the process) of one ``decision_function``."""
    start, cpu = time.perf_counter(), time.process_time()
    model.decision_function(X)
    return time.perf_counter() - start, time.process_time() - cpu


if __name__ == "__main__":
    main()
