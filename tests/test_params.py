"""The shared parameter check (deviation._params) and the shared limits (deviation._limits)."""

from __future__ import annotations

import argparse
import re
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deviation import DevNet, ParameterError, Preprocessor
from deviation._limits import MAX_ABS_VALUE, SEED_BOUND, WIDE_SPARSE_COLUMNS
from deviation._params import (
    Interval,
    Pattern,
    SequenceOf,
    StrOptions,
    describe_constraints,
    make_arg_type,
    validate_params,
)
from deviation.exceptions import InvalidParameterError


def message(constraints: list, value: object, owner: str = "Thing", name: str = "p") -> str:
    with pytest.raises(InvalidParameterError) as info:
        validate_params(owner, {name: value}, {name: constraints})
    return str(info.value)


# ------------------------------------------------------------------ the error class


def test_invalid_parameter_error_is_caught_as_every_parent():
    err = InvalidParameterError("x")
    for parent in (ParameterError, ValueError, TypeError):
        assert isinstance(err, parent)


# ------------------------------------------------------------------ each constraint's wording


@pytest.mark.parametrize(
    "constraint,bad,expected",
    [
        (Interval(Real, 0, None, closed="neither"), -1, "a float > 0"),
        (Interval(Real, 0, None, closed="left"), -0.5, "a float >= 0"),
        (Interval(Real, None, 1, closed="neither"), 1, "a float < 1"),
        (Interval(Real, None, 1, closed="right"), 2.5, "a float <= 1"),
        (Interval(Real, 0, 1, closed="neither"), 0, "a float in (0, 1)"),
        (Interval(Real, 0, 1, closed="left"), 1.0, "a float in [0, 1)"),
        (Interval(Real, 0, 1, closed="both"), 1.5, "a float in [0, 1]"),
        (Interval(Real, None, None), float("nan"), "a finite float"),
        (Interval(Integral, 1, None, closed="left"), 0, "an int >= 1"),
        (Interval(Integral, 0, 10, closed="both"), 11, "an int in [0, 10]"),
        (Interval(Integral, None, None), 1.0, "an int"),
        (Interval(Integral, 2, None, closed="left", multiple_of=2), 511, "an even int >= 2"),
        (Interval(Integral, 3, None, closed="left", multiple_of=3), 4, "an int >= 3 that is a multiple of 3"),
        (StrOptions(["numpy", "torch"]), "jax", "one of {'numpy', 'torch'}"),
        (StrOptions(["auto"]), "Auto", "'auto'"),
        (Pattern(r"\S+", "a device name"), "", "a device name"),
        (SequenceOf(Interval(Integral, 1, None, closed="left")), (20, 0), "a tuple of ints >= 1"),
        (SequenceOf(None, noun="list", items="column names", unique=True), ["a", "a"], "a list of distinct column names"),
        ("boolean", "yes", "a bool"),
        (np.random.Generator, 3.5, "a numpy.random.Generator"),
        (str, 3, "a str"),
        (None, 0, "None"),
    ],
)
def test_each_constraint_type_is_worded_in_the_message(constraint, bad, expected):
    assert message([constraint], bad, owner="DevNet", name="margin") == (
        f"The 'margin' parameter of DevNet must be {expected}. Got {bad!r} instead."
    )


def test_several_constraints_are_joined_with_none_last():
    msg = message([None, Interval(Integral, 1, None, closed="left")], 0, owner="Preprocessor", name="max_categories")
    assert msg == "The 'max_categories' parameter of Preprocessor must be an int >= 1 or None. Got 0 instead."
    three = [StrOptions(["auto"]), None, np.random.Generator]
    assert describe_constraints(three) == "'auto', a numpy.random.Generator or None"


