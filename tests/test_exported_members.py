import deviation


def test_public_api_is_pinned_and_sorted():
    assert deviation.__all__ == [
        "DataError",
        "DevNet",
        "DeviationError",
        "FeatureMismatchError",
        "InputSchema",
        "InvalidParameterError",
        "MemoryLimitError",
        "MissingDependencyError",
        "ModelFileError",
        "NotFittedError",
        "ParameterError",
        "Preprocessor",
        "Table",
        "__version__",
        "export_onnx",
        "iter_tables",
        "load",
        "load_thyroid",
        "read_model_info",
        "read_table",
        "save",
        "write_table",
    ]
    assert deviation.__all__ == sorted(deviation.__all__)
    for name in deviation.__all__:
        assert hasattr(deviation, name), name


def test_importing_deviation_does_not_import_torch_or_matplotlib():
    import subprocess
    import sys

    code = "import sys, deviation; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_importing_deviation_is_lazy_and_names_resolve_on_use():
    import subprocess
    import sys

    code = ("import sys, deviation; print('deviation.estimator' in sys.modules, 'pandas' in sys.modules); "
            "deviation.DevNet; print('deviation.estimator' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]
    assert set(deviation.__all__) <= set(dir(deviation))


def test_an_interrupt_while_the_command_starts_is_one_line(monkeypatch, capsys):
    # Ctrl-C during the seconds of imports before the command runs: no traceback
    import builtins

    from deviation import _entry

    real_import = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name == "cli" or name.endswith(".cli"):
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    assert _entry.main(["info", "x.model"]) == 130
    assert capsys.readouterr().err == "deviation: interrupted\n"
