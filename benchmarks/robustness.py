"""Robustness to irrelevant columns: the default preset, the paper preset and CatBoost with added noise columns.

For every real data set of ``benchmarks/accuracy.py`` (the 16 qualifying
``extra/`` sets and the 6 paper sets) and each run: one split of the paper's
protocol (30 labeled anomalies, 2% contamination), the same split and the same
model seeds as ``accuracy.py --labeled 30 --seed S`` draws, then three versions
of it:

- ``none``: the data as they are;
- ``uniform1``: one added column, uniform on [0, 1];
- ``mixed5``: five added columns: uniform on [0, 1], lognormal (sigma 1.5),
  an integer count (Poisson, mean 3), a 0/1 coin (p = 0.3) and a heavy-tailed
  Student t (2 degrees of freedom).

The added columns are drawn independently of everything else (after the split,
so the split does not depend on them); every method sees the same ones. Each
method is fitted behind the Preprocessor that ``deviation compare`` uses.

Plus the bank-transactions table of ``shared/cases/real-tables`` (categorical
columns and one irrelevant ``amount``): ``gen.py`` writes it into a temporary
folder, ``deviation.read_table`` reads it (``label="label"``, ``anomaly_value="fraud"``),
the models are fitted on ``transactions.csv`` and evaluated on ``holdout.csv``
(``label="true_class"``); its split is fixed by gen.py, so its runs differ by the
models' seeds only. DevNet is fitted there as
``Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(...))])``.

    python benchmarks/robustness.py --runs 3 --out docs/accuracy/robustness.csv
    python benchmarks/robustness.py --report docs/accuracy/robustness.csv --write   # table into docs/ACCURACY.md

Rows are appended to ``--out`` as each data set finishes. ``--fit`` fits only
some methods (the seeds of the others are still drawn, so a method can be
refit alone and its rows joined with the others'). ``devnet-no-noise`` is the
default preset with ``anomaly_noise=0`` (as before the third search of issue 17).
``devnet-continuous`` is the
default preset as it was before issue 17 (its quantile network reads the
continuous columns only), kept to compare against.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from deviation.compare import make_candidate
from deviation.exceptions import DataError
from deviation.protocol import evaluate_scores, paper_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # reproduction/ lives in the checkout, not installed
from _report import write_between  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from reproduction.data import DATASETS, QUALIFYING_EXTRA, load_dataset, resolve_data_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BANK_GEN = Path("/work/shared/cases/real-tables/bank-transactions/gen.py")
CONDITIONS = ("none", "uniform1", "mixed5")
CONDITION_LABEL = {"none": "as is", "uniform1": "+1 uniform column", "mixed5": "+5 mixed columns"}
#: Methods in the order their seeds are drawn (keep it: results stay comparable across runs).
METHODS = ("devnet", "devnet-paper", "catboost", "devnet-continuous", "devnet-no-noise")
METHOD_LABEL = {"devnet": "default", "devnet-paper": "paper", "catboost": "CatBoost",
                "devnet-continuous": "default before issue 17", "devnet-no-noise": "default without anomaly noise"}


def noise_columns(condition: str, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """The irrelevant columns added under ``condition``, float32 of shape (n, k), or None for ``none``."""
    if condition == "none":
        return None
    if condition == "uniform1":
        return rng.uniform(size=(n, 1)).astype(np.float32)
    if condition == "mixed5":
        return np.column_stack([
            rng.uniform(size=n),
            rng.lognormal(0.0, 1.5, size=n),
            rng.poisson(3.0, size=n),
            rng.random(n) < 0.3,
            rng.standard_t(2, size=n),
        ]).astype(np.float32)
    raise ValueError(f"unknown condition {condition!r}")


def _append(X: Any, noise: np.ndarray | None) -> Any:
    if noise is None:
        return X
    if sp.issparse(X):
        return sp.hstack([X, sp.csr_matrix(noise)], format="csr")
    return np.hstack([np.asarray(X, dtype=np.float32), noise])


def make_method(method: str, seed: int, tree_rows: int | None) -> Any:
    """An unfitted Pipeline for ``method`` (``devnet-continuous``: the default as before issue 17)."""
    model = make_candidate("devnet" if method in ("devnet-continuous", "devnet-no-noise") else method, seed)
    inner = model.steps[-1][1]
    if method == "devnet-no-noise":
        inner.set_params(anomaly_noise=0)
    if tree_rows is not None and hasattr(inner, "max_train_rows"):
        inner.set_params(max_train_rows=tree_rows)
    if hasattr(inner, "thread_count"):
        inner.set_params(thread_count=1)
    return model


def fit_model(method: str, model: Any, X: Any, y: np.ndarray) -> Any:
    """Fit ``model``; ``devnet-continuous`` fits the default preset with the view of before issue 17."""
    if method != "devnet-continuous":
        return model.fit(X, y)
    from deviation import features

    original = features.InputView.fit.__func__

    def old_view(cls: Any, X: np.ndarray, rng: np.random.Generator, with_binary: bool = True) -> Any:
        return original(cls, X, rng, with_binary=False)

    features.InputView.fit = classmethod(old_view)
    try:
        return model.fit(X, y)
    finally:
        features.InputView.fit = classmethod(original)


def run_dataset(name: str, runs: int, seed: int, data_dir: Any, methods: tuple[str, ...],
                conditions: tuple[str, ...], tree_rows: int | None) -> list[dict[str, Any]]:
    data = load_dataset(name, data_dir)
    rows = []
    for run in range(runs):
        # the split and model seeds of accuracy.py --labeled 30 --seed S for this set and run
        rng = np.random.default_rng([seed, run, 30, sum(map(ord, name))])
        try:
            split = paper_split(data.X, data.y, rng, n_labeled=30)
        except DataError:
            return rows
        seeds = {m: int(rng.integers(2**31 - 1)) for m in ("devnet", "devnet-paper", "catboost")}
        seeds["devnet-continuous"] = seeds["devnet"]  # the same seed: only the view differs
        seeds["devnet-no-noise"] = seeds["devnet"]  # the same seed: only the noise differs
        for condition in conditions:
            noise_rng = np.random.default_rng([seed, run, 17, sum(map(ord, name)), CONDITIONS.index(condition)])
            X_train = _append(split.X_train, noise_columns(condition, split.X_train.shape[0], noise_rng))
            X_test = _append(split.X_test, noise_columns(condition, split.X_test.shape[0], noise_rng))
            for method in methods:
                model = make_method(method, seeds[method], tree_rows)
                start = time.perf_counter()
                fit_model(method, model, X_train, split.y_train)
                fit_s = time.perf_counter() - start
                metrics = evaluate_scores(split.y_test, model.decision_function(X_test))
                rows.append({"dataset": name, "condition": condition, "run": run, "method": method,
                             "fit_s": fit_s, **metrics})
    return rows


def run_bank(runs: int, seed: int, methods: tuple[str, ...], tree_rows: int | None) -> list[dict[str, Any]]:
    """The bank-transactions table: gen.py's fixed split, ``runs`` model seeds per method."""
    from sklearn.pipeline import Pipeline

    from deviation import DevNet, read_table
    from deviation.preprocess import Preprocessor

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(BANK_GEN)], cwd=tmp, check=True, capture_output=True)
        train = read_table(os.path.join(tmp, "transactions.csv"), label="label", anomaly_value="fraud")
        test = read_table(os.path.join(tmp, "holdout.csv"), label="true_class", anomaly_value="fraud")
        rng = np.random.default_rng([seed, 17])
        for run in range(runs):
            seeds = {m: int(rng.integers(2**31 - 1)) for m in ("devnet", "devnet-paper", "catboost")}
            seeds["devnet-continuous"] = seeds["devnet"]
            for method in methods:
                if method == "catboost":
                    model = make_method(method, seeds[method], tree_rows)
                else:
                    preset = "paper" if method == "devnet-paper" else "default"
                    model = Pipeline([("preprocessor", Preprocessor()),
                                      ("devnet", DevNet(preset=preset, random_state=seeds[method]))])
                start = time.perf_counter()
                fit_model(method, model, train.X, train.y)
                fit_s = time.perf_counter() - start
                metrics = evaluate_scores(np.asarray(test.y), model.decision_function(test.X))
                rows.append({"dataset": "bank-transactions", "condition": "none", "run": run, "method": method,
                             "fit_s": fit_s, **metrics})
    return rows


