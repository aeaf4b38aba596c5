"""DevNet: the scikit-learn estimator of Deviation Networks (Pang, Shen and van den Hengel, KDD 2019)."""

from __future__ import annotations

import glob
import logging
import numbers
import os
import sys
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.metrics import average_precision_score
from sklearn.utils import Tags, TargetTags
from sklearn.utils.validation import validate_data

from ._devnet_params import DEVNET_CONSTRAINTS, resolved_anomaly_noise, resolved_l2
from ._limits import MAX_ABS_VALUE as _MAX_ABS_VALUE
from ._limits import SEED_BOUND, WIDE_SPARSE_COLUMNS
from ._memory import check_allocation
from ._params import validate_params
from .augment import AnomalyNoise
from .calibration import (
    calibration_rows,
    check_resolution,
    checked_calibration_scores,
    conformal_p_values,
    conformal_threshold,
    drift_report,
    prior_p_values,
)
from .exceptions import DataError, FeatureMismatchError, NotFittedError, ParameterError
from .features import N_QUANTILES, InputView, column_extremes
from .kernels import for_rows
from .loss import draw_reference
from .mlp import forward_numpy, glorot_uniform_init, merge_networks, network_members, score_dense
from .quantile_map import LUT_MAX
from .sampling import balanced_batches
from .training import TrainConfig, require_torch, train_numpy, train_numpy_pair, train_torch

logger = logging.getLogger(__name__)

__all__ = ["DevNet"]

# WIDE_SPARSE_COLUMNS (sparse input wider than this trains on sparse batches) and
# _MAX_ABS_VALUE (beyond it float32 overflows in the first layer) come from _limits.
#: Each fitted DevNet's member networks (see DevNet._members), with the arrays they were split from.
_MEMBERS: "weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], Any]]" = weakref.WeakKeyDictionary()
_SCORE_CHUNK = 8192
_SCORE_THREADS = min(4, os.cpu_count() or 1)

#: Hidden layer sizes and learning rate that ``None`` stands for: "default" for each of the
#: default preset's two networks, "paper" for the paper's (and any single) network.
PRESET_NETWORKS: dict[str, tuple[tuple[int, ...], float]] = {
    "default": ((20, 20), 2e-3),
    "paper": ((20,), 1e-3),
}


