"""BVH (Biovision hierarchy) read and write.

A BVH file is a ``HIERARCHY`` section (a tree of ``ROOT``/``JOINT`` blocks, each with an ``OFFSET``, an
optional ``CHANNELS n name...`` line and nested joints or one ``End Site``) followed by a ``MOTION``
section: ``Frames: T``, ``Frame Time: dt`` and T lines of channel values in hierarchy order.

The hierarchy is parsed token by token (it is small); the MOTION section is parsed in one vectorised
pass (``numpy.fromstring`` over the bytes) and its layout is checked per line with numpy, so a wrong
value count or a non-numeric value is reported with its line number.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import os
import re
import warnings
from collections.abc import Iterator

import numpy as np

from crbm.engine.atomic import atomic_open
from crbm.engine.errors import CRBMError, FormatError
from crbm.engine.limits import MAX_JOINTS, parse_count
from crbm.mocap.lengths import BVH_DEFAULT_UNIT, check_length_unit, guess_bvh_length_unit
from crbm.mocap.motion import MAX_FPS, Joint, Motion, Skeleton

CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CHANNEL_CANON = {c.lower(): c for c in CHANNELS}
# one way to match each number (no nested choices), so a failed match costs time linear in the token
_NUMBER = re.compile(rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_TEXT = re.compile(_NUMBER.pattern.decode(), re.ASCII)


def read_bvh(path: str | os.PathLike, *, units: str | None = None) -> Motion:
    """Read a BVH file into a Motion: frames (T, n_channels) float64, fps = 1 / Frame Time.

    Channel names keep the file's spelling (``Hips.Zrotation``); joints keep file order (depth first).
    units: the length unit of the file's numbers, recorded as the skeleton's ``units["length"]`` (values
    are not scaled; ``crbm.mocap.lengths.convert_length`` does that). BVH declares no unit; by default it is
    read from the rest pose's size (``crbm.mocap.lengths.guess_bvh_length_unit``: metres for a body 0.3-5
    units tall, as Blender writes, millimetres from 800 units, the CMU ASF unit for a CMU conversion 10-50
    units tall, else centimetres, the unit of most motion-capture BVH releases). Position channels replace their joint's
    OFFSET components (see :mod:`crbm.mocap.kinematics`).
    Raises FormatError (file, line, what was expected) on malformed input, CRBMError for an unknown unit.
    """
    if units is not None:
        check_length_unit(units, os.fspath(path))
    data = _read_bytes(path)
    match = re.search(rb"(?m)^[ \t]*MOTION[ \t]*\r?$", data)
    if match is None:
        _parse_hierarchy(path, _decode(path, data))  # reports a broken hierarchy first
        raise FormatError(
            path, "no MOTION section found; expected a line 'MOTION' after the HIERARCHY section"
        )
    header = _decode(path, data[: match.start()])
    skeleton = _parse_hierarchy(path, header, units or BVH_DEFAULT_UNIT)
    if units is None:
        skeleton = dataclasses.replace(skeleton, units={**skeleton.units, "length": guess_bvh_length_unit(skeleton)})
    first_line = header.count("\n") + 1  # line number of 'MOTION'
    n_frames, frame_time, data_start, data_line = _parse_motion_header(path, data, match.end(), first_line)
    frames = _parse_frames(path, data, data_start, data_line, n_frames, len(skeleton.channel_names))
    return Motion(skeleton=skeleton, frames=frames, fps=1.0 / frame_time, name=_stem(path))


def write_bvh(motion: Motion, path: str | os.PathLike, *, precision: int = 6) -> None:
    """Write a BVH-kind Motion; values with ``precision`` decimals (absolute error <= 0.5e-precision).

    Joints are written depth first (children in skeleton order), the channels of the MOTION lines in
    the same order; the frame time is written with 17 significant digits so fps round-trips exactly.
    The file appears atomically (temporary file, then rename).
    """
    sk = motion.skeleton
    if sk.kind != "bvh":
        raise CRBMError(
            f"write_bvh needs a BVH skeleton, got kind {sk.kind!r}; convert ASF/AMC motion with "
            "crbm.asf_to_bvh first"
        )
    bad_names = [j.name for j in sk.joints if not _writable_name(j.name)]
    if bad_names:
        raise CRBMError("BVH joint names must be words separated by single spaces, none of them a brace, "
                        f"got {bad_names}")
    if not (isinstance(precision, int) and 0 <= precision <= 17):
        raise CRBMError(f"precision must be an int in 0..17, got {precision!r}")
    for j in sk.joints:
        bad = [c for c in j.channels if c.lower() not in _CHANNEL_CANON]
        if bad:
            raise CRBMError(f"joint {j.name!r}: BVH channels must be among {CHANNELS}, got {bad}")
    order = sk.depth_first()
    lines = ["HIERARCHY", *_hierarchy_lines(sk)]
    lines += ["MOTION", f"Frames: {motion.n_frames}", f"Frame Time: {1.0 / motion.fps:.17g}"]
    starts = np.cumsum([0] + [len(j.channels) for j in sk.joints])
    columns = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in order]).astype(np.int64)
    frames = motion.frames[:, columns]
    if not np.all(np.isfinite(frames)):
        raise CRBMError(f"motion {motion.name!r}: frames contain NaN or infinity; BVH cannot store them")
    row = " ".join([f"%.{precision}f"] * frames.shape[1]) + "\n"
    with atomic_open(path, "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        for lo in range(0, frames.shape[0], 512):  # one %-format call per block of rows
            block = frames[lo : lo + 512]
            f.write((row * block.shape[0]) % tuple(block.ravel().tolist()))


# ---------------------------------------------------------------------------------------------- reading


def _read_bytes(path) -> bytes:
    """The file's bytes without a UTF-8 byte-order mark (Windows editors write one), with lone CR line ends
    (classic Mac) made LF."""
    with open(path, "rb") as f:
        data = f.read().removeprefix(codecs.BOM_UTF8)
    return data.replace(b"\r", b"\n") if b"\n" not in data and b"\r" in data else data


def _stem(path) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def _decode(path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise FormatError(path, "the hierarchy is not valid UTF-8 text", line=line) from None


def _writable_name(name: str) -> bool:
    """A name that reads back as itself (``_Tokens.name``): words separated by single spaces, none a brace."""
    words = name.split()
    return bool(words) and " ".join(words) == name and "{" not in words and "}" not in words


class _Tokens:
    """The hierarchy's whitespace-separated tokens with their 1-based line numbers, read one at a time."""

    def __init__(self, path, text: str):
        self.path = path
        self.items = self._generate(text)
        self.ahead = next(self.items, None)  # the next token and its line, None at the end
        self.last_line = text.count("\n") + 1

    @staticmethod
    def _generate(text: str) -> Iterator[tuple[str, int]]:
        pos, n = 0, 0
        while pos <= len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            n += 1
            for tok in text[pos:end].split():
                yield tok, n
            pos = end + 1

    def peek(self) -> tuple[str, int] | None:
        """The next token and its line without consuming it, or None at the end."""
        return self.ahead

    def next(self, what: str) -> tuple[str, int]:
        item = self.ahead
        if item is None:
            raise FormatError(self.path, f"the hierarchy ends early; expected {what}", line=self.last_line)
        self.ahead = next(self.items, None)
        return item

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok != word:
            raise FormatError(self.path, f"expected {word!r}, got {tok!r}", line=line)
        return line

    def name(self, what: str) -> tuple[str, int]:
        """A joint name and its line: the next token and the tokens after it on the same line up to a brace,
        joined by single spaces (3ds Max Biped and Rocketbox rigs name joints 'Bip01 L Thigh')."""
        tok, line = self.next(what)
        words = [tok]
        while self.ahead is not None and self.ahead[1] == line and self.ahead[0] not in ("{", "}"):
            words.append(self.next(what)[0])
        return " ".join(words), line

    def floats(self, n: int, what: str) -> tuple[float, ...]:
        out = []
        for _ in range(n):
            tok, line = self.next(what)
            out.append(_float(self.path, tok, line, what))
        return tuple(out)


