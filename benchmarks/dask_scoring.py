"""Scoring throughput and peak memory on a 10-million-row Parquet file: in-process streaming vs Dask.

Generates a Parquet file of ``--rows`` rows (an int64 ``id`` and 20 float64
columns, written in row groups with pyarrow) in a temporary directory under
/tmp, trains a Pipeline(Preprocessor, DevNet) on a sample of it, then scores
the whole file, each measurement in its own subprocess:

(a) in-process: ``deviation.scale.score_file(model, path, out)``;
(b) a 2-worker ``distributed.LocalCluster``: ``score_dask(...).to_parquet(...)``,
    one partition per row group.

The peak memory of (a) is ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of this
process right after its only child so far ends; for (b), the peak RSS of the
driver and of each worker (``client.run``). Both outputs are checked to hold
exactly one row per input row. Writes a table into docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/dask_scoring.py [--rows 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_COLS = 20
ROW_GROUP = 500_000


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- data and model (parent)


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """``rows`` rows of 20 standard-normal float64 columns and an ``id``, in row groups of 500,000."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"x{j}" for j in range(N_COLS)]
    writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            block = rng.standard_normal((n, N_COLS))
            arrays = [pa.array(np.arange(start, start + n, dtype=np.int64))] + [pa.array(block[:, j]) for j in range(N_COLS)]
            table = pa.Table.from_arrays(arrays, names=["id", *names])
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema, compression="snappy")
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def train(path: Path, model_path: Path, sample_rows: int = 200_000) -> None:
    """Fit Pipeline(Preprocessor, DevNet) on the first row groups; the 60 rows of largest norm are the labeled anomalies."""
    import pyarrow.parquet as pq
    from sklearn.pipeline import Pipeline

    from deviation import DevNet, Preprocessor, save

    pf = pq.ParquetFile(str(path))
    groups = list(range(min(pf.num_row_groups, max(1, sample_rows // ROW_GROUP))))
    frame = pf.read_row_groups(groups).to_pandas().iloc[:sample_rows].drop(columns="id")
    norm = np.linalg.norm(frame.to_numpy(), axis=1)
    y = np.zeros(len(frame), dtype=np.int64)
    y[np.argsort(norm)[-60:]] = 1
    model = Pipeline([("preprocessor", Preprocessor()), ("devnet", DevNet(random_state=0))]).fit(frame, y)
    save(model, model_path)


# --------------------------------------------------------------------------- measurements (children)


def child_inprocess(data: Path, model_path: Path, out: Path) -> dict:
    import pyarrow.parquet as pq

    from deviation import load
    from deviation.scale import score_file

    model = load(model_path)
    start, cpu = time.perf_counter(), time.process_time()
    summary = score_file(model, data, out, id_column="id")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "rows_out": pq.ParquetFile(str(out)).metadata.num_rows,
        "rows_reported": summary.n_rows,
        "self_maxrss_mb": _maxrss_mb(resource.RUSAGE_SELF),
    }


def _worker_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_cpu() -> float:
    return time.process_time()


def child_dask(data: Path, model_path: Path, out: Path) -> dict:
    import dask.dataframe as dd
    import pyarrow.parquet as pq
    from distributed import Client, LocalCluster

    from deviation import load
    from deviation.scale.dask import score_dask

    model = load(model_path)
    start = time.perf_counter()
    with (
        LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - start
        worker_cpu = client.run(_worker_cpu)
        start, cpu = time.perf_counter(), time.process_time()
        ddf = dd.read_parquet(str(data), split_row_groups=True)  # one partition per 500,000-row group
        score_dask(model, ddf, client=client, id_column="id").to_parquet(str(out), write_index=False)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu + sum(t - worker_cpu[w] for w, t in client.run(_worker_cpu).items())
        workers = sorted(client.run(_worker_maxrss_mb).values())
        npartitions = ddf.npartitions
    rows_out = sum(pq.ParquetFile(str(f)).metadata.num_rows for f in sorted(out.glob("*.parquet")))
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "startup_seconds": startup,
        "rows_out": rows_out,
        "npartitions": npartitions,
        "worker_maxrss_mb": workers,
        "self_maxrss_mb": _maxrss_mb(resource.RUSAGE_SELF),
    }


def run_child(kind: str, data: Path, model_path: Path, out: Path) -> tuple[dict, float]:
    """Run one measurement in a fresh subprocess; also return RUSAGE_CHILDREN's peak after it."""
    load_before = _load()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--data", str(data), "--model", str(model_path), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{kind} measurement failed")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = f"{load_before} -> {_load()}"
    return result, _maxrss_mb(resource.RUSAGE_CHILDREN)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--no-report", action="store_true", help="print only, do not write docs/BENCHMARKS.md")
    parser.add_argument("--child", choices=["inprocess", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fn = child_inprocess if args.child == "inprocess" else child_dask
        print(json.dumps(fn(args.data, args.model, args.out)))
        return

    from _report import machine, write_section

    workdir = Path(tempfile.mkdtemp(prefix="deviation-dask-bench-", dir="/tmp"))
    try:
        data, model_path = workdir / "data.parquet", workdir / "model.deviation"
        t = time.perf_counter()
        generate(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB) in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        train(data, model_path)
        print(f"trained on a 200,000-row sample in {time.perf_counter() - t:.1f} s", flush=True)

        a, a_peak = run_child("inprocess", data, model_path, workdir / "scores.parquet")
        assert a["rows_out"] == a["rows_reported"] == args.rows, a
        print(f"in-process: {args.rows / a['seconds']:,.0f} rows/s, peak {a_peak:,.0f} MB ({a})", flush=True)
        (workdir / "scores.parquet").unlink()

        b, _ = run_child("dask", data, model_path, workdir / "scores_dask")
        assert b["rows_out"] == args.rows, b
        b_total = b["self_maxrss_mb"] + sum(b["worker_maxrss_mb"])
        print(f"dask: {args.rows / b['seconds']:,.0f} rows/s, peak worker {max(b['worker_maxrss_mb']):,.0f} MB ({b})", flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    workers = " + ".join(f"{w:,.0f}" for w in b["worker_maxrss_mb"])
    table = [
        "## Scoring throughput on a 10-million-row Parquet file (issue 6)",
        "",
        (f"`python benchmarks/dask_scoring.py --rows {args.rows}`: {args.rows:,} rows of 20 float64 columns plus an "
        f"int64 `id` ({size_mb:,.0f} MB of snappy Parquet in row groups of {ROW_GROUP:,}), scored by a "
        "Pipeline(Preprocessor, DevNet) trained on a 200,000-row sample; output `id, score, p_value, is_anomaly` "
        "to Parquet, checked to have exactly one row per input row. Each measurement runs in a fresh subprocess. "
        "Targets: at least 1,000,000 rows/s in-process; peak memory under 1 GB."),
        "",
        ("| engine | seconds | rows/s | CPU seconds | rows per CPU second | peak RSS (MB) "
        "| load average (1/5/15 min) before -> after |"),
        "|---|---|---|---|---|---|---|",
        (f"| in-process `score_file` (batches of 262,144 rows) | {a['seconds']:.1f} | {args.rows / a['seconds']:,.0f} "
        f"| {a['cpu_seconds']:.1f} | {args.rows / a['cpu_seconds']:,.0f} | {a_peak:,.0f} | {a['load']} |"),
        (f"| `score_dask` + `to_parquet`, LocalCluster 2 workers x 1 thread ({b['npartitions']} partitions) "
        f"| {b['seconds']:.1f} | {args.rows / b['seconds']:,.0f} | {b['cpu_seconds']:.1f} "
        f"| {args.rows / b['cpu_seconds']:,.0f} | workers {workers}; driver {b['self_maxrss_mb']:,.0f}; "
        f"total {b_total:,.0f} | {b['load']} |"),
        "",
        (f"Cluster start-up ({b['startup_seconds']:.1f} s) is not included. CPU seconds: `time.process_time()` of the "
        "scoring process (all its threads), for Dask of the driver plus both workers; rows per CPU second is what "
        "the code would do per fully available core, whatever the other jobs on the machine. Peak RSS of (a): "
        "`getrusage(RUSAGE_CHILDREN).ru_maxrss` after the scoring subprocess; of (b): `ru_maxrss` of the driver "
        "and of each worker process. The load average shows how busy the 2-core machine was with other jobs "
        "(a load above 2 means the measurement got less than the whole machine)."),
        "",
        f"Machine: {machine()}.",
    ]
    text = "\n".join(table)
    print(text)
    if not args.no_report:
        write_section("scoring_throughput", text)


if __name__ == "__main__":
    main()
