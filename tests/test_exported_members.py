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
