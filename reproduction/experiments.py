"""The paper's five experiments (sections 5.5-5.9), run under its protocol.

``run_experiment(name, config)`` runs one of :data:`EXPERIMENTS` and writes, into
``config.out``: ``NAME.csv`` (one row per data set, method, setting and run),
``NAME.md`` (mean +- std beside the paper's numbers) and, for the data
efficiency, contamination and scalability experiments, ``NAME.png`` in the
style of the paper's Figures 3-5. ``all`` also writes ``report.md`` joining the
Markdown parts.

Per run every method sees the same split (paired runs, for the Wilcoxon test);
a data set's split of run ``r`` is the same in every experiment with the same
setting.

``config.jobs`` worker processes share the protocol runs (one data set,
setting and run per task, every fit on one thread); the results do not depend
on the number of workers, since every split and model seed derives from the
run. The scalability experiment always runs in the main process, one fit at a
time, because it measures time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deviation import DataError, DevNet

from .competitors import REPEN, DeepSVDD, FSNet, GradientBoosting, IForest
from .data import DATASETS, Dataset, load_dataset, subsample
from .protocol import evaluate_scores, make_split, paired_wilcoxon
from .variants import DevNetRep

logger = logging.getLogger(__name__)

__all__ = ["EXPERIMENTS", "ReproConfig", "run_experiment", "run_all", "default_jobs"]

EXPERIMENTS = ("table1", "efficiency", "contamination", "ablation", "scalability")
PAPER_METHODS = ("DevNet", "REPEN", "DSVDD", "FSNet", "iForest")
TABLE1_METHODS = (*PAPER_METHODS, "GBT")
VARIANTS = ("Def", "Rep", "Linear", "3HL")
N_LABELED = (5, 10, 20, 40, 80, 120)
CONTAMINATION = (0.0, 0.02, 0.05, 0.10, 0.20)
# Scalability grids. The paper does not list its sizes; ours stop at 64,000 rows
# and 8,000 dimensions to keep `all` within two hours on two cores.
SIZES = (1000, 4000, 16000, 64000)
DIMS = (1000, 2000, 4000, 8000)
QUICK_SIZES = (500, 1000, 2000)
# GBT's cost grows with rows x features (about 2 min per fit on census on our
# shared machine); it is trained on at most this many unlabeled rows.
GBT_MAX_ROWS = 50000
QUICK_DIMS = (50, 100, 200)


@dataclass
class ReproConfig:
    """Settings of a reproduction run.

    ``quick`` subsamples every data set to ``max_rows`` rows, trains the neural
    methods for ``quick_epochs`` epochs and shrinks the scalability grids: a
    smoke test of the whole pipeline, not a measurement.
    """

    out: Path
    data_dir: Path | None = None
    runs: int = 10
    datasets: Sequence[str] = DATASETS
    quick: bool = False
    seed: int = 0
    max_rows: int = 3000
    quick_epochs: int = 10
    sizes: Sequence[int] | None = None
    dims: Sequence[int] | None = None
    protocol: str = "paper"
    jobs: int = 1
    progress: Callable[[str], None] | None = None
    _cache: dict[str, Dataset] = field(default_factory=dict, repr=False)
    _executor: Executor | None = field(default=None, repr=False)

    @property
    def epochs(self) -> int:
        return self.quick_epochs if self.quick else 50

    def say(self, message: str) -> None:
        logger.info(message)
        if self.progress is not None:
            self.progress(message)

    def dataset(self, name: str) -> Dataset:
        if name not in self._cache:
            start = time.perf_counter()
            data = load_dataset(name, self.data_dir)
            if self.quick:
                data = subsample(data, self.max_rows, np.random.default_rng(self.seed))
            self._cache[name] = data
            self.say(f"loaded {name}: {data.X.shape[0]} x {data.X.shape[1]}, "
                     f"{int(data.y.sum())} anomalies ({time.perf_counter() - start:.1f} s)")
        return self._cache[name]


def make_model(method: str, seed: int, epochs: int = 50) -> Any:
    """A fresh estimator for a method or ablation variant name."""
    if method in ("DevNet", "Def"):
        return DevNet(preset="paper", epochs=epochs, random_state=seed, calibration_size=0)
    if method == "Linear":
        return DevNet(hidden_layer_sizes=(), preset="paper", epochs=epochs, random_state=seed, calibration_size=0)
    if method == "3HL":
        return DevNet(hidden_layer_sizes=(1000, 250, 20), preset="paper", epochs=epochs, random_state=seed,
                      calibration_size=0)
    if method == "Rep":
        return DevNetRep(epochs=epochs, random_state=seed)
    if method == "REPEN":
        return REPEN(epochs=epochs, random_state=seed)
    if method == "DSVDD":
        return DeepSVDD(epochs=epochs, random_state=seed)
    if method == "FSNet":
        return FSNet(epochs=epochs, random_state=seed)
    if method == "iForest":
        return IForest(random_state=seed)
    if method == "GBT":
        return GradientBoosting(max_train_rows=GBT_MAX_ROWS, random_state=seed)
    raise ValueError(f"unknown method {method!r}")


def _fit_score(model: Any, X_train: Any, y_train: np.ndarray, X_test: Any) -> tuple[np.ndarray, float, float]:
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fitted = time.perf_counter()
    scores = model.decision_function(X_test)
    return scores, fitted - start, time.perf_counter() - fitted


# ------------------------------------------------------------ protocol runs
def default_jobs() -> int:
    """The number of cores this process may use (the default of ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


_Unit = tuple[str, str, str, int, float, int, tuple[str, ...]]
_WORKER_CONFIG: ReproConfig | None = None


def _init_worker(config: ReproConfig) -> None:
    # Every fit on one thread: the workers share the cores between them.
    global _WORKER_CONFIG
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)
    _WORKER_CONFIG = config


