"""Fit time against data size (constant expected) and scoring time against rows and columns (linear expected).

Synthetic dense data (uniform features, 2% anomalies shifted on 3 columns).
Writes a table into docs/BENCHMARKS.md and a figure to docs/figures/scaling.png.

    .venv/bin/python benchmarks/scaling_curves.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _report import machine, write_section

from deviation import DevNet
from deviation.plots import save_figure

FIG = Path(__file__).resolve().parents[1] / "docs" / "figures" / "scaling.png"


def data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = (rng.random(n) < 0.02).astype(int)
    X[y == 1, :3] += 1.0
    return X, y


def best_of(f, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    fit_sizes = [1_000, 10_000, 100_000, 1_000_000]
    fit_times = []
    for n in fit_sizes:
        X, y = data(n, 20)
        fit_times.append(best_of(lambda: DevNet(random_state=0).fit(X, y), 2))
        print("fit", n, fit_times[-1])
    model = DevNet(random_state=0).fit(*data(10_000, 20))
    row_sizes = [250_000, 500_000, 1_000_000, 2_000_000]
    X_big, _ = data(row_sizes[-1], 20, seed=1)
    row_times = [best_of(lambda: model.decision_function(X_big[:n])) for n in row_sizes]
    print("rows", row_times)
    col_sizes = [20, 50, 100, 200, 400]
    col_times = []
    for d in col_sizes:
        m = DevNet(random_state=0, epochs=1).fit(*data(5_000, d))
        X, _ = data(200_000, d, seed=2)
        col_times.append(best_of(lambda: m.decision_function(X)))
    print("cols", col_times)
    row_slope, row_icpt = np.polyfit(row_sizes, row_times, 1)
    col_slope, col_icpt = np.polyfit(col_sizes, col_times, 1)

    from deviation.plots import _new_figure

    fig = _new_figure((11, 3.4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.plot(fit_sizes, fit_times, "o-")
    ax1.set_xscale("log")
    ax1.set_ylim(0, max(fit_times) * 1.5)
    ax1.set_xlabel("training rows (20 columns)")
    ax1.set_ylabel("fit time (s)")
    ax1.set_title("fit: 1,000 updates whatever the size")
    for ax, sizes, times, slope, icpt, label in (
        (ax2, row_sizes, row_times, row_slope, row_icpt, "rows scored (20 columns)"),
        (ax3, col_sizes, col_times, col_slope, col_icpt, "columns (200,000 rows)"),
    ):
        ax.plot(sizes, times, "o", label="measured")
        xs = np.linspace(0, max(sizes), 50)
        ax.plot(xs, slope * xs + icpt, "--", label="linear fit")
        ax.set_xlabel(label)
        ax.set_ylabel("scoring time (s)")
        ax.legend()
    ax2.set_title("scoring: linear in rows")
    ax3.set_title("scoring: linear in columns")
    save_figure(fig, FIG)
    text = "\n".join([
        "## Fit time against size, scoring time against rows and columns",
        "",
        "`python benchmarks/scaling_curves.py`: synthetic dense data; best of 2-3 repeats; `decision_function` "
        "in process (no file I/O).",
        "",
        "| training rows | " + " | ".join(f"{n:,}" for n in fit_sizes) + " |",
        "|---|" + "---|" * len(fit_sizes),
        "| fit (s) | " + " | ".join(f"{t:.2f}" for t in fit_times) + " |",
        "",
        "| rows scored (20 columns) | " + " | ".join(f"{n:,}" for n in row_sizes) + " |",
        "|---|" + "---|" * len(row_sizes),
        "| scoring (s) | " + " | ".join(f"{t:.3f}" for t in row_times) + " |",
        "",
        "| columns (200,000 rows) | " + " | ".join(str(d) for d in col_sizes) + " |",
        "|---|" + "---|" * len(col_sizes),
        "| scoring (s) | " + " | ".join(f"{t:.3f}" for t in col_times) + " |",
        "",
        f"Linear fits: scoring takes {row_slope * 1e6:.3f} s per million rows (+{row_icpt:.3f} s), i.e. "
        f"{1 / row_slope:,.0f} rows/s for 20 columns; and {col_slope * 1e3:.3f} s per 1,000 columns for "
        f"200,000 rows (+{col_icpt:.3f} s).",
        "",
        "![scaling](figures/scaling.png)",
        "",
        f"Machine: {machine()}.",
    ])
    write_section("scaling", text)


if __name__ == "__main__":
    main()