def _float(path, tok: str, line: int, what: str) -> float:
    if _NUMBER_TEXT.fullmatch(tok) is None:
        raise FormatError(path, f"expected a number for {what}, got {tok[:40]!r}", line=line)
    value = float(tok)
    if not math.isfinite(value):
        raise FormatError(path, f"expected a finite number for {what}, got {tok!r}", line=line)
    return value


def _parse_hierarchy(path, text: str, units: str = BVH_DEFAULT_UNIT) -> Skeleton:
    toks = _Tokens(path, text)
    toks.expect("HIERARCHY")
    toks.expect("ROOT")
    name, line = toks.name("the root joint's name")
    joints = _parse_joints(toks, name, line)
    if toks.peek() is not None:
        tok, line = toks.peek()
        raise FormatError(
            path, f"expected 'MOTION' after the root joint's closing brace, got {tok!r}", line=line
        )
    seen: set[str] = set()
    for j in joints:
        if j["name"] in seen:
            raise FormatError(
                path, f"joint name {j['name']!r} is used twice; names must be unique", line=j["line"]
            )
        seen.add(j["name"])
    return Skeleton(
        joints=tuple(
            Joint(
                name=j["name"],
                parent=j["parent"],
                offset=j["offset"],
                channels=j["channels"] or (),
                end_site=j["end"],
            )
            for j in joints
        ),
        kind="bvh",
        units={"length": units},
    )


