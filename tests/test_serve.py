"""``deviation serve``: answers equal ``deviation score``'s; bad requests get a 4xx JSON error, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deviation import cli
from deviation.datasets import thyroid_path

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

with warnings.catch_warnings():  # Starlette's notice about httpx, its test client's transport
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from deviation.serve import ScoringService, create_app, load_service  # noqa: E402

FAST = ["--epochs", "10", "--batches-per-epoch", "20", "--seed", "0", "-q"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    shutil.copy(thyroid_path(), d / "thyroid.csv")
    assert cli.main(["fit", str(d / "thyroid.csv"), "--label", "class", "-o", str(d / "t.model"), *FAST]) == 0
    rng = np.random.default_rng(0)
    n = 600
    mixed = pd.DataFrame({
        "txn": [f"T{i:04d}" for i in range(n)],
        "amount": np.round(rng.lognormal(3, 1, n), 2),
        "shop": rng.choice(["north", "south", "east", "online"], n),
        "label": (rng.random(n) < 0.05).astype(int),
    })
    mixed.loc[rng.random(n) < 0.05, "amount"] = np.nan
    mixed.loc[rng.random(n) < 0.05, "shop"] = None
    mixed.to_csv(d / "mixed.csv", index=False)
    assert cli.main(["fit", str(d / "mixed.csv"), "--label", "label", "--id-column", "txn",
                     "-o", str(d / "m.model"), *FAST]) == 0
    return d


def scored(workdir: Path, model: str, data: Path) -> pd.DataFrame:
    out = workdir / f"{model}-{data.stem}.csv"
    extra = ["--id-column", "txn"] if model == "m.model" else []
    assert cli.main(["score", str(workdir / model), str(data), "-o", str(out), "-q", *extra]) == 0
    return pd.read_csv(out, keep_default_na=False, dtype={"txn": str})


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON objects: NaN as null, as a client sends a missing value."""
    return json.loads(frame.to_json(orient="records"))


@pytest.fixture(scope="module")
def client(workdir):
    service = load_service(workdir / "t.model", max_rows=6000, max_bytes=4_000_000)
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        yield c


def test_answers_equal_deviation_score(workdir, client):
    rows = pd.read_csv(workdir / "thyroid.csv").drop(columns="class")
    want = scored(workdir, "t.model", workdir / "thyroid.csv")
    got = client.post("/score", json={"rows": records(rows.iloc[:5000])})
    assert got.status_code == 200
    answer = got.json()
    assert list(answer) == ["score", "p_value", "is_anomaly"] and len(answer["score"]) == 5000
    np.testing.assert_array_equal(answer["score"], want["score"][:5000])
    np.testing.assert_allclose(answer["p_value"], want["p_value"][:5000], rtol=1e-12)
    np.testing.assert_array_equal(answer["is_anomaly"], want["is_anomaly"][:5000].astype(bool))
    for i in (0, 17, 4999, 7199):
        one = client.post("/score", json={"rows": records(rows.iloc[i:i + 1])}).json()
        assert one["score"] == [want["score"][i]]


def test_ids_categories_and_missing_values(workdir):
    service = load_service(workdir / "m.model")
    assert service.columns == {"amount": "numeric", "shop": "text"} and service.id_columns == ["txn"]
    rows = pd.read_csv(workdir / "mixed.csv", dtype={"txn": str}).drop(columns="label")
    want = scored(workdir, "m.model", workdir / "mixed.csv")
    with TestClient(create_app(service)) as c:
        answer = c.post("/score", json={"rows": records(rows)}).json()
        assert list(answer) == ["txn", "score", "p_value", "is_anomaly"]
        assert answer["txn"] == list(want["txn"])
        np.testing.assert_array_equal(answer["score"], want["score"])
        # a value never seen at fit, and numbers sent as text, are read as a file's cells are
        sent = c.post("/score", json={"rows": [{"txn": "x", "amount": "12.5", "shop": "mars"},
                                               {"txn": "y", "amount": 12.5, "shop": "mars"}]}).json()
        assert sent["score"][0] == sent["score"][1] and sent["txn"] == ["x", "y"]
        # without the id column the answer has no ids
        assert list(c.post("/score", json={"rows": [{"amount": None, "shop": None}]}).json()) == [
            "score", "p_value", "is_anomaly"]


