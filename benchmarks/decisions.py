"""Decisions on real data: the prior's threshold against the conformal one, and what the hold-out costs.

For every real data set of ``benchmarks/accuracy.py`` (the paper's six and the
16 qualifying ``extra/`` sets) and each run: the split of the paper's protocol
that ``accuracy.py`` draws for that set, run and number of labeled anomalies
(2% contamination, 30 labeled anomalies), and the default DevNet pipeline with
the seed ``accuracy.py`` gives it, fitted twice on that split:

* ``calibration_size=0``: trained on every row, as before calibration existed;
  its decisions are the prior's (score > 1.645 at confidence 0.95, and
  Benjamini-Hochberg on the prior's p-values);
* the default (``calibration_size="auto"``: 20% of the unlabeled rows, at most
  5,000, held out): conformal p-values, flagged at ``p <= 0.05`` and by
  Benjamini-Hochberg at ``q = 0.1`` over the test rows;
* the same fit recalibrated (``DevNet.calibrate``) on half of the test part's
  normal rows, known to be normal, and evaluated on the other half and the
  test anomalies: what calibrating on reviewed, clean traffic gives.

On the test part (true labels): the false-positive rate (share of normal rows
flagged), recall (share of anomalies flagged), false discovery proportion
(share of normal rows among the flagged; 0 when none is flagged) and AUC-PR
of both fits.

    python benchmarks/decisions.py --runs 3 --out results/decisions.csv
    python benchmarks/decisions.py --report results/decisions.csv --write   # tables into docs/decisions.md
    python benchmarks/decisions.py --datasets thyroid --runs 2             # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deviation.calibration import benjamini_hochberg
from deviation.compare import make_candidate
from deviation.exceptions import DataError
from deviation.protocol import evaluate_scores, paper_split, take_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # reproduction/ lives in the checkout, not installed
from _report import machine, write_between  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from reproduction.data import DATASETS, QUALIFYING_EXTRA, load_dataset, resolve_data_dir  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "decisions.md"
CONFIDENCE = 0.95
FDR = 0.1


def _rates(y: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    flags = flags.astype(bool)
    n_flagged = int(flags.sum())
    return {
        "fpr": float(flags[y == 0].mean()),
        "recall": float(flags[y == 1].mean()),
        "fdp": float((flags & (y == 0)).sum() / n_flagged) if n_flagged else 0.0,
        "flagged": n_flagged,
    }


def _one(name: str, n_labeled: int, run: int, seed: int, data_dir: Any) -> list[dict[str, Any]]:
    data = load_dataset(name, data_dir)
    # the same generator, split and first seed as benchmarks/accuracy.py's default DevNet
    rng = np.random.default_rng([seed, run, n_labeled, sum(map(ord, name))])
    try:
        split = paper_split(data.X, data.y, rng, n_labeled=n_labeled)
    except DataError:
        return []
    model_seed = int(rng.integers(2**31 - 1))
    y = split.y_test
    rows = []
    for scheme, size in (("prior", 0), ("conformal", "auto")):
        model = make_candidate("devnet", model_seed)
        model.set_params(model__calibration_size=size)
        start = time.perf_counter()
        model.fit(split.X_train, split.y_train)
        fit_s = time.perf_counter() - start
        devnet = model.steps[-1][1]
        scores = model.decision_function(split.X_test)
        p = devnet.p_values_from_scores(scores)
        base = {"dataset": name, "n_labeled": n_labeled, "run": run, "scheme": scheme, "fit_s": fit_s,
                "n_test": len(y), "n_calibration": 0 if devnet.calibration_scores_ is None else
                len(devnet.calibration_scores_), **evaluate_scores(y, scores)}
        level = _rates(y, scores > devnet.threshold_for(CONFIDENCE))
        bh = _rates(y, benjamini_hochberg(p, FDR))
        rows.append({**base, **{f"level_{k}": v for k, v in level.items()}, **{f"bh_{k}": v for k, v in bh.items()}})
    # recalibrated on clean rows: half of the test normals (a generator of its own, so the rest is unchanged)
    normals = np.flatnonzero(y == 0)
    half = np.random.default_rng([seed, run, 7]).permutation(normals)[: len(normals) // 2]
    rest = np.setdiff1d(np.arange(len(y)), half)
    devnet.calibrate(model[:-1].transform(take_rows(split.X_test, half)))
    scores, y_rest = scores[rest], y[rest]
    level = _rates(y_rest, scores > devnet.threshold_for(CONFIDENCE))
    bh = _rates(y_rest, benjamini_hochberg(devnet.p_values_from_scores(scores), FDR))
    rows.append({**base, "scheme": "clean", "n_calibration": len(half), "n_test": len(rest),
                 **evaluate_scores(y_rest, scores), **{f"level_{k}": v for k, v in level.items()},
                 **{f"bh_{k}": v for k, v in bh.items()}})
    return rows


def run(args: argparse.Namespace) -> None:
    data_dir = resolve_data_dir()
    tasks = [(name, r) for name in args.datasets for r in range(args.runs)]
    order = {n: i for i, n in enumerate(["donors", "http", "cover", "census", "skin", "celeba", "backdoor"])}
    tasks.sort(key=lambda t: order.get(t[0], 99))
    results = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(_one)(name, args.labeled, r, args.seed, data_dir) for name, r in tasks
    )
    frame = pd.DataFrame([row for rows in results for row in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(report(args.out))


def report(path: Path) -> str:
    """The Markdown tables of a results CSV."""
    df = pd.read_csv(path)
    prior, conf, clean = (df[df.scheme == s].set_index(["dataset", "run"]).sort_index()
                          for s in ("prior", "conformal", "clean"))
    n_sets, n_runs = prior.index.get_level_values(0).nunique(), len(prior)
    lines = [
        f"{n_sets} data sets, {n_runs} splits of the paper's protocol (30 labeled anomalies, 2% contamination), "
        f"default preset; test part, true labels. Level: flagged at confidence {CONFIDENCE} "
        f"(prior: score > {1.645:.3f}; conformal: p <= {1 - CONFIDENCE:.2f}). BH: Benjamini-Hochberg at "
        f"q = {FDR} over the test rows.",
        "",
        "| threshold | mean FPR | max FPR (set) | runs with FPR > 0.10 | mean recall | BH mean FDP | BH max FDP | "
        "BH mean recall | mean AUC-PR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, part in (("prior (Proposition 4.1), trained on all rows", prior),
                        ("conformal (default: 20% held out)", conf),
                        ("conformal, recalibrated on clean normal rows", clean)):
        worst = part.level_fpr.idxmax()
        auc_pr = "(half the normal test rows)" if part is clean else f"{part.auc_pr.mean():.4f}"
        lines.append(
            f"| {label} | {part.level_fpr.mean():.3f} | {part.level_fpr.max():.3f} ({worst[0]}) | "
            f"{int((part.level_fpr > 0.10).sum())} of {len(part)} | {part.level_recall.mean():.3f} | "
            f"{part.bh_fdp.mean():.3f} | {part.bh_fdp.max():.3f} | {part.bh_recall.mean():.3f} | {auc_pr} |"
        )
    diff = (conf.auc_pr - prior.auc_pr).groupby(level=0).mean()
    lines += [
        "",
        f"AUC-PR cost of the hold-out (trained on all rows minus held out, same split and seed): mean "
        f"{prior.auc_pr.mean() - conf.auc_pr.mean():+.4f} over the {n_runs} splits (positive = the hold-out "
        f"loses); by set, the largest loss {-diff.min():+.4f} ({diff.idxmin()}), the largest gain "
        f"{diff.max():+.4f} ({diff.idxmax()}).",
        "",
        "Per data set (means over the runs):",
        "",
        "| data set | calibration rows | FPR prior / conformal | recall prior / conformal | BH FDP prior / "
        "conformal / clean | BH recall prior / conformal / clean | AUC-PR all rows / held out |",
        "|---|---|---|---|---|---|---|",
    ]
    pm, cm, km = (part.groupby(level=0).mean(numeric_only=True) for part in (prior, conf, clean))
    for name in pm.index:
        p, c, k = pm.loc[name], cm.loc[name], km.loc[name]
        lines.append(
            f"| {name} | {c.n_calibration:,.0f} | {p.level_fpr:.3f} / {c.level_fpr:.3f} | "
            f"{p.level_recall:.3f} / {c.level_recall:.3f} | {p.bh_fdp:.3f} / {c.bh_fdp:.3f} / {k.bh_fdp:.3f} | "
            f"{p.bh_recall:.3f} / {c.bh_recall:.3f} / {k.bh_recall:.3f} | {p.auc_pr:.4f} / {c.auc_pr:.4f} |"
        )
    lines += ["", f"Machine: {machine()}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled", type=int, default=30)
    parser.add_argument("--datasets", nargs="+", default=[*QUALIFYING_EXTRA, *DATASETS])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/decisions.csv"))
    parser.add_argument("--report", type=Path, default=None, help="print the tables of an earlier run's CSV")
    parser.add_argument("--write", action="store_true", help="with --report: write the tables into docs/decisions.md")
    args = parser.parse_args()
    if args.report is not None:
        text = report(args.report)
        print(text)
        if args.write:
            write_between(DOC, "<!-- decisions:begin -->", "<!-- decisions:end -->", text)
        return
    run(args)


if __name__ == "__main__":
    main()