def _run_unit_in_worker(unit: _Unit) -> list[dict[str, Any]]:
    assert _WORKER_CONFIG is not None, "worker not initialised"
    return _run_unit(unit, _WORKER_CONFIG)


def _run_unit(unit: _Unit, config: ReproConfig) -> list[dict[str, Any]]:
    """Every method on one split: one data set, setting and run."""
    experiment, name, setting, n_labeled, contamination, run, methods = unit
    data = config.dataset(name)
    rng = np.random.default_rng([config.seed, run, n_labeled, int(round(contamination * 1000))])
    base = {"experiment": experiment, "dataset": name, "setting": setting, "run": run,
            "n_labeled": n_labeled, "contamination": contamination}
    try:
        split = make_split(config.protocol, data.X, data.y, rng, n_labeled=n_labeled,
                           contamination=contamination)
    except DataError as exc:
        logger.warning("%s %s %s run %d skipped: %s", experiment, name, setting, run, exc)
        return [{**base, "method": m, "auc_roc": np.nan, "auc_pr": np.nan} for m in methods]
    rows = []
    for method in methods:
        model = make_model(method, 1000 * config.seed + run, config.epochs)
        scores, fit_s, score_s = _fit_score(model, split.X_train, split.y_train, split.X_test)
        metrics = evaluate_scores(split.y_test, scores)
        rows.append({**base, "method": method, **metrics, "fit_seconds": fit_s,
                     "score_seconds": score_s, "n_train": split.X_train.shape[0],
                     "n_test": split.X_test.shape[0], "n_features": split.X_train.shape[1],
                     "n_synthetic": split.n_synthetic})
    return rows


@contextmanager
def _workers(config: ReproConfig) -> Iterator[None]:
    """Start ``config.jobs`` worker processes for the duration, unless already running."""
    if config.jobs <= 1 or config._executor is not None:
        yield
        return
    # spawn, not fork: the parent has torch loaded, and forking its thread pools is unsafe
    shared = dataclasses.replace(config, progress=None, _cache={}, _executor=None)
    with ProcessPoolExecutor(max_workers=config.jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_worker, initargs=(shared,)) as executor:
        config._executor = executor
        try:
            yield
        finally:
            config._executor = None


