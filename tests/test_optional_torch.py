"""torch is optional: fitting, scoring, explaining and comparing never import it; the torch engine says how to get it.

Each check runs in a fresh interpreter, since this test process may already
have imported torch for other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Makes torch unimportable the way a missing install does: the import raises
# ModuleNotFoundError and sys.modules holds no "torch" entry (setting
# sys.modules["torch"] = None instead breaks SciPy's array-API checks).
BLOCK_TORCH = textwrap.dedent(
    """
    import sys

    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoTorch())
    """
)


def _run(code: str, *, block_torch: bool = False, timeout: int = 300) -> dict:
    """Run ``code`` in a fresh interpreter with this checkout on the path; return the JSON it prints last."""
    code = (BLOCK_TORCH if block_torch else "") + textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fit_score_explain_and_compare_never_import_torch():
    pytest.importorskip("catboost")
    result = _run(
        """
        import json, sys
        import numpy as np
        import deviation
        from deviation import DevNet, load_thyroid
        from deviation.compare import compare
        from deviation.explain import explain

        X, y = load_thyroid(return_X_y=True)
        model = DevNet(random_state=0).fit(X, y)
        scores = model.decision_function(X)
        flags = model.predict(X)
        ex = explain(model, X, rows=np.arange(5))
        paper = DevNet(preset="paper", random_state=0, epochs=2).fit(X, y)
        # a small weakly labeled table: 20 labeled anomalies among 1,500 rows
        rng = np.random.default_rng(0)
        rows = np.r_[rng.choice(np.flatnonzero(y == 1), 20, replace=False),
                     rng.choice(np.flatnonzero(y == 0), 1480, replace=False)]
        weak = np.r_[np.ones(20, dtype=int), np.zeros(1480, dtype=int)]
        result = compare(X[rows], weak, methods=["iforest", "hist-gbt"], n_folds=2, random_state=0)
        blend = compare(X[rows], weak, methods=["devnet", "catboost", "devnet+catboost"], n_folds=2,
                        random_state=0)
        print(json.dumps({
            "torch": "torch" in sys.modules,
            "engine": model.engine_, "device": model.device_,
            "n_scores": int(scores.shape[0]), "n_flags": int(flags.shape[0]),
            "attr_shape": list(ex.values.shape),
            "paper_engine": paper.engine_,
            "compared": sorted(result.table.index),
            "blended": sorted(blend.table.index),
        }))
        """
    )
    assert result["torch"] is False, "fitting, scoring, explaining or comparing imported torch"
    assert (result["engine"], result["device"], result["paper_engine"]) == ("numpy", "cpu", "numpy")
    assert result["n_scores"] == result["n_flags"] == 7200
    assert result["attr_shape"] == [5, 21]
    assert result["compared"] == ["hist-gbt", "iforest"]
    assert result["blended"] == ["catboost", "devnet", "devnet+catboost"]


def test_without_torch_the_torch_engine_names_the_extra():
    result = _run(
        """
        import json
        import numpy as np
        from deviation import DevNet, MissingDependencyError, load_thyroid

        X, y = load_thyroid(return_X_y=True)
        X, y = X[:600], y[:600]
        out = {}
        for name, kwargs in (("engine", {"engine": "torch"}), ("cuda", {"device": "cuda"}),
                             ("engine_cuda", {"engine": "torch", "device": "cuda"})):
            try:
                DevNet(random_state=0, epochs=1, **kwargs).fit(X, y)
                out[name] = None
            except MissingDependencyError as exc:
                out[name] = [str(exc), isinstance(exc, ImportError)]
        try:
            import deviation.network
            out["network"] = None
        except MissingDependencyError as exc:
            out["network"] = [str(exc), isinstance(exc, ImportError)]
        # the CPU paths need no torch: "auto" falls back to the NumPy engine
        model = DevNet(random_state=0, epochs=1).fit(X, y)
        out["auto"] = [model.engine_, model.device_, bool(np.isfinite(model.decision_function(X)).all())]
        print(json.dumps(out))
        """,
        block_torch=True,
    )
    for name in ("engine", "cuda", "engine_cuda", "network"):
        assert result[name] is not None, f"{name}: no error without torch"
        message, is_import_error = result[name]
        assert "pip install 'deviation[torch]'" in message and "\n" not in message
        assert is_import_error
    assert "DevNet(engine='torch')" in result["engine"][0]
    assert "DevNet(device='cuda')" in result["cuda"][0]
    assert result["auto"] == ["numpy", "cpu", True]


def test_without_torch_the_demo_and_the_cli_run():
    result = _run(
        """
        import contextlib, io, json, sys
        from deviation.cli import main
        from deviation.demo import run_demo

        report = io.StringIO()
        arrays = run_demo(runs=1, out=report)
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            code = main(["demo", "--runs", "1"])
        print(json.dumps({"pr": float(arrays["paper_auc_pr"][0]), "code": code,
                          "same": shown.getvalue().splitlines()[3][:22] == report.getvalue().splitlines()[3][:22],
                          "torch": "torch" in sys.modules}))
        """,
        block_torch=True,
    )
    assert result["code"] == 0 and result["same"] and not result["torch"]
    assert 0.0 < result["pr"] <= 1.0


def test_without_torch_the_reproduction_says_what_to_install(tmp_path):
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        import sys
        from reproduction.__main__ import main
        sys.exit(main(["table1", "--quick", "--datasets", "thyroid", "--out", {str(tmp_path)!r}, "-q"]))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "pip install 'deviation[torch]'" in done.stderr and "Traceback" not in done.stderr


def test_the_wheel_carries_the_product_only_and_requires_no_torch(tmp_path):
    """A built wheel holds the deviation package alone (no reproduction/) and lists torch under extras only."""
    pytest.importorskip("setuptools", minversion="77")  # the build backend, in the test extra
    import shutil
    import zipfile

    src = tmp_path / "checkout"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "reproduction", src / "reproduction", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("deviation-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"deviation"}, packages
    assert not [n for n in names if "bench" in n or "reproduction" in n]
    assert {"deviation/rivals.py", "deviation/protocol.py", "deviation/demo.py"} <= set(names)
    torch_requirements = [line for line in metadata.splitlines()
                          if line.startswith("Requires-Dist: torch")]
    assert torch_requirements and all("extra ==" in line for line in torch_requirements), torch_requirements
    assert 'Requires-Dist: torch<2.15,>=2.1; extra == "torch"' in metadata