def _open_joint(toks: _Tokens, name: str, line: int, parent: int, joints: list[dict]) -> dict:
    """Start joint ``name`` (its line, parent index) after ROOT/JOINT and its opening brace."""
    if name in ("{", "}"):
        raise FormatError(toks.path, f"expected a joint name, got {name!r}", line=line)
    if len(joints) == MAX_JOINTS:
        raise FormatError(toks.path, f"the hierarchy has more than {MAX_JOINTS:,} joints", line=line)
    me = {"name": name, "parent": parent, "offset": None, "channels": None, "end": None, "line": line,
          "index": len(joints)}
    joints.append(me)
    toks.expect("{")
    return me


def _parse_joints(toks: _Tokens, name: str, line: int) -> list[dict]:
    """Every joint of the tree rooted at ``name``, depth first, without recursion (any nesting depth)."""
    joints: list[dict] = []
    open_joints = [_open_joint(toks, name, line, -1, joints)]  # the joints whose '}' is still to come
    while open_joints:
        me = open_joints[-1]
        name = me["name"]
        tok, line = toks.next(f"'}}' closing joint {name!r}")
        if tok == "OFFSET":
            if me["offset"] is not None:
                raise FormatError(toks.path, f"joint {name!r} has a second OFFSET", line=line)
            me["offset"] = toks.floats(3, f"joint {name!r} OFFSET (3 numbers)")
        elif tok == "CHANNELS":
            if me["channels"] is not None:
                raise FormatError(toks.path, f"joint {name!r} has a second CHANNELS line", line=line)
            me["channels"] = _parse_channels(toks, name, line)
        elif tok in ("JOINT", "ROOT"):
            if tok == "ROOT":
                raise FormatError(toks.path, "a second ROOT inside the hierarchy; expected JOINT", line=line)
            child, cline = toks.name("a joint name after JOINT")
            open_joints.append(_open_joint(toks, child, cline, me["index"], joints))
        elif tok.lower() == "end":  # "End Site"; some tools write "End site"
            site, sline = toks.next("'Site' after 'End'")
            if site.lower() != "site":
                raise FormatError(toks.path, f"expected 'Site', got {site!r}", line=sline)
            if me["end"] is not None:
                raise FormatError(toks.path, f"joint {name!r} has a second End Site", line=line)
            toks.expect("{")
            toks.expect("OFFSET")
            me["end"] = toks.floats(3, f"End Site OFFSET of {name!r} (3 numbers)")
            toks.expect("}")
        elif tok == "}":
            if me["offset"] is None:
                raise FormatError(toks.path, f"joint {name!r} has no OFFSET", line=me["line"])
            open_joints.pop()
        else:
            raise FormatError(
                toks.path,
                f"in joint {name!r}: expected OFFSET, CHANNELS, JOINT, End Site or '}}', got {tok!r}",
                line=line,
            )
    return joints


