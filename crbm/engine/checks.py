"""Argument checks shared by the whole package: one test and one message for each kind of bad argument.

Each ``check_*`` returns its argument (normalised) or raises a one-line ``CRBMError`` that names the argument,
says what was expected and shows what was given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from crbm.engine.errors import CRBMError

T = TypeVar("T")


def is_positive_int(x: object) -> bool:
    """A Python int >= 1 (a bool is not a count)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def is_number(x: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` when it is a positive integer, else CRBMError ``<name> must be a positive integer, got <value>``."""
    if not is_positive_int(value):
        raise CRBMError(f"{name} must be a positive integer, got {value!r}")
    return value


def per_layer(value: T | Sequence[T] | None, n: int, name: str, default: T | None = None) -> list[T]:
    """One setting per layer of an ``n``-layer stack: a list or tuple of ``n`` settings as it is, or a single
    setting (``None``: ``default``) repeated ``n`` times. CRBMError naming ``name`` for a list of another
    length."""
    if isinstance(value, (list, tuple)):
        values = list(value)
        if len(values) != n:
            raise CRBMError(f"{name}: expected {n} (one per layer) or one for all, got {len(values)}")
        return values
    return [default if value is None else value] * n  # type: ignore[list-item]


def check_chain(n_out: Sequence[int], n_in: Sequence[int], name: str, *, unit: str = "visible units",
                top_extra: int = 0, extra_what: str = "label units") -> None:
    """The layers of a stack chain: layer ``i + 1`` takes ``n_in[i + 1]`` inputs where layer ``i`` gives
    ``n_out[i]`` (plus ``top_extra`` more, e.g. label units, into the top layer). CRBMError naming the layer
    pair and both sizes otherwise."""
    for i in range(1, len(n_in)):
        extra = top_extra if i == len(n_in) - 1 else 0
        if n_in[i] != n_out[i - 1] + extra:
            plus = f" + {extra} {extra_what}" if extra else ""
            raise CRBMError(
                f"{name}[{i}] has {n_in[i]} {unit} but {name}[{i - 1}] gives {n_out[i - 1]}{plus}; "
                f"expected {n_out[i - 1] + extra}: the stack does not chain"
            )
