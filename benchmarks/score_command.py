"""Throughput and peak memory of ``deviation score`` on a large Parquet file, both presets.

Generates, in a temporary directory (never in the repository), a training
Parquet file (200,000 rows of 20 float64 columns and a label, 0.1% anomalies)
and a scoring file of ``--rows`` rows of the same 20 columns and a ``row_id``
(row groups of 500,000), fits one model per preset with ``deviation fit``, then
runs ``deviation score MODEL DATA -o OUT.parquet`` for each model in a fresh
process under ``/usr/bin/time -f %M`` (its peak RSS): these take the all-numeric
path (deviation.scale.numeric); and once more for the default preset with
``--id-column row_id``, which takes the general path (scikit-learn, pandas
DataFrames). The rows/s are measured in the same run, one after the other.
Each output is checked to hold exactly one row per input row. Writes a table
into docs/BENCHMARKS.md (section ``score_command``).

    PYTHONPATH=src .venv/bin/python benchmarks/score_command.py [--rows 5000000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _report import machine, write_section

N_COLS = 20
ROW_GROUP = 500_000


def _columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    kinds = (rng.normal, rng.lognormal, rng.exponential)
    return {f"x{j}": (kinds[j % 3](size=n) if j % 4 != 3 else rng.standard_t(3, size=n)) for j in range(N_COLS)}


def generate(path: Path, rows: int, seed: int, label: bool = False) -> None:
    """``rows`` rows of 20 float64 columns (normal, log-normal, exponential, Student-t), in row groups;
    a label column for training, a ``row_id`` for scoring."""
    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            cols = _columns(rng, n)
            if label:
                y = (rng.random(n) < 0.001).astype(np.int64)
                for j in range(3):
                    cols[f"x{j}"][y == 1] += 6
                cols["label"] = y
            else:
                cols["row_id"] = np.arange(start, start + n, dtype=np.int64)
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deviation", *args]


def score(model: Path, data: Path, out: Path, *options: str) -> tuple[float, float, float]:
    """Seconds, CPU seconds (user + system) and peak RSS (MB) of one ``deviation score`` process."""
    timing = out.with_suffix(".time")
    start = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", str(timing),
                    *_cli("score", str(model), str(data), "-o", str(out), "-q", *options)], check=True)
    seconds = time.perf_counter() - start
    peak_kb, user, system = timing.read_text().split()[-3:]
    return seconds, float(user) + float(system), int(peak_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each command, taking turns; the table gives each one's median")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="deviation-score-bench-"))
    try:
        train, data = tmp / "train.parquet", tmp / "data.parquet"
        generate(train, 200_000, seed=1, label=True)
        generate(data, args.rows, seed=2)
        size_mb = data.stat().st_size / 1e6
        load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
        rows = []
        for preset in ("paper", "default"):
            subprocess.run(_cli("fit", str(train), "--label", "label", "--preset", preset, "--seed", "0",
                                "-o", str(tmp / f"{preset}.model"), "-q"), check=True)
        runs = [("paper", "numeric", ()), ("default", "numeric", ()), ("default", "general (--id-column row_id)",
                                                                       ("--id-column", "row_id"))]
        timings: dict[int, list[tuple[float, float, float]]] = {k: [] for k in range(len(runs))}
        for _ in range(args.repeats):
            for k, (preset, path, options) in enumerate(runs):
                out = tmp / f"{preset}-{len(options)}-scores.parquet"
                seconds, cpu, peak = score(tmp / f"{preset}.model", data, out, *options)
                n_out = pq.ParquetFile(out).metadata.num_rows
                if n_out != args.rows:
                    raise SystemExit(f"{preset}: {n_out} output rows for {args.rows} input rows")
                timings[k].append((seconds, cpu, peak))
                print(f"{preset} ({path}): {seconds:.2f} s ({cpu:.1f} CPU s), {args.rows / seconds / 1e6:.2f}M "
                      f"rows/s, peak RSS {peak:.0f} MB, {n_out} output rows")
        for k, (preset, path, _) in enumerate(runs):
            seconds, cpu, peak = (float(np.median([t[i] for t in timings[k]])) for i in range(3))
            spread = f"{min(t[0] for t in timings[k]):.1f}-{max(t[0] for t in timings[k]):.1f}"
            rows.append((preset, path, seconds, args.rows / seconds, cpu, peak, spread))
        ratio = rows[1][3] / rows[0][3]
        print(f"default / paper rows/s: {ratio:.2f}")
        table = [
            f"## `deviation score` of a {args.rows:,}-row Parquet file (issue 18)",
            "",
            f"`PYTHONPATH=src python benchmarks/score_command.py --rows {args.rows} --repeats {args.repeats}`: "
            f"{args.rows:,} rows of 20 "
            f"float64 columns ({size_mb:,.0f} MB of Parquet in row groups of 500,000), scored by "
            "`deviation score MODEL DATA -o OUT.parquet` in a fresh process for a model of each preset "
            "(`deviation fit` on 200,000 other rows of the same columns): the all-numeric path "
            "(`deviation.scale.numeric`, no scikit-learn or pandas); and for the default preset once more with "
            "`--id-column row_id`, which takes the general path. Each output is checked to hold exactly one row "
            "per input row. Seconds are the whole command "
            "(start-up, reading, preprocessing, scoring, writing); CPU seconds (user + system, all threads) "
            "and peak RSS from `/usr/bin/time -f '%M %U %S'`. "
            "Each command runs --repeats times, the commands taking turns; the table gives the medians and the "
            "range of the seconds. Targets (issue 18): the default preset at least 1.2M rows/s, peak memory under 1 GB.",
            "",
            "| preset | path | seconds (median) | runs | rows/s | CPU seconds | rows per CPU second | peak RSS (MB) |",
            "|---|---|---|---|---|---|---|---|",
            *[f"| {p} | {w} | {s:.2f} | {sp} | {r / 1e6:.2f}M | {c:.1f} | {args.rows / c / 1e6:.2f}M | {m:,.0f} |"
              for p, w, s, r, c, m, sp in rows],
            "",
            f"Default / paper rows/s (numeric path): {ratio:.2f}. Machine: {machine()}. Load average (1/5/15 min) before -> "
            f"after: {load_before} -> {'/'.join(f'{x:.1f}' for x in os.getloadavg())} (a load above 2 means "
            "other jobs shared the 2 cores).",
        ]
        write_section("score_command", "\n".join(table))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
