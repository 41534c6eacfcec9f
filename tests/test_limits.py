"""The readers' stated limits: integer fields, JSON metadata size and nesting (crbm.engine.limits)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crbm import FormatError
from crbm.engine.limits import MAX_INT_DIGITS, MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth, load_json, parse_count


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='[]{}"\\ab,:', max_size=6)  # brackets, quotes and backslashes inside strings
DOCS = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(DOCS, st.sampled_from([1, 2, 3, 7, 1 << 22]))
def test_json_depth_ignores_brackets_in_strings_and_spans_blocks(doc, chunk):
    """Brackets, quotes and escaped quotes inside strings, and blocks that split an escape or a string."""
    assert json_depth(json.dumps(doc).encode(), chunk=chunk) == _depth(doc)


def test_deep_json_is_refused_in_linear_time():
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match=r"^m\.json: metadata nests 1000000 levels deep; expected at most 64$"):
        load_json("m.json", b"[" * 1_000_000 + b"]" * 1_000_000, "metadata")
    assert time.perf_counter() - t0 < 2.0
    assert load_json("m.json", "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "metadata") is not None


@pytest.mark.parametrize("text, message", [
    (b"1" * 4301, r"holds an integer of 4,301 digits; expected at most 20$"),
    (b"{\"a\": 1", r"is not valid JSON \(Expecting ',' delimiter"),
    (b"\xff\xfe\xfd", r"is not valid JSON"),
    (b" " * (MAX_JSON_BYTES + 1), r"holds 67,108,865 bytes of JSON; expected at most 67,108,864"),
])
def test_bad_json_is_a_format_error(text, message):
    with pytest.raises(FormatError, match=r"^m\.json: metadata " + message):
        load_json("m.json", text, "metadata")


def test_infinities_are_read_for_the_fields_that_check_them():
    """ASF joint limits hold infinities; the fields that need finite numbers or counts check them."""
    assert load_json("m.json", '{"limits": [-Infinity, Infinity], "x": NaN}', "metadata")["limits"] == [
        float("-inf"), float("inf")]


@pytest.mark.parametrize("text, value", [("0", 0), ("007", 7), ("9" * MAX_INT_DIGITS, int("9" * MAX_INT_DIGITS))])
def test_counts_within_the_limit(text, value):
    assert parse_count("f", text, "a count") == value


@pytest.mark.parametrize("text, message", [
    ("1" * 4301, r"^f:3: expected a count of at most 20 digits, got 4,301 digits$"),
    ("-1", r"^f:3: expected a count, got '-1'$"),
    ("\u0663", r"^f:3: expected a count, got '\u0663'$"),  # an Arabic-Indic digit: isdigit, not ASCII
])
def test_counts_beyond_the_limit_are_refused(text, message):
    with pytest.raises(FormatError, match=message):
        parse_count("f", text, "a count", line=3)
