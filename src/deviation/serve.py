"""``deviation serve``: an HTTP JSON scoring service for one model file.

``POST /score`` with ``{"rows": [{column: value, ...}, ...]}`` answers a
JSON object of lists, one value per row: ``score``, ``p_value`` and
``is_anomaly`` (the model's id columns first, when the rows carry them); ``GET /health`` says the service is
up and what it expects. Rows are scored through :mod:`deviation.scoring`, the
path ``deviation score`` takes, after the cells are typed by the model's input
schema exactly as the cells of a file are (:func:`deviation.io.schema.typed_frame`):
a row sent here and the same row in a file get the same score.

The model is loaded once at start (checksums verified) and checked by scoring
one row of missing values. Bad requests get a JSON ``{"error": ...}`` with a
4xx status naming the problem (400 invalid JSON, wrong shape, missing column,
wrong type; 413 too many bytes or rows; 404/405 other routes), never a
traceback; an unexpected failure is logged and answered 500 with a one-line
JSON error. Requests are logged (path, status, rows, milliseconds), never
their contents.

Starlette and uvicorn are the optional extra ``deviation[serve]``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS
from ._optional import import_optional
from .exceptions import DataError, DeviationError, FeatureMismatchError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS", "RequestError", "ScoringService", "app_from_environment", "bind",
           "create_app", "load_service", "serve"]

logger = logging.getLogger(__name__)



class RequestError(DeviationError):
    """A request the service refuses: ``status`` (400 or 413) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ScoringService:
    """A model loaded once, and how the rows of a request become its input.

    Parameters
    ----------
    model : DevNet, Pipeline or ScoreBlend
        As :func:`deviation.load` returns it.
    name : str
        What ``/health`` calls the model (its file name).
    max_rows, max_bytes : int
        Limits of one request.

    Attributes
    ----------
    columns : dict of str to str
        The columns every row must carry, with the kind the model reads them as
        (``numeric``, ``boolean``, ``text``, ``datetime``).
    id_columns : list of str
        Columns the model names as row ids: echoed in the answer when the rows carry them.
    """

    model: Any
    name: str = "model"
    max_rows: int = DEFAULT_MAX_ROWS
    max_bytes: int = DEFAULT_MAX_BYTES
    columns: dict[str, str] = field(init=False)
    id_columns: list[str] = field(init=False)
    _text_cells: bool = field(init=False, repr=False)
    _decimal: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from .io.reader import text_cells
        from .scoring import model_schema

        schema = model_schema(self.model)
        if schema is not None and schema.columns:
            self.columns = dict(schema.columns)
            self.id_columns = [str(c) for c in (schema.id_columns or [])]
            self._text_cells = text_cells(schema.format)
            self._decimal = schema.decimal or "."
        else:
            names = getattr(self.model, "feature_names_in_", None)
            n = int(getattr(self.model, "n_features_in_", 0))
            if names is None and n > 10_000:
                raise DeviationError(f"the model reads {n:,} unnamed features (a sparse model); serve models "
                                     "fitted on tables with named columns")
            names = [str(c) for c in names] if names is not None else [f"x{j}" for j in range(n)]
            self.columns = {c: "numeric" for c in names}
            self.id_columns = []
            self._text_cells, self._decimal = True, "."

    # ------------------------------------------------------------ requests
    def parse_body(self, body: bytes) -> list[dict[str, Any]]:
        """The rows of a request body, or :class:`RequestError` (400, 413)."""
        if len(body) > self.max_bytes:
            raise RequestError(413, f"the request has {len(body):,} bytes, above the limit of {self.max_bytes:,}; "
                                    "send fewer rows per request")
        try:
            payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
        except RecursionError:
            raise RequestError(400, "invalid JSON: the request body nests lists or objects too deeply; send "
                                    '{"rows": [{"column": value, ...}, ...]}') from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4,300 digits, NaN
            raise RequestError(400, f"invalid JSON: the request body is not valid JSON ({_one_line(exc)}); send "
                                    '{"rows": [{"column": value, ...}, ...]}') from None
        if not isinstance(payload, dict) or "rows" not in payload:
            raise RequestError(400, 'the request must be a JSON object with a "rows" list: '
                                    '{"rows": [{"column": value, ...}, ...]}')
        rows = payload["rows"]
        if not isinstance(rows, list):
            raise RequestError(400, f'"rows" must be a list of objects, not {type(rows).__name__}')
        if not rows:
            raise RequestError(400, '"rows" is empty; send at least one row')
        if len(rows) > self.max_rows:
            raise RequestError(413, f"the request has {len(rows):,} rows, above the limit of {self.max_rows:,}; "
                                    "split it into smaller requests")
        return rows

    def frame(self, rows: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The typed feature frame and the id columns of the rows, as the model's files are read."""
        import pyarrow as pa

        from .io.schema import typed_frame

        arrays = {}
        for name, kind in self.columns.items():
            values = []
            for i, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise RequestError(400, f"row {i + 1} is {type(row).__name__}, not an object of column: value")
                try:
                    values.append(row[name])
                except KeyError:
                    raise RequestError(400, f"row {i + 1} lacks column {name!r}; every row needs the model's columns "
                                            "(null for a missing value); GET /health lists them") from None
            arrays[name] = _column(values, name, kind)
        X = typed_frame(pa.table(arrays), self.columns, "request", text_cells=self._text_cells,
                        decimal=self._decimal)
        ids = None
        present = [c for c in self.id_columns if all(isinstance(r, dict) and c in r for r in rows)]
        for c in present:
            for i, r in enumerate(rows):
                _check_cell(r[c], f"id column {c!r}", i)
        if present:
            ids = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in present})
        return X, ids

    def score_rows(self, rows: list[Any]) -> dict[str, list[Any]]:
        """The answer to the rows of one request: ids, ``score``, ``p_value``, ``is_anomaly`` as lists.

        Raises
        ------
        RequestError
            (400) for a missing column, a value of the wrong type or one the
            preprocessing refuses, naming the column and the row.
        """
        from .scoring import decision_scores, scored_frame

        try:
            X, ids = self.frame(rows)
            scores = decision_scores(self.model, X)
            result = scored_frame(self.model, scores, ids=ids)
        except (DataError, FeatureMismatchError) as exc:
            raise RequestError(400, " ".join(str(exc).split())) from None
        answer: dict[str, list[Any]] = {}
        for name in result.columns:
            values = result[name].to_numpy()
            if name == "is_anomaly":
                answer[name] = [bool(v) for v in values]
            elif name in ("score", "p_value"):
                answer[name] = [float(v) for v in values]
            else:
                answer[name] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]
        return answer

    def health(self) -> dict[str, Any]:
        """What ``GET /health`` answers."""
        from .scoring import final_estimator, has_decisions, threshold

        info: dict[str, Any] = {"status": "ok", "model": self.name, "columns": self.columns,
                                "id_columns": self.id_columns, "max_rows": self.max_rows, "max_bytes": self.max_bytes}
        if has_decisions(self.model):
            cut = threshold(self.model)
            # +inf: a calibration set too small for the confidence flags nothing (JSON has no infinity)
            info["threshold"] = cut if cut is not None and math.isfinite(cut) else None
            info["confidence"] = float(final_estimator(self.model).confidence)
        return info

    def self_check(self) -> None:
        """Score one row of missing values (numbers NaN, text null): the model scores end to end, warmed up."""
        row = {name: None for name in self.columns}
        try:
            answer = self.score_rows([row])
        except RequestError as exc:
            raise DeviationError(f"the model {self.name} failed its self-check (one row of missing values): {exc}") \
                from None
        if not np.isfinite(answer["score"][0]):
            raise DeviationError(f"the model {self.name} failed its self-check: a non-finite score")


