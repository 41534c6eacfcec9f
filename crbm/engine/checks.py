"""Argument checks shared by the whole package: one test and one message for each kind of bad argument.

Each ``check_*`` returns its argument (normalised) or raises a one-line ``CRBMError`` that names the argument,
says what was expected and shows what was given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import torch

from crbm.engine.errors import CRBMError

T = TypeVar("T")


def value_range(x: torch.Tensor) -> tuple[float, float]:
    """(minimum, maximum) of the values of ``x`` from one pass, as Python floats; a NaN anywhere makes both NaN
    and an infinity reaches one of them, so range and finiteness checks need no boolean tensor of x's size.
    (0.0, 0.0) for an empty tensor."""
    if x.numel() == 0:
        return 0.0, 0.0
    lo, hi = torch.aminmax(x if x.dtype != torch.bool else x.to(torch.uint8))
    return tuple(float(t) for t in torch.stack([lo, hi]).tolist())


def is_positive_int(x: object) -> bool:
    """A Python int >= 1 (a bool is not a count)."""
    return is_int_at_least(x, 1)


def is_int_at_least(x: object, minimum: int) -> bool:
    """A Python int >= ``minimum`` (a bool is not a count)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= minimum


def is_number(x: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` when it is a positive integer, else CRBMError ``<name> must be a positive integer, got <value>``."""
    if not is_positive_int(value):
        raise CRBMError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_int_at_least(value: Any, name: str, minimum: int) -> int:
    """``value`` when it is an integer >= ``minimum``, else CRBMError ``<name> must be an integer >= <minimum>,
    got <value>``."""
    if not is_int_at_least(value, minimum):
        raise CRBMError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_nonnegative(value: Any, name: str) -> float:
    """``value`` when it is a finite number >= 0, else CRBMError ``<name> must be a finite number >= 0, got
    <value>``."""
    if not (is_number(value) and value >= 0):
        raise CRBMError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def per_layer(value: T | Sequence[T] | None, n: int, name: str, what: str, default: T | None = None) -> list[T]:
    """One setting per layer of an ``n``-layer stack: a list or tuple of ``n`` settings as it is, or a single
    setting (``None``: ``default``) repeated ``n`` times. CRBMError ``<name>: expected <n> <what> (one per
    layer) or one for all, got <count>`` for a list of another length."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        if len(values) != n:
            raise CRBMError(f"{name}: expected {n} {what} (one per layer) or one for all, got {len(values)}")
        return values
    return [default if value is None else value] * n  # type: ignore[list-item]


def check_chain(n_out: Sequence[int], n_in: Sequence[int], *, name: str = "layer {}", top_extra: int = 0,
                extra: str = "label units", units: tuple[str, str] = ("visible units", "hidden units")) -> None:
    """The layers of a stack chain: layer ``i`` (bottom first) takes ``n_in[i]`` inputs where layer ``i - 1``
    gives ``n_out[i - 1]``, plus ``top_extra`` more (``extra``, e.g. label units) into the top layer.
    Otherwise CRBMError naming both layers (``name.format(i)``) and both sizes, e.g. ``layer 2: expected 6 + 3
    label units visible units (the 6 hidden units of layer 1 + 3 label units), got 10``."""
    for i in range(1, len(n_in)):
        more = top_extra if i == len(n_in) - 1 else 0
        if n_in[i] != n_out[i - 1] + more:
            plus = f" + {more} {extra}" if more else ""
            raise CRBMError(
                f"{name.format(i)}: expected {n_out[i - 1]}{plus} {units[0]} (the {n_out[i - 1]} {units[1]} of "
                f"{name.format(i - 1)}{plus}), got {n_in[i]}; the stack does not chain"
            )