def test_random_state_shorthand_is_sklearns():
    assert describe_constraints(["random_state"]) == "an int in [0, 4294967295], a numpy.random.RandomState or None"
    for ok in (None, 0, 2**32 - 1, np.int64(7), np.random.RandomState(0)):
        validate_params("X", {"random_state": ok}, {"random_state": ["random_state"]})
    for bad in (-1, 2**32, "seed", np.random.default_rng(0), 1.0):
        with pytest.raises(InvalidParameterError, match="'random_state' parameter of X"):
            validate_params("X", {"random_state": bad}, {"random_state": ["random_state"]})


def test_long_values_are_shortened_in_the_message():
    msg = message([None], list(range(1000)))
    assert msg.endswith("... instead.") and len(msg) < 200


# ------------------------------------------------------------------ what each constraint accepts


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_bools_are_not_numbers(value):
    for c in (Interval(Integral, None, None), Interval(Real, None, None), int, float):
        with pytest.raises(InvalidParameterError):
            validate_params("X", {"p": value}, {"p": [c]})
    validate_params("X", {"p": value}, {"p": ["boolean"]})


def test_real_intervals_take_ints_and_numpy_scalars_but_no_infinity():
    positive = {"p": [Interval(Real, 0, None, closed="neither")]}
    for ok in (1, 0.5, np.float32(2.0), np.int64(3)):
        validate_params("X", {"p": ok}, positive)
    for bad in (float("inf"), float("nan"), "1", None, 0):
        with pytest.raises(InvalidParameterError):
            validate_params("X", {"p": bad}, positive)


def test_int_intervals_refuse_whole_floats():
    with pytest.raises(InvalidParameterError, match="must be an int >= 1. Got 5.0 instead"):
        validate_params("X", {"p": 5.0}, {"p": [Interval(Integral, 1, None, closed="left")]})
    validate_params("X", {"p": np.int32(5)}, {"p": [Interval(Integral, 1, None, closed="left")]})


def test_sequences_refuse_strings_and_accept_arrays_only_when_asked():
    sizes = SequenceOf(Interval(Integral, 1, None, closed="left"))
    assert sizes.is_satisfied_by([20, 10]) and sizes.is_satisfied_by(()) and sizes.is_satisfied_by((np.int64(3),))
    assert not sizes.is_satisfied_by("20") and not sizes.is_satisfied_by(20)
    assert not sizes.is_satisfied_by(np.array([20]))
    names = SequenceOf(None, noun="list", items="column names", arrays=True)
    assert names.is_satisfied_by(np.array(["a", "b"])) and names.is_satisfied_by(pd.Index(["a"]))
    assert not names.is_satisfied_by(np.array([["a"]]))


def test_a_parameter_without_constraint_is_not_checked_and_the_first_bad_one_is_named():
    validate_params("X", {"free": object()}, {})
    cons = {"a": [Interval(Integral, 0, None, closed="left")], "b": [Interval(Integral, 0, None, closed="left")]}
    with pytest.raises(InvalidParameterError, match="'a' parameter"):
        validate_params("X", {"a": -1, "b": -1}, cons)


def test_bad_constraint_declarations_are_refused():
    with pytest.raises(TypeError):
        Interval(float, 0, 1)
    with pytest.raises(ValueError):
        Interval(Real, 1, 0)
    with pytest.raises(ValueError):
        Interval(Real, 0, None, closed="open")
    with pytest.raises(ValueError):
        validate_params("X", {"p": 1}, {"p": ["positive"]})


# ------------------------------------------------------------------ argparse types


def test_arg_type_reads_and_checks_command_line_text():
    margin = make_arg_type(DevNet._parameter_constraints["margin"])
    assert margin("2") == 2.0 and isinstance(margin("2"), float)
    for text, shown in (("-1", "-1"), ("inf", "inf"), ("abc", "abc"), ("", "''")):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            margin(text)
        assert str(info.value) == f"must be a float > 0. Got {shown} instead."
    # None is what leaving the option out means: it is not offered on the command line
    rate = make_arg_type(DevNet._parameter_constraints["learning_rate"])
    with pytest.raises(argparse.ArgumentTypeError, match="^must be a float > 0. Got 0 instead.$"):
        rate("0")
    batch = make_arg_type(DevNet._parameter_constraints["batch_size"])
    assert batch("64") == 64
    with pytest.raises(argparse.ArgumentTypeError, match="even int >= 2. Got 2.0 instead"):
        batch("2.0")
    device = make_arg_type(DevNet._parameter_constraints["device"])
    assert device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError):
        make_arg_type([None, np.random.Generator])


