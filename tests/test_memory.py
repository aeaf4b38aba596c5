"""The memory guard: available memory, DEVIATION_MEMORY_LIMIT, the checks before input-sized allocations.

Low memory is simulated with DEVIATION_MEMORY_LIMIT: no test allocates more than a few tens of MB.
"""

from __future__ import annotations

import functools
import gzip
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from deviation import DevNet, read_table
from deviation import _memory as memory
from deviation.cli import main
from deviation.estimator import _fit_bytes
from deviation.exceptions import DataError, DeviationError, MemoryLimitError, ParameterError

ENV = memory.ENV_VAR


def _csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    lines = ["a,b,kind,y"]
    for i in range(n):
        lines.append(f"{rng.random():.4f},{rng.random():.4f},{'xyz'[i % 3]},{int(i < 10)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("deviation: error: ")
    return lines[0]


# ------------------------------------------------------------ sizes and available memory
@pytest.mark.parametrize(
    ("text", "expected"),
    [("4096", 4096), ("512M", 512 << 20), ("8G", 8 << 30), ("1.5g", 3 << 29), ("2GiB", 2 << 30),
     ("100KB", 100 << 10), (" 1T ", 1 << 40), ("0.5k", 512)],
)
def test_parse_size(text, expected):
    assert memory.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "8X", "-1G", "1e9", "G"])
def test_parse_size_rejects_non_sizes_naming_the_variable(text):
    with pytest.raises(ParameterError, match=f"{ENV}=.*is not a memory size; set it to a number of bytes"):
        memory.parse_size(text)


def test_environment_variable_overrides_available_memory(monkeypatch):
    monkeypatch.setenv(ENV, "3G")
    assert memory.available_bytes() == 3 << 30
    monkeypatch.setenv(ENV, "three gigs")
    with pytest.raises(ParameterError, match=ENV):
        memory.available_bytes()


def test_available_memory_without_override_is_positive_and_at_most_meminfo(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    available = memory.available_bytes()
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo")
    # MemAvailable moves while other processes run: bound by the machine's total memory instead
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < available <= total
    assert memory.meminfo_available(meminfo.read_text()) > 0


def test_meminfo_parsing():
    text = "MemTotal:       24684092 kB\nMemFree:        23822684 kB\nMemAvailable:    3145728 kB\n"
    assert memory.meminfo_available(text) == 3145728 * 1024
    assert memory.meminfo_available("MemTotal: 100 kB\nMemFree: 50 kB\n") is None  # kernels before 3.14


def test_cgroup_v2_limit_less_usage_plus_reclaimable_cache():
    stat = "anon 400000000\nfile 200000000\ninactive_file 104857600\nactive_file 1000\n"
    assert memory.cgroup_available("1073741824\n", "536870912\n", stat) == (1 << 30) - (512 << 20) + (100 << 20)
    assert memory.cgroup_available("max\n", "536870912\n", stat) is None


def test_cgroup_v1_unlimited_total_inactive_file_and_exhausted():
    assert memory.cgroup_available("9223372036854771712\n", "614715392\n") is None
    stat_v1 = "cache 1000\ninactive_file 49152\ntotal_inactive_file 94838784\n"
    assert memory.cgroup_available("2147483648", "1147483648", stat_v1) == 2147483648 - 1147483648 + 49152
    assert memory.cgroup_available("1000", "5000") == 0
    assert memory.cgroup_available("1000") == 1000


def test_cgroup_limit_lowers_meminfo(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV, raising=False)
    (tmp_path / "memory.max").write_text("1048576\n")
    (tmp_path / "memory.current").write_text("524288\n")
    monkeypatch.setattr(memory, "_own_cgroup_dirs", lambda root: [tmp_path])
    assert memory.available_bytes() == 524288


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(512, "512 bytes"), (2048, "2.0 KiB"), (16 << 30, "16.0 GiB"), (int(3.1 * (1 << 30)), "3.1 GiB"),
     (5 << 40, "5.0 TiB"), (5000 << 40, "5,000.0 TiB")],
)
def test_format_bytes(nbytes, text):
    assert memory.format_bytes(nbytes) == text


# ------------------------------------------------------------ check_allocation
def test_check_allocation_refuses_above_the_safety_fraction(monkeypatch):
    monkeypatch.setenv(ENV, "1000M")
    memory.check_allocation(790 << 20, "a thing", "do less")  # under 80 %: allowed
    with pytest.raises(MemoryLimitError) as over_fraction:
        memory.check_allocation(900 << 20, "a thing", "do less")
    assert str(over_fraction.value) == "a thing would need 900.0 MiB, over 80% of the 1,000.0 MiB available; do less"
    with pytest.raises(MemoryLimitError) as over_all:
        memory.check_allocation(16 << 30, "one-hot encoding of column 'city' (20,000 categories)",
                                "declare it with --id-column or leave it out with --drop", where="'big.csv'")
    assert str(over_all.value) == (
        "'big.csv': one-hot encoding of column 'city' (20,000 categories) would need 16.0 GiB, more than the "
        "1,000.0 MiB available; declare it with --id-column or leave it out with --drop"
    )
    assert over_all.value.nbytes == 16 << 30 and over_all.value.available == 1000 << 20