@pytest.mark.parametrize("body,status,words", [
    (b'{"rows": [{"Dim_0": 0.5', 400, "not valid JSON"),
    (b"[1, 2]", 400, '"rows" list'),
    (b'{"rows": {}}', 400, "must be a list"),
    (b'{"rows": []}', 400, "empty"),
    (b'{"rows": [3]}', 400, "row 1 is int"),
    (b'{"rows": [{"Dim_0": 0.5}]}', 400, "lacks column 'Dim_1=0'"),
    (b'\xff\xfe', 400, "not valid JSON"),
])
def test_bad_requests_get_a_4xx_json_error(client, body, status, words):
    r = client.post("/score", content=body)
    assert r.status_code == status and words in r.json()["error"], r.text
    assert "Traceback" not in r.text


def test_wrong_types_and_limits(workdir, client):
    row = records(pd.read_csv(workdir / "thyroid.csv").drop(columns="class").iloc[:1])[0]
    r = client.post("/score", json={"rows": [row, {**row, "Dim_0": "abc"}]})
    assert r.status_code == 400 and "'Dim_0'" in r.json()["error"] and "'abc'" in r.json()["error"]
    r = client.post("/score", json={"rows": [{**row, "Dim_0": [1]}]})
    assert r.status_code == 400 and "'Dim_0'" in r.json()["error"]
    r = client.post("/score", json={"rows": [{**row, "Dim_0": 1e300}]})
    assert r.status_code == 400 and "Dim_0" in r.json()["error"]
    r = client.post("/score", json={"rows": [row] * 6001})
    assert r.status_code == 413 and "6,001 rows" in r.json()["error"]
    r = client.post("/score", content=b" " * 4_000_001, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]
    assert client.get("/score").status_code == 405 and "error" in client.get("/score").json()
    assert client.get("/nowhere").status_code == 404 and "error" in client.get("/nowhere").json()
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["max_rows"] == 6000 and len(health["columns"]) == 21
    from deviation.scoring import threshold

    assert health["threshold"] == threshold(load_service(workdir / "t.model").model)


def test_an_unexpected_failure_is_a_json_500_without_traceback(workdir, monkeypatch):
    service = ScoringService(load_service(workdir / "t.model").model)

    def broken(rows):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "score_rows", broken)
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        r = c.post("/score", json={"rows": [{}]})
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_command_serves_on_loopback_and_stops_on_sigterm(workdir, workers):
    port = free_port()
    exe = Path(sys.executable).with_name("deviation")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "deviation"]
    proc = subprocess.Popen([*cmd, "serve", str(workdir / "t.model"), "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # each worker loads and checks the model; the suite loads the machine
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.2)
        rows = pd.read_csv(workdir / "thyroid.csv").drop(columns="class")
        want = scored(workdir, "t.model", workdir / "thyroid.csv")
        n = 5000 if workers == 1 else 500
        answer = httpx.post(f"{url}/score", json={"rows": records(rows.iloc[:n])}, timeout=120).json()
        np.testing.assert_array_equal(answer["score"], want["score"][:n])
        assert httpx.post(f"{url}/score", content=b"{nope", timeout=10).status_code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert f"POST /score 200 rows={n}" in err and "POST /score 400" in err, err
    assert f"on http://127.0.0.1:{port}" in err, err
    assert "Traceback" not in err and "nope" not in err  # requests are logged, their contents not


def test_concurrent_requests_scored_together_get_their_own_answers_and_errors(workdir):
    import asyncio

    service = load_service(workdir / "t.model")
    rows = records(pd.read_csv(workdir / "thyroid.csv").drop(columns="class").iloc[:40])
    want = scored(workdir, "t.model", workdir / "thyroid.csv")["score"].to_numpy()
    calls = []
    score_rows = service.score_rows

    def counted(batch):
        calls.append(len(batch))
        return score_rows(batch)

    service.score_rows = counted
    bodies = [{"rows": rows[i:i + 5]} for i in range(0, 40, 5)]
    bodies[3] = {"rows": [rows[0], {**rows[1], "Dim_3=0": "yes please"}]}

    async def go():
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*[c.post("/score", json=b) for b in bodies])

    answers = asyncio.run(go())
    for k, r in enumerate(answers):
        if k == 3:
            assert r.status_code == 400 and "'Dim_3=0'" in r.json()["error"] and "row 2" in r.json()["error"]
        else:
            assert r.status_code == 200
            np.testing.assert_array_equal(r.json()["score"], want[5 * k:5 * k + 5])
    assert max(calls) > 5  # some requests were scored in one call