def _parse_channels(toks: _Tokens, name: str, line: int) -> tuple[str, ...]:
    tok, cline = toks.next("the channel count")
    count = tok.lstrip("0") or "0"  # (compared as text: a count of 5,000 digits is no int to convert)
    if not (tok.isascii() and tok.isdigit()) or len(count) > 1 or count > "6":
        raise FormatError(
            toks.path, f"joint {name!r}: expected a channel count 0..6, got {tok[:40]!r}", line=cline
        )
    channels = []
    for _ in range(int(count)):
        c, cl = toks.next(f"a channel name of joint {name!r}")
        if c.lower() not in _CHANNEL_CANON:
            raise FormatError(
                toks.path, f"joint {name!r}: expected a channel name among {CHANNELS}, got {c!r}", line=cl
            )
        if c.lower() in (x.lower() for x in channels):
            raise FormatError(toks.path, f"joint {name!r}: channel {c!r} listed twice", line=cl)
        channels.append(c)
    return tuple(channels)


def _parse_motion_header(path, data: bytes, pos: int, line: int) -> tuple[int, float, int, int]:
    """Parse 'Frames: T' and 'Frame Time: dt' after the MOTION line (``line``, ending at byte ``pos``).

    Returns (T, dt, byte offset of the first frame line, its line number).
    """
    pos = data.find(b"\n", pos)
    pos = len(data) if pos < 0 else pos + 1
    found: dict[str, tuple[str, int]] = {}
    for key, pattern in (("Frames", rb"Frames:"), ("Frame Time", rb"Frame\s+Time:")):
        raw = b""
        while not raw.strip():
            if pos >= len(data):
                raise FormatError(
                    path, f"the file ends early; expected '{key}: <number>' after MOTION", line=line
                )
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            raw, pos, line = data[pos:end], end + 1, line + 1
        m = re.fullmatch(rb"\s*" + pattern + rb"\s*(\S+)\s*", raw)
        if m is None:
            shown = raw.strip()[:60].decode("utf-8", "replace")
            raise FormatError(path, f"expected '{key}: <number>', got {shown!r}", line=line)
        found[key] = (m.group(1).decode("utf-8", "replace"), line)
    frames, frames_line = found["Frames"]
    n_frames = parse_count(path, frames, "a whole frame count after 'Frames:'", line=frames_line)
    text, time_line = found["Frame Time"]
    frame_time = _float(path, text, time_line, "'Frame Time:'")
    if frame_time <= 0:
        raise FormatError(path, f"expected a positive Frame Time, got {text!r}", line=time_line)
    if frame_time < 1 / MAX_FPS:
        raise FormatError(
            path, f"Frame Time {text} s is {1 / frame_time:,.0f} fps; expected a frame rate of at most "
            f"{MAX_FPS:,.0f} fps (a Frame Time of at least {1 / MAX_FPS:g} s)", line=time_line,
        )
    return n_frames, frame_time, min(pos, len(data)), line + 1


def _parse_frames(
    path, data: bytes, start: int, first_line: int, n_frames: int, n_channels: int
) -> np.ndarray:
    """Parse the MOTION lines (bytes from ``start``) into (n_frames, n_channels), checking every line.

    Works through cache-sized chunks of whole lines; blank lines are skipped.
    """
    blocks, filled, last_filled, line, pos = [], 0, first_line, first_line, start
    while pos < len(data):
        end = data.find(b"\n", min(pos + _CHUNK_BYTES, len(data)))
        end = len(data) if end < 0 else end + 1
        values, n_lines, lines_filled, last = _parse_chunk(path, data[pos:end], line, n_channels)
        blocks.append(values)
        filled += lines_filled
        last_filled = last if lines_filled else last_filled
        line += n_lines
        pos = end
    if filled != n_frames:
        raise FormatError(
            path,
            f"'Frames: {n_frames}' but the MOTION section has {filled} frame lines"
            + (" (file truncated?)" if filled < n_frames else ""),
            line=last_filled,
        )
    return (
        np.concatenate(blocks).reshape(n_frames, n_channels) if blocks else np.zeros((n_frames, n_channels))
    )


