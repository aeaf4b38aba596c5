"""DevNet's parameters and their constraints, without DevNet (which needs scikit-learn).

The command line builds its options from them (``deviation.cli.build_parser``)
and the all-numeric score path checks model files against them, neither of
which should pay for importing scikit-learn.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from ._params import Interval, Pattern, SequenceOf, StrOptions

__all__ = [
    "DEFAULT_ANOMALY_NOISE", "DEVNET_CONSTRAINTS", "L2_ROWS", "MAX_L2", "PAPER_L2", "PRESETS",
    "resolved_anomaly_noise", "resolved_l2",
]

#: The architectures of ``DevNet(preset=...)``: see :class:`deviation.DevNet`.
PRESETS = ("default", "paper")

#: ``DevNet._parameter_constraints``: each parameter's allowed values (:func:`deviation._params.validate_params`).
DEVNET_CONSTRAINTS: dict[str, list[Any]] = {
    "hidden_layer_sizes": [None, SequenceOf(Interval(Integral, 1, None, closed="left"))],
    "preset": [StrOptions(PRESETS)],
    "margin": [Interval(Real, 0, None, closed="neither")],
    "prior_mean": [Interval(Real, None, None)],
    "prior_std": [Interval(Real, 0, None, closed="neither")],
    "n_reference": [Interval(Integral, 2, None, closed="left")],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "batches_per_epoch": [Interval(Integral, 1, None, closed="left")],
    # half labeled anomalies, half unlabeled rows
    "batch_size": [Interval(Integral, 2, None, closed="left", multiple_of=2)],
    "learning_rate": [None, Interval(Real, 0, None, closed="neither")],
    "rho": [Interval(Real, 0, 1, closed="left")],
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "l2": [None, Interval(Real, 0, None, closed="left")],
    "clipnorm": [None, Interval(Real, 0, None, closed="neither")],
    "restore_best": ["boolean"],
    # a share of the labeled anomalies' spread: beyond a few, the noise drowns the points it blurs
    "anomaly_noise": [StrOptions(("auto",)), Interval(Real, 0, 10, closed="both")],
    "confidence": [Interval(Real, 0, 1, closed="neither")],
    "calibration_size": [
        StrOptions(("auto",)),
        Interval(Integral, 0, None, closed="left"),
        Interval(Real, 0, 1, closed="neither"),
    ],
    "engine": [StrOptions(("auto", "numpy", "torch"))],
    "device": [StrOptions(("auto",)), Pattern(r"\S+", "a torch device string such as 'cpu' or 'cuda'")],
    "random_state": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator, np.random.RandomState],
    "verbose": ["boolean", Interval(Integral, 0, None, closed="left")],
}


#: ``anomaly_noise="auto"`` for the default preset's two networks (docs/ACCURACY.md,
#: "Noise on the labeled anomalies: the third search").
DEFAULT_ANOMALY_NOISE = 0.3


def resolved_anomaly_noise(value: Any, preset: str, n_networks: int) -> float:
    """The share of noise on the labeled anomalies a fit uses (``DevNet(anomaly_noise=value)``).

    ``"auto"`` is :data:`DEFAULT_ANOMALY_NOISE` for the default preset's two networks and 0
    for a single network; a number is itself.
    """
    if value == "auto":
        return DEFAULT_ANOMALY_NOISE if preset == "default" and n_networks == 2 else 0.0
    return float(value)


#: The paper's L2 penalty (the authors' code): ``l2=None`` for a single network, and for
#: the default preset's deeper networks on at least :data:`L2_ROWS` unlabeled training rows.
PAPER_L2 = 0.01
#: Below this many unlabeled training rows the deeper networks' penalty grows as 1 / rows ...
L2_ROWS = 1000
#: ... up to this (docs/ACCURACY.md, "Small training sets: a penalty that grows as the data shrink").
MAX_L2 = 0.03


def resolved_l2(value: Any, deeper: bool, n_unlabeled: int) -> float:
    """The L2 penalty a fit uses (``DevNet(l2=value)``).

    ``None`` is :data:`PAPER_L2` for the paper's network. For the default preset's deeper
    networks (``deeper``) it is ``PAPER_L2 * L2_ROWS / n_unlabeled``, at least
    :data:`PAPER_L2` and at most :data:`MAX_L2`: the penalty weighs against a loss that
    averages over the batch, and the 1,000 updates of a fit draw each of a few hundred
    unlabeled rows hundreds of times, so a small training set needs the stronger prior
    on the weights (a Gaussian prior's weight relative to the mean log likelihood falls
    as 1 / n). A number is itself.

    Parameters
    ----------
    value : float or None
        ``DevNet.l2``.
    deeper : bool
        Whether the networks are the default preset's deeper ones (its two networks on
        input with at least as many continuous columns as binary ones, whatever
        ``hidden_layer_sizes``; ``DevNet._deeper``).
    n_unlabeled : int
        Unlabeled rows trained on (the calibration hold-out excluded).
    """
    if value is not None:
        return float(value)
    if not deeper:
        return PAPER_L2
    return min(MAX_L2, max(PAPER_L2, PAPER_L2 * L2_ROWS / max(int(n_unlabeled), 1)))