def _protocol_rows(experiment: str, config: ReproConfig, methods: Sequence[str],
                   settings: Sequence[tuple[str, int, float]]) -> list[dict[str, Any]]:
    units: list[_Unit] = [(experiment, name, setting, n_labeled, contamination, run, tuple(methods))
                          for name in config.datasets
                          for setting, n_labeled, contamination in settings
                          for run in range(config.runs)]
    done: dict[int, list[dict[str, Any]]] = {}

    def finish(index: int, rows: list[dict[str, Any]]) -> None:
        done[index] = rows
        _, name, setting, *_ = units[index]
        for row in rows:
            if np.isfinite(row["auc_roc"]):
                config.say(f"{experiment} {name} {setting} run {row['run'] + 1}/{config.runs} "
                           f"{row['method']}: AUC-ROC {row['auc_roc']:.3f} AUC-PR {row['auc_pr']:.3f} "
                           f"({row['fit_seconds'] + row['score_seconds']:.1f} s)")
        # partial results survive a crash
        _write_csv([r for i in sorted(done) for r in done[i]], config.out / f"{experiment}.csv")

    if config._executor is None:
        for index, unit in enumerate(units):
            finish(index, _run_unit(unit, config))
    else:
        futures = {config._executor.submit(_run_unit_in_worker, unit): index for index, unit in enumerate(units)}
        for future in as_completed(futures):
            finish(futures[future], future.result())
    return [r for i in sorted(done) for r in done[i]]


