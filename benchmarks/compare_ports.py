"""Our DevNet against DeepOD 0.4.1's and PyOD 3.6.7's DevNet ports, on the same thyroid splits.

For each of ``--runs`` paper-protocol splits (``paper_split`` seeded with the run
number, as in fit_speed.py), time ``fit`` on the training part plus
``decision_function`` on the test part, and compute AUC-ROC and AUC-PR on the
test part, for:

* ours: ``DevNet(random_state=run)``, the defaults being the paper's settings;
* DeepOD 0.4.1's DevNet at the paper's settings, as far as its API allows;
* DeepOD 0.4.1's DevNet with its own defaults;
* PyOD 3.6.7's DevNet with its defaults.

The ports pin an old torch, so they live in their own virtual environment,
benchmarks/.venv-ports (build it with ``bash benchmarks/ports_env.sh``). Ours runs
in this process; each port runs in a subprocess of that venv
(``_ports_runner.py``) that reads the very same splits from a .npz file and
returns timings and scores as JSON; every AUC is computed here, by the same code.
Each implementation is warmed up once (untimed) before its timed runs. All run
single-threaded by default (``--threads``): on a shared 2-core machine, 2
intra-op threads per process under load slow torch several-fold.

    bash benchmarks/ports_env.sh          # once
    .venv/bin/python benchmarks/compare_ports.py [--runs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(argv: list[str]) -> int:
    # must happen before numpy / torch are imported, here and in the subprocesses
    threads = 1
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            threads = int(argv[i + 1])
        elif a.startswith("--threads="):
            threads = int(a.split("=", 1)[1])
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    return threads


_THREADS = _set_threads(sys.argv[1:])

import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _report import machine, write_section  # noqa: E402

from deviation import DevNet, load_thyroid  # noqa: E402
from deviation.protocol import evaluate_scores, paper_split  # noqa: E402

HERE = Path(__file__).resolve().parent
PORTS_PY = HERE / ".venv-ports" / "bin" / "python"
RUNNER = HERE / "_ports_runner.py"

# (config, implementation, settings, updates on thyroid's 5,760 training rows, what goes wrong)
PORTS = [
    (
        "deepod_paper",
        "DeepOD 0.4.1 DevNet",
        "paper settings as far as its API allows: hidden 20 (ReLU, biases), batch 512, lr 1e-3, 50 epochs; "
        "Adam + weight decay 1e-5 (fixed), an epoch is one pass of ceil(n/512) weighted-sampled batches",
        "50 x 12 = 600",
    ),
    (
        "deepod_default",
        "DeepOD 0.4.1 DevNet",
        "its defaults: hidden 100-50 (no biases), Adam lr 1e-3, batch 64, 100 epochs",
        "100 x 90 = 9,000",
    ),
    (
        "pyod",
        "PyOD 3.6.7 DevNet",
        "its defaults: network_depth 2 = 1,000 hidden units, RMSprop lr 1e-3, batch 512 shuffled (unbalanced), 50 epochs",
        "50 x 12 = 600",
    ),
]


def make_splits(X: np.ndarray, y: np.ndarray, runs: int):
    return [paper_split(X, y, np.random.default_rng(run)) for run in range(runs)]


def run_ours(splits) -> dict:
    X0, y0 = splits[0].X_train, splits[0].y_train
    DevNet(epochs=1, batches_per_epoch=2, random_state=0).fit(X0, y0).decision_function(splits[0].X_test)
    times, scores, engine = [], [], None
    for run, s in enumerate(splits):
        start = time.perf_counter()
        model = DevNet(random_state=run).fit(s.X_train, s.y_train)
        sc = model.decision_function(s.X_test)
        times.append(time.perf_counter() - start)
        scores.append(np.asarray(sc, dtype=np.float64))
        engine = getattr(model, "engine_", None)
    return {"times": times, "scores": scores, "engine": engine}


def run_port(config: str, npz: Path, tmp: Path, timeout: float) -> dict:
    out = tmp / f"{config}.json"
    proc = subprocess.run(
        [str(PORTS_PY), str(RUNNER), config, str(npz), str(out)],
        cwd=HERE,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{config} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    data["scores"] = [np.asarray(s, dtype=np.float64) for s in data["scores"]]
    return data


def summarize(res: dict, splits) -> dict:
    roc, pr = [], []
    for s, sc in zip(splits, res["scores"]):
        m = evaluate_scores(s.y_test, sc)
        roc.append(m["auc_roc"])
        pr.append(m["auc_pr"])
    return {
        "median": float(np.median(res["times"])),
        "roc": (float(np.mean(roc)), float(np.std(roc))),
        "pr": (float(np.mean(pr)), float(np.std(pr))),
        "roc_runs": roc,
        "pr_runs": pr,
    }


def measure(args: argparse.Namespace, splits) -> dict:
    """Time and score every implementation on the splits; JSON-serialisable."""
    import torch

    torch.set_num_threads(_THREADS)
    loads: dict[str, list[float]] = {}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="ports-") as tmpdir:
        tmp = Path(tmpdir)
        npz = tmp / "splits.npz"
        arrays: dict[str, np.ndarray] = {"n_runs": np.array(len(splits))}
        for k, s in enumerate(splits):  # no test labels: the ports never see them
            arrays[f"X_train_{k}"], arrays[f"y_train_{k}"], arrays[f"X_test_{k}"] = s.X_train, s.y_train, s.X_test
        np.savez(npz, **arrays)

        t0 = os.getloadavg()[0]
        results["ours"] = run_ours(splits)
        loads["ours"] = [t0, os.getloadavg()[0]]
        print(f"ours: median {np.median(results['ours']['times']):.3f} s", flush=True)
        for config, *_ in PORTS:
            t0 = os.getloadavg()[0]
            results[config] = run_port(config, npz, tmp, args.timeout)
            loads[config] = [t0, os.getloadavg()[0]]
            print(f"{config}: median {np.median(results[config]['times']):.3f} s", flush=True)
        # ours once more after the ports, to show how much the load moved meanwhile
        t0 = os.getloadavg()[0]
        results["ours_again"] = run_ours(splits)
        loads["ours_again"] = [t0, os.getloadavg()[0]]
        print(f"ours again: median {np.median(results['ours_again']['times']):.3f} s", flush=True)
    for res in results.values():
        res["scores"] = [np.asarray(s, dtype=np.float64).tolist() for s in res["scores"]]
    return {
        "runs": len(splits),
        "threads": _THREADS,
        "machine": machine(),
        "results": results,
        "loads": loads,
    }


def render(data: dict, splits) -> tuple[str, bool]:
    results, loads = data["results"], data["loads"]
    stats = {k: summarize(v, splits) for k, v in results.items()}
    ours = stats["ours"]
    for k, st in stats.items():
        print(
            f"{k:15s} median {st['median']:7.3f} s  AUC-ROC {st['roc'][0]:.3f} ± {st['roc'][1]:.3f}  "
            f"AUC-PR {st['pr'][0]:.3f} ± {st['pr'][1]:.3f}  speed-up of ours {st['median'] / ours['median']:.1f}x"
        )
    dp, dd, po = stats["deepod_paper"], stats["deepod_default"], stats["pyod"]
    speedup = dp["median"] / ours["median"]
    target = speedup >= 5 and ours["roc"][0] > dp["roc"][0] and ours["pr"][0] > dp["pr"][0]
    print(f"target (>= 5x faster than DeepOD at paper settings, better AUC-ROC and AUC-PR): {'met' if target else 'NOT met'}")

    def fmt(st):
        return f"{st['roc'][0]:.3f} ± {st['roc'][1]:.3f}", f"{st['pr'][0]:.3f} ± {st['pr'][1]:.3f}"

    def load(k):
        a, b = loads[k]
        return f"{a:.1f} → {b:.1f}"

    def versus(st, metric):
        d = st[metric][0] - ours[metric][0]
        return "about the same as ours" if abs(d) < 0.01 else ("above ours" if d > 0 else "below ours")

    def chance(st):
        r = st["roc"][0]
        return "below chance" if r < 0.5 else ("close to chance" if r < 0.6 else "well short of ours")

    rows = [
        f"| ours (`deviation`, engine {results['ours']['engine']}) | `DevNet(random_state=run)`: the paper's settings "
        f"(hidden 20, RMSprop 1e-3 ρ 0.9 + clipnorm 1, L2 0.01, 20 balanced batches of 512 × 50 epochs) | 1,000 "
        f"| {ours['median']:.3f} | {fmt(ours)[0]} | {fmt(ours)[1]} | 1.0× | {load('ours')} |"
    ]
    for config, impl, settings, updates in PORTS:
        st = stats[config]
        rows.append(
            f"| {impl} | {settings} | {updates} | {st['median']:.3f} | {fmt(st)[0]} | {fmt(st)[1]} "
            f"| {st['median'] / ours['median']:.1f}× | {load(config)} |"
        )
    threads = data["threads"]
    threads = f"{threads} thread{'s' if threads != 1 else ''}"
    runs = data["runs"]
    again = stats["ours_again"]["median"]
    text = [
        "## Other DevNet ports on thyroid: time and accuracy on the same splits",
        "",
        f"`python benchmarks/compare_ports.py --runs {runs}` (ports installed by `bash benchmarks/ports_env.sh` "
        "into their own venv beside torch 2.13.0, without their dependencies). Each run is a paper-protocol split "
        "of thyroid (seeded with the run number, the same splits as `fit_speed.py`); every implementation fits "
        "on the same 5,760 training rows and scores the same 1,440 test rows, and the AUCs of all are computed by "
        "the same code from the returned scores. Time = `fit` + `decision_function` on the test part, median "
        f"over {runs} runs after one untimed warm-up; {threads} per process for all (BLAS, OpenMP and torch). "
        "Speed-up = that implementation's median time / ours (our first pass). Target (issue 6): ours at least 5× "
        "faster than DeepOD's DevNet at the paper's settings, with better AUC-ROC and AUC-PR: "
        f"**{'met' if target else 'not met'}** ({speedup:.1f}×, AUC-ROC {ours['roc'][0]:.3f} vs {dp['roc'][0]:.3f}, "
        f"AUC-PR {ours['pr'][0]:.3f} vs {dp['pr'][0]:.3f}).",
        "",
        "| implementation | settings | updates | median fit+score (s) | AUC-ROC | AUC-PR | speed-up of ours "
        "| load avg (start → end) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Machine: {data['machine']}. **Shared and loaded**: other jobs (test suites, other benchmarks) ran on the "
        "same 2 cores throughout; the 1-minute load average before and after each implementation's runs is in the "
        "last column. Absolute times are therefore inflated, for all four but not by exactly the same factor, "
        f"since the load moved. Ours timed again after the ports: median {again:.3f} s (load {load('ours_again')}). "
        "For scale, with less load earlier on this machine: ours 0.17 s (`fit_speed` section), DeepOD at paper "
        "settings 2.2 s and PyOD 2.5 s (measured before this benchmark existed, 2 threads), i.e. roughly 13× and "
        "15×: the load inflates the ports' Python-heavy loops more than ours. Paper (Table 1): 0.783 / 0.274.",
        "",
        "What the ports get wrong (from reading their code; the numbers above show the effect):",
        "",
        "- **DeepOD 0.4.1**: the network returns scores of shape (B, 1) and the labels have shape (B,); the "
        "deviation loss `(1 - y) * |dev| + y * max(0, 5 - dev)` broadcasts them to a (B, B) matrix, so each row's "
        "loss no longer depends on its own label: with half/half batches every score gets the same mixed target, "
        "whose gradient nearly vanishes anywhere between 0 and 5 (its sampler balances the batches only on average). It also draws a new reference sample at every step "
        "instead of keeping one, uses Adam with a fixed weight decay instead of RMSprop with clipping and an L2 "
        "penalty, keeps the last epoch rather than the lowest-loss one, and scores the whole training set at the "
        f"end of `fit`. At the paper's settings that leaves it {chance(dp)} (AUC-ROC {dp['roc'][0]:.3f}). With "
        f"its own much larger defaults (100-50 hidden units, batches of 64, 9,000 updates) it reaches AUC-ROC "
        f"{dd['roc'][0]:.3f} ({versus(dd, 'roc')}) and AUC-PR {dd['pr'][0]:.3f} ({versus(dd, 'pr')}) on thyroid, "
        f"at {dd['median'] / ours['median']:.0f}× our time: the bug costs it the paper's small, cheap "
        "configuration, and the accuracy it gets back there comes from a bigger network trained far longer, not "
        "from the deviation loss as published.",
        "- **PyOD 3.6.7**: `deviation_loss(outputs, labels)` is called with its arguments swapped (the labels "
        "play the scores and the scores play the labels), with the same (B, 1) × (B,) broadcast; the loss is "
        "then linear in the scores, so training does not learn the deviation objective "
        f"(AUC-ROC {po['roc'][0]:.3f}, {chance(po)}). Its batches are plain shuffled batches of the training set "
        "(about 0.5% labeled anomalies each), not the balanced half/half batches; `network_depth=2` means 1,000 "
        "hidden units, not 20; `random_seed` is ignored, and importing `pyod.models.devnet` seeds NumPy's and "
        "torch's global RNGs with 42 (the runner reseeds them per run).",
    ]
    return "\n".join(text), target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads per process")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed for each port's subprocess")
    parser.add_argument("--save", type=Path, help="also write the raw timings and scores to this JSON file")
    parser.add_argument("--load", type=Path, help="render the report from a JSON file written by --save; run nothing")
    parser.add_argument("--no-report", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    X, y = load_thyroid(return_X_y=True)
    if args.load:
        data = json.loads(args.load.read_text())
        splits = make_splits(X, y, data["runs"])
    else:
        if not PORTS_PY.exists():
            sys.exit(f"{PORTS_PY} is missing: run `bash benchmarks/ports_env.sh` first.")
        splits = make_splits(X, y, args.runs)
        data = measure(args, splits)
        if args.save:
            args.save.write_text(json.dumps(data))
    text, _ = render(data, splits)
    print(text)
    if not args.no_report:
        write_section("ports", text)


if __name__ == "__main__":
    main()
