"""Checks of scalar arguments shared by the training functions."""

import math

import numpy as np

from .errors import InputError

__all__ = [
    "check_learning_rate",
    "check_positive_int",
    "check_rank",
    "is_positive_int",
]


def is_positive_int(value):
    """Return True for an int (not a bool) of at least 1."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def check_positive_int(name, value):
    """Raise InputError unless ``value`` is an int >= 1; ``name`` is the argument's."""
    if not is_positive_int(value):
        raise InputError(f"{name}={value!r} is invalid; use an integer >= 1")


def check_learning_rate(lr, name="lr"):
    """Raise InputError unless ``lr`` is a positive finite int or float."""
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float))
        or not math.isfinite(lr)
        or lr <= 0
    ):
        raise InputError(
            f"{name}={lr!r} is invalid; use a positive finite number such as 0.01"
        )


def check_rank(rank, m, n):
    """Raise TypeError or InputError unless 1 <= ``rank`` <= min(m, n) for m x n."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise TypeError(f"rank must be an int, got {type(rank).__name__}")
    if not 1 <= rank <= min(m, n):
        raise InputError(
            f"rank={rank} is out of range for a {m}x{n} matrix; "
            f"use 1 <= rank <= min(m, n)={min(m, n)}"
        )
