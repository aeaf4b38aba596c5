"""Accuracy of the default preset against the paper preset and the tree rivals, under the paper's protocol.

For every real data set with at least 60 anomalies (the paper's sets and the
16 qualifying ``extra/`` sets), each number of labeled anomalies and each run:
one split of the paper's protocol (2% contamination, a new split per run), then
on the same split: the default DevNet, ``preset="paper"``, CatBoost (if
installed), HistGradientBoosting, Isolation Forest (each behind the same
Preprocessor that ``deviation compare`` uses), the devnet+catboost blend (built
from the DevNet and CatBoost fits of the same split, as ``compare`` does), and
the method that ``deviation compare`` picks from the training part alone (its
cross-validation is run on the weak labels; the picked method's test score is
reported).

    python benchmarks/accuracy.py --labeled 30 --runs 3 --out results/accuracy.csv
    python benchmarks/accuracy.py --report results/accuracy.csv --write   # tables into docs/ACCURACY.md

``--fit M ...`` fits only some methods (the seeds of the others are still
drawn, so every split and seed stays that of a full run): e.g. to add the blend
and compare's new picks to an earlier run's results.
Tree models train on at most ``--tree-rows`` unlabeled rows (50,000 by
default, every labeled anomaly kept) so that the run fits in hours on two
cores; the cap is reported in the output.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deviation.blend import ScoreBlend
from deviation.compare import BLENDS, compare, make_candidate, recommend
from deviation.exceptions import DataError
from deviation.protocol import evaluate_scores, paper_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # reproduction/ lives in the checkout, not installed
from _report import write_between  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from reproduction.data import DATASETS, QUALIFYING_EXTRA, load_dataset, resolve_data_dir  # noqa: E402
from reproduction.protocol import paired_wilcoxon  # noqa: E402

PAPER_SETS = [d for d in DATASETS]
METHODS_LABEL = {
    "devnet": "DevNet default",
    "devnet-paper": "DevNet paper",
    "catboost": "CatBoost",
    "hist-gbt": "HistGBT",
    "iforest": "iForest",
    "devnet+catboost": "DevNet+CatBoost blend",
    "picked": "compare's pick",
    "leader": "CV leader",
}


def _limit_trees(model: Any, cap: int | None) -> Any:
    inner = model.steps[-1][1]
    if cap is not None and hasattr(inner, "max_train_rows"):
        inner.set_params(max_train_rows=cap)
    if hasattr(inner, "thread_count"):
        inner.set_params(thread_count=1)  # the benchmark runs one split per core
    return model


#: Single methods, in the order their seeds are drawn (keep it: results stay comparable across runs).
SINGLE_METHODS = ("devnet", "devnet-paper", "catboost", "iforest", "hist-gbt")


def _one(name: str, n_labeled: int, run: int, seed: int, data_dir: Any, tree_rows: int | None,
         compare_folds: int, compare_rows: int, fit: tuple[str, ...] | None = None,
         run_compare: bool = True) -> list[dict[str, Any]]:
    data = load_dataset(name, data_dir)
    rng = np.random.default_rng([seed, run, n_labeled, sum(map(ord, name))])
    try:
        split = paper_split(data.X, data.y, rng, n_labeled=n_labeled)
    except DataError:
        return []
    wanted = set(SINGLE_METHODS) | set(BLENDS) if fit is None else set(fit)
    for blend in wanted & set(BLENDS):
        wanted |= set(BLENDS[blend])  # a blend is built from its members' fits
    rows, scores_by, fitted = [], {}, {}
    for method in (*SINGLE_METHODS, *BLENDS):
        if method in BLENDS:
            if method not in wanted:
                continue
            start = time.perf_counter()
            model = ScoreBlend.from_fitted([(m, fitted[m][0]) for m in BLENDS[method]], split.X_train,
                                           split.y_train, random_state=0)
            fit_s = time.perf_counter() - start + sum(fitted[m][1] for m in BLENDS[method])
        else:
            # the seed is drawn even when the method is skipped: the split and seeds stay those of a full run
            model = _limit_trees(make_candidate(method, int(rng.integers(2**31 - 1))), tree_rows)
            if method not in wanted:
                continue
            start = time.perf_counter()
            model.fit(split.X_train, split.y_train)
            fit_s = time.perf_counter() - start
        fitted[method] = (model, fit_s)
        scores = model.decision_function(split.X_test)
        metrics = evaluate_scores(split.y_test, scores)
        scores_by[method] = metrics
        rows.append({"dataset": name, "n_labeled": n_labeled, "run": run, "method": method, "fit_s": fit_s, **metrics})
    if not run_compare:
        return rows
    start = time.perf_counter()
    result = compare(split.X_train, split.y_train, n_folds=compare_folds, max_unlabeled=compare_rows,
                     random_state=int(rng.integers(2**31 - 1)))
    folds = result.folds.pivot(index="fold", columns="method", values="auc_pr")
    rows.append({"dataset": name, "n_labeled": n_labeled, "run": run, "method": "picked", "picked": result.best,
                 "leader": result.leader, "cv_folds": json.dumps({m: folds[m].round(6).tolist() for m in folds}),
                 "fit_s": time.perf_counter() - start, **scores_by.get(result.best, {})})
    return rows


def run(args: argparse.Namespace) -> None:
    data_dir = resolve_data_dir()
    tasks = [(name, k, r) for k in args.labeled for name in args.datasets for r in range(args.runs)]
    # biggest sets first, so that the two workers finish together
    order = {n: i for i, n in enumerate(["donors", "http", "cover", "census", "skin", "celeba", "backdoor"])}
    tasks.sort(key=lambda t: order.get(t[0], 99))
    results = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(_one)(name, k, r, args.seed, data_dir, args.tree_rows, args.compare_folds, args.compare_rows,
                      () if args.only_compare else (tuple(args.fit) if args.fit else None), not args.no_compare)
        for name, k, r in tasks
    )
    frame = pd.DataFrame([row for rows in results for row in rows])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
    print(report(args.out))


def _load(paths: list[Path]) -> pd.DataFrame:
    """Join results CSVs; a later ``picked`` row (with compare's folds) replaces an earlier one.

    The pick is recomputed from the recorded folds with the library's current
    :func:`~deviation.compare.recommend`.

    ``picked`` and ``leader`` rows get the test metrics of the method they name, from the
    same data set, number of labeled anomalies and run.
    """
    df = pd.concat([pd.read_csv(p).assign(_order=i) for i, p in enumerate(paths)], ignore_index=True)
    key = ["dataset", "n_labeled", "run"]
    # a method's metrics are the same in every file (same split, same seed); the first file's row
    # is kept for its fit time, since later files are usually partial reruns (--fit) on a busier machine
    methods = df[~df.method.isin(["picked", "leader"])].drop_duplicates(key + ["method"], keep="first")
    picks = df[df.method == "picked"].sort_values("_order").drop_duplicates(key, keep="last").copy()
    # compare's cross-validation is deterministic given its seed, so the recorded folds decide the
    # pick under the library's current rule (recommend) without refitting anything
    for i, row in picks.iterrows():
        if isinstance(row.get("cv_folds"), str):
            folds = pd.DataFrame([{"method": m, "fold": f, "auc_pr": v}
                                  for m, values in json.loads(row.cv_folds).items() for f, v in enumerate(values)])
            picks.at[i, "picked"] = recommend(folds)
            picks.at[i, "leader"] = folds.groupby("method").auc_pr.mean().idxmax()
    metrics = methods.set_index(key + ["method"])[["auc_roc", "auc_pr"]]
    extra = []
    for _, row in picks.iterrows():
        for kind, col in (("picked", "picked"), ("leader", "leader")):
            chosen = row.get(col)
            if not isinstance(chosen, str):
                continue
            idx = (row.dataset, row.n_labeled, row.run, chosen)
            if idx in metrics.index:
                extra.append({**{k: row[k] for k in key}, "method": kind, "picked": chosen, "fit_s": row.fit_s,
                              **metrics.loc[idx].to_dict()})
    return pd.concat([methods, pd.DataFrame(extra)], ignore_index=True).drop(columns="_order")


def report(paths: Path | list[Path]) -> str:
    """Markdown tables of results CSVs: per data set, means, wins and Wilcoxon p-values."""
    df = _load(paths if isinstance(paths, list) else [paths])
    df["group"] = np.where(df.dataset.isin(PAPER_SETS), "paper", "extra")
    out = []
    for k, part in df.groupby("n_labeled"):
        mean = part.groupby(["group", "dataset", "method"])[["auc_roc", "auc_pr", "fit_s"]].mean()
        methods = [m for m in METHODS_LABEL if m in part.method.unique()]
        out.append(f"### {k} labeled anomalies ({part.run.nunique()} runs)\n")
        out.append("AUC-ROC / AUC-PR, mean over runs.\n")
        out.append("| group | data | " + " | ".join(METHODS_LABEL[m] for m in methods) + " |")
        out.append("|---|---|" + "---|" * len(methods))
        for (group, name), block in mean.groupby(level=[0, 1]):
            cells = []
            best = block.auc_pr.drop([(group, name, "picked"), (group, name, "leader")], errors="ignore").max()
            for m in methods:
                if (group, name, m) in block.index:
                    r = block.loc[(group, name, m)]
                    cell = f"{r.auc_roc:.3f} / {r.auc_pr:.3f}"
                    cells.append(f"**{cell}**" if m not in ("picked", "leader") and r.auc_pr == best else cell)
                else:
                    cells.append("-")
            out.append(f"| {group} | {name} | " + " | ".join(cells) + " |")
        for group in ("extra", "paper"):
            g = mean.loc[group] if group in mean.index.get_level_values(0) else None
            if g is None:
                continue
            m_mean = g.groupby(level="method").mean()
            cells = [f"{m_mean.loc[m].auc_roc:.3f} / {m_mean.loc[m].auc_pr:.3f}" if m in m_mean.index else "-" for m in methods]
            out.append(f"| **mean** | {group} ({g.index.get_level_values(0).nunique()} sets) | " + " | ".join(cells) + " |")
        out.append("")
        # wins/losses and Wilcoxon of the default against each rival, on per-dataset means
        per = mean.auc_pr.unstack("method")
        out.append("| default vs | wins | losses | mean AUC-PR difference | Wilcoxon p (per-set means) |")
        out.append("|---|---|---|---|---|")
        for m in methods:
            if m in ("devnet",):
                continue
            a, b = per["devnet"], per[m]
            ok = a.notna() & b.notna()
            out.append(f"| {METHODS_LABEL[m]} | {int((a[ok] > b[ok]).sum())} | {int((a[ok] < b[ok]).sum())} | "
                       f"{(a[ok] - b[ok]).mean():+.3f} | {paired_wilcoxon(a[ok], b[ok]):.3g} |")
        out.append("")
        truth = part[~part.method.isin(["picked", "leader"])].pivot_table(
            index=["dataset", "run"], columns="method", values="auc_pr")
        best_true = truth.idxmax(axis=1)
        for kind, what in (("picked", "compare's recommendation"), ("leader", "the CV leader (highest mean)")):
            picks = part[part.method == kind]
            if len(picks):
                chosen = picks.set_index(["dataset", "run"]).picked
                hit = (chosen == best_true.reindex(chosen.index)).mean()
                out.append(f"{what} was the truly best method (by test AUC-PR) in {hit:.0%} of {len(chosen)} "
                           f"splits; picks: {', '.join(f'{m} {c}' for m, c in chosen.value_counts().items())}.\n")
        for group in ("extra", "paper"):
            if group not in mean.index.get_level_values(0):
                continue
            g = mean.loc[group].auc_pr.groupby(level="method").mean()
            singles = g.drop(["picked", "leader", *BLENDS], errors="ignore")
            if "picked" in g:
                line = (f"{group} sets: compare's picks reach a mean AUC-PR of {g['picked']:.3f}; the best "
                        f"single model, {METHODS_LABEL[singles.idxmax()]}, {singles.max():.3f}")
                for blend in (b for b in BLENDS if b in g):
                    line += f"; always the {METHODS_LABEL[blend]}, {g[blend]:.3f}"
                out.append(line + ".\n")
        fit = part.groupby("method").fit_s.mean()
        if "devnet" in fit and "devnet-paper" in fit:
            out.append(f"Mean fit time per split: default {fit['devnet']:.2f} s, paper {fit['devnet-paper']:.2f} s "
                       f"(ratio {fit['devnet'] / fit['devnet-paper']:.1f}).\n")
    return "\n".join(out)


BEGIN, END = "<!-- accuracy-tables:begin -->", "<!-- accuracy-tables:end -->"


def write_into_doc(text: str, doc: Path = Path(__file__).resolve().parents[1] / "docs" / "ACCURACY.md") -> None:
    """Replace the generated part of docs/ACCURACY.md (between this benchmark's markers) with ``text``."""
    write_between(doc, BEGIN, END, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled", type=int, nargs="+", default=[5, 30, 120])
    parser.add_argument("--datasets", nargs="+", default=[*QUALIFYING_EXTRA, *PAPER_SETS])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tree-rows", type=int, default=50_000)
    parser.add_argument("--compare-folds", type=int, default=5)
    parser.add_argument("--compare-rows", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("results/accuracy.csv"))
    parser.add_argument("--no-compare", action="store_true",
                        help="skip deviation compare's cross-validation (no 'picked' rows)")
    parser.add_argument("--only-compare", action="store_true",
                        help="run only compare's cross-validation (same splits and seeds), e.g. to add its "
                             "picks to an earlier run's results")
    parser.add_argument("--fit", nargs="+", metavar="M", choices=[*SINGLE_METHODS, *BLENDS],
                        help="fit only these methods (seeds of the others still drawn); compare always runs")
    parser.add_argument("--report", type=Path, nargs="+", default=None,
                        help="print the tables of results CSVs (later picks replace earlier ones)")
    parser.add_argument("--write", action="store_true",
                        help="with --report: also put the tables into docs/ACCURACY.md")
    args = parser.parse_args()
    if args.report:
        text = report(args.report)
        print(text)
        if args.write:
            write_into_doc(text)
        return
    run(args)


if __name__ == "__main__":
    main()
