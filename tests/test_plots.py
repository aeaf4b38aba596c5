"""Tests of deviation.plots on the real thyroid data."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from deviation import DataError, DevNet, MissingDependencyError, load_thyroid
from deviation.plots import plot_roc_pr, plot_score_distribution, save_figure

mpimg = pytest.importorskip("matplotlib.image")
Figure = pytest.importorskip("matplotlib.figure").Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    return load_thyroid(return_X_y=True)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    # trained on every row: threshold_ is the prior's 1.645 these tests draw
    model = DevNet(epochs=3, batches_per_epoch=5, random_state=0, calibration_size=0).fit(X, y)
    return model, model.decision_function(X), y


def _dist_fig(fitted, **kw):
    model, scores, y = fitted
    kw.setdefault("threshold", model.threshold_)
    kw.setdefault("prior_mean", model.prior_mean)
    kw.setdefault("prior_std", model.prior_std)
    return plot_score_distribution(scores, y, **kw)


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _line(ax, gid):
    found = [line for line in ax.lines if line.get_gid() == gid]
    assert len(found) == 1, [line.get_gid() for line in ax.lines]
    return found[0]


def _check_png(path, fig, dpi=120):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    img = mpimg.imread(path)
    w, h = fig.get_size_inches()
    assert img.shape == (round(h * dpi), round(w * dpi), 4)
    assert img.dtype == np.float32
    assert float(img[..., :3].std()) > 0.05  # something was drawn on the white background


# --------------------------------------------------------- score distribution
def test_score_distribution_png_roundtrip(fitted, tmp_path):
    fig = _dist_fig(fitted)
    assert isinstance(fig, Figure)
    out = save_figure(fig, tmp_path / "scores.png")
    assert out == tmp_path / "scores.png"
    assert out.is_file()
    _check_png(out, fig)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.png"]  # no temp file left


def test_score_distribution_threshold_line(fitted):
    model, scores, _ = fitted
    assert model.threshold_ == pytest.approx(1.645, abs=1e-3)
    ax = _dist_fig(fitted).axes[0]
    at_threshold = [
        line for line in ax.lines
        if np.allclose(np.asarray(line.get_xdata(), dtype=float), model.threshold_)
    ]
    assert len(at_threshold) == 1
    assert at_threshold[0].get_gid() == "threshold"
    n_above = int((scores > model.threshold_).sum())
    assert f"threshold = {model.threshold_:.3f} ({n_above:,} above)" in _legend_texts(ax)


def test_score_distribution_prior_curve_default(fitted):
    ax = _dist_fig(fitted).axes[0]
    prior = _line(ax, "prior")
    xs, ys = np.asarray(prior.get_xdata()), np.asarray(prior.get_ydata())
    assert ys.max() == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-9)
    assert xs[np.argmax(ys)] == pytest.approx(0.0)
    # The curve spans the whole plotted range: every score, the threshold and +/-3 std.
    _, scores, _ = fitted
    assert xs.min() <= min(scores.min(), -3.0) and xs.max() >= max(scores.max(), 3.0)
    assert "prior N(0, 1\u00b2)" in _legend_texts(ax)


def test_score_distribution_prior_curve_custom_prior(data):
    X, y = data
    model = DevNet(prior_mean=1.0, prior_std=2.0, epochs=3, batches_per_epoch=5, random_state=0, calibration_size=0)
    model.fit(X, y)
    scores = model.decision_function(X)
    fig = plot_score_distribution(
        scores, y, threshold=model.threshold_, prior_mean=model.prior_mean, prior_std=model.prior_std
    )
    ax = fig.axes[0]
    prior = _line(ax, "prior")
    ys = np.asarray(prior.get_ydata())
    assert ys.max() == pytest.approx(1 / (math.sqrt(2 * math.pi) * 2.0), rel=1e-9)
    assert np.asarray(prior.get_xdata())[np.argmax(ys)] == pytest.approx(1.0)
    assert np.allclose(_line(ax, "threshold").get_xdata(), model.threshold_)
    assert model.threshold_ == pytest.approx(1.0 + 2.0 * 1.6448536, abs=1e-6)


def test_score_distribution_histograms_and_counts(fitted):
    _, _, y = fitted
    ax = _dist_fig(fitted).axes[0]
    assert len(ax.containers) == 2
    edges = []
    for bars in ax.containers:
        heights = np.array([r.get_height() for r in bars])
        widths = np.array([r.get_width() for r in bars])
        assert float((heights * widths).sum()) == pytest.approx(1.0)  # densities
        edges.append(np.array([r.get_x() for r in bars]))
    np.testing.assert_allclose(edges[0], edges[1])  # shared bins
    texts = _legend_texts(ax)
    n0, n1 = int((y == 0).sum()), int((y == 1).sum())
    assert (n0, n1) == (6666, 534)
    assert any("n=6,666" in t and "label 0" in t for t in texts)
    assert any("n=534" in t and "label 1" in t for t in texts)


def test_score_distribution_without_anomalies(fitted, tmp_path):
    model, scores, y = fitted
    for labels, expected in ((None, f"scores (n={len(scores):,})"), (np.zeros_like(y), "label 0")):
        fig = plot_score_distribution(scores, labels, threshold=model.threshold_)
        ax = fig.axes[0]
        assert len(ax.containers) == 1
        texts = _legend_texts(ax)
        assert any(t.startswith(expected) for t in texts)
        assert not any("label 1" in t for t in texts)
        _check_png(save_figure(fig, tmp_path / "normal_only.png"), fig)


def test_score_distribution_into_given_axes_with_title(fitted):
    fig = Figure()
    ax = fig.add_subplot()
    assert _dist_fig(fitted, ax=ax, title="thyroid") is fig
    assert ax.get_title() == "thyroid"
    assert _line(ax, "prior") is not None


def test_score_distribution_single_and_constant_scores():
    fig = plot_score_distribution([0.5], [1], threshold=1.645)
    assert len(fig.axes[0].containers) == 1
    fig = plot_score_distribution(np.full(10, 2.0), None, threshold=1.645)
    assert len(fig.axes[0].containers) == 1


# --------------------------------------------------------------------- ROC / PR
def test_roc_pr_auc_values_match_sklearn(fitted, tmp_path):
    _, scores, y = fitted
    fig = plot_roc_pr(y, scores, title="thyroid")
    ax_roc, ax_pr = fig.axes
    auc_roc = roc_auc_score(y, scores)
    auc_pr = average_precision_score(y, scores)
    assert f"AUC-ROC = {auc_roc:.3f}" in _legend_texts(ax_roc)
    assert f"AUC-PR (average precision) = {auc_pr:.3f}" in _legend_texts(ax_pr)

    chance = _line(ax_roc, "chance")
    np.testing.assert_allclose(chance.get_xdata(), [0, 1])
    np.testing.assert_allclose(chance.get_ydata(), [0, 1])
    roc = _line(ax_roc, "roc")
    assert np.trapezoid(roc.get_ydata(), roc.get_xdata()) == pytest.approx(auc_roc)
    base = _line(ax_pr, "base_rate")
    np.testing.assert_allclose(base.get_ydata(), y.mean())
    assert f"base rate = {y.mean():.3f}" in _legend_texts(ax_pr)
    assert fig.get_suptitle() == "thyroid"

    out = save_figure(fig, tmp_path / "roc_pr.png", dpi=80)
    _check_png(out, fig, dpi=80)


def test_roc_pr_into_given_axes(fitted):
    _, scores, y = fitted
    fig = Figure()
    axes = fig.subplots(1, 2)  # an ndarray of two Axes
    assert plot_roc_pr(y.astype(bool), scores, ax=axes) is fig
    assert _line(axes[0], "roc") is not None and _line(axes[1], "pr") is not None


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".PNG", PNG_SIGNATURE)])
def test_save_other_formats(fitted, tmp_path, suffix, magic):
    _, scores, y = fitted
    out = save_figure(plot_roc_pr(y, scores), tmp_path / f"roc{suffix}")
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"roc{suffix}"]


# ------------------------------------------------------------- missing matplotlib
def test_missing_matplotlib_raises(fitted, monkeypatch):
    model, scores, y = fitted
    fig = plot_roc_pr(y, scores)  # made while matplotlib is there
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    calls = [
        lambda: plot_score_distribution(scores, y, threshold=model.threshold_),
        lambda: plot_roc_pr(y, scores),
        lambda: save_figure(fig, "never.png"),
    ]
    for call in calls:
        with pytest.raises(MissingDependencyError, match=r"pip install 'deviation\[plot\]'") as info:
            call()
        assert isinstance(info.value, ImportError)
        assert str(info.value) == "plots need matplotlib: pip install 'deviation[plot]'"


def test_import_is_lazy_and_pyplot_free(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        sys.modules["matplotlib"] = None
        import deviation.plots as plots  # importable without matplotlib
        del sys.modules["matplotlib"]
        assert not any(m.startswith("matplotlib") for m in sys.modules)
        rng = np.random.default_rng(0)
        scores = rng.normal(size=200)
        labels = (scores > 1.5).astype(int)
        plots.save_figure(plots.plot_score_distribution(scores, labels, threshold=1.645),
                          {str(tmp_path / "a.png")!r})
        plots.save_figure(plots.plot_roc_pr(labels, scores), {str(tmp_path / "b.png")!r})
        assert "matplotlib.pyplot" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "a.png").read_bytes().startswith(PNG_SIGNATURE)


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    "scores, labels, match",
    [
        (np.zeros((4, 2)), None, "1-D"),
        (np.zeros((4, 1)), None, "1-D"),
        (np.array([]), None, "empty"),
        (np.array([0.0, np.nan, 1.0]), None, "finite"),
        (np.array([0.0, np.inf]), None, "finite"),
        (np.array(["a", "b"]), None, "numbers"),
        (np.array(["1", "2"], dtype=object), None, "numbers"),
        (np.array([True, False]), None, "real numbers"),
        (None, None, "None"),
        (np.zeros(3), np.array([0, 1]), "different lengths"),
        (np.zeros(3), np.array([0, 1, 2]), "0 .* and 1"),
        (np.zeros(3), np.array([0, 1, -1]), "0 .* and 1"),
        (np.zeros(2), np.array([0.0, np.nan]), "0 .* and 1"),
        (np.zeros(2), np.array(["normal", "anomaly"]), "0 .* and 1"),
        (np.zeros(2), np.array([[0, 1]]), "1-D"),
        (np.zeros(2), np.array(["0", "1"], dtype=object), "0 .* and 1"),
        (np.zeros(2), np.array([None, 1], dtype=object), "0 .* and 1"),
    ],
)
def test_score_distribution_bad_inputs(scores, labels, match):
    with pytest.raises(DataError, match=match):
        plot_score_distribution(scores, labels, threshold=1.645)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": "1.6"}, "threshold"),
        ({"threshold": 1.6, "prior_std": 0.0}, "prior_std"),
        ({"threshold": 1.6, "prior_std": -1.0}, "prior_std"),
        ({"threshold": 1.6, "prior_mean": float("inf")}, "prior_mean"),
        ({"threshold": 1.6, "ax": "not an axes"}, "Axes"),
    ],
)
def test_score_distribution_bad_parameters(kw, match):
    with pytest.raises(DataError, match=match):
        plot_score_distribution(np.zeros(3), None, **kw)


@pytest.mark.parametrize(
    "y_true, scores, match",
    [
        ([0, 0, 0], [0.1, 0.2, 0.3], "only 0s"),
        ([1, 1], [0.1, 0.2], "only 1s"),
        ([0, 1], [0.1, 0.2, 0.3], "different lengths"),
        ([0, 2], [0.1, 0.2], "0 .* and 1"),
        ([0, 1], [0.1, float("nan")], "finite"),
        (None, [0.1, 0.2], "None"),
    ],
)
def test_roc_pr_bad_inputs(y_true, scores, match):
    with pytest.raises(DataError, match=match):
        plot_roc_pr(y_true, scores)


def test_roc_pr_bad_axes():
    fig = Figure()
    with pytest.raises(DataError, match="pair of Axes"):
        plot_roc_pr([0, 1], [0.1, 0.2], ax=fig.add_subplot())
    with pytest.raises(DataError, match="same figure"):
        plot_roc_pr([0, 1], [0.1, 0.2], ax=[fig.axes[0], Figure().add_subplot()])


# ---------------------------------------------------------------------- saving
def test_save_unknown_extension_and_bad_arguments(fitted, tmp_path):
    _, scores, y = fitted
    fig = plot_roc_pr(y, scores)
    for name in ("plot.jpg", "plot", "plot.png.tmp"):
        with pytest.raises(DataError, match=r"\.png, \.svg or \.pdf"):
            save_figure(fig, tmp_path / name)
    with pytest.raises(DataError, match="Figure"):
        save_figure("not a figure", tmp_path / "x.png")
    with pytest.raises(DataError, match="dpi"):
        save_figure(fig, tmp_path / "x.png", dpi=0)
    (tmp_path / "adir.png").mkdir()
    with pytest.raises(DataError, match="directory"):
        save_figure(fig, tmp_path / "adir.png")
    assert [p.name for p in tmp_path.iterdir()] == ["adir.png"]


def test_save_missing_directory_names_it(fitted, tmp_path):
    _, scores, y = fitted
    missing = tmp_path / "no" / "such"
    with pytest.raises(DataError, match="does not exist") as info:
        save_figure(plot_roc_pr(y, scores), missing / "plot.png")
    assert f"'{missing}'" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error, expected", [(RuntimeError, RuntimeError), (OSError, DataError)])
def test_save_is_atomic(fitted, tmp_path, monkeypatch, error, expected):
    _, scores, y = fitted
    fig = plot_roc_pr(y, scores)
    target = tmp_path / "plot.png"

    def broken_savefig(fh, *args, **kwargs):
        fh.write(PNG_SIGNATURE + b"half a picture")
        raise error("disk on fire")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(expected, match="disk on fire"):
        save_figure(fig, target)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one

    target.write_bytes(b"previous plot")
    with pytest.raises(expected):
        save_figure(fig, target)
    assert target.read_bytes() == b"previous plot"  # an existing file is left untouched
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]

    monkeypatch.undo()
    save_figure(fig, target)  # and a working save replaces it
    _check_png(target, fig)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_plots_from_threads(fitted, tmp_path):
    model, scores, y = fitted

    def job(i):
        if i % 2:
            fig = plot_roc_pr(y, scores)
        else:
            fig = plot_score_distribution(scores, y, threshold=model.threshold_)
        return fig, save_figure(fig, tmp_path / f"plot{i}.png")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, range(8)))
    for fig, path in results:
        _check_png(path, fig)
    assert len(list(tmp_path.iterdir())) == 8


def test_score_distribution_legend_is_outside_the_bars_and_explains_the_overlap(fitted):
    model, scores, y = fitted
    fig = _dist_fig(fitted, calibrated=True)
    ax = fig.axes[0]
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.y1 <= axes_box.y0  # below the axes: it cannot cover a bar
    assert any(t.startswith("conformal threshold = ") for t in _legend_texts(ax))
    title = ax.get_legend().get_title().get_text()
    normal_above = 100 * np.mean(scores[y == 0] > model.threshold_)
    assert f"overlap: {normal_above:.1f}% of label 0 above the threshold" in title
    prior = _dist_fig(fitted, calibrated=False).axes[0]
    assert any(t.startswith("prior threshold = ") for t in _legend_texts(prior))


def test_attribution_plot_shows_features_pushing_down_too():
    from types import SimpleNamespace

    from deviation.plots import plot_attributions

    values = np.array([[0.9, -0.5, 0.0, 0.2, -0.1, 0.05]])
    ex = SimpleNamespace(values=values, rows=np.array([7]), scores=np.array([2.0]), baseline_score=0.1,
                         feature_names=["a", "b", "c", "d", "e", "f"])
    fig = plot_attributions(ex, [0], top=2)
    ax = fig.axes[0]
    widths = [bar.get_width() for bar in ax.containers[0]]
    assert widths == [-0.5, -0.1, 0.2, 0.9]  # two down, two up, by value; c (0) is left out
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "e", "d", "a"]