def _no_constant(word: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``: Python's reader accepts them, JSON has no such literals."""
    raise ValueError(f"{word} is not a JSON value; send null for a missing value")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent, refused when it is beyond float64 (``1e400``)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is beyond the range of float64")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _check_cell(v: Any, where: str, i: int) -> None:
    """Refuse (400) a cell JSON reads but no table cell can hold: a list, an object, a number beyond float64,
    a string with an unpaired surrogate (``"\\ud800"``, which JSON's escapes allow and UTF-8 cannot encode)."""
    if isinstance(v, (dict, list)):
        raise RequestError(400, f"{where} of row {i + 1} is a JSON {type(v).__name__}; send a number, a string or null")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2 ** 1023 and not _fits_float(v):
        raise RequestError(400, f"{where} of row {i + 1} is an integer of {len(str(abs(v))):,} digits, beyond the "
                                "range of float64; send a smaller number")
    if isinstance(v, str) and not v.isascii():
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(400, f"{where} of row {i + 1} is a string with an unpaired surrogate escape; send "
                                    "valid Unicode text") from None


def _fits_float(v: int) -> bool:
    try:
        float(v)
    except OverflowError:  # rounds to 2**1024 or above
        return False
    return True


def _column(values: list[Any], name: str, kind: str) -> Any:
    """One column of JSON values as an Arrow array: numbers as float64 when all are numbers, else text cells."""
    import pyarrow as pa

    for i, v in enumerate(values):
        _check_cell(v, f"column {name!r}", i)
    if kind in ("numeric", "boolean") and all(v is None or isinstance(v, (int, float)) for v in values):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    cells = []
    for i, v in enumerate(values):
        if v is None:
            cells.append(None)
        elif isinstance(v, bool):
            cells.append("true" if v else "false")
        elif isinstance(v, float):
            cells.append(repr(v) if math.isfinite(v) else str(v))
        else:
            cells.append(str(v))
    return pa.array(cells, type=pa.string())


class _Batcher:
    """Scores the requests waiting at the same moment in one call: the scoring path's cost per call is mostly fixed.

    Each row's score depends on that row only (bit for bit, see
    :func:`deviation.mlp.forward_numpy`), so a row gets the same answer alone or
    with others. Requests are taken in arrival order, up to ``max_rows`` rows in
    all; when one of them holds a bad row, each is scored alone, so that the error
    goes to the request that has it, with its own row numbers.
    """

    def __init__(self, service: ScoringService) -> None:
        import asyncio
        from collections import deque

        self.service = service
        self.waiting: deque = deque()
        self.ready = asyncio.Event()
        self.worker: Any = None

    async def score(self, rows: list[Any]) -> dict[str, list[Any]]:
        import asyncio

        future = asyncio.get_running_loop().create_future()
        self.waiting.append((rows, future))
        self.ready.set()
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work())
        return await future

    async def _work(self) -> None:
        from starlette.concurrency import run_in_threadpool

        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.waiting:
                items = [self.waiting.popleft()]
                total = len(items[0][0])
                while self.waiting and total + len(self.waiting[0][0]) <= self.service.max_rows:
                    items.append(self.waiting.popleft())
                    total += len(items[-1][0])
                try:
                    answers = await run_in_threadpool(self._score_items, [rows for rows, _ in items])
                except Exception as exc:  # a bug: every request of the call gets the 500
                    answers = [exc] * len(items)
                for (_, future), answer in zip(items, answers):
                    if future.done():  # the client went away
                        continue
                    if isinstance(answer, BaseException):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)

    def _score_items(self, requests: list[list[Any]]) -> list[Any]:
        if len(requests) > 1:
            try:
                answer = self.service.score_rows([row for rows in requests for row in rows])
            except RequestError:
                pass  # scored one by one below, so each error names its own request's row
            else:
                out, start = [], 0
                for rows in requests:
                    out.append({k: v[start:start + len(rows)] for k, v in answer.items()})
                    start += len(rows)
                return out
        out = []
        for rows in requests:
            try:
                out.append(self.service.score_rows(rows))
            except RequestError as exc:
                out.append(exc)
        return out


