"""Validation of parameters against declared constraints, with one error wording.

Each estimator declares what every parameter accepts in a class attribute,
``_parameter_constraints``, in the style of scikit-learn: a dict mapping the
parameter's name to a list of constraints, any one of which the value must
satisfy. A constraint is one of

* a constraint object of this module: :class:`Interval`, :class:`StrOptions`,
  :class:`Pattern`, :class:`SequenceOf`;
* ``None``: the value ``None``;
* a type: an instance of that type (``bool`` excluded from ``int`` and number types);
* ``"boolean"``: a ``bool`` or ``numpy.bool_``;
* ``"random_state"``: ``None``, an int in [0, 2**32 - 1] or a
  ``numpy.random.RandomState`` (what scikit-learn's ``check_random_state`` takes);
* ``"no_validation"``: anything.

:func:`validate_params` checks a dict of parameters and raises
:class:`~deviation.exceptions.InvalidParameterError` worded as::

    The 'margin' parameter of DevNet must be a float > 0. Got -1 instead.
    The 'max_categories' parameter of Preprocessor must be an int >= 1 or None. Got 0 instead.

:func:`make_arg_type` turns the same constraints into an ``argparse`` ``type=``
function, so the command line says ``argument --margin: must be a float > 0.
Got -1 instead.``
"""

from __future__ import annotations

import argparse
import math
import numbers
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .exceptions import InvalidParameterError

__all__ = [
    "Interval",
    "Pattern",
    "SequenceOf",
    "StrOptions",
    "describe_constraints",
    "make_arg_type",
    "make_constraint",
    "validate_params",
]

_MAX_REPR = 100