def _synthetic(n: int, d: int, rng: np.random.Generator, share: float = 0.02,
               n_labeled: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian normals; anomalies shifted by 3 in a random 5% of the features."""
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = np.zeros(n, dtype=np.int64)
    anomalies = rng.choice(n, max(n_labeled + 1, int(round(share * n))), replace=False)
    y[anomalies] = 1
    cols = rng.choice(d, max(1, d // 20), replace=False)
    X[np.ix_(anomalies, cols)] += 3.0
    weak = np.zeros(n, dtype=np.int64)
    weak[anomalies[:n_labeled]] = 1
    return X, y, weak


def _scalability_rows(config: ReproConfig) -> list[dict[str, Any]]:
    sizes, dims = (QUICK_SIZES, QUICK_DIMS) if config.quick else (SIZES, DIMS)
    sizes, dims = config.sizes or sizes, config.dims or dims
    base_d, base_n = (200, 1000) if config.quick else (1000, 5000)
    grid = [("size", n, base_d) for n in sizes] + [("dimension", base_n, d) for d in dims]
    rows: list[dict[str, Any]] = []
    for axis, n, d in grid:
        X, y, weak = _synthetic(n, d, np.random.default_rng([config.seed, n, d]))
        for method in TABLE1_METHODS:
            model = make_model(method, config.seed, config.epochs)
            scores, fit_s, score_s = _fit_score(model, X, weak, X)
            metrics = evaluate_scores(y, scores)
            rows.append({"experiment": "scalability", "dataset": f"synthetic {n}x{d}", "method": method,
                         "setting": axis, "run": 0, "n_rows": n, "n_features": d, **metrics,
                         "fit_seconds": fit_s, "score_seconds": score_s,
                         "seconds": fit_s + score_s})
            config.say(f"scalability {n} x {d} {method}: {fit_s + score_s:.2f} s")
        _write_csv(rows, config.out / "scalability.csv")
    return rows


# ------------------------------------------------------------------ output
def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    _atomic_write(path, pd.DataFrame(rows).to_csv(index=False))


def _fmt(mean: float, std: float | None = None) -> str:
    if mean is None or not np.isfinite(mean):
        return "-"
    return f"{mean:.3f}" if std is None else f"{mean:.3f}±{std:.3f}"


def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _table1_markdown(frame: pd.DataFrame, config: ReproConfig, wall: float, *, variants: bool = False) -> str:
    from .paper_results import TABLE1, TABLE2

    methods = list(VARIANTS if variants else TABLE1_METHODS)
    methods = [m for m in methods if m in set(frame["method"])]
    ref = methods[0]
    frame = frame.copy()
    frame["seconds"] = frame["fit_seconds"] + frame["score_seconds"]
    stats = frame.groupby(["dataset", "method"], sort=False).agg(
        roc=("auc_roc", "mean"), roc_sd=("auc_roc", lambda s: s.std(ddof=0)),
        pr=("auc_pr", "mean"), pr_sd=("auc_pr", lambda s: s.std(ddof=0)),
        sec=("seconds", "mean"), runs=("auc_roc", "count"))
    datasets = list(dict.fromkeys(frame["dataset"]))
    title = "Ablation (Table 2)" if variants else "Table 1: AUC-ROC and AUC-PR"
    counts = frame[frame["method"] == ref].groupby("dataset", sort=False)["run"].nunique()
    runs = (f"{counts.iloc[0]} runs" if counts.nunique() == 1
            else "runs " + ", ".join(f"{d} {n}" for d, n in counts.items()))
    splits = "one fixed split, the authors' protocol" if config.protocol == "authors" else "a new split each run"
    parts = [f"## {title}\n",
             f"{runs} per data set ({splits}), 30 labeled anomalies, 2% contamination"
             f"{'; QUICK mode (subsampled data, short training): not a measurement' if config.quick else ''}. "
             f"Ours as mean±std over runs, the paper's number in brackets. Wall time {wall / 60:.1f} min.\n"]
    for metric, col, sd, k in (("AUC-ROC", "roc", "roc_sd", 0), ("AUC-PR", "pr", "pr_sd", 1)):
        body = []
        for d in datasets:
            row = [d]
            for m in methods:
                if (d, m) not in stats.index:
                    row.append("-")
                    continue
                cell = _fmt(stats.loc[(d, m), col], stats.loc[(d, m), sd])
                if variants and d in TABLE2:
                    cell += f" ({TABLE2[d][m][k]:.3f})"
                elif not variants and d in TABLE1 and m in TABLE1[d]:
                    cell += f" ({TABLE1[d][m][2 * k]:.3f})"
                row.append(cell)
            body.append(row)
        means = stats[col].groupby(level="method").mean()
        body.append(["**average**"] + [_fmt(means.get(m, np.nan)) for m in methods])
        # The paper's p-value: DevNet against each competitor, paired over data sets (means).
        wide = stats[col].unstack("method")
        body.append(["p-value (over data sets)"] + ["-" if m == ref else
                     f"{paired_wilcoxon(wide[ref], wide[m]):.3f}" for m in methods])
        parts.append(f"### {metric}\n\n" + _md_table(["data", *methods], body) + "\n")
    # Per data set, paired over runs (same split for every method in a run).
    body = []
    for d in datasets:
        sub = frame[frame["dataset"] == d]
        row = [d]
        for m in methods[1:]:
            cells = []
            for metric in ("auc_roc", "auc_pr"):
                a = sub[sub["method"] == ref].set_index("run")[metric]
                b = sub[sub["method"] == m].set_index("run")[metric].reindex(a.index)
                cells.append(f"{paired_wilcoxon(a, b):.3f}")
            row.append(" / ".join(cells))
        body.append(row)
    parts.append(f"### Wilcoxon signed-rank p-values of {ref} against each, paired over runs "
                 "(AUC-ROC / AUC-PR)\n\n" + _md_table(["data", *methods[1:]], body) + "\n")
    body = [[d] + [_fmt(stats.loc[(d, m), "sec"]) if (d, m) in stats.index else "-" for m in methods]
            for d in datasets]
    parts.append("### Mean fit + score time per run (seconds)\n\n" + _md_table(["data", *methods], body) + "\n")
    return "\n".join(parts)


def _curves_markdown(frame: pd.DataFrame, config: ReproConfig, wall: float, experiment: str) -> str:
    what = "number of labeled anomalies" if experiment == "efficiency" else "contamination rate"
    key = "n_labeled" if experiment == "efficiency" else "contamination"
    fig = "Figure 3" if experiment == "efficiency" else "Figure 4"
    fixed = "2% contamination" if experiment == "efficiency" else "30 labeled anomalies"
    stats = frame.groupby(["dataset", "method", key], sort=False).agg(
        pr=("auc_pr", "mean"), pr_sd=("auc_pr", lambda s: s.std(ddof=0)),
        roc=("auc_roc", "mean")).reset_index()
    values = sorted(stats[key].unique())
    label = (lambda v: str(int(v))) if key == "n_labeled" else (lambda v: f"{100 * v:g}%")
    parts = [f"## {'Data efficiency' if experiment == 'efficiency' else 'Robustness to contamination'} ({fig})\n",
             f"AUC-PR (mean±std over {config.runs} runs; AUC-ROC mean in brackets) against the "
             f"{what}, {fixed}. The paper gives these results only as plots. Wall time {wall / 60:.1f} min.\n"]
    for d in dict.fromkeys(stats["dataset"]):
        sub = stats[stats["dataset"] == d].set_index(["method", key])
        methods = list(dict.fromkeys(sub.index.get_level_values(0)))
        body = [[m] + [f"{_fmt(sub.loc[(m, v), 'pr'], sub.loc[(m, v), 'pr_sd'])} ({sub.loc[(m, v), 'roc']:.3f})"
                       if (m, v) in sub.index else "-" for v in values] for m in methods]
        parts.append(f"### {d}\n\n" + _md_table(["method", *map(label, values)], body) + "\n")
    return "\n".join(parts)


def _scalability_markdown(frame: pd.DataFrame, config: ReproConfig, wall: float) -> str:
    parts = ["## Scalability (Figure 5)\n",
             "Fit plus score time (seconds, one run) on synthetic data: Gaussian normal rows, 2% anomalies "
             "shifted by 3 in 5% of the features, 30 of them labeled; each method is trained and scored on the "
             f"same data. Wall time {wall / 60:.1f} min.\n"]
    for axis, var in (("size", "n_rows"), ("dimension", "n_features")):
        sub = frame[frame["setting"] == axis]
        if sub.empty:
            continue
        wide = sub.pivot_table(index="method", columns=var, values="seconds", sort=False)
        body = []
        for m in wide.index:
            x, t = np.asarray(wide.columns, dtype=float), wide.loc[m].to_numpy(dtype=float)
            slope, intercept = np.polyfit(x, t, 1)
            r2 = 1 - ((t - (slope * x + intercept)) ** 2).sum() / max(((t - t.mean()) ** 2).sum(), 1e-12)
            body.append([m] + [f"{v:.2f}" for v in t] + [f"{slope * 1000:.4f}", f"{intercept:.2f}", f"{r2:.3f}"])
        fixed = "1,000 features" if axis == "size" and not config.quick else "5,000 rows" if not config.quick else "quick grid"
        header = ["method", *[f"{int(c):,}" for c in wide.columns], "s per 1,000 " + ("rows" if axis == "size" else "dims"),
                  "intercept s", "R²"]
        parts.append(f"### Growing {'data size' if axis == 'size' else 'dimension'} ({fixed}); linear fit "
                     f"t = a + b·{var}\n\n" + _md_table(header, body) + "\n")
    return "\n".join(parts)


# ----------------------------------------------------------------- figures
def _new_figure(figsize: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_STYLE = {"DevNet": ("tab:red", "o"), "REPEN": ("tab:blue", "s"), "DSVDD": ("tab:green", "^"),
          "FSNet": ("tab:purple", "D"), "iForest": ("tab:gray", "x"), "GBT": ("tab:orange", "v")}


def _curves_figure(frame: pd.DataFrame, experiment: str, path: Path) -> None:
    from deviation.plots import save_figure

    key = "n_labeled" if experiment == "efficiency" else "contamination"
    datasets = list(dict.fromkeys(frame["dataset"]))
    ncols = min(3, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    fig = _new_figure((4.0 * ncols, 3.0 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    stats = frame.groupby(["dataset", "method", key], sort=False)["auc_pr"].mean().reset_index()
    for ax, d in zip(axes, datasets):
        sub = stats[stats["dataset"] == d]
        for m in dict.fromkeys(sub["method"]):
            s = sub[sub["method"] == m].sort_values(key)
            x = s[key] * (100 if key == "contamination" else 1)
            color, marker = _STYLE.get(m, (None, "o"))
            ax.plot(x, s["auc_pr"], marker=marker, color=color, label=m)
        ax.set_title(d)
        ax.set_xlabel("No. labeled anomalies" if key == "n_labeled" else "Contamination rate (%)")
        ax.set_ylabel("AUC-PR")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[len(datasets):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle("AUC-PR w.r.t. No. labeled anomalies" if key == "n_labeled"
                 else "AUC-PR w.r.t. contamination rate")
    save_figure(fig, path)


def _scalability_figure(frame: pd.DataFrame, path: Path) -> None:
    from matplotlib.ticker import NullFormatter

    from deviation.plots import save_figure

    fig = _new_figure((9.0, 3.6))
    axes = fig.subplots(1, 2)
    for ax, (axis, var, xl) in zip(axes, (("size", "n_rows", "Data size"), ("dimension", "n_features", "Dimensionality"))):
        sub = frame[frame["setting"] == axis]
        for m in dict.fromkeys(sub["method"]):
            s = sub[sub["method"] == m].sort_values(var)
            color, marker = _STYLE.get(m, (None, "o"))
            ax.plot(s[var], s["seconds"], marker=marker, color=color, label=m)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the grid's own values as ticks: log-scale minor labels overlap on a short range
        values = sorted(int(v) for v in sub[var].unique())
        ax.set_xticks(values, [f"{v:,}" for v in values], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xl)
        ax.set_ylabel("Execution time (seconds)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("Scalability w.r.t. data size and dimensionality (fit + score)")
    save_figure(fig, path)


# ------------------------------------------------------------------- entry
def run_experiment(name: str, config: ReproConfig) -> str:
    """Run one experiment, write its CSV, Markdown and figure; return the Markdown.

    Every fit runs on one thread (torch, BLAS and OpenMP pools limited for the
    duration, then restored): the networks are small, thread pools only add
    contention, and the times reported are per core.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)} or all")
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1), _workers(config):
            return _run_experiment(name, config)
    finally:
        torch.set_num_threads(threads)


