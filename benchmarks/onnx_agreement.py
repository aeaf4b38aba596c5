"""How close the exported ONNX graph's answers are to ``deviation score``'s, on every row of real data.

Fits three models as docs/deploy.md does (full training, ``--seed 0``): thyroid
with the default and the paper preset, and the all-categorical solar-flare ARFF
file; exports each (``deviation export``), runs the graph with ONNX Runtime on
every row of its training file (numbers as float32, NaN missing; text as it is)
and compares with ``deviation score`` on the same file. Prints, per model: the
largest |score difference|, the largest |p-value difference|, how many p-values
differ and in which direction (lower in ONNX = less conservative), and how many
``is_anomaly`` differ.

    .venv/bin/python benchmarks/onnx_agreement.py [--data ../shared/data] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from deviation import cli, load, read_table
from deviation.datasets import thyroid_path
from deviation.export import input_columns

MODELS = [  # name, data file (relative to --data, None: the bundled thyroid), fit options
    ("thyroid, default preset", None, ["--label", "class"]),
    ("thyroid, paper preset", None, ["--label", "class", "--preset", "paper"]),
    ("solar-flare (categorical)", "categorical/solar-flare_FvsAll-cleaned.arff", ["--label", "class"]),
]


def feeds(model, data: Path) -> dict[str, np.ndarray]:
    """The graph's inputs for the rows of a file: numbers as float32 (NaN missing), text as it is ("" missing)."""
    if data.suffix == ".arff":
        raw = read_table(data, label="class").X.astype(object).where(lambda f: f.notna(), "")
    else:
        raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    out = {}
    for name, kind in input_columns(model):
        if kind == "float":
            out[name] = pd.to_numeric(raw[name].replace("", np.nan)).to_numpy(np.float32).reshape(-1, 1)
        else:
            out[name] = raw[name].astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return out


def compare(workdir: Path, name: str, data: Path, options: list[str]) -> dict[str, object]:
    import onnxruntime as ort

    stem = name.split(",")[0].split(" ")[0] + ("-paper" if "paper" in options else "")
    model_path, onnx_path, scores_path = (workdir / f"{stem}{s}" for s in (".model", ".onnx", ".csv"))
    assert cli.main(["fit", str(data), "-o", str(model_path), "--seed", "0", "-q", *options]) == 0
    assert cli.main(["export", str(model_path), "-o", str(onnx_path), "-q"]) == 0
    assert cli.main(["score", str(model_path), str(data), "-o", str(scores_path), "-q"]) == 0
    want = pd.read_csv(scores_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    score, p_value, is_anomaly = session.run(["score", "p_value", "is_anomaly"], feeds(load(model_path), data))
    dp = p_value.astype(np.float64) - want["p_value"].to_numpy()
    differ = np.abs(dp) > 1e-6  # float32 rounding of a p-value is below 6e-8
    return {"model": name, "rows": len(want),
            "max |score diff|": float(np.max(np.abs(score.astype(np.float64) - want["score"].to_numpy()))),
            "max |p diff|": float(np.max(np.abs(dp))),
            "p differ (>1e-6)": int(differ.sum()),
            "of which lower in ONNX": int((dp < -1e-6).sum()),
            "is_anomaly differ": int((is_anomaly != want["is_anomaly"].to_numpy().astype(bool)).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workdir", default=None, help="where the models go (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = [compare(workdir, name, Path(args.data) / path if path else Path(thyroid_path()), options)
                for name, path, options in MODELS]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.2g}".format):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