class _Constraint:
    """Base class of the constraint objects.

    Subclasses implement :meth:`is_satisfied_by` and :meth:`__str__` (the
    description that follows "must be" in the error message). Those that can be
    read from command-line text also implement :meth:`parse`.
    """

    def is_satisfied_by(self, value: Any) -> bool:
        """Whether ``value`` satisfies the constraint."""
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """Convert command-line text to a candidate value.

        Raises
        ------
        ValueError
            If the text cannot be read as this constraint's kind of value.
        NotImplementedError
            If the constraint cannot be given on the command line.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _format_bound(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


class Interval(_Constraint):
    """Numbers in an interval.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        ``Integral``: ints (Python or NumPy, never ``bool``). ``Real``: finite
        ints or floats (never ``bool``, NaN or infinity).
    left, right : float or None
        The bounds; ``None`` for no bound on that side.
    closed : {"left", "right", "both", "neither"}, default="neither"
        Which bounds belong to the interval (ignored for a ``None`` bound).
    multiple_of : int or None, default=None
        For ``Integral`` only: the value must also be a multiple of this
        (``2``: an even int).

    Examples
    --------
    >>> str(Interval(numbers.Real, 0, None, closed="neither"))
    'a float > 0'
    >>> str(Interval(numbers.Integral, 2, None, closed="left", multiple_of=2))
    'an even int >= 2'
    >>> Interval(numbers.Real, 0, 1, closed="neither").is_satisfied_by(1.0)
    False
    """

    def __init__(
        self,
        type: type,
        left: float | None,
        right: float | None,
        *,
        closed: str = "neither",
        multiple_of: int | None = None,
    ) -> None:
        if type not in (numbers.Integral, numbers.Real):
            raise TypeError(f"Interval type must be numbers.Integral or numbers.Real, got {type!r}")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be 'left', 'right', 'both' or 'neither', got {closed!r}")
        if left is not None and right is not None and right < left:
            raise ValueError(f"right bound {right} is below left bound {left}")
        if multiple_of is not None and (type is not numbers.Integral or not _is_int(multiple_of) or multiple_of < 2):
            raise ValueError("multiple_of must be an int >= 2 and needs type=numbers.Integral")
        self.type = type
        self.left = left
        self.right = right
        self.closed = closed
        self.multiple_of = multiple_of

    def is_satisfied_by(self, value: Any) -> bool:
        if self.type is numbers.Integral:
            if not _is_int(value):
                return False
        elif not (_is_real(value) and math.isfinite(value)):
            return False
        if self.left is not None:
            if self.closed in ("left", "both"):
                if not value >= self.left:
                    return False
            elif not value > self.left:
                return False
        if self.right is not None:
            if self.closed in ("right", "both"):
                if not value <= self.right:
                    return False
            elif not value < self.right:
                return False
        return self.multiple_of is None or value % self.multiple_of == 0

    def parse(self, text: str) -> Any:
        return int(text) if self.type is numbers.Integral else float(text)

    def describe(self, plural: bool = False) -> str:
        """The description, e.g. ``"a float > 0"``, or ``"floats > 0"`` with ``plural``."""
        if self.type is numbers.Integral:
            noun = "ints" if plural else "int"
            if self.multiple_of == 2:
                noun = f"even {noun}"
            article = "" if plural else ("an " if noun[0] in "aeiou" else "a ")
        else:
            noun, article = ("floats", "") if plural else ("float", "a ")
        left_closed = self.closed in ("left", "both")
        right_closed = self.closed in ("right", "both")
        if self.left is not None and self.right is not None:
            bounds = (
                f" in {'[' if left_closed else '('}{_format_bound(self.left)}, "
                f"{_format_bound(self.right)}{']' if right_closed else ')'}"
            )
        elif self.left is not None:
            bounds = f" {'>=' if left_closed else '>'} {_format_bound(self.left)}"
        elif self.right is not None:
            bounds = f" {'<=' if right_closed else '<'} {_format_bound(self.right)}"
        else:
            bounds = ""
        if not bounds and self.type is numbers.Real:
            noun = f"finite {noun}"
            article = "" if plural else "a "
        text = f"{article}{noun}{bounds}"
        if self.multiple_of is not None and self.multiple_of != 2:
            text += f" that {'are multiples' if plural else 'is a multiple'} of {self.multiple_of}"
        return text

    def __str__(self) -> str:
        return self.describe()


class StrOptions(_Constraint):
    """One string of a set of options.

    Parameters
    ----------
    options : iterable of str
        The accepted strings, listed in the error message in this order.

    Examples
    --------
    >>> str(StrOptions(["numpy", "torch"]))
    "one of {'numpy', 'torch'}"
    >>> str(StrOptions(["auto"]))
    "'auto'"
    """

    def __init__(self, options: Iterable[str]) -> None:
        self.options = tuple(dict.fromkeys(options))
        if not self.options or not all(isinstance(o, str) for o in self.options):
            raise ValueError("StrOptions needs at least one option, all str")

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.options

    def parse(self, text: str) -> Any:
        return text

    def __str__(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
        return "one of {" + ", ".join(repr(o) for o in self.options) + "}"


class Pattern(_Constraint):
    """A string matching a regular expression (in full).

    Parameters
    ----------
    regex : str
        The pattern the whole string must match (``re.fullmatch``).
    description : str
        What the error message says the value must be, e.g. ``"a torch device string"``.
    """

    def __init__(self, regex: str, description: str) -> None:
        self.regex = re.compile(regex)
        self.description = description

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and self.regex.fullmatch(value) is not None

    def parse(self, text: str) -> Any:
        return text

    def __str__(self) -> str:
        return self.description


class SequenceOf(_Constraint):
    """A sequence (list, tuple, ...; not a string) whose items all satisfy a constraint.

    Parameters
    ----------
    item : Interval or None
        The constraint on each item; ``None`` for any item.
    noun : str, default="tuple"
        The name of the container in the message (``"a tuple of ints >= 1"``).
    items : str or None, default=None
        The name of the items in the message; default: the plural description
        of ``item`` (required when ``item`` is ``None``).
    unique : bool, default=False
        Whether items must be distinct (compared as ``str``).
    arrays : bool, default=False
        Whether one-dimensional arrays (``numpy.ndarray``, ``pandas.Index``)
        are accepted too.

    Examples
    --------
    >>> sizes = SequenceOf(Interval(numbers.Integral, 1, None, closed="left"))
    >>> str(sizes), sizes.is_satisfied_by((20, 20)), sizes.is_satisfied_by(()), sizes.is_satisfied_by("20")
    ('a tuple of ints >= 1', True, True, False)
    """

    def __init__(
        self,
        item: Interval | None,
        *,
        noun: str = "tuple",
        items: str | None = None,
        unique: bool = False,
        arrays: bool = False,
    ) -> None:
        if item is None and items is None:
            raise ValueError("SequenceOf needs items= when item is None")
        self.item = item
        self.noun = noun
        self.items = items
        self.unique = unique
        self.arrays = arrays

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        if not isinstance(value, Sequence):
            if not (self.arrays and hasattr(value, "__array__") and getattr(value, "ndim", None) == 1):
                return False
        values = list(value)
        if self.item is not None and not all(self.item.is_satisfied_by(v) for v in values):
            return False
        return not self.unique or len({str(v) for v in values}) == len(values)

    def __str__(self) -> str:
        items = self.items if self.items is not None else self.item.describe(plural=True)  # type: ignore[union-attr]
        if self.unique:
            items = f"distinct {items}"
        article = "an" if self.noun[0] in "aeiou" else "a"
        return f"{article} {self.noun} of {items}"


class _NoneConstraint(_Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _Boolean(_Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "a bool"


class _Anything(_Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return True

    def __str__(self) -> str:
        return "anything"


def _type_name(cls: type) -> str:
    """The shortest public dotted name of a class: ``numpy.random.Generator``, ``int``."""
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if getattr(sys.modules.get(prefix), cls.__qualname__, None) is cls:
            return f"{prefix}.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


class _InstanceOf(_Constraint):
    def __init__(self, cls: type) -> None:
        self.cls = cls

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) and self.cls not in (bool, np.bool_, object):
            # bool is an int subclass: True is not accepted where an int or a number is expected
            return False
        return isinstance(value, self.cls)

    def __str__(self) -> str:
        name = _type_name(self.cls)
        return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def make_constraint(constraint: Any) -> _Constraint:
    """The constraint object of one entry of a constraint list.

    Parameters
    ----------
    constraint : constraint object, None, type or str
        See the module docstring for the accepted forms.

    Returns
    -------
    constraint object
        An object with ``is_satisfied_by(value)`` and a description (``str``).
    """
    if isinstance(constraint, _Constraint):
        return constraint
    if constraint is None:
        return _NoneConstraint()
    if isinstance(constraint, type):
        return _InstanceOf(constraint)
    if constraint == "boolean":
        return _Boolean()
    if constraint == "no_validation":
        return _Anything()
    raise ValueError(f"Unknown parameter constraint {constraint!r}")


def _expand(constraints: Sequence[Any]) -> list[_Constraint]:
    out: list[_Constraint] = []
    for c in constraints:
        if isinstance(c, str) and c == "random_state":
            out += [
                _NoneConstraint(),
                Interval(numbers.Integral, 0, 2**32 - 1, closed="both"),
                _InstanceOf(np.random.RandomState),
            ]
        else:
            out.append(make_constraint(c))
    return out


def _join(descriptions: list[str]) -> str:
    descriptions = list(dict.fromkeys(descriptions))
    if len(descriptions) == 1:
        return descriptions[0]
    return ", ".join(descriptions[:-1]) + " or " + descriptions[-1]


def describe_constraints(constraints: Sequence[Any]) -> str:
    """What a value must be to satisfy one of ``constraints``, e.g. ``"an int >= 1 or None"``.

    ``None`` is named last, the other constraints in their order.
    """
    parsed = _expand(constraints)
    ordered = [c for c in parsed if not isinstance(c, _NoneConstraint)]
    ordered += [c for c in parsed if isinstance(c, _NoneConstraint)]
    return _join([str(c) for c in ordered])


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the parameter error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def validate_params(owner_name: str, params: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]]) -> None:
    """Check parameters against their constraints.

    Parameters
    ----------
    owner_name : str
        The class (or function) the parameters belong to, named in the message.
    params : mapping of str to object
        The parameters to check, e.g. ``estimator.get_params(deep=False)``.
    constraints : mapping of str to list
        For each parameter name, the constraints of which the value must
        satisfy at least one. A parameter without an entry is not checked.

    Raises
    ------
    InvalidParameterError
        For the first parameter (in ``params`` order) that satisfies none of
        its constraints: ``"The 'margin' parameter of DevNet must be a float
        > 0. Got -1 instead."``

    Examples
    --------
    >>> validate_params("DevNet", {"epochs": 0}, {"epochs": [Interval(numbers.Integral, 1, None, closed="left")]})
    Traceback (most recent call last):
    ...
    deviation.exceptions.InvalidParameterError: The 'epochs' parameter of DevNet must be an int >= 1. Got 0 instead.
    """
    for name, value in params.items():
        if name not in constraints:
            continue
        allowed = _expand(constraints[name])
        if any(c.is_satisfied_by(value) for c in allowed):
            continue
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner_name} must be {describe_constraints(constraints[name])}. "
            f"Got {_short_repr(value)} instead."
        )


def make_arg_type(constraints: Sequence[Any], *, name: str | None = None) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` function that reads a value and checks it against ``constraints``.

    Only the constraints that can be written on a command line (numbers,
    strings) take part; ``None`` and types are left out, since an option's
    absence is what stands for ``None``.

    Parameters
    ----------
    constraints : list
        The constraints of the parameter, as in ``_parameter_constraints``.
    name : str or None, default=None
        The function's ``__name__`` (argparse shows it for unexpected errors).

    Returns
    -------
    callable
        ``str -> value``; raises ``argparse.ArgumentTypeError`` worded
        ``"must be a float > 0. Got -1 instead."`` (argparse prefixes
        ``"argument --margin: "``).

    Examples
    --------
    >>> positive = make_arg_type([Interval(numbers.Integral, 1, None, closed="left")])
    >>> positive("3")
    3
    >>> positive("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an int >= 1. Got 0 instead.
    """
    usable = [c for c in _expand(constraints) if type(c).parse is not _Constraint.parse]
    if not usable:
        raise ValueError(f"no constraint of {constraints!r} can be read from the command line")
    expected = _join([str(c) for c in usable])

    def parse(text: str) -> Any:
        for c in usable:
            try:
                value = c.parse(text)
            except ValueError:
                continue
            if c.is_satisfied_by(value):
                return value
        shown = text if text and text.strip() == text else repr(text)
        raise argparse.ArgumentTypeError(f"must be {expected}. Got {shown} instead.")

    parse.__name__ = name or "value"
    return parse
