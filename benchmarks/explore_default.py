"""Search for a better DevNet default than the paper's configuration.

Runs the paper's protocol (30 labeled anomalies, 2% contamination, a new split
per run) on the paper's data sets and the 16 qualifying ``extra/`` sets, for a
list of candidate configurations, and appends one CSV row per data set, run
and configuration to ``--out``. Every candidate sees the same splits.

    python benchmarks/explore_default.py --configs paper quantile --runs 3 --out explore.csv
    python benchmarks/explore_default.py --summary explore.csv

The configurations are named in :data:`CONFIGS`; ``docs/ACCURACY.md`` reports
what the search found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from deviation import DevNet
from deviation.protocol import evaluate_scores, paper_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # reproduction/ lives in the checkout, not installed
from reproduction.data import DATASETS, QUALIFYING_EXTRA, load_dataset, resolve_data_dir  # noqa: E402

#: name -> DevNet keyword arguments. ``preset="paper"`` is the paper's configuration
#: on min-max scaled data; ``scaling`` picks the input scaling inside DevNet.
CONFIGS: dict[str, dict[str, Any]] = {
    "paper": {},
    # the preset as implemented (two networks inside one DevNet, scaling done by DevNet)
    "default": {"preset": "default", "scaling": "none"},
    # the default preset before its networks got a second layer (one hidden layer of 20, learning rate 1e-3)
    "prev_default": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (20,), "learning_rate": 1e-3},
    # below, "d_*": the default preset with one setting changed from prev_default's
    "d_h32": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (32,)},
    "d_h64": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (64,)},
    "d_lr2": {"preset": "default", "scaling": "none", "learning_rate": 2e-3},
    "d_e75": {"preset": "default", "scaling": "none", "epochs": 75},
    "d_l2_3e-3": {"preset": "default", "scaling": "none", "l2": 3e-3},
    "d_b256_e100": {"preset": "default", "scaling": "none", "batch_size": 256, "epochs": 100},
    "d_h64_e100": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (64,), "epochs": 100},
    "d_h128": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (128,)},
    "d_h20x2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (20, 20)},
    "d_h32x2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (32, 32)},
    "d_h64x2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (64, 64)},
    "d_h20x3": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (20, 20, 20)},
    "d_lr3": {"preset": "default", "scaling": "none", "learning_rate": 3e-3},
    "d_h20x2_lr2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (20, 20), "learning_rate": 2e-3},
    "d_h32x2_lr2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (32, 32), "learning_rate": 2e-3},
    "ens_pbins": {"members": [{}, {"scaling": "bins"}]},
    "ens_pqbins": {"members": [{}, {"scaling": "quantile"}, {"scaling": "bins"}]},
    "catboost": {"rival": "catboost"},
    "d_h32_lr2": {"preset": "default", "scaling": "none", "hidden_layer_sizes": (32,), "learning_rate": 2e-3},
    "quantile": {"scaling": "quantile"},
    "both": {"scaling": "both"},
    "uniform": {"scaling": "uniform"},
    "q_h64": {"scaling": "quantile", "hidden_layer_sizes": (64,)},
    "q_e100": {"scaling": "quantile", "epochs": 100},
    "q_l2_1e-3": {"scaling": "quantile", "l2": 1e-3},
    "q_lr3e-3": {"scaling": "quantile", "learning_rate": 3e-3},
    "both_h64": {"scaling": "both", "hidden_layer_sizes": (64,)},
    "both_e100": {"scaling": "both", "epochs": 100},
    # ensembles: the mean of the members' scores
    "ens_pq": {"members": [{}, {"scaling": "quantile"}]},
    "ens_pq_h64": {"members": [{"hidden_layer_sizes": (64,)}, {"scaling": "quantile", "hidden_layer_sizes": (64,)}]},
    "ens_pb": {"members": [{}, {"scaling": "both"}]},
    "ens_pq_lr3": {"members": [{}, {"scaling": "quantile", "learning_rate": 3e-3}]},
    "ens_plr3_qlr3": {"members": [{"learning_rate": 3e-3}, {"scaling": "quantile", "learning_rate": 3e-3}]},
    "ens_p_qh64": {"members": [{}, {"scaling": "quantile", "hidden_layer_sizes": (64,)}]},
    "ens_p_qe100": {"members": [{}, {"scaling": "quantile", "epochs": 100}]},
    "ens_pq_b256": {"members": [{"batch_size": 256, "epochs": 100}, {"scaling": "quantile", "batch_size": 256, "epochs": 100}]},
    "ens_pq_h32": {"members": [{"hidden_layer_sizes": (32,)}, {"scaling": "quantile", "hidden_layer_sizes": (32,)}]},
    "ens_pq_h64_b256": {"members": [{"hidden_layer_sizes": (64,), "batch_size": 256}, {"scaling": "quantile", "hidden_layer_sizes": (64,), "batch_size": 256}]},
    "ens_pq_h32_lr2": {"members": [{"hidden_layer_sizes": (32,), "learning_rate": 2e-3}, {"scaling": "quantile", "hidden_layer_sizes": (32,), "learning_rate": 2e-3}]},
    "ens_pqu": {"members": [{}, {"scaling": "quantile"}, {"scaling": "uniform"}]},
    # choose the scaling on held-out labeled anomalies, then refit on everything
    "val_pq": {"select": [{}, {"scaling": "quantile"}]},
    # the default preset with its number of updates chosen on held-out labeled anomalies, then refit
    "default_val_epochs": {"select": [{"preset": "default", "scaling": "none", "epochs": e} for e in (25, 50, 100)]},
    # the mean of 5 default models, each on a bootstrap resample of the labeled anomalies
    "default_bag5": {"bag": 5, "preset": "default", "scaling": "none"},
    # issue 17, second search (on the two-layer default of today): "c_*" change one setting of "default".
    # "cal": (share, cap) of the unlabeled rows held out for calibration (today (0.2, 5000));
    # "weights": (min-max network, quantile network) weights of the score (today (0.5, 0.5));
    # "combine": "std" weights each network by 1 / std of its scores on the unlabeled training rows
    "c_cal0": {"preset": "default", "scaling": "none", "calibration_size": 0},
    "c_cal10": {"preset": "default", "scaling": "none", "cal": (0.1, 2000)},
    "c_cal5": {"preset": "default", "scaling": "none", "cal": (0.05, 1000)},
    "c_lr3": {"preset": "default", "scaling": "none", "learning_rate": 3e-3},
    "c_lr1.5": {"preset": "default", "scaling": "none", "learning_rate": 1.5e-3},
    "c_e60": {"preset": "default", "scaling": "none", "epochs": 60},
    "c_l2_3e-3": {"preset": "default", "scaling": "none", "l2": 3e-3},
    "c_b256_e100": {"preset": "default", "scaling": "none", "batch_size": 256, "epochs": 100},
    "c_w60": {"preset": "default", "scaling": "none", "weights": (0.6, 0.4)},
    "c_w40": {"preset": "default", "scaling": "none", "weights": (0.4, 0.6)},
    "c_std": {"preset": "default", "scaling": "none", "combine": "std"},
    "c_std_cal10": {"preset": "default", "scaling": "none", "combine": "std", "cal": (0.1, 2000)},
    "c_l2_3e-2": {"preset": "default", "scaling": "none", "l2": 3e-2},
    # issue 17, third search: the unlabeled rows hold anomalies (2% in the protocol); "trim":
    # (mode, share, first epoch, ranking): from that epoch on, in each batch the unlabeled rows
    # ranked highest (share of them) by the network's own deviation ("own"), the mean of both
    # networks' ("joint") or the other network's ("cross") are left out of the loss ("drop"),
    # given the anomalies' hinge instead ("hard") or half of each ("soft")
    "t_drop2": {"preset": "default", "scaling": "none", "trim": ("drop", 0.02, 10, "own")},
    "t_drop5": {"preset": "default", "scaling": "none", "trim": ("drop", 0.05, 10, "own")},
    "t_drop5j": {"preset": "default", "scaling": "none", "trim": ("drop", 0.05, 10, "joint")},
    "t_drop5x": {"preset": "default", "scaling": "none", "trim": ("drop", 0.05, 10, "cross")},
    "t_hard2": {"preset": "default", "scaling": "none", "trim": ("hard", 0.02, 10, "own")},
    "t_soft5": {"preset": "default", "scaling": "none", "trim": ("soft", 0.05, 10, "own")},
    "t_drop10": {"preset": "default", "scaling": "none", "trim": ("drop", 0.10, 10, "own")},
    "t_drop5_e0": {"preset": "default", "scaling": "none", "trim": ("drop", 0.05, 0, "own")},
    # "noise": (share s, rows): Gaussian noise of s times each column's standard deviation among the
    # batch's unlabeled rows added to the batch's labeled anomalies ("anom") or every row ("all")
    "n_a05": {"preset": "default", "scaling": "none", "noise": (0.05, "anom")},
    "n_a10": {"preset": "default", "scaling": "none", "noise": (0.10, "anom")},
    "n_a20": {"preset": "default", "scaling": "none", "noise": (0.20, "anom")},
    "n_all10": {"preset": "default", "scaling": "none", "noise": (0.10, "all")},
    "n_a30": {"preset": "default", "scaling": "none", "noise": (0.30, "anom")},
    "n_a50": {"preset": "default", "scaling": "none", "noise": (0.50, "anom")},
    # "anom_g": the standard deviations of the unlabeled rows the batches draw, computed once
    "n_g20": {"preset": "default", "scaling": "none", "noise": (0.20, "anom_g")},
    "n_g30": {"preset": "default", "scaling": "none", "noise": (0.30, "anom_g")},
    # "anom_s": the standard deviations of the labeled anomalies, computed once
    "n_s30": {"preset": "default", "scaling": "none", "noise": (0.30, "anom_s")},
    "n_s50": {"preset": "default", "scaling": "none", "noise": (0.50, "anom_s")},
    "n_s70": {"preset": "default", "scaling": "none", "noise": (0.70, "anom_s")},
    "n_s20": {"preset": "default", "scaling": "none", "noise": (0.20, "anom_s")},
    "n_s40": {"preset": "default", "scaling": "none", "noise": (0.40, "anom_s")},
    "n_s15": {"preset": "default", "scaling": "none", "noise": (0.15, "anom_s")},
    # "average": the weights kept are an average instead of the lowest-loss epoch's:
    # ("swa", first epoch): the mean of the weights at the end of every epoch from that one on;
    # ("ema", decay): an exponential moving average over the updates
    "w_swa25": {"preset": "default", "scaling": "none", "average": ("swa", 25)},
    "w_swa40": {"preset": "default", "scaling": "none", "average": ("swa", 40)},
    "w_ema99": {"preset": "default", "scaling": "none", "average": ("ema", 0.99)},
    "w_ema995": {"preset": "default", "scaling": "none", "average": ("ema", 0.995)},
    # the library's anomaly_noise (0.3), times these weights for the (min-max, quantile) networks
    "nw_minmax": {"preset": "default", "scaling": "none", "noise_weights": (1.0, 0.0)},
    "nw_quantile": {"preset": "default", "scaling": "none", "noise_weights": (0.0, 1.0)},
    # the default without the noise on the labeled anomalies (as before the third search)
    "c_noise0": {"preset": "default", "scaling": "none", "anomaly_noise": 0},
}

#: the trimming of the running fit ("trim" configurations; None: the library's loss)
_TRIM: dict[str, Any] = {"spec": None, "calls": 0}


def _trimmed_loss(scores: Any, anomalies: Any, mu_r: float, sigma_r: float, margin: float) -> Any:
    losses, grad = _LIBRARY_LOSS(scores, anomalies, mu_r, sigma_r, margin)
    spec = _TRIM["spec"]
    _TRIM["calls"] += 1
    if spec is None:
        return losses, grad
    mode, share, first_epoch, ranking = spec
    if (_TRIM["calls"] - 1) // 20 < first_epoch:
        return losses, grad
    n = scores.shape[1]
    dev = (scores - mu_r) / sigma_r
    unl = np.ones(n, dtype=bool)
    unl[anomalies] = False
    unl_pos = np.flatnonzero(unl)
    k = max(1, int(round(share * len(unl_pos))))
    du = dev[:, unl_pos]
    rank = {"own": du, "joint": np.broadcast_to(du.mean(axis=0), du.shape), "cross": du[::-1]}[ranking]
    top = np.argpartition(-rank, k - 1, axis=1)[:, :k]
    for m in range(2):
        pos = unl_pos[top[m]]
        d = dev[m, pos]
        old = np.abs(d)
        hinge = np.maximum(margin - d, 0.0)
        g_hinge = np.where(margin - d > 0, -1.0, 0.0)
        if mode == "drop":
            new, g = 0.0 * d, 0.0 * d
        elif mode == "hard":
            new, g = hinge, g_hinge
        else:
            new, g = 0.5 * (old + hinge), 0.5 * (np.sign(d) + g_hinge)
        losses[m] += float((new - old).sum()) / n
        grad[m, pos] = (g / (n * sigma_r)).astype(np.float32)
    return losses, grad


import deviation.mlp as _mlp  # noqa: E402
import deviation.training as _training  # noqa: E402

_LIBRARY_LOSS = _mlp._stacked_deviation_loss
_mlp._stacked_deviation_loss = _trimmed_loss
_LIBRARY_PAIR_GRADIENTS = _training.pair_gradients


def _noisy_pair_gradients(batches: Any, anomalies: Any, *args: Any) -> Any:
    spec = _TRIM.get("noise")
    if spec is not None:
        share, which = spec
        rng = _TRIM["rng"]
        unl = np.ones(batches[0].shape[0], dtype=bool)
        unl[anomalies] = False
        noisy = []
        for m, b in enumerate(batches):
            b = b.copy()
            std = _TRIM["std"][m] if which == "anom_g" else _TRIM["std_a"][m] if which == "anom_s" else b[unl].std(axis=0)
            rows = slice(None) if which == "all" else anomalies
            part = b[rows]
            part += (share * std * rng.standard_normal(part.shape)).astype(np.float32)
            b[rows] = part
            noisy.append(b)
        batches = noisy
    return _LIBRARY_PAIR_GRADIENTS(batches, anomalies, *args)


_training.pair_gradients = _noisy_pair_gradients
_LIBRARY_RMSPROP = _training._rmsprop
_LIBRARY_TRAIN_PAIR = _training.train_numpy_pair


class _RecordedPair(_mlp.PairParams):
    def __init__(self, members: Any) -> None:
        super().__init__(members)
        _TRIM["net"], _TRIM["steps"], _TRIM["avg"], _TRIM["count"] = self, 0, None, 0


def _averaging_rmsprop(weights: Any, *args: Any) -> None:
    _LIBRARY_RMSPROP(weights, *args)
    spec, net = _TRIM.get("average"), _TRIM.get("net")
    if spec is None or net is None or weights is not net.flat:
        return
    step = _TRIM["steps"]
    _TRIM["steps"] += 1
    kind, value = spec
    if kind == "ema":
        if _TRIM["avg"] is None:
            _TRIM["avg"] = weights.astype(np.float64)
        else:
            _TRIM["avg"] *= value
            _TRIM["avg"] += (1 - value) * weights
    elif step % 20 == 19 and step // 20 >= value:
        _TRIM["avg"] = weights.astype(np.float64) if _TRIM["avg"] is None else _TRIM["avg"] + weights
        _TRIM["count"] += 1


def _averaged_train_pair(*args: Any, **kwargs: Any) -> Any:
    inputs, rows, labels = args[:3]
    unlabeled = np.unique(rows[:, labels == 0])
    _TRIM["std"] = [X[unlabeled].std(axis=0) for X in inputs]
    _TRIM["std_a"] = [X[np.unique(rows[:, labels == 1])].std(axis=0) for X in inputs]
    results = _LIBRARY_TRAIN_PAIR(*args, **kwargs)
    if _TRIM.get("average") is None:
        return results
    net = _TRIM["net"]
    avg = _TRIM["avg"] / max(_TRIM["count"], 1) if _TRIM["average"][0] == "swa" else _TRIM["avg"]
    net.flat[...] = avg.astype(np.float32)
    return [_training.TrainResult(*net.copy_weights(m), r.loss_curve, r.best_epoch) for m, r in enumerate(results)]


_training.PairParams = _RecordedPair
_training._rmsprop = _averaging_rmsprop
import deviation.estimator as _estimator  # noqa: E402

_estimator.train_numpy_pair = _averaged_train_pair
_LIBRARY_NOISE = _estimator.AnomalyNoise


def _weighted_noise(X: Any, rows: Any, labels: Any, share: float, rng: Any) -> Any:
    weights = _TRIM.get("noise_weights") or (1.0, 1.0)
    m = _TRIM["noise_count"] % 2
    _TRIM["noise_count"] += 1
    return _LIBRARY_NOISE(X, rows, labels, share * weights[m], rng)


_estimator.AnomalyNoise = _weighted_noise


# the d_* variants were run when the default preset's networks had one hidden layer of 20 units
# and learning rate 1e-3: pin what they do not set, so that they stay what was measured
for _name, _cfg in CONFIGS.items():
    if _name.startswith("d_"):
        _cfg.setdefault("hidden_layer_sizes", (20,))
        _cfg.setdefault("learning_rate", 1e-3)


def _fit_score(params: dict[str, Any], X_train: Any, y_train: Any, X_test: Any, seed: int) -> np.ndarray:
    params = {"preset": "paper", **params}
    kind = params.pop("scaling", "minmax")
    cal = params.pop("cal", None)
    weights = params.pop("weights", None)
    combine = params.pop("combine", None)
    _TRIM["spec"], _TRIM["calls"] = params.pop("trim", None), 0
    _TRIM["noise"], _TRIM["rng"] = params.pop("noise", None), np.random.default_rng(seed)
    _TRIM["average"], _TRIM["net"] = params.pop("average", None), None
    _TRIM["noise_weights"], _TRIM["noise_count"] = params.pop("noise_weights", None), 0
    if cal is not None:  # "auto" with another share and cap
        params["calibration_size"] = min(int(round(cal[0] * int(np.sum(y_train == 0)))), cal[1])
    Xa, Xb = _scale(kind, X_train, X_test)
    model = DevNet(random_state=seed, **params).fit(Xa, y_train)
    if (weights is not None or combine is not None) and model.n_networks_ == 2:
        last = model.coefs_[-1]
        h = last.shape[0] // 2  # rows of the min-max network, then the quantile network's
        if combine == "std":
            stds = []
            for m in range(2):
                keep = last.copy()
                keep[(1 - m) * h:(2 - m) * h] = 0
                model.coefs_[-1] = keep
                stds.append(float(np.std(model.decision_function(Xa[y_train == 0]))) + 1e-12)
            inv = np.array([1 / stds[0], 1 / stds[1]])
            weights = tuple(inv / inv.sum())
        new = last.copy()
        new[:h] *= np.float32(2 * weights[0])
        new[h:] *= np.float32(2 * weights[1])
        model.coefs_[-1] = new
    return model.decision_function(Xb)


def _run_config(cfg: dict[str, Any], X_train: Any, y_train: Any, X_test: Any, rng: Any) -> np.ndarray:
    if "rival" in cfg:
        from deviation.rivals import CatBoostRival

        model = CatBoostRival(max_train_rows=50_000, random_state=int(rng.integers(2**31 - 1)))
        return model.fit(X_train, y_train).decision_function(X_test)
    if "members" in cfg:
        return np.mean([_fit_score(m, X_train, y_train, X_test, int(rng.integers(2**31 - 1))) for m in cfg["members"]], axis=0)
    if "bag" in cfg:
        params = {k: v for k, v in cfg.items() if k != "bag"}
        anom, unl = np.flatnonzero(y_train == 1), np.flatnonzero(y_train == 0)
        scores = []
        for _ in range(cfg["bag"]):
            rows = np.r_[unl, rng.choice(anom, size=len(anom), replace=True)]
            scores.append(_fit_score(params, X_train[rows], y_train[rows], X_test, int(rng.integers(2**31 - 1))))
        return np.mean(scores, axis=0)
    if "select" in cfg:
        from sklearn.metrics import average_precision_score

        anom = rng.permutation(np.flatnonzero(y_train == 1))
        unl = rng.permutation(np.flatnonzero(y_train == 0))
        va = np.r_[anom[: len(anom) // 3], unl[: len(unl) // 3]]
        tr = np.setdiff1d(np.arange(len(y_train)), va)
        best, best_ap = None, -1.0
        for cand in cfg["select"]:
            s = _fit_score(cand, X_train[tr], y_train[tr], X_train[va], int(rng.integers(2**31 - 1)))
            ap = average_precision_score(y_train[va], s)
            if ap > best_ap:
                best, best_ap = cand, ap
        return _fit_score(best, X_train, y_train, X_test, int(rng.integers(2**31 - 1)))
    return _fit_score(cfg, X_train, y_train, X_test, int(rng.integers(2**31 - 1)))


def _scale(kind: str, X_train: Any, X_test: Any) -> tuple[Any, Any]:
    """Extra scaling on top of min-max, fitted on the training part."""
    if kind in ("minmax", "none") or hasattr(X_train, "tocsr"):
        return X_train, X_test
    from sklearn.preprocessing import KBinsDiscretizer, QuantileTransformer

    binary = np.all((X_train == 0) | (X_train == 1), axis=0)
    cont = np.flatnonzero(~binary)
    if cont.size == 0:
        return X_train, X_test
    if kind == "bins":
        kb = KBinsDiscretizer(n_bins=10, encode="onehot-dense", strategy="quantile", subsample=100_000,
                              quantile_method="averaged_inverted_cdf").fit(X_train[:, cont])
        return tuple(np.hstack([X[:, binary], kb.transform(X[:, cont])]).astype(np.float32) for X in (X_train, X_test))
    qt = QuantileTransformer(
        n_quantiles=min(1000, X_train.shape[0]),
        output_distribution="uniform" if kind == "uniform" else "normal",
        subsample=100_000,
        random_state=0,
    ).fit(X_train[:, cont])
    out = []
    for X in (X_train, X_test):
        Q = qt.transform(X[:, cont]).astype(np.float32)
        if kind == "both":
            out.append(np.hstack([X, Q]))
        else:
            Z = X.copy()
            Z[:, cont] = Q
            out.append(Z)
    return out[0], out[1]


def _tasks(names: list[str], runs: int, seed: int) -> list[tuple[str, int]]:
    return [(name, run) for name in names for run in range(runs)]


def _one(name: str, run: int, configs: list[str], seed: int, data_dir: Any) -> list[dict[str, Any]]:
    data = load_dataset(name, data_dir)
    rng = np.random.default_rng([seed, run, sum(map(ord, name))])
    split = paper_split(data.X, data.y, rng)
    # extra/ sets are stored unscaled: min-max on the training part, as the paper's files were
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler

    scaler = MaxAbsScaler() if hasattr(split.X_train, "tocsr") else MinMaxScaler()
    X_train = scaler.fit_transform(split.X_train)
    X_test = scaler.transform(split.X_test)
    rows = []
    for cfg in configs:
        start = time.perf_counter()
        scores = _run_config(CONFIGS[cfg], X_train, split.y_train, X_test, rng)
        fit_s = time.perf_counter() - start
        rows.append({"dataset": name, "run": run, "config": cfg, "fit_s": fit_s, **evaluate_scores(split.y_test, scores)})
    return rows


def summary(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    df["group"] = np.where(df.dataset.isin(DATASETS), "paper", "extra")
    per = df.groupby(["group", "dataset", "config"])[["auc_roc", "auc_pr", "fit_s"]].mean()
    table = per.auc_pr.unstack("config").round(3)
    means = per.groupby(["group", "config"]).mean().round(3)
    print(table.to_string())
    print(means.to_string())
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--datasets", nargs="+", default=[*QUALIFYING_EXTRA, *DATASETS])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("explore.csv"))
    parser.add_argument("--summary", type=Path, default=None)
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    data_dir = resolve_data_dir()
    results = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(_one)(name, run, args.configs, args.seed, data_dir) for name, run in _tasks(args.datasets, args.runs, args.seed)
    )
    frame = pd.DataFrame([row for rows in results for row in rows])
    frame.to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
    summary(args.out)


if __name__ == "__main__":
    main()
