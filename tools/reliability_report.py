#!/usr/bin/env python
"""Run the reliability tests and write docs/RELIABILITY.md from their results.

Usage::

    python tools/reliability_report.py                 # run the suite, write docs/RELIABILITY.md
    python tools/reliability_report.py --fuzz-summary JUNIT.xml   # used by scripts/fuzz.sh

The tests (tests/test_hostile.py, test_properties.py, test_determinism.py)
record, for every case, what they observed through pytest's
``record_property``: the exception type and message (library), the exit code
and stderr line (command line), the number of hypothesis examples and their
outcomes (properties), the SHA-256 of the scores (determinism).  This script
runs them with ``--junitxml``, reads those properties back and writes the
tables: every count in the document comes from the run, none is typed by hand.
The results of the last long fuzz run (scripts/fuzz.sh) are read from
docs/fuzz-results.json when it exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = ("tests/test_hostile.py", "tests/test_properties.py", "tests/test_determinism.py")
DOC = ROOT / "docs" / "RELIABILITY.md"
FUZZ_RESULTS = ROOT / "docs" / "fuzz-results.json"
COMMAND = "python tools/reliability_report.py"


@dataclass
class Case:
    file: str
    test: str  # function name
    param: str  # parametrize id, or ""
    outcome: str  # passed / failed / error / skipped
    seconds: float
    props: dict[str, str] = field(default_factory=dict)


def run_pytest(junit: Path, workers: int, profile: str, files: tuple[str, ...]) -> float:
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           "-o", "junit_family=xunit1"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=False)
    return time.perf_counter() - start


def read_junit(path: Path) -> list[Case]:
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        name = tc.get("name", "")
        test, _, param = name.partition("[")
        module = tc.get("classname", "").split(".")[-1]
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if tc.find(tag) is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
        props = {p.get("name", ""): p.get("value", "") for p in tc.iter("property")}
        cases.append(Case(module, test, param.rstrip("]"), outcome, float(tc.get("time", 0) or 0), props))
    return cases


_TMP = re.compile(r"/\S*?/pytest-\d+/(?:popen-gw\d+/)?[^/\s']+/")


def clean(message: str, limit: int = 190) -> str:
    text = _TMP.sub("<tmp>/", message).replace(str(ROOT), ".")
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def mark(case: Case) -> str:
    return "pass" if case.outcome == "passed" else f"**{case.outcome.upper()}**"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(cases: list[Case], wall: float, profile: str, fuzz: dict | None) -> str:
    by_test: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_test[case.test].append(case)
    def ordered(*tests: str) -> list[Case]:
        return sorted((c for t in tests for c in by_test[t]), key=lambda c: (c.param, c.test))

    lib = ordered("test_library_case", "test_library_malicious_model_runs_no_code")
    cli = ordered("test_cli_case", "test_cli_malicious_model_runs_no_code")
    process = by_test["test_process_failures_are_one_line_exit_1"]
    valid_lib, valid_cli = ordered("test_valid_unusual_input_library"), ordered("test_valid_unusual_input_cli")
    properties = sorted((c for c in cases if c.file == "test_properties"), key=lambda c: c.test)
    determinism = sorted((c for c in cases if c.file == "test_determinism"), key=lambda c: (c.test, c.param))
    failed = [c for c in cases if c.outcome in ("failed", "error")]
    seconds = Counter()
    for c in cases:
        seconds[c.file] += c.seconds
    n_examples = sum(int(c.props.get("examples", 0)) for c in properties)

    lines = [
        "# Reliability: hostile inputs, model-file safety, fuzzing, determinism",
        "",
        f"Generated by `{COMMAND}` from a run of the test suite; do not edit by hand, re-run the command.",
        (f"Last run: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, commit `{git_commit()}`, "
        f"hypothesis profile `{profile}`, {wall:.0f} s wall time."),
        "",
        "## Summary",
        "",
    ]
    lines += table(
        ["what", "cases", "passed", "test time (s)"],
        [
            ["hostile inputs, library (typed exception)", str(len(lib)), str(sum(c.outcome == "passed" for c in lib)),
             f"{sum(c.seconds for c in lib):.1f}"],
            ["hostile inputs, command line (exit 1, one line, no output file)", str(len(cli)),
             str(sum(c.outcome == "passed" for c in cli)), f"{sum(c.seconds for c in cli):.1f}"],
            ["two of them again through the console script (one subprocess test)", str(len(process)),
             str(sum(c.outcome == "passed" for c in process)), f"{sum(c.seconds for c in process):.1f}"],
            ["valid but unusual inputs, library", str(len(valid_lib)),
             str(sum(c.outcome == "passed" for c in valid_lib)), f"{sum(c.seconds for c in valid_lib):.1f}"],
            ["valid but unusual inputs, command line", str(len(valid_cli)),
             str(sum(c.outcome == "passed" for c in valid_cli)), f"{sum(c.seconds for c in valid_cli):.1f}"],
            [f"property tests ({n_examples} hypothesis examples)", str(len(properties)),
             str(sum(c.outcome == "passed" for c in properties)), f"{seconds['test_properties']:.1f}"],
            ["determinism tests", str(len(determinism)), str(sum(c.outcome == "passed" for c in determinism)),
             f"{seconds['test_determinism']:.1f}"],
            ["all tests of the three files", str(len(cases)), str(sum(c.outcome == "passed" for c in cases)),
             f"{sum(seconds.values()):.1f}"],
        ],
    )
    if failed:
        lines += ["", "**Failing:** " + ", ".join(f"`{c.test}[{c.param}]`" if c.param else f"`{c.test}`"
                                                    for c in failed)]
    lines += [
        "",
        "## Design choices these tests pin",
        "",
        ("* **Missing values.** The raw `DevNet` estimator rejects NaN with `DataError` (it needs finite numbers); "
        "the command line and `Preprocessor` mean-impute missing numeric values. So a CSV with empty cells in a "
        "numeric column is *valid* through the command line (`csv_empty_cells_are_imputed`), while a NaN array "
        "given to `DevNet.fit` is a `DataError` (`fit_X_nan`). A sparse matrix that *stores* NaN is refused by "
        "both (sparse data are not imputed)."),
        ("* **Infinity is always an error**: `inf`, `-inf`, `Infinity` in a CSV, and numbers beyond the float64 "
        "range such as `1e309`, are refused by the preprocessor with the column named."),
        ("* **Huge finite values (1e300).** The estimator refuses values above 1e30 in magnitude (its float32 "
        "arithmetic would overflow). Through the command line, the default min-max scaling maps a column holding "
        "1e300 into [0, 1], so such a file is valid (`csv_1e300_minmax_scaled`); with `--scaling none` the scaled "
        "value does not fit float32 and with `--scaling standard` the variance overflows: both are errors naming "
        "the column. At scoring time, a value far outside the training range that scales beyond float32 is an "
        "error rather than a silent infinite score."),
        ("* **Rows with too few fields** (a cut last line, a short row) are refused: pandas would pad them with "
        "NaN and imputation would hide the damage. Rows with too many fields are refused too."),
        ("* **Extra columns at scoring time** are ignored when the model was trained on named columns (they are "
        "matched by name); a missing or renamed column is a `FeatureMismatchError`. The raw estimator fitted on "
        "a DataFrame also refuses reordered columns."),
        ("* **Labels**: 0/1, true/false and empty (= unlabeled) only, unless `--anomaly-value` names the anomaly "
        "class; 'yes', 2, -1, 0.5 are errors. A value given with `--anomaly-value` that matches no row is a "
        "warning of the reader; on the command line it is folded into the one error line."),
        ("* **Model files are never unpickled**: JSON and safetensors only, verified against SHA-256 checksums "
        "before any part is parsed. The tests build live pickle payloads (checked to run code when unpickled) "
        "as a raw pickle renamed `.model`, a torch.save-style zip, and a deviation-shaped zip with valid "
        "checksums whose weights or config are a pickle: each is refused with `ModelFileError` and the payload's "
        "marker file is never created. `test_no_unsafe_deserialisation_anywhere_in_src` scans the whole `src/` "
        "tree for pickle/dill/joblib/marshal imports, `pickle.load`, `torch.load`, `read_pickle`, "
        "`allow_pickle=True`, `np.load` without `allow_pickle=False`, `eval(`, `exec(`, `__import__(` and "
        "`yaml.load`."),
        "",
        "## Hostile inputs: library",
        "",
        "Each case asserts the exception type (a `DeviationError` subclass) and a fragment of its one-line message.",
        "",
    ]
    lines += table(["case", "result", "raised", "message"],
                   [[f"`{c.param or c.test}`", mark(c), c.props.get("raised", "-"), clean(c.props.get("message", ""))]
                    for c in lib])
    lines += [
        "",
        "## Hostile inputs: command line",
        "",
        ("Each case asserts exit code 1, exactly one stderr line `deviation: error: ...` containing the problem, "
        "no traceback, and that the output file (and no temporary file) exists afterwards. The cases call "
        "`deviation.cli.main` in-process; `test_process_failures_are_one_line_exit_1` repeats two of them (a failure with a library warning, a malicious model file) "
        "through the installed console script."),
        "",
    ]
    lines += table(["case", "result", "exit", "stderr"],
                   [[f"`{c.param or c.test}`", mark(c), c.props.get("exit_code", "-"),
                     clean(c.props.get("message", ""))] for c in cli + process])
    lines += ["", "## Valid but unusual inputs", "",
              ("Each must fit and score with finite scores (library: `predict` consistent with the threshold; "
              "command line: exit 0 and one score per row)."), ""]
    lines += table(["case", "surface", "result"],
                   [[f"`{c.param}`", c.props.get("surface", ""), mark(c)] for c in valid_lib + valid_cli])
    lines += ["", "## Property tests (hypothesis)", "",
              (f"Profile `{profile}`: examples per test as run. Outcomes count the examples that were accepted "
              "(`ok`) or refused with each exception type; any other exception fails the test."), ""]
    lines += table(["property", "result", "examples", "outcomes", "time (s)"],
                   [[f"`{c.test}`", mark(c), c.props.get("examples", "-"),
                     ", ".join(f"{k} {v}" for k, v in json.loads(c.props.get("outcomes", "{}")).items()),
                     f"{c.seconds:.1f}"] for c in properties])
    lines += ["", "## Determinism", "",
              "Scores are compared as raw float64 bytes (SHA-256), not with a tolerance.", ""]
    lines += table(["test", "result", "SHA-256 of the scores (first 16 hex)", "time (s)"],
                   [[f"`{c.test}{'[' + c.param + ']' if c.param else ''}`", mark(c),
                     c.props.get("digest", "-")[:16] or "-", f"{c.seconds:.1f}"] for c in determinism])
    lines += [
        "",
        "## The long fuzz run",
        "",
        ("`scripts/fuzz.sh` runs the property tests with the `long` hypothesis profile (3,000 examples per test "
        "by default, random rather than derandomized; `FUZZ_EXAMPLES=20000 scripts/fuzz.sh` for more) and "
        "records the result in `docs/fuzz-results.json`, shown here on the next run of this command."),
        "",
    ]
    if fuzz:
        lines.append(f"Last long run: {fuzz['date']}, commit `{fuzz['commit']}`, {fuzz['examples']} examples in "
                     f"{fuzz['seconds']:.0f} s, {fuzz['failed']} failing test(s).")
        lines.append("")
        lines += table(["property", "result", "examples", "outcomes"],
                       [[f"`{t['test']}`", t["outcome"], str(t["examples"]),
                         ", ".join(f"{k} {v}" for k, v in t["outcomes"].items())] for t in fuzz["tests"]])
    else:
        lines.append("No long run recorded yet.")
    lines.append("")
    return "\n".join(lines)


def fuzz_summary(junit: Path, seconds: float) -> dict:
    cases = [c for c in read_junit(junit) if c.file == "test_properties"]
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "seconds": round(seconds, 1),
        "examples": sum(int(c.props.get("examples", 0)) for c in cases),
        "failed": sum(c.outcome in ("failed", "error") for c in cases),
        "tests": [{"test": c.test, "outcome": c.outcome, "examples": int(c.props.get("examples", 0)),
                   "outcomes": json.loads(c.props.get("outcomes", "{}"))} for c in cases],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (default 2; 1 = no xdist)")
    parser.add_argument("--profile", default="ci", help="hypothesis profile (default ci)")
    parser.add_argument("--output", type=Path, default=DOC)
    parser.add_argument("--junit", type=Path, help="read this junit XML instead of running the tests")
    parser.add_argument("--fuzz-summary", type=Path, metavar="JUNIT",
                        help="summarise a long fuzz run's junit XML into docs/fuzz-results.json and exit")
    parser.add_argument("--fuzz-seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.fuzz_summary:
        summary = fuzz_summary(args.fuzz_summary, args.fuzz_seconds)
        FUZZ_RESULTS.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(f"{summary['examples']} examples, {summary['failed']} failing; written to {FUZZ_RESULTS}")
        return 1 if summary["failed"] else 0

    with tempfile.TemporaryDirectory() as tmp:
        junit = args.junit or Path(tmp) / "reliability.xml"
        wall = 0.0 if args.junit else run_pytest(junit, args.workers, args.profile, TEST_FILES)
        cases = read_junit(junit)
    if not cases:
        print("no test results were read", file=sys.stderr)
        return 2
    fuzz = json.loads(FUZZ_RESULTS.read_text(encoding="utf-8")) if FUZZ_RESULTS.exists() else None
    text = render(cases, wall, args.profile, fuzz)
    args.output.write_text(text, encoding="utf-8")
    failed = [c for c in cases if c.outcome in ("failed", "error")]
    print(f"{len(cases)} tests, {len(failed)} failing; written to {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
