"""The ``deviation`` console script: start-up that Ctrl-C and SIGTERM can interrupt cleanly.

Importing the command line (NumPy, pandas, scikit-learn) takes a second or
more; an interrupt during that time would otherwise print a traceback of
the import. Only the standard library is imported before the guard. The
command (:func:`deviation.cli.main`) uses the same SIGTERM handling and
messages while it runs.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any


class Terminated(BaseException):
    """Raised by the SIGTERM handler (a BaseException, like KeyboardInterrupt), so outputs unwind."""


def on_sigterm() -> Any:
    """Make SIGTERM raise :class:`Terminated` (main thread only); returns the previous handler or None."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def restore_sigterm(previous: Any) -> None:
    """Put back the handler :func:`on_sigterm` replaced."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def report_stop(exc: BaseException) -> int:
    """Say on stderr that the command was interrupted (Ctrl-C) or terminated (SIGTERM); its exit code."""
    if isinstance(exc, Terminated):
        sys.stderr.write("deviation: terminated\n")
        return 143
    sys.stderr.write("deviation: interrupted\n")
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deviation`` command (see :func:`deviation.cli.main`)."""
    previous = on_sigterm()
    try:
        from .cli import main as cli_main
    except (KeyboardInterrupt, Terminated) as exc:
        return report_stop(exc)
    finally:
        restore_sigterm(previous)
    return cli_main(argv)