def test_memory_limit_error_is_a_data_error_and_a_memory_error():
    assert issubclass(MemoryLimitError, DataError)
    assert issubclass(MemoryLimitError, DeviationError)
    assert issubclass(MemoryLimitError, MemoryError)


def test_check_allocation_does_nothing_when_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    memory.check_allocation(1 << 60, "a thing", "do less")


# ------------------------------------------------------------ libsvm width
def _huge_index_libsvm(path: Path) -> Path:
    lines = [f"{int(i < 5)} 1:{i / 40:.3f} 5:0.5" for i in range(40)]
    lines[3] += " 2147483647:1"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_table_refuses_a_libsvm_index_of_2_to_the_31(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "8G")
    path = _huge_index_libsvm(tmp_path / "big.libsvm")
    with pytest.raises(MemoryLimitError) as info:
        read_table(path, label="y")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"'{path}': feature index 2147483647 makes 2,147,483,647 feature columns")
    assert "144.0 GiB" in message and "8.0 GiB available" in message and "compact indices" in message


def test_read_table_reads_the_same_libsvm_file_when_the_width_fits(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "8G")
    path = tmp_path / "ok.libsvm"
    path.write_text("1 1:0.5 70000:1\n0 2:0.25\n")
    table = read_table(path, label="y")
    assert table.X.shape == (2, 70000)


def test_cli_fit_refuses_a_libsvm_index_of_2_to_the_31_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV, "8G")
    path = _huge_index_libsvm(tmp_path / "big.libsvm")
    out = tmp_path / "m.model"
    assert main(["fit", str(path), "--label", "y", "-o", str(out)]) == 1
    line = _one_line_error(capsys)
    assert "feature index 2147483647" in line and "compact indices" in line
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.libsvm"]


# ------------------------------------------------------------ whole files
def test_read_table_refuses_a_file_larger_than_memory_with_the_sample_size_hint(tmp_path, monkeypatch):
    path = _csv(tmp_path / "data.csv")
    size = path.stat().st_size
    monkeypatch.setenv(ENV, str(size))  # the file holds twice its size while it is typed
    with pytest.raises(MemoryLimitError) as info:
        read_table(path, label="y")
    message = str(info.value)
    assert message.startswith(f"'{path}': reading the whole file (")
    assert "deviation fit --sample-size N" in message
    monkeypatch.setenv(ENV, str(10 * size))
    assert read_table(path, label="y").X.shape == (300, 3)


def test_compressed_files_are_estimated_with_the_stated_ratio(tmp_path, monkeypatch):
    plain = _csv(tmp_path / "data.csv", n=3000)
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assumed = packed.stat().st_size * memory.COMPRESSION_RATIO
    monkeypatch.setenv(ENV, str(int(assumed * 2 / memory.SAFETY_FRACTION) - 10))
    with pytest.raises(MemoryLimitError, match=f"assuming {memory.COMPRESSION_RATIO}x compression"):
        read_table(packed, label="y")
    monkeypatch.setenv(ENV, str(int(assumed * 2 / memory.SAFETY_FRACTION) + 10))
    assert read_table(packed, label="y").X.shape == (3000, 3)


def test_cli_fit_refuses_a_file_larger_than_memory(tmp_path, monkeypatch, capsys):
    path = _csv(tmp_path / "data.csv")
    monkeypatch.setenv(ENV, "1K")
    out = tmp_path / "m.model"
    assert main(["fit", str(path), "--label", "y", "-o", str(out)]) == 1
    assert "--sample-size N" in _one_line_error(capsys)
    assert not out.exists()


# ------------------------------------------------------------ training, scoring, explaining
def test_fit_refuses_a_network_wider_than_memory_naming_the_width(monkeypatch):
    n, width = 40, 50_000_000
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((np.ones(n), (np.arange(n), rng.integers(0, width, n))), shape=(n, width))
    y = (np.arange(n) < 4).astype(int)
    monkeypatch.setenv(ENV, "4G")  # the first layer alone: 50M x 20 weights drawn in float64 = 12 GB
    with pytest.raises(MemoryLimitError, match=r"training DevNet on 40 rows x 50,000,000 feature columns would need"):
        DevNet(epochs=1, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    ("kind", "preset"), [("narrow sparse", "default"), ("dense", "paper"), ("dense", "default"), ("wide sparse", "paper")]
)
def test_fit_estimate_is_close_to_the_measured_peak(kind, preset):
    rng = np.random.default_rng(0)
    n = 2000
    y = (np.arange(n) < 40).astype(int)
    if kind == "dense":
        X = rng.random((n, 300))
    else:
        width = 3000 if kind == "narrow sparse" else 200_000
        X = sp.csr_matrix((np.ones(n * 5), (np.repeat(np.arange(n), 5), rng.integers(0, width, n * 5))),
                          shape=(n, width))
    model = DevNet(preset=preset, epochs=1, batches_per_epoch=5, random_state=0)
    estimate = _fit_bytes(X, model, 2 if preset == "default" and kind == "dense" else 1)
    tracemalloc.start()
    try:
        model.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # never far below what is really allocated, never so far above that it refuses what fits
    assert 0.8 * peak <= estimate <= 2.5 * peak, (estimate, peak)


