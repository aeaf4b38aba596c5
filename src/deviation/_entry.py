"""The ``deviation`` console script: start-up that Ctrl-C and SIGTERM can interrupt cleanly.

Importing the command line (NumPy, pandas, scikit-learn) takes a second or
more; an interrupt during that time would otherwise print a traceback of
the import. Only the standard library is imported before the guard.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence


class _Terminated(BaseException):
    pass


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deviation`` command (see :func:`deviation.cli.main`)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("deviation: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("deviation: terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return cli_main(argv)