def load_service(path: str | os.PathLike, *, max_rows: int = DEFAULT_MAX_ROWS,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> ScoringService:
    """Load a model file once (checksums verified), build its service and run the self-check.

    Parameters
    ----------
    path : str or os.PathLike
        A model file of ``deviation fit`` (or ``compare --save-model``).
    max_rows, max_bytes : int
        Limits of one request.

    Returns
    -------
    ScoringService

    Raises
    ------
    ModelFileError
        For a missing or corrupt file.
    DeviationError
        When the model fails its self-check.
    """
    from .persistence import load

    model = load(path)
    service = ScoringService(model, name=Path(path).name, max_rows=max_rows, max_bytes=max_bytes)
    service.self_check()
    return service


def create_app(service: ScoringService) -> Any:
    """The Starlette application of a service: ``POST /score`` and ``GET /health``.

    Parameters
    ----------
    service : ScoringService

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    MissingDependencyError
        When Starlette is not installed (``pip install 'deviation[serve]'``).
    """
    import_optional("starlette", "serve", "deviation serve")
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    batcher = _Batcher(service)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > service.max_bytes:
            raise RequestError(413, f"the request has {int(declared):,} bytes, above the limit of "
                                    f"{service.max_bytes:,}; send fewer rows per request")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > service.max_bytes:
                raise RequestError(413, f"the request has more than {service.max_bytes:,} bytes, the limit; "
                                        "send fewer rows per request")
            chunks.append(chunk)
        return b"".join(chunks)

    async def score(request: Request) -> Response:
        start = time.perf_counter()
        n_rows = 0
        try:
            body = await read_body(request)
            rows = service.parse_body(body)
            n_rows = len(rows)
            answer = await batcher.score(rows)
            response: Response = Response(json.dumps(answer, allow_nan=False), media_type="application/json")
        except RequestError as exc:
            response = error(exc.status, str(exc))
        except Exception:  # a bug, not a bad request: logged here, one line to the client
            logger.exception("POST /score failed on a request of %d rows", n_rows)
            response = error(500, "internal error while scoring; the service log has the details")
        logger.info("POST /score %d rows=%d %.1f ms", response.status_code, n_rows,
                    1000 * (time.perf_counter() - start))
        return response

    async def health(request: Request) -> Response:
        return JSONResponse(service.health())

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 400)
        detail = getattr(exc, "detail", "") or "bad request"
        logger.info("%s %s %d", request.method, request.url.path, status)
        return error(status, f"{detail}: {request.method} {request.url.path}; the service answers POST /score "
                             "and GET /health")

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return error(500, "internal error; the service log has the details")

    routes = [Route("/score", score, methods=["POST"]), Route("/health", health, methods=["GET"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error})


_ENV = "DEVIATION_SERVE"


def app_from_environment() -> Any:
    """The application of a worker process of ``serve(..., workers=N)``: settings from the environment.

    uvicorn starts each worker in a fresh interpreter and calls this factory
    there; :func:`serve` put the model path, the limits and whether to log
    requests in ``DEVIATION_SERVE_*`` variables.
    """
    if os.environ.get(f"{_ENV}_LOG") == "1" and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"%(asctime)s [{os.getpid()}] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    service = load_service(os.environ[f"{_ENV}_MODEL"], max_rows=int(os.environ[f"{_ENV}_MAX_ROWS"]),
                           max_bytes=int(os.environ[f"{_ENV}_MAX_BYTES"]))
    return create_app(service)