def report(paths: list[Path]) -> str:
    """Markdown table: mean AUC-PR per data set and condition, default minus paper, worst cases."""
    df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    df = df.drop_duplicates(["dataset", "condition", "run", "method"], keep="last")
    methods = [m for m in METHODS if m in set(df.method)]
    mean = df.groupby(["dataset", "condition", "method"]).auc_pr.mean().unstack("method")
    runs = df.groupby(["dataset", "condition"]).run.nunique()
    order = [*QUALIFYING_EXTRA, *DATASETS, "bank-transactions"]
    out = ["Mean AUC-PR over runs on the same splits; Δ = default minus paper preset "
           f"({int(runs.min())}-{int(runs.max())} runs per cell).", ""]
    head = " | ".join(f"{CONDITION_LABEL[c]}: " + " / ".join(METHOD_LABEL[m] for m in methods) + " | Δ"
                      for c in CONDITIONS)
    out.append(f"| data | {head} |")
    out.append("|---|" + "---|---|" * len(CONDITIONS))
    for name in [n for n in order if n in mean.index.get_level_values(0)]:
        cells = []
        for c in CONDITIONS:
            if (name, c) not in mean.index:
                cells.append("- | -")
                continue
            r = mean.loc[(name, c)]
            delta = r.get("devnet", np.nan) - r.get("devnet-paper", np.nan)
            flag = "**" if delta < -0.02 else ""
            cells.append(" / ".join(f"{r[m]:.3f}" if m in r and pd.notna(r[m]) else "-" for m in methods)
                         + f" | {flag}{delta:+.3f}{flag}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    if {"devnet", "devnet-paper"} <= set(methods):
        delta = (mean["devnet"] - mean["devnet-paper"]).dropna()
        worst = delta.idxmin()
        out.append(f"Default minus paper preset, mean AUC-PR per set and condition: worst {delta.min():+.3f} "
                   f"({worst[0]}, {CONDITION_LABEL[worst[1]]}); cells more than 0.02 below: "
                   f"{int((delta < -0.02).sum())} of {len(delta)}.")
        for m in methods:
            if m in ("devnet", "devnet-paper"):
                continue
            d = (mean["devnet"] - mean[m]).dropna()
            if len(d):
                w = d.idxmin()
                out.append(f"Default minus {METHOD_LABEL[m]}: mean {d.mean():+.3f}, worst {d.min():+.3f} "
                           f"({w[0]}, {CONDITION_LABEL[w[1]]}).")
        out.append("")
        groups = {"16 extra sets": list(QUALIFYING_EXTRA), "6 paper sets": list(DATASETS)}
        out.append("| mean AUC-PR | " + " | ".join(f"{CONDITION_LABEL[c]}" for c in CONDITIONS) + " |")
        out.append("|---|" + "---|" * len(CONDITIONS))
        for label, names in groups.items():
            for m in methods:
                cells = []
                for c in CONDITIONS:
                    part = mean.xs(c, level="condition")[m].reindex(names).dropna() if m in mean else []
                    cells.append(f"{part.mean():.3f} ({len(part)} sets)" if len(part) else "-")
                out.append(f"| {label}, {METHOD_LABEL[m]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


BEGIN, END = "<!-- robustness-table:begin -->", "<!-- robustness-table:end -->"


def write_into_doc(text: str, doc: Path = ROOT / "docs" / "ACCURACY.md") -> None:
    """Replace the generated part of docs/ACCURACY.md (between this benchmark's markers) with ``text``."""
    write_between(doc, BEGIN, END, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=[*QUALIFYING_EXTRA, *DATASETS, "bank-transactions"])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="accuracy.py's seed: the same splits and model seeds")
    parser.add_argument("--fit", nargs="+", default=["devnet", "devnet-paper", "catboost"], choices=METHODS)
    parser.add_argument("--tree-rows", type=int, default=50_000,
                        help="CatBoost trains on at most this many unlabeled rows (every labeled anomaly kept)")
    parser.add_argument("--jobs", type=int, default=1, help="only 1: one process, results appended as they come")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "accuracy" / "robustness.csv")
    parser.add_argument("--report", type=Path, nargs="+", default=None)
    parser.add_argument("--write", action="store_true", help="with --report: put the table into docs/ACCURACY.md")
    args = parser.parse_args()
    if args.report:
        text = report(args.report)
        print(text)
        if args.write:
            write_into_doc(text)
        return
    if args.jobs != 1:
        raise SystemExit("--jobs: only 1 is supported")
    data_dir = resolve_data_dir()
    methods = tuple(m for m in METHODS if m in args.fit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        start = time.perf_counter()
        if name == "bank-transactions":
            rows = run_bank(args.runs, args.seed, methods, args.tree_rows)
        else:
            rows = run_dataset(name, args.runs, args.seed, data_dir, methods, tuple(args.conditions), args.tree_rows)
        frame = pd.DataFrame(rows)
        frame.to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
        print(f"{name}: {len(rows)} rows, {time.perf_counter() - start:.0f} s", flush=True)
    print(report([args.out]))


if __name__ == "__main__":
    main()