class DevNet(BaseEstimator):
    """Deviation Networks: anomaly scores learned from a few labeled anomalies.

    A ReLU network ``phi`` maps each row to a scalar score. Training pushes the
    scores of unlabeled rows towards a reference drawn from a Gaussian prior
    ``N(prior_mean, prior_std^2)`` and the scores of labeled anomalies at least
    ``margin`` standard deviations above it (the deviation loss, paper eq. 7).
    Scores are therefore on the z scale of the prior (Proposition 4.1 reads a
    score above 1.645 as p < 0.05), but real scores of normal rows do not
    follow the prior closely enough for that p-value to be trusted. So ``fit``
    holds a calibration part of the unlabeled rows out of training and keeps
    their scores: :meth:`p_values` are split-conformal p-values against them
    (Bates, Candes, Lei, Romano and Sesia, Annals of Statistics 2023) and
    :meth:`predict` flags rows whose p-value is at most ``1 - confidence``
    (``docs/decisions.md``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or None, default=None
        Units of the ReLU hidden layers. ``()`` is the linear variant,
        ``(1000, 250, 20)`` the deep one of the paper's ablation. ``None``
        takes the preset's: ``(20, 20)`` for each network of ``"default"``
        on input with at least as many continuous columns as binary ones,
        ``(20,)`` (the paper's) otherwise.
    preset : {"default", "paper"}, default="default"
        ``"paper"`` is exactly the paper's model: one network of 20 ReLU
        units trained on ``X`` as given (scale it to [0, 1] first, as the
        paper did). ``"default"`` scales dense input itself and trains two
        networks, one on the min-max scaled columns and one on the same
        columns with every continuous column (one with a value other than 0
        and 1) mapped to a normal distribution by its training quantiles
        (binary columns as they are); the score is the mean of their scores,
        still on the z scale of the prior. Each network has two hidden layers
        of 20 units at learning rate 2e-3 when the continuous columns are at
        least as many as the binary ones, else it is the paper's (one layer
        of 20, 1e-3), which did better on binary and one-hot columns; both
        see the labeled anomalies with noise (``anomaly_noise="auto"``). It is
        more accurate on most data sets, as accurate as the paper's model
        when irrelevant columns are added, and costs 2 to 3 times the paper's
        fit time (``docs/ACCURACY.md``, ``docs/BENCHMARKS.md``). The two networks are stored as one
        (block-diagonal hidden layers). Sparse input, and dense input without
        a continuous column, train the paper's single network (after min-max
        scaling for dense input).
    margin : float, default=5.0
        The deviation ``a`` labeled anomalies must reach (``a`` in eq. 7).
    prior_mean, prior_std : float, default=0.0, 1.0
        Parameters of the Gaussian prior of the scores of normal rows.
    n_reference : int, default=5000
        Number of reference scores ``l`` drawn from the prior, once per fit.
    epochs : int, default=50
    batches_per_epoch : int, default=20
        ``epochs * batches_per_epoch`` updates whatever the data size (1,000).
    batch_size : int, default=512
        Even; every batch is half labeled anomalies and half unlabeled rows,
        drawn uniformly with replacement.
    learning_rate : float or None, default=None
        RMSprop step size. ``None`` takes the preset's: 2e-3 for the two
        deeper networks of ``"default"``, 1e-3 (the paper's) otherwise.
    rho : float, default=0.9
        RMSprop decay of the squared-gradient average (Keras ``rho``).
    epsilon : float, default=1e-7
        RMSprop epsilon, added outside the square root as in Keras.
    l2 : float or None, default=None
        Penalty ``l2 * sum(W**2)`` on each hidden kernel, added to the loss.
        ``None`` takes the preset's: 0.01 (the authors' code) for the paper's
        network; for the default preset's two deeper networks (input with at
        least as many continuous columns as binary ones, whatever
        ``hidden_layer_sizes``), 0.01 on 1,000 or more unlabeled training rows
        and ``10 / n_unlabeled`` below, at most 0.03 (from 333 rows down):
        the 1,000 updates of a fit draw each row of a small training set
        hundreds of times, and the stronger
        penalty keeps the deeper networks from memorising it (pima -0.03 to
        about 0 against the paper's model, ``docs/ACCURACY.md``,
        :func:`deviation._devnet_params.resolved_l2`). The penalty used is ``l2_``.
    clipnorm : float or None, default=1.0
        Clip the gradients to this global norm before each update.
    restore_best : bool, default=True
        Keep the weights of the epoch with the lowest mean training loss (as
        the authors' code does); ``False`` keeps the last epoch's.
    anomaly_noise : "auto" or float, default="auto"
        Gaussian noise added to the labeled anomalies of every training batch,
        as a share of each input column's standard deviation among the
        labeled anomalies (:mod:`deviation.augment`; not in the paper). It
        keeps a network from fitting only the exact points it was shown.
        ``"auto"``: 0.3 for the default preset's two networks (+0.015 mean
        AUC-PR on the search's data sets, ``docs/ACCURACY.md``), 0 for a
        single network (``preset="paper"``, sparse input, dense input without
        a continuous column), so the paper preset trains as before. A float
        in [0, 10] applies to every network; above 0 it needs dense input
        (``ValueError`` otherwise). The share used is ``anomaly_noise_``.
    confidence : float, default=0.95
        Confidence level of :meth:`predict`: a row is flagged when its
        conformal p-value is at most ``1 - confidence`` (at most 5% of normal
        rows flagged, in expectation, at 0.95). Without calibration scores it
        is flagged when its score exceeds the upper ``confidence`` quantile of
        the prior (1.645 with the default prior).
    calibration_size : "auto", int or float, default="auto"
        Unlabeled rows held out of training to calibrate the p-values (labeled
        anomalies never are). ``"auto"``: 20% of the unlabeled rows, at most
        5,000, none when that is fewer than 19 (then the prior's p-values are
        used, with a warning). An int: that many rows; ``0`` switches the
        hold-out off and trains on every row exactly as before calibration
        existed (the paper's protocol in ``reproduction/`` does). A float in
        (0, 1): that share of the unlabeled rows. The rows are drawn from a
        random stream of their own (a child of ``random_state``). No training
        batch draws them; the default preset's input view (min-max range and
        quantiles) is fitted on every row, as the command line's Preprocessor
        is: unsupervised statistics, shared by the rows to score.
    engine : {"auto", "numpy", "torch"}, default="auto"
        ``"numpy"`` is a lean hand-written training step (CPU only, several
        times faster for these small networks); ``"torch"`` uses autograd on
        any device. ``"auto"`` picks numpy on the CPU and torch on CUDA.
    device : str, default="auto"
        ``"auto"`` picks CUDA when present, else the CPU; or any torch device
        string such as ``"cpu"`` or ``"cuda:0"``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds weight initialisation, batch sampling and the reference draws.
        The same integer gives identical scores; the global random state is
        never touched.
    verbose : bool, default=False
        Log each epoch's mean loss through :mod:`logging` (logger
        ``deviation.estimator``) at INFO level.

    Attributes
    ----------
    coefs_ : list of ndarray
        Kernels of shape (in, out) of each layer, output layer last (float32).
    intercepts_ : list of ndarray
        Biases of each layer (float32).
    reference_mean_, reference_std_ : float
        ``mu_R`` and ``sigma_R`` of the reference draws used in training.
    threshold_ : float
        Score above which :meth:`predict` flags a row: the cut-off of the
        conformal p-value at ``1 - confidence`` (``+inf`` when the calibration
        set is too small for that level), or the prior's quantile without
        calibration scores.
    calibration_scores_ : ndarray of shape (n_calibration,), float64, or None
        Sorted scores of the held-out calibration rows (or of the rows given to
        :meth:`calibrate`); None without a calibration set (and absent in
        model files written before calibration existed).
    calibration_drift_ : DriftReport or None
        Set by :meth:`calibrate`: how far the new calibration scores moved
        from the previous ones (None when there were none before).
    loss_curve_ : list of float
        Mean training loss (deviation loss plus L2) of each epoch.
    best_epoch_ : int
        Index of the epoch whose weights were kept.
    hidden_layer_sizes_ : tuple of int
        Hidden layer sizes of each network: ``hidden_layer_sizes`` or the preset's.
    learning_rate_ : float
        The learning rate used: ``learning_rate`` or the preset's.
    l2_ : float
        The L2 penalty used: ``l2`` or the preset's for this training set.
    anomaly_noise_ : float
        The share of noise on the labeled anomalies used (``anomaly_noise``
        resolved; 0 in models saved before the parameter existed).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` in ``fit`` was a DataFrame with string column names.
    n_labeled_anomalies_, n_unlabeled_ : int
        Rows with ``y == 1`` and ``y == 0`` trained on in ``fit`` (the
        calibration rows are not counted in ``n_unlabeled_``).
    device_, engine_ : str
        Where and how the model was trained.
    baseline_ : ndarray of shape (n_features_in_,), float32
        Mean of the unlabeled rows given to ``fit`` (the calibration rows
        included): the default reference point of
        :func:`deviation.explain.explain`.
    view_ : InputView or None
        The fitted input scaling of ``preset="default"`` (``None`` for
        ``"paper"`` and sparse input): the network reads ``view_.transform(X)``.
    n_networks_ : int
        Networks averaged in the score (2 for the default preset on data with
        a continuous column, else 1). ``best_epoch_`` is the first one's.

    Notes
    -----
    Conventions differ from scikit-learn's unsupervised outlier detectors
    (``IsolationForest`` and friends), on purpose, to match the labels ``y``:
    here ``decision_function`` is *higher for more anomalous* rows and
    ``predict`` returns 1 for anomalies and 0 for normal rows, where those
    detectors return lower scores and -1 for outliers. To use DevNet where the
    other convention is expected, take ``-decision_function(X)`` and
    ``1 - 2 * predict(X)``.

    ``X`` must be numeric and finite: missing values are rejected here and
    imputed by :class:`deviation.preprocess.Preprocessor` when it is used in
    front of the estimator (as the command line does).

    Examples
    --------
    >>> from deviation import DevNet, load_thyroid
    >>> X, y = load_thyroid(return_X_y=True)
    >>> model = DevNet(random_state=0).fit(X, y)
    >>> scores = model.decision_function(X)
    >>> model.calibration_scores_.shape  # 20% of the 6,666 unlabeled rows, held out of training
    (1333,)
    >>> flagged = model.predict(X)
    >>> bool(((model.p_values(X) <= 0.05) == flagged.astype(bool)).all())
    True
    >>> bool(scores[y == 1].mean() > scores[y == 0].mean())
    True
    """

    #: What each parameter accepts (see :mod:`deviation._params`); checked by :meth:`fit`.
    _parameter_constraints: dict[str, list[Any]] = DEVNET_CONSTRAINTS

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] | None = None,
        *,
        preset: str = "default",
        margin: float = 5.0,
        prior_mean: float = 0.0,
        prior_std: float = 1.0,
        n_reference: int = 5000,
        epochs: int = 50,
        batches_per_epoch: int = 20,
        batch_size: int = 512,
        learning_rate: float | None = None,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        l2: float | None = None,
        clipnorm: float | None = 1.0,
        restore_best: bool = True,
        anomaly_noise: str | float = "auto",
        confidence: float = 0.95,
        calibration_size: str | int | float = "auto",
        engine: str = "auto",
        device: str = "auto",
        random_state: int | np.random.Generator | None = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.preset = preset
        self.margin = margin
        self.prior_mean = prior_mean
        self.prior_std = prior_std
        self.n_reference = n_reference
        self.epochs = epochs
        self.batches_per_epoch = batches_per_epoch
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.rho = rho
        self.epsilon = epsilon
        self.l2 = l2
        self.clipnorm = clipnorm
        self.restore_best = restore_best
        self.anomaly_noise = anomaly_noise
        self.confidence = confidence
        self.calibration_size = calibration_size
        self.engine = engine
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        epoch_callback: Callable[[int, float], None] | None = None,
    ) -> "DevNet":
        """Train the scoring network.

        Parameters
        ----------
        X : array-like, pandas DataFrame or scipy.sparse matrix of shape (n_samples, n_features)
            Numeric, finite features. Sparse input stays sparse; only the rows
            of each batch are made dense.
        y : array-like of shape (n_samples,)
            1 for a labeled anomaly, 0 for an unlabeled row. At least one of each.
            ``calibration_size`` of the unlabeled rows are held out of training
            and scored for :attr:`calibration_scores_`.
        epoch_callback : callable, optional
            Called as ``epoch_callback(epoch, mean_loss)`` after each epoch
            of each network (the command line uses it for its progress bar):
            ``epochs * n_networks_`` calls, ``epoch`` counting on from one
            network to the next (the second network's epoch ``k`` is
            ``epochs + k``). The numpy engine trains the default preset's two
            networks together, so their calls alternate; the torch engine
            trains them one after the other.

        Returns
        -------
        self : DevNet
        """
        self._validate_params()
        X = self._validate_X(X, reset=True, check_magnitude=False)
        # the default preset's input view reads each column's extremes: one pass over X for both
        extremes = column_extremes(X) if self.preset == "default" and not sp.issparse(X) else None
        _check_magnitude(X, extremes)
        y = _validate_y(y, X.shape[0])
        anomaly_idx = np.flatnonzero(y == 1)
        unlabeled_idx = np.flatnonzero(y == 0)
        if len(anomaly_idx) == 0:
            raise DataError(
                "y has no labeled anomaly (no row with y == 1); DevNet needs at least one. "
                "Mark the known anomalies with 1."
            )
        if len(unlabeled_idx) == 0:
            raise DataError(
                "y has no unlabeled row (no row with y == 0); DevNet needs unlabeled data "
                "to learn what normal looks like. Mark the rows you have not labeled with 0."
            )

        self.device_, self.engine_ = self._resolve_device_engine()
        check_allocation(
            _fit_bytes(X, self, 2 if self.preset == "default" and not sp.issparse(X) else 1),
            f"training DevNet on {X.shape[0]:,} rows x {X.shape[1]:,} feature columns",
            "use fewer feature columns (drop rare features or high-cardinality columns) or fewer rows "
            "(deviation fit --sample-size N), or a machine with more memory",
        )
        rng = _make_rng(self.random_state)
        # the explanations' reference point: every unlabeled row, the held-out ones included
        baseline = _column_means(X, unlabeled_idx)
        calibration_idx = None
        n_calibration = calibration_rows(len(unlabeled_idx), self.calibration_size)
        if n_calibration:
            # no batch draws a calibration row; X is not copied (the input view's statistics,
            # like the Preprocessor's, are unsupervised and use every row)
            calibration_idx = _draw_calibration(unlabeled_idx, n_calibration, rng)
            unlabeled_idx = np.setdiff1d(unlabeled_idx, calibration_idx, assume_unique=True)
        view = None
        if self.preset == "default" and not sp.issparse(X):
            view = InputView.fit(X, rng, extremes=extremes)
        n_views = 2 if view is not None and view.n_continuous else 1
        hidden, learning_rate = self._network_settings(n_views, view)
        l2 = self._l2_penalty(n_views, view, len(unlabeled_idx))
        noise_share = self._noise_share(n_views)
        if noise_share and sp.issparse(X):
            raise ValueError(
                f"anomaly_noise={self.anomaly_noise!r} needs dense input and X is sparse; pass a dense array, "
                "or anomaly_noise=0 or 'auto' (on the command line --anomaly-noise 0 or auto), which add no "
                "noise to sparse input."
            )
        config = TrainConfig(
            margin=float(self.margin),
            l2=l2,
            learning_rate=learning_rate,
            rho=float(self.rho),
            epsilon=float(self.epsilon),
            clipnorm=None if self.clipnorm is None else float(self.clipnorm),
            epochs=int(self.epochs),
            batches_per_epoch=int(self.batches_per_epoch),
            restore_best=bool(self.restore_best),
        )
        callback = self._epoch_logger(epoch_callback)
        logger.debug(
            "fit: %d rows (%d labeled anomalies), %d features, preset=%s, engine=%s, device=%s",
            X.shape[0], len(anomaly_idx), X.shape[1], self.preset, self.engine_, self.device_,
        )
        # a diverging fit overflows on its way to a non-finite loss, which training turns into one
        # DataError ("training diverged"): NumPy's warnings on the way would only add noise
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if n_views == 2:
                results, mu_r, sigma_r = self._train_views(
                    X, view, anomaly_idx, unlabeled_idx, hidden, config, rng, callback, noise_share
                )
            else:
                result, mu_r, sigma_r = self._train_one(
                    X if view is None else view.minmax(X), anomaly_idx, unlabeled_idx, hidden, config, rng,
                    callback, noise_share,
                )
                results = [result]
        if len(results) == 1:
            coefs, intercepts = results[0].coefs, results[0].intercepts
        else:
            coefs, intercepts = merge_networks([(r.coefs, r.intercepts) for r in results])

        self.view_ = view
        self.n_networks_ = len(results)
        self.hidden_layer_sizes_ = hidden
        self.learning_rate_ = learning_rate
        self.l2_ = l2
        self.anomaly_noise_ = noise_share
        self.baseline_ = baseline
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        self.loss_curve_ = [float(v) for v in np.mean([r.loss_curve for r in results], axis=0)]
        self.best_epoch_ = results[0].best_epoch
        self.reference_mean_ = mu_r
        self.reference_std_ = sigma_r
        self.n_labeled_anomalies_ = int(len(anomaly_idx))
        self.n_unlabeled_ = int(len(unlabeled_idx))
        self.calibration_scores_ = (
            None if calibration_idx is None else np.sort(self._score_validated(X[calibration_idx]))
        )
        self.threshold_ = self._threshold()
        if self.calibration_scores_ is not None:
            check_resolution(len(self.calibration_scores_), 1.0 - float(self.confidence))
        return self

    def calibrate(self, X: Any, y: Any = None) -> "DevNet":
        """Replace the calibration scores with those of fresh, mostly normal rows, without retraining.

        Use recent traffic (e.g. last week's rows) when the data has moved
        since training, or to give a model loaded from an old file (which has
        no calibration scores) conformal p-values. The p-values are valid for
        new rows exchangeable with these; known anomalies among them only make
        the p-values conservative, and rows labeled 1 in ``y`` are left out.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
            Rows not used in training.
        y : array-like of shape (n_samples,), optional
            1 for a known anomaly (left out), 0 for other rows.

        Returns
        -------
        self : DevNet
            With new :attr:`calibration_scores_` and :attr:`threshold_`, and
            :attr:`calibration_drift_` comparing them with the previous
            calibration scores (Kolmogorov-Smirnov two-sample test; a warning
            is logged when they moved).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        DataError
            When no row is left to calibrate on.
        """
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        if y is not None:
            y = _validate_y(y, X.shape[0])
            X = X[np.flatnonzero(y == 0)]
        if X.shape[0] == 0:
            raise DataError("no row to calibrate on: every row of y is a known anomaly (1); pass mostly normal rows.")
        new = np.sort(self._score_validated(X))
        old = getattr(self, "calibration_scores_", None)
        alpha = 1.0 - float(self.confidence)
        self.calibration_drift_ = None if old is None else drift_report(old, new, self.threshold_, alpha)
        self.calibration_scores_ = new
        self.threshold_ = self._threshold()
        if self.calibration_drift_ is not None:
            log = logger.warning if self.calibration_drift_.drifted else logger.info
            log("%s", self.calibration_drift_.message())
        check_resolution(len(new), alpha)
        return self

    #: Fitted attributes :meth:`from_fitted` needs (``feature_names_in_``, ``view_``,
    #: ``baseline_``, ``n_networks_``, ``calibration_scores_`` and ``l2_`` are optional).
    FITTED_ATTRIBUTES: tuple[str, ...] = (
        "coefs_", "intercepts_", "n_features_in_", "best_epoch_", "n_labeled_anomalies_", "n_unlabeled_",
        "reference_mean_", "reference_std_", "threshold_", "loss_curve_", "device_", "engine_",
    )

    @classmethod
    def from_fitted(cls, params: dict[str, Any], fitted: dict[str, Any]) -> "DevNet":
        """Rebuild a fitted DevNet from its parameters and fitted attributes, without training.

        This is how a model file is turned back into a model
        (:func:`deviation.load`): the result scores exactly like the DevNet whose
        attributes were given.

        Parameters
        ----------
        params : dict
            Constructor parameters (as ``get_params()`` returns them).
        fitted : dict
            The fitted attributes named in :attr:`FITTED_ATTRIBUTES`, plus
            optionally ``n_networks_`` (default 1), ``view_`` (default None),
            ``feature_names_in_``, ``baseline_``, ``calibration_scores_``
            (default None: p-values from the prior) and ``l2_`` (default: the
            penalty ``l2`` resolves to for ``n_unlabeled_`` rows).
            ``hidden_layer_sizes_``, ``learning_rate_`` and ``anomaly_noise_``
            are derived from the parameters.

        Returns
        -------
        DevNet
            The fitted estimator.

        Raises
        ------
        ParameterError
            If ``params`` are not valid DevNet parameters.
        ValueError
            If an attribute is missing or the weights do not have the float32
            shapes the parameters, ``n_features_in_``, ``view_`` and
            ``n_networks_`` imply.
        """
        model = cls(**params)
        model._validate_params()
        missing = [name for name in cls.FITTED_ATTRIBUTES if name not in fitted]
        if missing:
            raise ValueError(f"fitted attributes {missing} are missing")
        optional = {"n_networks_", "view_", "feature_names_in_", "baseline_", "calibration_scores_", "l2_"}
        unknown = sorted(set(fitted) - set(cls.FITTED_ATTRIBUTES) - optional)
        if unknown:
            raise ValueError(f"unknown fitted attributes {unknown}")
        n_networks = int(fitted.get("n_networks_", 1))
        view = fitted.get("view_")
        hidden, learning_rate = model._network_settings(n_networks, view)
        n_inputs = int(fitted["n_features_in_"]) if view is None else view.n_features_out
        sizes = [n_inputs, *(h * n_networks for h in hidden), 1]
        coefs, intercepts = list(fitted["coefs_"]), list(fitted["intercepts_"])
        if len(coefs) != len(sizes) - 1 or len(intercepts) != len(sizes) - 1:
            raise ValueError(
                f"{len(coefs)} kernels and {len(intercepts)} biases are inconsistent with the layer sizes {sizes}"
            )
        for k in range(len(sizes) - 1):
            for kind, array, shape in (("coef", coefs[k], (sizes[k], sizes[k + 1])),
                                       ("intercept", intercepts[k], (sizes[k + 1],))):
                array = np.asarray(array)
                if array.dtype != np.float32 or array.shape != shape:
                    raise ValueError(
                        f"{kind}_{k} is {array.dtype} of shape {array.shape}, inconsistent with the layer sizes "
                        f"{sizes}, which expect float32 of shape {shape}"
                    )
        baseline = fitted.get("baseline_")
        if baseline is not None:
            baseline = np.asarray(baseline)
            if baseline.dtype != np.float32 or baseline.shape != (int(fitted["n_features_in_"]),):
                raise ValueError(
                    f"baseline is {baseline.dtype} of shape {baseline.shape}, inconsistent with n_features_in_, "
                    f"which expects float32 of shape ({int(fitted['n_features_in_'])},)"
                )
        model.view_ = view
        model.n_networks_ = n_networks
        model.hidden_layer_sizes_ = hidden
        model.learning_rate_ = learning_rate
        # the penalty trained with when given (model files store it), else the rule's
        model.l2_ = (float(fitted["l2_"]) if fitted.get("l2_") is not None
                     else model._l2_penalty(n_networks, view, int(fitted["n_unlabeled_"])))
        model.anomaly_noise_ = model._noise_share(n_networks)
        model.coefs_ = [np.array(c, dtype=np.float32, order="C", copy=True) for c in coefs]
        model.intercepts_ = [np.array(b, dtype=np.float32, order="C", copy=True) for b in intercepts]
        if baseline is not None:
            model.baseline_ = np.array(baseline, dtype=np.float32, copy=True)
        for name in cls.FITTED_ATTRIBUTES[2:]:
            setattr(model, name, fitted[name])
        if fitted.get("feature_names_in_") is not None:
            model.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
        model.calibration_scores_ = checked_calibration_scores(fitted.get("calibration_scores_"))
        return model

    def _network_settings(
        self, n_networks: int, view: InputView | None = None
    ) -> tuple[tuple[int, ...], float]:
        """Hidden layer sizes and learning rate of each network: the parameters, or the preset's.

        The default preset's deeper networks at the higher rate apply to its two views
        when the input has at least as many continuous columns as binary ones. A single
        network (paper preset, sparse input, no continuous column), and each of the two
        networks on mostly binary input, is the paper's: on binary and one-hot columns the
        second hidden layer and the higher rate lost accuracy (celeba, backdoor, campaign,
        the bank-transactions table; docs/ACCURACY.md). Model files written before that rule
        have no binary columns in their view, so they keep the deeper networks they were
        trained with.
        """
        hidden, learning_rate = PRESET_NETWORKS["default" if self._deeper(n_networks, view) else "paper"]
        if self.hidden_layer_sizes is not None:
            hidden = tuple(int(h) for h in self.hidden_layer_sizes)
        if self.learning_rate is not None:
            learning_rate = float(self.learning_rate)
        return hidden, learning_rate

    def _deeper(self, n_networks: int, view: InputView | None) -> bool:
        """Whether the preset's networks are the default's deeper ones (see :meth:`_network_settings`)."""
        mostly_binary = view is not None and view.n_binary > view.n_continuous
        return self.preset == "default" and n_networks == 2 and not mostly_binary

    def _l2_penalty(self, n_networks: int, view: InputView | None, n_unlabeled: int) -> float:
        """The ``l2`` of this fit: the parameter, or the preset's for ``n_unlabeled`` training rows."""
        return resolved_l2(self.l2, self._deeper(n_networks, view), n_unlabeled)

    def _noise_share(self, n_networks: int) -> float:
        """The ``anomaly_noise`` of this fit: the parameter, or 0.3 for the default's two networks and 0 otherwise."""
        return resolved_anomaly_noise(self.anomaly_noise, self.preset, n_networks)

    def _train_views(
        self,
        X: np.ndarray,
        view: InputView,
        anomaly_idx: np.ndarray,
        unlabeled_idx: np.ndarray,
        hidden: tuple[int, ...],
        config: TrainConfig,
        rng: np.random.Generator,
        callback: Callable[[int, float], None],
        noise_share: float = 0.0,
    ) -> tuple[list[Any], float, float]:
        """Train the default preset's two networks, one per view, on the same batches of rows."""
        n_quantile_inputs = view.n_features_out - view.n_features_in  # its continuous columns, then binary ones
        members = [glorot_uniform_init(rng, n_in, hidden) for n_in in (view.n_features_in, n_quantile_inputs)]
        mu_r, sigma_r = draw_reference(rng, self.n_reference, self.prior_mean, self.prior_std)
        n_steps = self.epochs * self.batches_per_epoch
        rows, labels = balanced_batches(rng, unlabeled_idx, anomaly_idx, n_steps, self.batch_size)
        # only the rows some batch draws go through the views (the quantile view is the costly part)
        drawn = np.zeros(X.shape[0], dtype=bool)
        drawn[rows] = True
        position = np.cumsum(drawn, dtype=np.intp)
        position -= 1
        position = position[rows]  # each draw's row among the drawn rows
        # [minmax (n drawn, n_features_in), quantile and binary (n drawn, n_continuous + n_binary)]
        inputs = view.network_inputs(X, exact=True, rows=np.flatnonzero(drawn))
        noises = None
        if noise_share:
            streams = [np.random.default_rng(s) for s in rng.integers(2**63, size=2)]
            noises = [AnomalyNoise(inputs[m], position, labels, noise_share, streams[m]) for m in range(2)]
        if self.engine_ == "numpy":
            return (self._train_pair(inputs, position, labels, members, mu_r, sigma_r, config, callback, noises),
                    mu_r, sigma_r)
        results = [
            self._run_engine(
                inputs[m], position, labels, members[m], mu_r, sigma_r,
                config, lambda epoch, loss, m=m: callback(m * int(self.epochs) + epoch, loss),
                None if noises is None else noises[m],
            )
            for m in range(2)
        ]
        return results, mu_r, sigma_r

    def _train_pair(
        self,
        inputs: list[np.ndarray],
        rows: np.ndarray,
        labels: np.ndarray,
        members: list[tuple[list[np.ndarray], list[np.ndarray]]],
        mu_r: float,
        sigma_r: float,
        config: TrainConfig,
        callback: Callable[[int, float], None],
        noises: list[AnomalyNoise] | None = None,
    ) -> list[Any]:
        """Train the two networks with the numpy engine, step by step together on this thread.

        Each network's arithmetic is exactly what it is trained alone (the same steps on
        its own arrays, BLAS on one thread), so the weights are too. Two threads, one per
        network, took almost twice as long as one thread doing both (measured on 2 cores,
        benchmarks/fit_speed.py): each step is a few dozen short NumPy calls, and two
        threads spend more time handing the GIL to each other than they overlap.
        """
        return train_numpy_pair(inputs, rows, labels, members, mu_r, sigma_r, config, callback, noises)

    def _run_engine(
        self,
        X: Any,
        rows: np.ndarray,
        labels: np.ndarray,
        weights: tuple[list[np.ndarray], list[np.ndarray]],
        mu_r: float,
        sigma_r: float,
        config: TrainConfig,
        callback: Callable[[int, float], None],
        noise: AnomalyNoise | None = None,
    ) -> Any:
        """Train one network from ``weights`` on the batches ``rows`` of ``X`` with the fitted engine."""
        if self.engine_ == "numpy":
            return train_numpy(X, rows, labels, *weights, mu_r, sigma_r, config, callback, noise)
        return train_torch(X, rows, labels, *weights, mu_r, sigma_r, config, self.device_, callback, noise)

    def _train_one(
        self,
        X: Any,
        anomaly_idx: np.ndarray,
        unlabeled_idx: np.ndarray,
        hidden: tuple[int, ...],
        config: TrainConfig,
        rng: np.random.Generator,
        callback: Callable[[int, float], None],
        noise_share: float = 0.0,
    ) -> tuple[Any, float, float]:
        """Train one network on ``X``."""
        coefs, intercepts = glorot_uniform_init(rng, X.shape[1], hidden)
        X_train, active = X, None
        if sp.issparse(X) and X.shape[1] > WIDE_SPARSE_COLUMNS:
            # Wide sparse data (hashed or one-hot features): a column that is zero in every
            # training row gets no gradient from the data, only L2 decay of its random initial
            # weights; it is left out of training and its weights set to 0 (it adds nothing to
            # a score), so each update touches the active columns only.
            counts = np.bincount(X.indices, minlength=X.shape[1])
            active = np.flatnonzero(counts)
            # renumber the columns in place of X[:, active], which is much slower on wide data
            position = (np.cumsum(counts > 0, dtype=np.int64) - 1).astype(X.indices.dtype)
            X_train = sp.csr_matrix(
                (X.data, position[X.indices], X.indptr),
                shape=(X.shape[0], len(active)),
            )
            coefs[0] = np.ascontiguousarray(coefs[0][active])
        mu_r, sigma_r = draw_reference(rng, self.n_reference, self.prior_mean, self.prior_std)
        n_steps = self.epochs * self.batches_per_epoch
        rows, labels = balanced_batches(rng, unlabeled_idx, anomaly_idx, n_steps, self.batch_size)
        noise = None
        if noise_share:
            noise = AnomalyNoise(X_train, rows, labels, noise_share, np.random.default_rng(rng.integers(2**63)))
        result = self._run_engine(X_train, rows, labels, (coefs, intercepts), mu_r, sigma_r, config, callback, noise)
        if active is not None:
            full = np.zeros((X.shape[1], result.coefs[0].shape[1]), dtype=np.float32)
            full[active] = result.coefs[0]
            result.coefs[0] = full
        return result, mu_r, sigma_r

    # -------------------------------------------------------------- scoring
    def decision_function(self, X: Any) -> np.ndarray:
        """Deviation scores: higher is more anomalous, on the z scale of the prior.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return self._score_validated(X)

    def p_values(self, X: Any, method: str = "auto") -> np.ndarray:
        """One-sided p-values of the rows: how unusual each score is for a normal row.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
        method : {"auto", "conformal", "prior"}, default="auto"
            ``"conformal"``: ``(1 + #{calibration_scores_ >= s}) / (n + 1)``
            (Bates et al., Annals of Statistics 2023, eq. 3), valid for rows
            exchangeable with the calibration rows, conservative since those
            hold some anomalies. ``"prior"``: ``P(S >= s)`` for
            ``S ~ N(prior_mean, prior_std^2)`` (the paper's Proposition 4.1),
            valid only if normal rows score as the prior, which real data often
            does not. ``"auto"``: conformal when the model has calibration
            scores, else the prior's.

        Returns
        -------
        ndarray of shape (n_samples,), float64

        Raises
        ------
        ParameterError
            For an unknown method, or ``"conformal"`` without calibration scores.
        """
        return self.p_values_from_scores(self.decision_function(X), method=method)

    def p_values_from_scores(self, scores: np.ndarray, method: str = "auto") -> np.ndarray:
        """The p-values (see :meth:`p_values`) of scores already computed by :meth:`decision_function`."""
        calibration = getattr(self, "calibration_scores_", None)
        if method not in ("auto", "conformal", "prior"):
            raise ParameterError(f"method must be 'auto', 'conformal' or 'prior'; got {method!r}.")
        if method == "conformal" and calibration is None:
            raise ParameterError(
                "this DevNet has no calibration scores, so no conformal p-values; calibrate it with "
                "DevNet.calibrate(X_normal) (or deviation calibrate), or use method='prior'."
            )
        if method == "prior" or calibration is None:
            return prior_p_values(scores, self.prior_mean, self.prior_std)
        return conformal_p_values(calibration, scores)

    def predict(self, X: Any) -> np.ndarray:
        """1 for rows whose score exceeds ``threshold_`` (anomalies), else 0.

        With calibration scores, exactly the rows whose conformal p-value is at
        most ``1 - confidence``: each normal row exchangeable with the
        calibration rows is flagged with probability at most ``1 - confidence``.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), int
        """
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def score(self, X: Any, y: Any) -> float:
        """Average precision (AUC-PR) of the scores against the labels ``y``.

        This is the paper's main metric and what ``GridSearchCV`` maximises by default.
        """
        scores = self.decision_function(X)
        y = _validate_y(y, len(scores))
        return float(average_precision_score(y, scores))

    # -------------------------------------------------------------- helpers
    def _score_validated(self, X: np.ndarray | sp.csr_matrix) -> np.ndarray:
        # the input view of the default preset reads dense rows
        has_view = getattr(self, "view_", None) is not None
        n_chunks = -(-X.shape[0] // _SCORE_CHUNK)
        chunk_rows, workers = min(_SCORE_CHUNK, X.shape[0]), min(_SCORE_THREADS, n_chunks)
        densified = not sp.issparse(X) or X.shape[1] <= WIDE_SPARSE_COLUMNS or has_view
        # per cell of a chunk: float64 densified (sparse) and a float32 copy; the view's column-major
        # copies and the quantile map's temporaries (deviation.quantile_map)
        per_cell = ((12 if sp.issparse(X) else 4) + (120 if has_view else 0)) if densified else 0
        check_allocation(
            X.shape[0] * 8 + workers * chunk_rows * X.shape[1] * per_cell,
            f"scoring {X.shape[0]:,} rows x {X.shape[1]:,} feature columns ({workers} chunks of "
            f"{chunk_rows:,} rows made dense at a time)",
            "score fewer rows at a time (deviation score streams files) or use a machine with more memory",
        )
        out = np.empty(X.shape[0], dtype=np.float64)
        members = self._members()
        if has_view:
            for_rows(X.shape[0])  # a large call starts loading the compiled loops for the next ones (deviation.kernels)

        def score_chunk(start: int) -> None:
            stop = min(start + _SCORE_CHUNK, X.shape[0])
            part = X[start:stop]
            if sp.issparse(part):
                # wide sparse rows stay sparse: the first layer is a sparse product
                if part.shape[1] > WIDE_SPARSE_COLUMNS and not has_view:
                    out[start:stop] = forward_numpy(part.astype(np.float32), self.coefs_, self.intercepts_)
                    return
                part = part.toarray()
            out[start:stop] = score_dense(part, members, self.coefs_, self.intercepts_, getattr(self, "view_", None))

        starts = range(0, X.shape[0], _SCORE_CHUNK)
        workers = min(_SCORE_THREADS, len(starts))
        if workers <= 1:
            for start in starts:
                score_chunk(start)
        else:
            # NumPy releases the GIL in these products; chunks are independent and each
            # row's score depends on that row only, so threads change nothing but the time.
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(score_chunk, starts))
        return out

    def _members(self) -> list[Any] | None:
        """The networks averaged in the score, for :func:`deviation.mlp.forward_columns` (None: score merged)."""
        view = getattr(self, "view_", None)
        # split once per set of weights (every decision_function call needs them; a service scores
        # one row at a time): the cache holds the arrays it was made from, so a refit (new arrays)
        # is never served stale members
        sources = (*self.coefs_, *self.intercepts_, view)
        # kept outside the estimator (scoring must not change its __dict__, as scikit-learn checks)
        cached = _MEMBERS.get(self)
        if cached is not None and len(cached[0]) == len(sources) and all(a is b for a, b in zip(cached[0], sources)):
            return cached[1]
        members = network_members(self.coefs_, self.intercepts_, view, getattr(self, "n_networks_", 1))
        _MEMBERS[self] = (sources, members)
        return members

    def threshold_for(self, confidence: float, method: str = "auto") -> float:
        """The score above which a row is anomalous at ``confidence`` (one-sided).

        ``score > threshold_for(c)`` exactly when the row's p-value (see
        :meth:`p_values`, same ``method``) is at most ``1 - c``.

        Parameters
        ----------
        confidence : float in (0, 1)
        method : {"auto", "conformal", "prior"}, default="auto"

        Returns
        -------
        float
            Conformal: a calibration score (``+inf`` when the calibration set
            is too small for the level: its smallest p-value is ``1/(n+1)``).
            Prior: ``prior_mean + prior_std * z_confidence`` (1.645 for 0.95
            with the default prior).
        """
        if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
            raise ParameterError(f"confidence must be a float in (0, 1). Got {confidence!r} instead.")
        calibration = getattr(self, "calibration_scores_", None)
        if method not in ("auto", "conformal", "prior"):
            raise ParameterError(f"method must be 'auto', 'conformal' or 'prior'; got {method!r}.")
        if method == "prior" or (method == "auto" and calibration is None):
            return float(norm.ppf(confidence, loc=self.prior_mean, scale=self.prior_std))
        if calibration is None:
            raise ParameterError(
                "this DevNet has no calibration scores; calibrate it with DevNet.calibrate(X_normal) "
                "(or deviation calibrate), or use method='prior'."
            )
        return conformal_threshold(calibration, 1.0 - float(confidence))

    def _threshold(self) -> float:
        return self.threshold_for(self.confidence)

    def _check_fitted(self) -> None:
        if not hasattr(self, "coefs_"):
            raise NotFittedError(
                "This DevNet instance is not fitted yet. Call 'fit' with training data "
                "before using it to score."
            )

    def _epoch_logger(
        self, epoch_callback: Callable[[int, float], None] | None
    ) -> Callable[[int, float], None]:
        level = logging.INFO if self.verbose else logging.DEBUG

        def callback(epoch: int, loss: float) -> None:
            network, epoch_k = divmod(epoch, int(self.epochs))
            logger.log(level, "network %d, epoch %d/%d: loss %.5f", network + 1, epoch_k + 1, self.epochs, loss)
            if epoch_callback is not None:
                epoch_callback(epoch, loss)

        return callback

    def _resolve_device_engine(self) -> tuple[str, str]:
        device = self.device
        if device == "auto":
            device = "cuda" if _cuda_available() else "cpu"
        engine = self.engine
        if engine == "auto":
            engine = "numpy" if device == "cpu" else "torch"
        if engine == "numpy" and device != "cpu":
            raise ParameterError(
                f"The 'engine' parameter of DevNet is 'numpy', which runs on the CPU only, but "
                f"device is {device!r}. Use engine='torch' (or 'auto') on an accelerator."
            )
        if engine == "torch":
            # torch is optional (pip install 'deviation[torch]'): one clear error here, at fit.
            torch = require_torch(f"DevNet(device={device!r})" if self.engine == "auto" else "DevNet(engine='torch')")
            if device != "cpu":
                try:
                    torch.empty(1, device=device)
                except (RuntimeError, AssertionError) as exc:
                    raise ParameterError(
                        f"The 'device' parameter of DevNet is {device!r}, which torch cannot use "
                        f"here ({exc}). Use device='cpu' or 'auto'."
                    ) from None
        return device, engine

    def _validate_X(self, X: Any, *, reset: bool, check_magnitude: bool = True) -> np.ndarray | sp.csr_matrix:
        if X is None:
            raise DataError("X is None; pass a 2-D array, DataFrame or sparse matrix of features.")
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse="csr",
                dtype=[np.float64, np.float32],
                ensure_all_finite=True,
                ensure_min_samples=1 if not reset else 2,
            )
        except ValueError as exc:
            msg = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
            if not reset and ("features" in msg or "feature names" in msg):
                raise FeatureMismatchError(
                    f"{msg} Score data with the same columns the model was trained on."
                ) from None
            if "could not convert" in msg or "dtype" in msg.lower() and "object" in msg:
                raise DataError(
                    f"X is not numeric ({msg}). Encode categorical columns first, e.g. with "
                    "deviation.preprocess.Preprocessor."
                ) from None
            if "NaN" in msg or "infinity" in msg:
                # keep sklearn's first sentence only: its advice is about other estimators
                raise DataError(
                    f"{msg.split('. ')[0].rstrip('.')}. DevNet needs finite values: impute missing values (e.g. with "
                    "deviation.preprocess.Preprocessor) and drop infinite ones."
                ) from None
            if "minimum of" in msg and "sample" in msg:
                msg += " DevNet needs at least one labeled anomaly and one unlabeled row to train."
            raise DataError(msg) from None
        if check_magnitude:
            _check_magnitude(X)
        return X

    def _validate_params(self) -> None:
        """Check every parameter against :attr:`_parameter_constraints`.

        Raises
        ------
        InvalidParameterError
            A :class:`~deviation.exceptions.ParameterError` naming the first
            parameter that satisfies none of its constraints.
        """
        validate_params("DevNet", self.get_params(deep=False), self._parameter_constraints)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags = TargetTags(required=True, one_d_labels=True, single_output=True)
        tags.input_tags.sparse = True
        return tags


def _fit_bytes(X: np.ndarray | sp.csr_matrix, model: DevNet, n_networks: int) -> int:
    """Bytes :meth:`DevNet.fit` allocates for ``X`` beyond ``X`` itself (an upper estimate).

    Checked against ``tracemalloc`` peaks (tests/test_memory.py). The first
    layer is drawn in float64 and kept in float32 (12 bytes per weight); the
    weights trained get about seven more float32 copies (flat weights,
    gradient, RMSprop average, step, best-epoch copies). The rows: two dense
    batches alive at once (float64 then float32, 16 bytes per cell), or for
    wide sparse input only the trained columns (those with a value; their
    batches are dense again when they are few) and the per-column counts that
    find them (25 bytes per column, and 12 for the column means); the column means of dense input copy 8,192 rows at a time.
    Dense input of the default preset is scaled into float32 views: about 16
    bytes per cell of ``X``. The noise on the labeled anomalies (``anomaly_noise``)
    holds two epochs of draws per network.
    """
    n, d = X.shape
    hidden, _ = model._network_settings(n_networks)
    h1 = (hidden[0] if hidden else 1) * n_networks
    wide = sp.issparse(X) and d > WIDE_SPARSE_COLUMNS
    trained = min(d, X.nnz) if wide else d  # wide sparse data trains the columns with a value only
    sizes = [trained, *(h * n_networks for h in hidden), 1]
    n_weights = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    total = d * h1 * 12 + n_weights * 4 * 7
    if wide:
        total += d * (25 + 12)
    if not wide or trained <= WIDE_SPARSE_COLUMNS:  # the trained columns of wide data may be few enough
        total += int(model.batch_size) * trained * 16
    if not sp.issparse(X):
        total += min(n, 2 * _SCORE_CHUNK) * d * 8  # column means: chunks of rows, two alive at once
        if model.preset == "default":
            total += n * d * 16
            # the quantile map's tables, at most every column continuous (deviation.quantile_map:
            # about 300 bytes per quantile while they are built, and the bucket table)
            total += d * (min(n, N_QUANTILES) * 300 + LUT_MAX * 8)
        if model._noise_share(n_networks):
            # the noise on the labeled anomalies: each network's current and next epoch (float32)
            total += 2 * int(model.batches_per_epoch) * (int(model.batch_size) // 2) * d * 4 * n_networks
    return int(total)


def _check_magnitude(X: np.ndarray | sp.csr_matrix, extremes: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Raise DataError when a value of ``X`` is too large for float32; ``extremes``: its columns' minima and maxima."""
    if extremes is not None:
        largest = max(extremes[1].max(), -extremes[0].min()) if extremes[0].size else 0.0
    else:
        values = X.data if sp.issparse(X) else X
        largest = max(values.max(), -values.min()) if values.size else 0.0
    if largest > _MAX_ABS_VALUE:
        raise DataError(
            f"X holds values of magnitude above {_MAX_ABS_VALUE:g}, too large for the "
            "network's float32 arithmetic. Scale the features first (e.g. min-max; on the command line "
            "--scaling minmax, the default, or drop the column with --drop COL)."
        )