def bind(host: str, port: int) -> Any:
    """A TCP socket bound to ``host:port`` and listening, to hand to uvicorn.

    Bound here, before anything says "serving", so that a port in use, an
    unknown host or a refused permission is one clear error, not uvicorn's log
    line after a false start.

    Parameters
    ----------
    host : str
        A name or address (IPv6 when it holds a colon, as uvicorn reads it).
    port : int
        0 to 65535; 0 lets the system pick a free port.

    Returns
    -------
    socket.socket

    Raises
    ------
    DeviationError
        When the socket cannot be bound, naming ``host:port`` and the fix.
    """
    import errno
    import socket

    if not 0 <= port <= 65535:
        raise DeviationError(f"port {port} is outside 0-65535; choose another --port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that say
    # they are TCP, and without it every small answer waited ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fix = "another process listens there; stop it or choose another --port"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            fix = "ports below 1024 need privileges; choose a --port of 1024 or above"
        elif exc.errno == errno.EADDRNOTAVAIL:
            fix = "the address is not one of this machine's; use --host 127.0.0.1, or 0.0.0.0 for every interface"
        elif isinstance(exc, socket.gaierror):
            fix = "the host name does not resolve; use --host 127.0.0.1, or 0.0.0.0 for every interface"
        else:
            fix = "check --host and --port"
        raise DeviationError(f"cannot listen on {address}: {exc.strerror or exc}; {fix}") from None
    sock.set_inheritable(True)
    return sock


def serve(path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000,
          max_rows: int = DEFAULT_MAX_ROWS, max_bytes: int = DEFAULT_MAX_BYTES,
          workers: int = 1, on_ready: Any = None) -> None:
    """Load a model file and serve it until interrupted (Ctrl-C or SIGTERM stop it gracefully).

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    host : str, default="127.0.0.1"
        The address to listen on (loopback by default; ``0.0.0.0`` in a container).
    port : int, default=8000
    max_rows, max_bytes : int
        Limits of one request (413 above them).
    workers : int, default=1
        Processes serving the port, each with its own copy of the model (uvicorn's
        workers): one uses one core, as the scoring holds Python's lock most of the time.
    on_ready : callable, optional
        Called with the service and the URL it answers on (the port the system
        picked for ``port=0``) once the model is loaded and checked and the socket
        is bound and listening.

    Raises
    ------
    MissingDependencyError
        When Starlette or uvicorn is not installed (``pip install 'deviation[serve]'``).
    ModelFileError, DeviationError
        As :func:`load_service`; :func:`bind` when the address cannot be listened on.
    """
    uvicorn = import_optional("uvicorn", "serve", "deviation serve")
    sock = bind(host, port)
    try:
        service = load_service(path, max_rows=max_rows, max_bytes=max_bytes)
        bound = sock.getsockname()[1]
        if on_ready is not None:
            on_ready(service, f"http://{f'[{host}]' if ':' in host else host}:{bound}")
        settings = dict(host=host, port=bound, log_level="warning", access_log=False, timeout_keep_alive=30,
                        timeout_graceful_shutdown=10, log_config=None)
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            os.environ.update({f"{_ENV}_MODEL": str(Path(path).resolve()), f"{_ENV}_MAX_ROWS": str(max_rows),
                               f"{_ENV}_MAX_BYTES": str(max_bytes),
                               f"{_ENV}_LOG": "1" if logger.isEnabledFor(logging.INFO) else "0"})
            config = uvicorn.Config("deviation.serve:app_from_environment", factory=True, workers=workers,
                                    **settings)
            try:
                Multiprocess(config, sockets=[sock]).run()
            except KeyboardInterrupt:
                pass
            return
        uvicorn.Server(uvicorn.Config(create_app(service), **settings)).run(sockets=[sock])
    finally:
        sock.close()