def _run_experiment(name: str, config: ReproConfig) -> str:
    config.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if name == "table1":
        rows = _protocol_rows(name, config, TABLE1_METHODS, [("default", 30, 0.02)])
    elif name == "ablation":
        rows = _protocol_rows(name, config, VARIANTS, [("default", 30, 0.02)])
    elif name == "efficiency":
        rows = _protocol_rows(name, config, PAPER_METHODS, [(f"{k} labeled", k, 0.02) for k in N_LABELED])
    elif name == "contamination":
        rows = _protocol_rows(name, config, PAPER_METHODS,
                              [(f"{100 * c:g}% contamination", 30, c) for c in CONTAMINATION])
    else:
        rows = _scalability_rows(config)
    wall = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    _write_csv(rows, config.out / f"{name}.csv")
    if name in ("table1", "ablation"):
        md = _table1_markdown(frame.dropna(subset=["auc_roc"]), config, wall, variants=name == "ablation")
    elif name == "scalability":
        md = _scalability_markdown(frame, config, wall)
        _scalability_figure(frame, config.out / "scalability.png")
    else:
        md = _curves_markdown(frame.dropna(subset=["auc_roc"]), config, wall, name)
        _curves_figure(frame.dropna(subset=["auc_roc"]), name, config.out / f"{name}.png")
    if config.protocol != "paper" and name != "scalability":
        md += ("\n\n**Protocol: the authors' script**, not the paper's text: one fixed split (seed 42) in "
               "every run, contamination made of synthetic anomalies built from all anomalies, test ones "
               "included. For explaining differences with the paper's numbers only.\n")
    _atomic_write(config.out / f"{name}.md", md)
    config.say(f"{name} done in {wall / 60:.1f} min; results in {config.out}")
    return md


def run_all(config: ReproConfig) -> str:
    """Every experiment in turn, then ``report.md`` joining their Markdown."""
    parts, timing = [], []
    with _workers(config):  # one pool for every experiment: each worker loads a data set once
        for name in EXPERIMENTS:
            start = time.perf_counter()
            parts.append(run_experiment(name, config))
            timing.append([name, f"{(time.perf_counter() - start) / 60:.1f}"])
    jobs = f"{config.jobs} worker process{'es' if config.jobs > 1 else ''}"
    head = ("# Reproduction of DevNet (KDD 2019)\n\n"
            + _md_table(["experiment", "wall time (min)"], timing)
            + f"\n\n{jobs}, every fit on one thread.\n")
    report = head + "\n" + "\n".join(parts)
    _atomic_write(config.out / "report.md", report)
    return report