_CHUNK_BYTES = 1 << 22


def _parse_chunk(path, body: bytes, first_line: int, n_channels: int) -> tuple[np.ndarray, int, int, int]:
    """Values of whole MOTION lines; returns (values, lines seen, non-blank lines, last non-blank line)."""
    u = np.frombuffer(body, dtype=np.uint8)
    space = u <= 32
    # a token starts at a non-space byte that follows a space (or starts the chunk, which starts a line)
    token_starts = np.flatnonzero(space[:-1] & ~space[1:]) + 1
    if u.size and not space[0]:
        token_starts = np.concatenate(([0], token_starts))
    newlines = np.flatnonzero(u == 10)
    line_starts = np.concatenate(([0], newlines + 1))
    line_ends = np.concatenate((newlines, [len(body)]))
    per_line = np.searchsorted(token_starts, line_ends) - np.searchsorted(token_starts, line_starts)
    filled = np.flatnonzero(per_line)
    wrong = filled[per_line[filled] != n_channels]
    if wrong.size:
        k = int(wrong[0])
        raise FormatError(
            path,
            f"expected {n_channels} values on a MOTION line (one per channel), got {int(per_line[k])}",
            line=first_line + k,
        )
    n_lines = int(newlines.size)
    last = first_line + (int(filled[-1]) if filled.size else 0)
    if token_starts.size == 0:  # (numpy parses an all-blank string as [-1.0])
        return np.zeros(0), n_lines, int(filled.size), last
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.fromstring(body, dtype=np.float64, sep=" ")
    except ValueError:
        values = None
    if values is None or values.size != token_starts.size:
        for k in filled.tolist():
            _check_line(path, body[line_starts[k] : line_ends[k]], first_line + k)
        raise FormatError(path, "the MOTION section could not be parsed as numbers", line=first_line)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(filled[bad[0] // n_channels])
        raise FormatError(
            path, f"expected finite numbers, got {values[bad[0]]} in a MOTION line", line=first_line + k
        )
    return values, n_lines, int(filled.size), last


def _check_line(path, raw: bytes, line: int) -> None:
    """Raise a FormatError naming the first token of ``raw`` that is not a decimal number."""
    for tok in raw.split():
        if _NUMBER.fullmatch(tok) is None:
            shown = tok[:40].decode("utf-8", "replace")
            raise FormatError(path, f"expected a number in the MOTION section, got {shown!r}", line=line)


# ---------------------------------------------------------------------------------------------- writing


def _num(x: float) -> str:
    """Shortest decimal that reads back as the same float, never in exponent form."""
    return np.format_float_positional(float(x), unique=True, trim="-")


def _hierarchy_lines(sk: Skeleton) -> list[str]:
    """The HIERARCHY section's lines, joints depth first (children in skeleton order), without recursion."""
    lines = []
    todo = [(0, 0, False)]  # (joint, depth, whether its children are written)
    while todo:
        i, depth, closing = todo.pop()
        j, pad = sk.joints[i], "\t" * depth
        if closing:
            if j.end_site is not None:
                lines += [
                    f"{pad}\tEnd Site",
                    f"{pad}\t{{",
                    f"{pad}\t\tOFFSET {' '.join(_num(v) for v in j.end_site)}",
                    f"{pad}\t}}",
                ]
            lines.append(pad + "}")
            continue
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {j.name}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET {' '.join(_num(v) for v in j.offset)}")
        lines.append(f"{pad}\tCHANNELS {len(j.channels)}" + "".join(" " + c for c in j.channels))
        todo.append((i, depth, True))
        todo.extend((k, depth + 1, False) for k in reversed(sk.children(i)))
    return lines