@pytest.mark.parametrize("body,words", [
    (b'{"rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too deeply"),
    (b'{"rows": [{"Dim_0": ' + b"9" * 5001 + b"}]}", "digits"),
    (b'{"rows": [{"Dim_0": NaN}]}', "NaN is not a JSON value"),
    (b'{"rows": [{"Dim_0": -Infinity}]}', "Infinity is not a JSON value"),
    (b'{"rows": [{"Dim_0": 1e400}]}', "beyond the range of float64"),
    (b'{"rows": [{"Dim_0": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}", "too deeply"),
])
def test_parseable_but_malformed_bodies_are_invalid_json_400(client, body, words):
    r = client.post("/score", content=body)
    assert r.status_code == 400 and r.json()["error"].startswith("invalid JSON") and words in r.json()["error"], r.text


def test_values_json_reads_but_no_number_fits_are_400_naming_the_cell(workdir, client):
    row = records(pd.read_csv(workdir / "thyroid.csv").drop(columns="class").iloc[:1])[0]
    big = json.dumps({"rows": [row, row]}).replace('"Dim_0": ' + json.dumps(row["Dim_0"]), '"Dim_0": ' + "9" * 4000, 1)
    r = client.post("/score", content=big.encode())
    assert r.status_code == 400 and "'Dim_0' of row 1" in r.json()["error"] and "4,000 digits" in r.json()["error"]
    edge = json.dumps({"rows": [{**row, "Dim_0": 2 ** 1024 - 1}]})  # 309 digits, rounds up past float64's range
    r = client.post("/score", content=edge.encode())
    assert r.status_code == 400 and "'Dim_0' of row 1" in r.json()["error"] and "309 digits" in r.json()["error"]
    deep = [[[[[1]]]]]
    for _ in range(200):
        deep = [deep]
    r = client.post("/score", json={"rows": [{**row, "Dim_1=0": deep}]})
    assert r.status_code == 400 and "'Dim_1=0'" in r.json()["error"]
    r = client.post("/score", content=json.dumps({"rows": [{**row, "Dim_0": "\ud800"}]}).encode())
    assert r.status_code == 400 and "unpaired surrogate" in r.json()["error"]
    for value in ("\x00", "9" * 4000, "1e400", "NaN", True):
        r = client.post("/score", content=json.dumps({"rows": [{**row, "Dim_0": value}]}).encode())
        assert r.status_code in (200, 400), (value, r.text)
    service = load_service(workdir / "m.model")
    with TestClient(create_app(service), raise_server_exceptions=False) as c:
        for txn in (deep, {"a": deep}, "\ud800", "x" * 10_000, 12, 1.5, True):
            r = c.post("/score", content=json.dumps({"rows": [{"txn": txn, "amount": 1.0, "shop": "north"}]}).encode())
            assert r.status_code in (200, 400), (txn, r.text)
            if isinstance(txn, (list, dict)):
                assert r.status_code == 400 and "id column 'txn'" in r.json()["error"]


@pytest.mark.parametrize("port", ["99999", "-1", "80.5"])
def test_a_port_outside_0_65535_is_a_usage_error(workdir, port, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", str(workdir / "t.model"), "--port", port])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --port" in err and "[0, 65535]" in err, err


def test_an_address_that_cannot_be_bound_is_one_error_line_and_no_serving_line(workdir, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", str(workdir / "t.model"), "--port", str(port)]) == 1
        out, err = capsys.readouterr()
    assert "serving" not in out and err.count("\n") == 1, (out, err)
    assert err.startswith(f"deviation: error: cannot listen on 127.0.0.1:{port}") and "--port" in err, err
    assert cli.main(["serve", str(workdir / "t.model"), "--host", "999.1.1.1", "--workers", "2"]) == 1
    out, err = capsys.readouterr()
    assert "serving" not in out and err.startswith("deviation: error: cannot listen on 999.1.1.1:8000") \
        and "--host" in err and err.count("\n") == 1, (out, err)


def test_the_bound_socket_is_tcp_so_answers_are_not_delayed():
    # asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; a socket made with
    # protocol 0 left Nagle's algorithm on and one-row answers waited ~40 ms for delayed ACKs
    import socket

    from deviation.serve import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