# ------------------------------------------------------------------ DevNet and Preprocessor


def test_every_parameter_has_a_constraint():
    assert set(DevNet._parameter_constraints) == set(DevNet().get_params())
    assert set(Preprocessor._parameter_constraints) == set(Preprocessor().get_params())
    DevNet()._validate_params()
    Preprocessor()._validate_params()


@pytest.mark.parametrize(
    "estimator,name,value,expected",
    [
        (DevNet, "random_state", -1, "an int >= 0, a numpy.random.Generator, a numpy.random.RandomState or None"),
        (Preprocessor, "random_state", -1, "an int in [0, 4294967295], a numpy.random.RandomState or None"),
        (DevNet, "clipnorm", 0, "a float > 0 or None"),
        (Preprocessor, "subsample", 0, "an int >= 1 or None"),
        (DevNet, "preset", "fast", "one of {'default', 'paper'}"),
        (Preprocessor, "scaling", "fast", "one of {'minmax', 'standard', 'quantile', 'none'}"),
    ],
)
def test_devnet_and_preprocessor_word_errors_alike(estimator, name, value, expected):
    with pytest.raises(InvalidParameterError) as info:
        estimator(**{name: value})._validate_params()
    assert str(info.value) == (
        f"The {name!r} parameter of {estimator.__name__} must be {expected}. Got {value!r} instead."
    )


def test_what_devnet_accepted_before_is_still_accepted():
    for params in (
        {"hidden_layer_sizes": ()},
        {"hidden_layer_sizes": [8, np.int64(4)]},
        {"learning_rate": None, "clipnorm": None},
        {"margin": 5, "l2": 0, "rho": 0},
        {"restore_best": np.bool_(False)},
        {"random_state": np.random.default_rng(0)},
        {"random_state": np.random.RandomState(0)},
        {"random_state": 2**40},
        {"device": "cuda:0", "engine": "torch"},
        {"verbose": 2},
    ):
        DevNet(**params)._validate_params()


def test_preprocessor_keeps_its_categorical_list_and_cross_check():
    assert Preprocessor(categorical=("a", 1))._validate_params() == ["a", "1"]
    assert Preprocessor(categorical=pd.Index(["a"]))._validate_params() == ["a"]
    assert Preprocessor()._validate_params() is None
    with pytest.raises(InvalidParameterError, match=r"'n_quantiles' parameter of Preprocessor \(500\) cannot be"):
        Preprocessor(n_quantiles=500, subsample=100)._validate_params()
    Preprocessor(n_quantiles=500, subsample=None)._validate_params()


# ------------------------------------------------------------------ shared limits


def test_limits_are_defined_once():
    from deviation import estimator, features, training

    assert (MAX_ABS_VALUE, WIDE_SPARSE_COLUMNS, SEED_BOUND) == (1e30, 16_384, 2**31 - 1)
    assert features.MAX_VIEW_VALUE is MAX_ABS_VALUE
    assert training.DENSE_BATCH_MAX_COLUMNS is WIDE_SPARSE_COLUMNS
    assert estimator.WIDE_SPARSE_COLUMNS is WIDE_SPARSE_COLUMNS
    src = Path(__file__).resolve().parents[1] / "src" / "deviation"
    literal = re.compile(r"(?<![\w.])(1e30|1e\+30|16_?384|2\s*\*\*\s*31\s*-\s*1)(?![\w.])")
    found = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "_limits.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line.split("#")[0])
    ]
    assert found == []