def test_scoring_refuses_dense_chunks_that_do_not_fit(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.random((200, 5))
    model = DevNet(epochs=1, random_state=0).fit(X, (np.arange(200) < 5).astype(int))
    wide = sp.csr_matrix((np.ones(100), (np.arange(100), np.arange(100) % 5)), shape=(100, 5))
    monkeypatch.setenv(ENV, "2K")
    with pytest.raises(MemoryLimitError, match=r"^scoring 200 rows x 5 feature columns \(1 chunks of 200 rows"):
        model.decision_function(X)
    monkeypatch.setenv(ENV, "1M")
    assert model.decision_function(wide).shape == (100,)


def test_explain_refuses_attributions_that_do_not_fit(monkeypatch):
    from deviation.explain import explain

    rng = np.random.default_rng(0)
    X = rng.random((200, 5))
    model = DevNet(epochs=1, random_state=0).fit(X, (np.arange(200) < 5).astype(int))
    monkeypatch.setenv(ENV, "10K")
    with pytest.raises(MemoryLimitError, match=r"the attributions of 200 rows x 5 model inputs would need .*--flagged"):
        explain(model, X)
    monkeypatch.setenv(ENV, "1M")
    assert explain(model, X[:5]).values.shape == (5, 5)


# ------------------------------------------------------------ a MemoryError nothing estimated
@pytest.fixture()
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    data = _csv(folder / "train.csv")
    model = folder / "m.model"
    assert main(["fit", str(data), "--label", "y", "-o", str(model), "--epochs", "2", "--quiet"]) == 0
    return data, model


def test_memory_error_while_scoring_gives_one_line_and_no_partial_output(fitted, tmp_path, monkeypatch, capsys):
    import deviation.scale as scale
    from deviation.scale import stream

    data, model = fitted
    real = stream.feature_scores  # the stream scores preprocessed batches with it
    calls = []

    def scores_then_out_of_memory(model, X, *args, **kwargs):
        calls.append(X.shape[0])
        if len(calls) == 2:  # the first batch is already written to the temporary file
            raise MemoryError
        return real(model, X, *args, **kwargs)

    monkeypatch.setattr(stream, "feature_scores", scores_then_out_of_memory)
    monkeypatch.setattr(scale, "score_file", functools.partial(stream.score_file, batch_size=100))
    for name in ("scored.csv", "scored.parquet"):
        out = tmp_path / name
        calls.clear()
        assert main(["score", str(model), str(data), "-o", str(out)]) == 1
        line = _one_line_error(capsys)
        assert line == (
            f"deviation: error: ran out of memory while running score on {data}; try --sample-size N "
            "(deviation fit), fewer rows or columns, or a machine with more memory"
        )
        assert calls == [100, 100]
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_memory_error_while_scoring_keeps_an_existing_output(fitted, tmp_path, monkeypatch, capsys):
    from deviation.scale import stream

    data, model = fitted
    out = tmp_path / "scored.csv"
    out.write_text("old\n")

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(stream, "feature_scores", out_of_memory)
    assert main(["score", str(model), str(data), "-o", str(out)]) == 1
    _one_line_error(capsys)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scored.csv"]


def test_memory_error_while_fitting_gives_one_line_and_no_model(tmp_path, monkeypatch, capsys):
    data = _csv(tmp_path / "train.csv")
    out = tmp_path / "m.model"

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(DevNet, "fit", out_of_memory)
    assert main(["fit", str(data), "--label", "y", "-o", str(out)]) == 1
    assert "ran out of memory while running fit on" in _one_line_error(capsys)
    assert not out.exists()


def test_debug_shows_the_memory_error_traceback(tmp_path, monkeypatch):
    data = _csv(tmp_path / "train.csv")

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(DevNet, "fit", out_of_memory)
    with pytest.raises(MemoryError):
        main(["fit", str(data), "--label", "y", "-o", str(tmp_path / "m.model"), "--debug"])


def test_reuse_freed_memory_applies_on_glibc_only():
    import platform
    import sys

    from deviation._memory import reuse_freed_memory

    applies = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    # True exactly where glibc's mallopt took both settings (the command calls it before scoring)
    assert reuse_freed_memory() is applies