def _column_means(X: np.ndarray | sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Float32 column means of ``X[rows]``, in chunks so a dense copy of all rows is never made."""
    if sp.issparse(X):
        # one sparse matrix-vector product, no copy of the rows
        indicator = np.zeros(X.shape[0], dtype=np.float64)
        indicator[rows] = 1.0
        return (np.asarray(X.T @ indicator).ravel() / len(rows)).astype(np.float32)
    total = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, len(rows), _SCORE_CHUNK):
        part = X[rows[start : start + _SCORE_CHUNK]]
        total += np.asarray(part.sum(axis=0), dtype=np.float64).ravel()
    return (total / len(rows)).astype(np.float32)


def _draw_calibration(unlabeled_idx: np.ndarray, n_calibration: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n_calibration`` rows drawn from ``unlabeled_idx`` without replacement.

    They are drawn by a child generator spawned from ``rng``, which leaves
    ``rng``'s own stream (weights, batches, reference draws) untouched.
    """
    try:
        child = rng.spawn(1)[0]
    except (TypeError, AttributeError, ValueError):  # a bit generator without a seed sequence
        child = np.random.default_rng(rng.bit_generator.random_raw())
    return np.sort(child.choice(unlabeled_idx, n_calibration, replace=False))


def _cuda_available() -> bool:
    # Importing torch costs over a second; without an NVIDIA device node CUDA cannot work.
    if "torch" not in sys.modules and not glob.glob("/dev/nvidia[0-9]*"):
        return False
    try:
        import torch
    except ImportError:  # torch is optional: without it "auto" is the CPU
        return False
    return bool(torch.cuda.is_available())


def _make_rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        # A legacy RandomState is consumed like sklearn does; it seeds our own Generator.
        return np.random.default_rng(random_state.randint(0, SEED_BOUND))
    return np.random.default_rng(random_state)


def _validate_y(y: Any, n_samples: int) -> np.ndarray:
    if y is None:
        raise DataError(
            "DevNet requires y to be passed, but the target y is None. Pass labels: "
            "1 for a labeled anomaly, 0 for an unlabeled row."
        )
    if sp.issparse(y):
        raise DataError("y must be a 1-D array of 0/1 labels, not a sparse matrix.")
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"y must be 1-D (one label per row); got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise DataError(
            f"X and y have different lengths: X has {n_samples} rows, y has {arr.shape[0]}. "
            "Pass one label per row."
        )
    if arr.dtype == bool:
        return arr.astype(np.int8)
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError):
        bad = list(dict.fromkeys(arr.tolist()))[:5]
        raise DataError(
            f"Unknown label type: y must hold 0 (unlabeled) and 1 (labeled anomaly) only; "
            f"found values such as {bad}."
        ) from None
    ok = (num == 0) | (num == 1)
    if not ok.all():
        bad = list(dict.fromkeys("nan" if v != v else v for v in arr[~ok].tolist()))[:5]
        kind = "Unknown label type: " if arr.dtype == object else ""
        raise DataError(
            f"{kind}y must hold 0 (unlabeled) and 1 (labeled anomaly) only; found {bad}. "
            "Map your labels to 1 for known anomalies and 0 for everything else."
        )
    return num.astype(np.int8)
