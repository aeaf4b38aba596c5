"""``python -m reproduction EXPERIMENT``: run the paper's experiments and write their tables.

Writes CSV, Markdown and figures into ``--out``. Exit codes: 0 success, 1 a
data or setup problem (one line on standard error, no traceback unless
``--debug``), 2 a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from deviation import DeviationError, MissingDependencyError

EXPERIMENT_CHOICES = ("table1", "efficiency", "contamination", "ablation", "scalability", "all")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m reproduction``."""
    parser = argparse.ArgumentParser(
        prog="python -m reproduction",
        description="Run the paper's experiments under its protocol and write CSV, Markdown and figures into --out.",
    )
    parser.add_argument("experiment", choices=EXPERIMENT_CHOICES, metavar="EXPERIMENT",
                        help="table1, efficiency, contamination, ablation, scalability or all")
    parser.add_argument("--data-dir", help="folder holding paper/ (default: $DEVIATION_DATA_DIR, "
                                           "else <repo>/../shared/data)")
    parser.add_argument("--runs", type=_positive_int, default=None,
                        help="runs per setting (default 10; 2 with --quick)")
    parser.add_argument("--out", default="reproduction-results",
                        help="output folder (default ./reproduction-results)")
    parser.add_argument("--datasets", help="comma-separated data sets (default: all available)")
    parser.add_argument("--quick", action="store_true", help="subsampled data, short training: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", type=_positive_int, nargs="+", metavar="N",
                        help="scalability: row counts of the 1,000-d data (default 1000 4000 16000 64000)")
    parser.add_argument("--dims", type=_positive_int, nargs="+", metavar="D",
                        help="scalability: dimensions of the 5,000-row data (default 1000 2000 4000 8000)")
    parser.add_argument("--protocol", choices=["paper", "authors"], default="paper",
                        help="paper: the protocol of the paper's text (default); authors: what the authors' "
                             "script does (fixed split, synthetic contamination built from all anomalies, "
                             "test ones included), to explain differences with the paper's numbers")
    parser.add_argument("--jobs", type=_positive_int, default=None,
                        help="worker processes sharing the runs, each fit on one thread (default: every "
                             "core this process may use); results do not depend on it")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    return parser


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the experiment(s) ``args`` asks for; return the exit code."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "the reproduction needs torch for the paper's neural competitors; "
            "install it with pip install 'deviation[torch]' (CPU build: pip install torch==2.13.0 first)"
        ) from None
    from .data import DATASETS, resolve_data_dir
    from .experiments import EXPERIMENTS, ReproConfig, default_jobs, run_all, run_experiment

    data_dir = resolve_data_dir(args.data_dir)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else list(DATASETS)
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    if data_dir is None:
        if not args.quick or (args.datasets and datasets != ["thyroid"]):
            raise DeviationError(
                "no data folder: pass --data-dir, set DEVIATION_DATA_DIR, or place the data in "
                "<repo>/../shared/data (only --quick --datasets thyroid runs on the bundled copy)")
        datasets = ["thyroid"]
        _say(args, "no data folder found: --quick runs on the bundled thyroid only")
    runs = args.runs if args.runs is not None else (2 if args.quick else 10)
    config = ReproConfig(out=Path(args.out), data_dir=data_dir, runs=runs, datasets=datasets,
                         quick=args.quick, seed=args.seed, sizes=args.sizes, dims=args.dims,
                         protocol=args.protocol, jobs=args.jobs or default_jobs(),
                         progress=None if args.quiet else (lambda m: _say(args, m)))
    if args.experiment == "all":
        run_all(config)
    elif args.experiment in EXPERIMENTS:
        run_experiment(args.experiment, config)
    _say(args, f"results written to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m reproduction``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args, parser)
    except (DeviationError, OSError, ValueError, ImportError) as exc:
        if args.debug:
            raise
        print(f"reproduction: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reproduction: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
