"""What crbm's readers accept at most.

Every reader (BVH, ASF, AMC, Parquet, checkpoints) runs in time and memory linear in the size of its input,
and refuses input beyond these limits with a one-line ``FormatError`` naming the file, the place and the limit:

- ``MAX_INT_DIGITS`` (20): digits of an integer field (BVH ``Frames:`` and ``CHANNELS``, AMC frame numbers,
  integers in JSON metadata), enough for any 64-bit count.
- ``MAX_JOINTS`` (200,000): joints of a BVH hierarchy or bones of an ASF skeleton. A hierarchy may nest to
  any depth within that (it is parsed without recursion).
- ``MAX_LINE_BYTES`` (1 MiB): length of an ASF or AMC line (real ones are under 200 bytes).
- ``MAX_JSON_BYTES`` (64 MiB) and ``MAX_JSON_DEPTH`` (64 levels): the JSON metadata of a Parquet file or a
  checkpoint (crbm writes at most 6 levels). ``Infinity`` and ``NaN`` are read (ASF joint limits hold
  infinities); every field that needs a finite number or a count checks it.
"""

from __future__ import annotations

import json

import numpy as np

from crbm.engine.errors import FormatError

MAX_INT_DIGITS = 20
MAX_JOINTS = 200_000
MAX_LINE_BYTES = 1 << 20
MAX_JSON_BYTES = 64 << 20
MAX_JSON_DEPTH = 64

_BACKSLASH, _QUOTE = ord("\\"), ord('"')
_OPEN, _CLOSE = (ord("["), ord("{")), (ord("]"), ord("}"))


def parse_count(path, text: str, what: str, *, line: int | None = None) -> int:
    """``text`` as a non-negative decimal integer of at most ``MAX_INT_DIGITS`` digits, else FormatError
    saying it expected ``what`` (e.g. "a whole frame count after 'Frames:'")."""
    if not (text.isascii() and text.isdigit()):
        raise FormatError(path, f"expected {what}, got {text[:40]!r}", line=line)
    if len(text) > MAX_INT_DIGITS:
        raise FormatError(
            path, f"expected {what} of at most {MAX_INT_DIGITS} digits, got {len(text):,} digits", line=line
        )
    return int(text)


def json_depth(raw: bytes, *, chunk: int = 1 << 22) -> int:
    """Deepest nesting of ``[`` / ``{`` in JSON text ``raw`` (brackets inside strings not counted): 0 for a
    bare number or string. Vectorised over blocks of ``chunk`` bytes, so memory stays small."""
    depth = deepest = 0
    inside = False  # whether the block starts inside a string
    run = 0  # backslashes ending the previous block
    for lo in range(0, len(raw), chunk):
        b = np.frombuffer(raw, dtype=np.uint8, count=min(chunk, len(raw) - lo), offset=lo)
        index = np.arange(b.size)
        # a quote ends (or starts) a string unless an odd number of backslashes precede it
        last_plain = np.maximum.accumulate(np.where(b != _BACKSLASH, index, -1 - run))
        quotes = np.flatnonzero(b == _QUOTE)
        before = np.where(quotes > 0, last_plain[np.maximum(quotes - 1, 0)], -1 - run)
        real = quotes[(quotes - 1 - before) % 2 == 0]
        toggles = np.zeros(b.size, dtype=np.int64)
        toggles[real] = 1
        outside = (np.cumsum(toggles) + inside) % 2 == 0  # a closing quote counts as outside: it is no bracket
        step = np.isin(b, _OPEN).astype(np.int64) - np.isin(b, _CLOSE)
        levels = depth + np.cumsum(step * outside)
        deepest = max(deepest, int(levels.max()))
        depth, inside, run = int(levels[-1]), bool((real.size + inside) % 2), int(b.size - 1 - last_plain[-1])
    return deepest


class _LongInteger(ValueError):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongInteger(f"holds an integer of {len(text.lstrip('-')):,} digits; expected at most {MAX_INT_DIGITS}")
    return int(text)


def load_json(path, raw: bytes | str, what: str):
    """Parse JSON text ``raw`` (the ``what`` of file ``path``) within the limits above; FormatError otherwise."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_JSON_BYTES:
        raise FormatError(path, f"{what} holds {len(data):,} bytes of JSON; expected at most {MAX_JSON_BYTES:,}")
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise FormatError(path, f"{what} nests {depth} levels deep; expected at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(data, parse_int=_bounded_int)
    except _LongInteger as err:
        raise FormatError(path, f"{what} {err}") from None
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FormatError(path, f"{what} is not valid JSON ({err})") from None
