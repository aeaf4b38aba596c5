"""Load test of ``deviation serve`` on loopback: latency, throughput, batches, bad requests, memory.

Fits a default-preset model on the bundled thyroid data (``deviation fit``),
scores the file with ``deviation score`` for the reference answers, starts
``deviation serve`` on a free loopback port in a subprocess, then:

1. one-row requests from ``--clients`` concurrent clients (``--requests`` in all,
   keep-alive connections): throughput, p50 / p99 / max latency seen by the client;
2. batches of 1,000 and 10,000 rows (thyroid's 7,200 rows, repeated to 10,000);
3. a mix of bad requests (invalid JSON, a missing column, a word in a numeric
   column, too many rows, too many bytes) interleaved with good one-row requests
   from the same clients: each bad one must get its 4xx, each good one its answer;
4. the one-row round again, to see whether the server's memory grows.

Every answer is compared with ``deviation score``'s row (score bit for bit,
p-value, is_anomaly); a request without an answer counts as lost. The server's
resident memory (with its workers') is sampled from /proc every 0.1 s. Everything is bounded: at
most ``--max-seconds`` in all (each phase stops at the deadline), 30 s per
request, and the server is stopped (SIGTERM, then SIGKILL) whatever happens.
Writes its table into docs/BENCHMARKS.md (section ``load_test``) unless ``--no-write``.

    .venv/bin/python benchmarks/load_test.py [--requests 2000] [--clients 4] [--max-seconds 600] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the workers of ``deviation serve --workers N``)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MB."""
    total = 0.0
    for member in _tree(pid):
        try:
            with open(f"/proc/{member}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total if total else float("nan")


class MemorySampler(threading.Thread):
    """Resident memory of a process every ``every`` seconds, until stopped."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), _rss_mb(self.pid)))
            self.stop.wait(self.every)

    def now(self) -> float:
        return _rss_mb(self.pid)


# What the client processes need, set by main() before they are forked.
_STATE: dict = {}


def _post(client, rows: np.ndarray) -> str:
    """One scoring request for the reference rows ``rows``: "ok", "wrong" (an answer unlike deviation score's) or "lost"."""
    import httpx

    st = _STATE
    try:
        r = client.post(f"{st['url']}/score", json={"rows": [st["records"][i] for i in rows]})
        if r.status_code != 200:
            return "lost"
        answer = r.json()
    except (httpx.HTTPError, ValueError):
        return "lost"
    ok = (len(answer.get("score", [])) == len(rows)
          and np.array_equal(np.asarray(answer["score"]), st["score"][rows])
          and np.allclose(answer["p_value"], st["p_value"][rows], rtol=1e-12, atol=0)
          and np.array_equal(np.asarray(answer["is_anomaly"], dtype=bool), st["flag"][rows]))
    return "ok" if ok else "wrong"


def _single(client, i: int) -> str:
    return _post(client, np.array([i % len(_STATE["records"])]))


def _batch(client, job: tuple[int, int]) -> str:
    k, size = job
    return _post(client, (np.arange(size) + k * 977) % len(_STATE["records"]))


def _mixed(client, k: int) -> str:
    """Even jobs a good one-row request, odd ones a bad request of each kind in turn: "bad:<name>:ok|wrong"."""
    import httpx

    if k % 2 == 0:
        return _single(client, k)
    name, body, status = _STATE["bad"][(k // 2) % len(_STATE["bad"])]
    try:
        r = client.post(f"{_STATE['url']}/score", content=body, headers={"content-type": "application/json"})
        good = r.status_code == status and "error" in r.json() and "Traceback" not in r.text
    except (httpx.HTTPError, ValueError):
        good = False
    return f"bad:{name}:{'ok' if good else 'wrong'}"


_WORK = {"single": _single, "batch": _batch, "mixed": _mixed}


def _client(task: tuple[str, list, float]) -> tuple[list[float], list[str], int]:
    """One client process: its jobs in order on one keep-alive connection; latencies (s) and outcomes."""
    import httpx

    work_name, jobs, deadline = task
    work = _WORK[work_name]
    latencies, outcomes, skipped = [], [], 0
    with httpx.Client(timeout=30) as client:
        for job in jobs:
            if time.monotonic() > deadline:
                skipped += 1
                continue
            start = time.perf_counter()
            outcomes.append(work(client, job))
            latencies.append(time.perf_counter() - start)
    return latencies, outcomes, skipped


def _percentiles(latencies: list[float]) -> tuple[float, float, float]:
    a = np.asarray(latencies) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def run_clients(n_clients: int, work: str, jobs: list, deadline: float) -> tuple[list[float], list[str], float, int]:
    """Run the jobs on ``n_clients`` client processes (forked: each its own interpreter), jobs dealt in turn.

    Returns the latencies (s), the outcomes, the wall time (s) and how many jobs the deadline skipped.
    """
    import multiprocessing

    tasks = [(work, jobs[c::n_clients], deadline) for c in range(n_clients)]
    with multiprocessing.get_context("fork").Pool(n_clients) as pool:
        start = time.perf_counter()
        parts = pool.map(_client, tasks)
        wall = time.perf_counter() - start
    latencies = [t for lat, _, _ in parts for t in lat]
    outcomes = [o for _, out, _ in parts for o in out]
    return latencies, outcomes, wall, sum(sk for _, _, sk in parts)


def main(argv: list[str] | None = None) -> int:
    import httpx

    from deviation import cli
    from deviation.datasets import thyroid_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="one-row requests per round (default 2000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes (default 4)")
    parser.add_argument("--workers", type=int, default=1, help="deviation serve --workers (default 1)")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop every phase after this (default 600)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.max_seconds

    tmp = Path(tempfile.mkdtemp(prefix="deviation-load-"))
    proc = None
    counts = {"ok": 0, "wrong": 0, "lost": 0}
    try:
        data = tmp / "thyroid.csv"
        shutil.copy(thyroid_path(), data)
        model = tmp / "thyroid.model"
        assert cli.main(["fit", str(data), "--label", "class", "-o", str(model), "--seed", "0", "-q"]) == 0
        assert cli.main(["score", str(model), str(data), "-o", str(tmp / "scores.csv"), "-q"]) == 0
        reference = pd.read_csv(tmp / "scores.csv")
        records = json.loads(pd.read_csv(data).drop(columns="class").to_json(orient="records"))

        # the scoring path's own cost per call, in this process (no HTTP): mostly fixed, whatever the rows
        from deviation.serve import load_service

        service = load_service(model)
        per_call = {}
        for n_rows in (1, 4, 100):
            times = []
            for _ in range(100):
                start = time.perf_counter()
                service.score_rows(records[:n_rows])
                times.append(time.perf_counter() - start)
            per_call[n_rows] = 1000 * float(np.median(times))
        del service

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        _STATE.update(url=url, records=records, score=reference["score"].to_numpy(),
                      p_value=reference["p_value"].to_numpy(), flag=reference["is_anomaly"].to_numpy().astype(bool))
        _STATE["bad"] = [
            ("invalid JSON", b'{"rows": [{"Dim_0": 0.5', 400),
            ("missing column", json.dumps({"rows": [{"Dim_0": 0.5}]}).encode(), 400),
            ("word in a number column", json.dumps({"rows": [{**records[0], "Dim_0": "abc"}]}).encode(), 400),
            ("20,001 rows", json.dumps({"rows": [records[0]] * 20_001}).encode(), 413),
            ("17 MB body", b" " * (17 * 2**20), 413),
        ]
        proc = subprocess.Popen([sys.executable, "-m", "deviation", "serve", str(model), "--port", str(port), "-q",
                                 "--workers", str(args.workers)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > min(deadline, started + 60):
                raise SystemExit(f"the service did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        startup = time.monotonic() - started
        sampler = MemorySampler(proc.pid)
        sampler.start()
        results: list[tuple[str, str]] = []

        def tally(outcomes: list[str]) -> None:
            for o in outcomes:
                if o in counts:
                    counts[o] += 1

        def one_row_round(label: str) -> float:
            run_clients(args.clients, "single", list(range(args.clients * 5)), deadline)  # warm-up, not counted
            rss_before = sampler.now()
            lat, outcomes, wall, skipped = run_clients(args.clients, "single", list(range(args.requests)), deadline)
            tally(outcomes)
            p50, p99, worst = _percentiles(lat)
            results.append((label, f"{len(lat):,} one-row requests, {args.clients} clients | {len(lat) / wall:,.0f} "
                                   f"req/s | {p50:.1f} / {p99:.1f} / {worst:.1f} ms | RSS {rss_before:.0f} → "
                                   f"{sampler.now():.0f} MB" + (f" | {skipped} skipped (deadline)" if skipped else "")))
            return p99

        p99_first = one_row_round("round 1")
        for size, count in ((1_000, 10), (10_000, 3)):
            lat, outcomes, wall, skipped = run_clients(2, "batch", [(k, size) for k in range(count)], deadline)
            tally(outcomes)
            p50, p99, worst = _percentiles(lat)
            results.append((f"batches of {size:,}", f"{len(lat)} requests, 2 clients | {size * len(lat) / wall:,.0f} "
                                                    f"rows/s | {p50:.0f} / {p99:.0f} / {worst:.0f} ms | RSS "
                                                    f"{sampler.now():.0f} MB"))
        lat, outcomes, wall, skipped = run_clients(args.clients, "mixed", list(range(200)), deadline)
        tally(outcomes)
        bad = [o for o in outcomes if o.startswith("bad:")]
        right = sum(o.endswith(":ok") for o in bad)
        names = ", ".join(name for name, _, _ in _STATE["bad"])
        results.append(("bad requests", f"{right} of {len(bad)} bad requests got their 4xx JSON error ({names}), "
                                        f"between {len(outcomes) - len(bad)} good one-row requests | | | RSS "
                                        f"{sampler.now():.0f} MB"))
        p99_second = one_row_round("round 2")
        sampler.stop.set()
        sampler.join()
        rss = [m for _, m in sampler.samples if np.isfinite(m)]
        results.append(("memory", f"server RSS over the run: min {min(rss):.0f}, max {max(rss):.0f}, last "
                                  f"{rss[-1]:.0f} MB ({len(rss)} samples)"))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    from _report import machine, write_section

    load = os.getloadavg()[0]
    lines = [
        "## Scoring service under load (`deviation serve`)",
        "",
        f"`python benchmarks/load_test.py --requests {args.requests} --clients {args.clients} --workers "
        f"{args.workers}`: a default-preset thyroid model served by `deviation serve --workers {args.workers}` on "
        "loopback (ready "
        f"{startup:.1f} s after start, including the model's load and self-check); each client is a process of its "
        "own with one keep-alive connection, on the same 2 cores as the server. Latency is what a client sees "
        "(request sent to answer parsed). Every answer was compared with `deviation score` on the same rows (score "
        f"bit for bit, p-value, is_anomaly): **{counts['ok']:,} right, {counts['wrong']} wrong, {counts['lost']} "
        "lost**. Target (issue 20): p99 under 50 ms for 2,000 one-row requests from 4 clients on 2 cores: "
        f"**{'met' if max(p99_first, p99_second) < 50 else 'not met'}** ({p99_first:.1f} ms, then "
        f"{p99_second:.1f} ms in the second round), with other jobs on the machine (1-minute load average "
        f"{load:.1f} at the end).",
        "",
        "The scoring path's own time per call (`ScoringService.score_rows` in the benchmark's process, no HTTP, "
        f"median of 100): {per_call[1]:.1f} ms for 1 row, {per_call[4]:.1f} ms for 4, {per_call[100]:.1f} ms for "
        "100. It is mostly fixed per call (the preprocessing's and the input view's overhead), which is why the "
        "service scores the requests waiting at the same moment in one call; one-row latency under concurrency is "
        "a few such calls.",
        "",
        "| phase | requests | throughput | latency p50 / p99 / max | server memory |",
        "|---|---|---|---|---|",
        *[f"| {label} | {text} |" for label, text in results[:-1]],
        "",
        results[-1][1] + ".",
        "",
        f"Machine: {machine()}.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("load_test", text)
    return 0 if counts["wrong"] == 0 and counts["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
