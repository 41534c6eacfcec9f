"""The shared argument checks: what each accepts, and the one-line message of each refusal."""

from __future__ import annotations

import pytest

from crbm.engine.checks import (
    check_chain,
    check_int_at_least,
    check_nonnegative,
    check_positive_int,
    is_number,
    is_positive_int,
    per_layer,
)
from crbm.engine.errors import CRBMError


@pytest.mark.parametrize("x,ok", [(1, True), (7, True), (0, False), (-2, False), (True, False), (2.0, False),
                                  ("3", False), (None, False)])
def test_positive_integers_are_ints_not_bools(x, ok):
    assert is_positive_int(x) is ok
    if ok:
        assert check_positive_int(x, "n") == x
    else:
        with pytest.raises(CRBMError, match=rf"^n must be a positive integer, got {x!r}$"):
            check_positive_int(x, "n")


def test_integers_at_least_a_minimum():
    assert check_int_at_least(0, "steps", 0) == 0
    with pytest.raises(CRBMError, match=r"^steps must be an integer >= 0, got -1$"):
        check_int_at_least(-1, "steps", 0)
    with pytest.raises(CRBMError, match=r"^n_h1 must be an integer >= 1, got False$"):
        check_int_at_least(False, "n_h1", 1)


@pytest.mark.parametrize("x,ok", [(0, True), (0.5, True), (-0.1, False), (float("nan"), False), (float("inf"), False),
                                  (True, False), ("1", False)])
def test_non_negative_numbers_are_finite(x, ok):
    assert (is_number(x) and x >= 0) is ok
    if ok:
        assert check_nonnegative(x, "init_std") == x
    else:
        with pytest.raises(CRBMError, match=r"^init_std must be a finite number >= 0, got "):
            check_nonnegative(x, "init_std")


def test_per_layer_repeats_one_setting_or_takes_one_per_layer():
    assert per_layer("relu", 3, "hidden", "unit families") == ["relu"] * 3
    assert per_layer(None, 2, "configs", "TrainConfigs", "default") == ["default"] * 2
    assert per_layer(("a", "b"), 2, "hidden", "unit families") == ["a", "b"]
    with pytest.raises(CRBMError, match=r"^configs: expected 3 TrainConfigs \(one per layer\) or one for all, got 2$"):
        per_layer(["a", "b"], 3, "configs", "TrainConfigs")


def test_a_stack_that_does_not_chain_names_both_layers_and_sizes():
    check_chain([5, 4, 9], [6, 5, 4])
    check_chain([5, 4, 9], [6, 5, 7], top_extra=3)  # the top layer also takes 3 label units
    with pytest.raises(CRBMError, match=r"^layer 1: expected 5 visible units \(the 5 hidden units of layer 0\), got 6; "
                                        r"the stack does not chain$"):
        check_chain([5, 4], [6, 6])
    with pytest.raises(CRBMError, match=r"^layer 2: expected 4 \+ 3 label units visible units \(the 4 hidden units of "
                                        r"layer 1 \+ 3 label units\), got 4"):
        check_chain([5, 4, 9], [6, 5, 4], top_extra=3)
    with pytest.raises(CRBMError, match=r"^autoencoders\[1\]: expected 3 inputs \(the 3 code units of "
                                        r"autoencoders\[0\]\), got 4"):
        check_chain([3, 2], [8, 4], name="autoencoders[{}]", units=("inputs", "code units"))
