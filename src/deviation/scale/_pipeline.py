"""What the two streaming score paths share: their summary, the reading thread, when to load compiled loops.

:func:`deviation.scale.score_file` (every model, every format) and
:func:`deviation.scale.numeric.score_numeric_file` (all-numeric models on
Parquet, without scikit-learn or pandas) both use these; this module imports
neither.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["PRELOAD_ROWS", "SCORE_BATCH_ROWS", "ScoreSummary", "prefetch", "rows_hint"]

T = TypeVar("T")

#: Rows per batch of the streaming score paths. Smaller than the reader's default: each batch's
#: arrays (the frame, the preprocessed copy, the view) are then a few MB, which the C
#: allocator reuses from batch to batch instead of mapping fresh pages that the kernel
#: zeroes every time; measured on 5,000,000 rows x 20 columns (benchmarks/score_command.py),
#: 65,536 rows against 262,144 took 12% less CPU (a third of the system time) and 200 MB
#: less peak memory, the same wall time or less.
SCORE_BATCH_ROWS = 65_536

#: Files of about this many rows or more start loading the compiled scoring loops as they are
#: opened: below it, loading them (most of a second of CPU, over 100 MB) costs more than they save.
PRELOAD_ROWS = 2_000_000


@dataclass(frozen=True)
class ScoreSummary:
    """What a streaming score of a file did."""

    n_rows: int
    n_flagged: int
    threshold: float | None
    seconds: float
    #: per categorical column, cells holding a value not among the levels kept at fit
    unseen: dict[str, int] = field(default_factory=dict)


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Produce the next items in a background thread while the current one is scored and written.

    pyarrow and NumPy release the GIL, so reading overlaps scoring on a second
    core; at most ``depth`` items wait in memory. Errors of the producer are
    raised in the caller's thread, in order.
    """
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(done)
        except BaseException as exc:  # handed to the consumer
            box.put(exc)

    thread = threading.Thread(target=produce, name="deviation-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def rows_hint(data: Any) -> int:
    """About how many rows ``data`` holds: a Parquet file's own count, a text file's size over its line length.

    0 when it cannot be told cheaply (compressed text, directories, anything unreadable).
    """
    try:
        path = Path(data)
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
            return 0
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
        return path.stat().st_size * max(head.count(b"\n"), 1) // max(len(head), 1)
    except Exception:  # noqa: BLE001 - only a hint: a file it cannot read is reported by the reader
        return 0
