"""Acclaim ASF (skeleton) and AMC (motion) read and write, as the CMU motion-capture database ships them.

ASF: ``:units`` (mass, length, angle), ``:root`` (``order``, ``axis``, ``position``, ``orientation``),
``:bonedata`` (``begin``/``end`` blocks with ``id name direction length axis dof limits``) and
``:hierarchy`` (lines ``parent child child ...``). AMC: a header (``:FULLY-SPECIFIED``, ``:DEGREES`` or
``:RADIANS``) then numbered frames, each a line per bone with a degree of freedom: ``name v1 v2 ...`` in the
bone's ``dof`` order (the root's in its ``order``). AMC stores no frame rate (CMU captures at 120 fps).

In the Skeleton: the root is joint 0, named ``root``, with ``channels`` = the root ``order`` lower-cased,
``offset`` = ``position``, ``axis`` = ``orientation`` and ``axis_order`` = the root ``axis``. Each bone has
``offset = direction * length`` (file units), ``channels`` = its ``dof`` (lower case), ``axis`` /
``axis_order`` from its ``axis`` line and ``limits`` per dof. Joints keep bonedata order (parents first).
A bone of length 0 has offset 0, which keeps no direction: ``meta["zero_length_directions"]`` maps its name
to its ``direction`` (a list of 3 floats), which ``write_asf`` writes back for a bone whose offset is 0.
"""

from __future__ import annotations

import codecs
import heapq
import math
import os
import re
from array import array
from collections import Counter
from collections.abc import Iterator

import numpy as np

from crbm.engine.atomic import atomic_open
from crbm.engine.errors import CRBMError, FormatError
from crbm.engine.limits import MAX_JOINTS, MAX_LINE_BYTES, parse_count
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.resample import RATIO_RTOL

AMC_FPS = 120.0  # the rate an AMC file is read at: AMC stores none, and CMU captures at 120 fps
DOFS = ("tx", "ty", "tz", "rx", "ry", "rz")
LENGTH_DOF = "l"  # Acclaim's bone-length channel: recognised in a 'dof' line, then refused with the bone's name
_AMC_ANGLES = {":DEGREES": "deg", ":RADIANS": "rad"}  # AMC header line -> the ASF ``:units angle`` it means
# each number matches one way only (no nested choices), so a failed match costs time linear in the text
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PLAIN_LIST = re.compile(rf"(?:(?:{_PLAIN.pattern}) )*(?:{_PLAIN.pattern})?")
_NUMBER = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)", re.IGNORECASE)
_LIMIT = r"\(\s*([^\s()]+)\s+([^\s()]+)\s*\)"  # one "(lo hi)" pair


def read_asf(path: str | os.PathLike) -> Skeleton:
    """Read an ASF skeleton (kind "asf"). Raises FormatError on malformed input, cycles, unknown bones."""
    sections = _split_sections(path, _lines(path))
    units = _parse_units(path, sections.get("units", []))
    root = _parse_root(path, sections.get("root"))
    bones = _parse_bonedata(path, sections.get("bonedata"))
    parents, parent_lines = _parse_hierarchy(path, sections["hierarchy"], [b["name"] for b in bones])
    meta: dict = {k: " ".join(t for _, t in sections[k]) for k in ("version", "name") if k in sections}
    if "documentation" in sections:
        meta["documentation"] = "\n".join(t for _, t in sections["documentation"])
    directions = {b["name"]: list(b["direction"]) for b in bones if not any(b["offset"]) and any(b["direction"])}
    if directions:
        meta["zero_length_directions"] = directions
    where = sections["hierarchy"][0][0] if sections["hierarchy"] else None
    order = _parents_first(path, [b["name"] for b in bones], parents, parent_lines, where)
    index = {"root": 0}
    joints = [root]
    for k in order:
        b = bones[k]
        index[b["name"]] = len(joints)
        joints.append(
            Joint(
                name=b["name"],
                parent=index[parents[b["name"]]],
                offset=b["offset"],
                channels=b["dof"],
                axis=b["axis"],
                axis_order=b["axis_order"],
                limits=b["limits"],
            )
        )
    return Skeleton(joints=tuple(joints), kind="asf", units=units, meta=meta)


def read_amc(
    path: str | os.PathLike, skeleton: Skeleton, *, fps: float = AMC_FPS, name: str | None = None
) -> Motion:
    """Read AMC frames for an ASF ``skeleton``: frames (T, n_channels) in the skeleton's channel order.

    Each frame must list every bone that has channels exactly once (any order) with one value per
    channel; frame numbers must count up by one. Raises FormatError (file, line, what was expected).
    Rotations are in the skeleton's ``:units angle``: when the header's ``:DEGREES`` / ``:RADIANS`` line
    states the other unit, the rx, ry, rz values are converted to it.
    """
    if skeleton.kind != "asf":
        raise CRBMError(f"read_amc needs an ASF skeleton (kind 'asf'), got kind {skeleton.kind!r}")
    widths = [len(j.channels) for j in skeleton.joints]
    starts = np.concatenate(([0], np.cumsum(widths))).astype(np.int64)
    bone_of = {j.name: i for i, j in enumerate(skeleton.joints) if j.channels}
    n_channels = int(starts[-1])

    frame_lines: list[int] = []  # line number of each frame's number
    owner, frame_of, line_no = array("q"), array("q"), array("q")  # per bone line: joint, frame, line
    values: list[str] = []  # per bone line: its values, single-spaced
    seen_in = [-1] * len(skeleton.joints)  # the last frame that listed each bone
    frame, expected_number, listed = -1, 0, 0
    own_angle = str(skeleton.units.get("angle", "deg")).lower()
    angle = own_angle  # the unit the header states (:DEGREES, :RADIANS); the skeleton's if it states none
    for n, raw in _lines(path):
        parts = raw.split(None, 1)
        if not parts or parts[0].startswith(("#", ":")):
            if frame_lines and parts and parts[0].startswith(":"):
                raise FormatError(path, f"expected a frame number or a bone line, got {parts[0][:40]!r}", line=n)
            if parts and parts[0].upper() in _AMC_ANGLES:
                angle = _AMC_ANGLES[parts[0].upper()]
            continue
        head = parts[0]
        if len(parts) == 1 and head.isascii() and head.isdigit():
            number = parse_count(path, head, "a frame number", line=n)
            if frame_lines:
                if number != expected_number:
                    raise FormatError(path, f"expected frame number {expected_number}, got {number}", line=n)
                _check_frame(path, skeleton, bone_of, seen_in, frame, listed, frame_lines[-1])
            expected_number = number + 1
            frame_lines.append(n)
            frame, listed = frame + 1, 0
            continue
        if frame < 0:
            raise FormatError(
                path, f"expected a frame number before the first bone line, got {raw.strip()[:40]!r}", line=n
            )
        j = bone_of.get(head)
        if j is None:
            known = (
                "a bone of the skeleton with channels"
                if head not in skeleton.names
                else ("a bone with channels (this bone has no dof in the ASF)")
            )
            raise FormatError(path, f"expected {known}, got {head[:40]!r}", line=n)
        tokens = parts[1].split() if len(parts) > 1 else []
        if len(tokens) != widths[j]:
            raise FormatError(
                path,
                f"bone {head!r}: expected {widths[j]} values ({' '.join(skeleton.joints[j].channels)}), "
                f"got {len(tokens)}",
                line=n,
            )
        if seen_in[j] == frame:
            raise FormatError(path, f"frame {frame + 1} lists bone {head!r} twice", line=n)
        seen_in[j], listed = frame, listed + 1
        owner.append(j)
        frame_of.append(frame)
        line_no.append(n)
        values.append(" ".join(tokens))
    if not frame_lines:
        raise FormatError(path, "no frames after the header; expected a frame number, then a line per bone with a dof")
    _check_frame(path, skeleton, bone_of, seen_in, frame, listed, frame_lines[-1])
    owner_a, frame_a = np.frombuffer(owner, dtype=np.int64), np.frombuffer(frame_of, dtype=np.int64)
    flat = _to_floats(path, values, line_no)
    # scatter every value to (frame, column): column = channel start of its bone + its place on the line
    w = np.asarray(widths, dtype=np.int64)[owner_a]
    first = np.repeat(frame_a * n_channels + starts[owner_a], w)
    within = np.arange(flat.size) - np.repeat(np.cumsum(w) - w, w)
    out = np.empty(len(frame_lines) * n_channels)
    out[first + within] = flat
    frames = out.reshape(len(frame_lines), n_channels)
    if angle != own_angle:
        rotations = [k for k, c in enumerate(c for j in skeleton.joints for c in j.channels) if c in DOFS[3:]]
        frames[:, rotations] = (np.degrees if angle == "rad" else np.radians)(frames[:, rotations])
    return Motion(
        skeleton=skeleton,
        frames=frames,
        fps=fps,
        name=_stem(path) if name is None else name,
    )


def write_asf(skeleton: Skeleton, path: str | os.PathLike) -> None:
    """Write an ASF-kind Skeleton (bone direction = offset / |offset|, length = |offset|), atomically. A bone
    of offset 0 gets its direction from ``meta["zero_length_directions"]`` (0 0 0 when that names none)."""
    if skeleton.kind != "asf":
        raise CRBMError(f"write_asf needs an ASF skeleton (kind 'asf'), got kind {skeleton.kind!r}")
    root = skeleton.joints[0]
    out = []
    for key in ("version", "name"):
        if key in skeleton.meta:
            out.append(f":{key} {skeleton.meta[key]}")
    out.append(":units")
    out += [f"  {k} {_num(v) if isinstance(v, float) else v}" for k, v in skeleton.units.items()]
    if "documentation" in skeleton.meta:
        out.append(":documentation")
        out += ["   " + t for t in str(skeleton.meta["documentation"]).split("\n")]
    out += [
        ":root",
        f"   order {' '.join(c.upper() for c in root.channels)}",
        f"   axis {root.axis_order}",
        f"   position {_nums(root.offset)}",
        f"   orientation {_nums(root.axis)}",
        ":bonedata",
    ]
    kept = skeleton.meta.get("zero_length_directions", {})
    for i, j in enumerate(skeleton.joints[1:], 1):
        length = math.sqrt(sum(v * v for v in j.offset))
        direction = tuple(v / length for v in j.offset) if length > 0 else kept.get(j.name, (0.0, 0.0, 0.0))
        out += [
            "  begin",
            f"     id {i}",
            f"     name {j.name}",
            f"     direction {_nums(direction)}",
            f"     length {_num(length)}",
            f"     axis {_nums(j.axis)} {j.axis_order}",
        ]
        if j.channels:
            out.append(f"    dof {' '.join(j.channels)}")
        if j.limits:
            out += [
                ("    limits " if k == 0 else "           ") + f"({_num(lo)} {_num(hi)})"
                for k, (lo, hi) in enumerate(j.limits)
            ]
        out.append("  end")
    out += [":hierarchy", "  begin"]
    for i, j in enumerate(skeleton.joints):
        kids = [skeleton.joints[k].name for k in skeleton.children(i)]
        if kids:
            out.append(f"    {j.name} {' '.join(kids)}")
    out.append("  end")
    with atomic_open(path, "w", newline="\n") as f:
        f.write("\n".join(out) + "\n")


def write_amc(motion: Motion, path: str | os.PathLike, *, precision: int = 6) -> None:
    """Write an ASF-kind Motion at ``AMC_FPS`` as AMC (frames numbered from 1; ``precision`` decimals),
    atomically. A clip at another rate is refused (``check_amc_fps``)."""
    sk = motion.skeleton
    if sk.kind != "asf":
        raise CRBMError(f"write_amc needs an ASF skeleton (kind 'asf'), got kind {sk.kind!r}")
    check_amc_fps(motion, path)
    if not (isinstance(precision, int) and 0 <= precision <= 17):
        raise CRBMError(f"precision must be an int in 0..17, got {precision!r}")
    if not np.all(np.isfinite(motion.frames)):
        raise CRBMError(f"motion {motion.name!r}: frames contain NaN or infinity; AMC cannot store them")
    value = f"%.{precision}f"
    frame_fmt = "%d\n" + "".join(
        j.name + "".join(" " + value for _ in j.channels) + "\n" for j in sk.joints if j.channels
    )
    unit = ":RADIANS" if str(sk.units.get("angle", "deg")).lower().startswith("rad") else ":DEGREES"
    with atomic_open(path, "w", newline="\n") as f:
        f.write(f":FULLY-SPECIFIED\n{unit}\n")
        for lo in range(0, motion.n_frames, 2048):
            rows = motion.frames[lo : lo + 2048].tolist()
            f.write("".join(frame_fmt % (lo + k + 1, *r) for k, r in enumerate(rows)))


def check_amc_fps(motion: Motion, path: str | os.PathLike) -> None:
    """CRBMError naming ``path`` unless ``motion`` is at ``AMC_FPS`` (within ``RATIO_RTOL``, as resampling
    counts rates): an AMC file stores no frame rate, so a clip at another rate would read back at 120 fps."""
    if abs(motion.fps / AMC_FPS - 1) > RATIO_RTOL:
        raise CRBMError(
            f"{os.fspath(path)}: AMC files store no frame rate and are read as {AMC_FPS:g} fps; this clip is "
            f"{motion.fps:g} fps: write .bvh or .parquet, or resample it to {AMC_FPS:g} fps (--out-fps {AMC_FPS:g})"
        )


# ---------------------------------------------------------------------------------------------- helpers


def _stem(path) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def _num(x: float) -> str:
    return (
        repr(float(x))
        if not math.isfinite(x)
        else np.format_float_positional(float(x), unique=True, trim="-")
    )


def _nums(xs) -> str:
    return " ".join(_num(v) for v in xs)


def _lines(path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line (LF, CRLF or CR endings; a UTF-8 byte-order mark skipped), read in
    blocks; a line longer than ``MAX_LINE_BYTES`` raises FormatError."""
    with open(path, "rb") as f:
        data = f.read().removeprefix(codecs.BOM_UTF8)  # Windows editors write one
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # paths in comment headers of old files; never in the data itself
    del data
    n, pos = 0, 0
    while pos < len(text):
        end = text.find("\n", pos + _BLOCK_CHARS)
        end = len(text) if end < 0 else end + 1
        block = text[pos:end].replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if end < len(text):
            block.pop()  # the empty text after the block's last line break
        for line in block:
            n += 1
            if len(line) > MAX_LINE_BYTES:
                raise FormatError(
                    path, f"a line of {len(line):,} characters; expected lines of at most {MAX_LINE_BYTES:,}", line=n
                )
            yield n, line
        pos = end


_BLOCK_CHARS = 1 << 16


def _float(path, tok: str, line: int, what: str) -> float:
    if _NUMBER.fullmatch(tok) is None:
        raise FormatError(path, f"expected a number for {what}, got {tok!r}", line=line)
    return float(tok)


def _finite(path, tok: str, line: int, what: str) -> float:
    value = _float(path, tok, line, what)
    if not math.isfinite(value):
        raise FormatError(path, f"expected a finite number for {what}, got {tok!r}", line=line)
    return value


def _to_floats(path, values: list[str], lines: array) -> np.ndarray:
    """Parse the single-spaced decimal numbers of every bone line (``values[k]`` from line ``lines[k]``) to
    float64, a block of lines at a time (one pattern match and one numpy parse per block: the pattern's
    backtracking stack grows with the text it matches); on a bad token raise naming its line."""
    parsed = [np.zeros(0)]
    for lo in range(0, len(values), _LINES_PER_BLOCK):
        block = values[lo : lo + _LINES_PER_BLOCK]
        text = " ".join(block)
        if _PLAIN_LIST.fullmatch(text) is None:
            for k, line in enumerate(block):
                for t in line.split(" "):
                    if _PLAIN.fullmatch(t) is None:
                        raise FormatError(
                            path, f"expected a finite decimal number, got {t[:40]!r}", line=lines[lo + k]
                        )
        if text:
            numbers = np.fromstring(text, dtype=np.float64, sep=" ")
            if not np.isfinite(numbers).all():  # a decimal beyond the float range, such as 1e999
                first = int(np.flatnonzero(~np.isfinite(numbers))[0])
                ends = np.cumsum([line.count(" ") + 1 for line in block])
                k = int(np.searchsorted(ends, first, side="right"))
                token = block[k].split(" ")[first - (int(ends[k - 1]) if k else 0)]
                raise FormatError(path, f"expected a finite decimal number, got {token[:40]!r}", line=lines[lo + k])
            parsed.append(numbers)
    return np.concatenate(parsed)


_LINES_PER_BLOCK = 1024


def _split_sections(path, lines) -> dict[str, list[tuple[int, str]]]:
    """Group the ASF's lines under their ``:keyword`` (the text after the keyword becomes the first line)."""
    sections: dict[str, list[tuple[int, str]]] = {}
    current = None
    for n, raw in lines:
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith(":"):
            key, _, rest = text[1:].partition(" ")
            current = key.strip().lower()
            if current in sections:
                raise FormatError(path, f"section ':{current}' appears twice", line=n)
            sections[current] = [(n, rest.strip())] if rest.strip() else []
        elif current is None:
            raise FormatError(path, f"expected a ':keyword' section header, got {text[:40]!r}", line=n)
        else:
            sections[current].append((n, text))
    for key in ("root", "bonedata", "hierarchy"):
        if key not in sections:
            raise FormatError(path, f"no ':{key}' section; an ASF file needs :root, :bonedata and :hierarchy")
    return sections


def _parse_units(path, lines) -> dict:
    units: dict = {}
    for n, text in lines:
        parts = text.split()
        if len(parts) != 2:
            raise FormatError(path, f"expected ':units' lines 'name value', got {text[:40]!r}", line=n)
        key, value = parts
        units[key] = _finite(path, value, n, f"unit {key!r}") if _NUMBER.fullmatch(value) else value
        if key == "length" and not (isinstance(units[key], float) and units[key] > 0):
            raise FormatError(path, f"expected ':units length' to be a positive number (1 unit = 1/length inch), "
                                    f"got {value!r}", line=n)
    angle = str(units.get("angle", "deg")).lower()
    if angle not in ("deg", "rad"):
        raise FormatError(path, f"expected ':units angle' to be 'deg' or 'rad', got {units['angle']!r}")
    return units


def _parse_root(path, lines) -> Joint:
    fields: dict[str, tuple[int, list[str]]] = {}
    for n, text in lines:
        key, *rest = text.split()
        fields[key.lower()] = (n, rest)
    where = lines[0][0] if lines else None
    for key in ("order", "axis", "position", "orientation"):
        if key not in fields:
            raise FormatError(path, f"':root' has no '{key}' line", line=where)
    n, order = fields["order"]
    channels = tuple(c.lower() for c in order)
    for c in channels:
        if c not in DOFS:
            raise FormatError(
                path, f"root order: expected TX TY TZ RX RY RZ in some order, got {c.upper()!r}", line=n
            )
    if len(set(channels)) != len(channels):
        raise FormatError(path, "root order lists a channel twice", line=n)
    n, axis = fields["axis"]
    axis_order = _axis_order(path, axis[0] if len(axis) == 1 else " ".join(axis), n)
    position = _vector(path, fields["position"], "root position")
    orientation = _vector(path, fields["orientation"], "root orientation")
    return Joint(
        name="root", parent=-1, offset=position, channels=channels, axis=orientation, axis_order=axis_order
    )


def _axis_order(path, text: str, line: int) -> str:
    order = text.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise FormatError(
            path, f"expected an axis order like XYZ (each of X, Y, Z once), got {text!r}", line=line
        )
    return order


def _vector(path, field: tuple[int, list[str]], what: str) -> tuple[float, float, float]:
    n, toks = field
    if len(toks) != 3:
        raise FormatError(path, f"{what}: expected 3 numbers, got {len(toks)}", line=n)
    return tuple(_finite(path, t, n, what) for t in toks)


def _parse_bonedata(path, lines) -> list[dict]:
    bones: list[dict] = []
    bone = None
    limits_left = 0
    for n, text in lines:
        key, *rest = text.split()
        key = key.lower()
        if key == "begin":
            if bone is not None:
                raise FormatError(path, "expected 'end' before the next 'begin'", line=n)
            if len(bones) == MAX_JOINTS:
                raise FormatError(path, f"the skeleton has more than {MAX_JOINTS:,} bones", line=n)
            bone = {"line": n, "dof": (), "limits": [], "axis": None}
            limits_left = 0
        elif bone is None:
            raise FormatError(path, f"expected 'begin' of a bone, got {text[:40]!r}", line=n)
        elif key == "end":
            bones.append(_finish_bone(path, bone, n))
            bone = None
        elif key == "name":
            if len(rest) != 1:
                raise FormatError(path, f"expected 'name <bone>', got {text[:40]!r}", line=n)
            bone["name"] = rest[0]
        elif key == "direction":
            bone["direction"] = _vector(path, (n, rest), "bone direction")
        elif key == "length":
            if len(rest) != 1:
                raise FormatError(path, "expected 'length <number>'", line=n)
            bone["length"] = _finite(path, rest[0], n, "bone length")
        elif key == "axis":
            if len(rest) != 4:
                raise FormatError(path, f"expected 'axis <a> <b> <c> <order>', got {text[:40]!r}", line=n)
            bone["axis"] = _vector(path, (n, rest[:3]), "bone axis")
            bone["axis_order"] = _axis_order(path, rest[3], n)
        elif key == "dof":
            dof = tuple(d.lower() for d in rest)
            for d in dof:
                if d not in DOFS and d != LENGTH_DOF:
                    raise FormatError(path, f"expected dof names among {' '.join(DOFS)}, got {d!r}", line=n)
            if len(set(dof)) != len(dof):
                raise FormatError(path, "a dof is listed twice", line=n)
            bone["dof"], bone["dof_line"] = dof, n
        elif key == "limits" or (key.startswith("(") and limits_left > 0):
            text_limits = " ".join(rest) if key == "limits" else text
            pairs = re.findall(_LIMIT, text_limits)
            if not pairs or re.sub(_LIMIT, "", text_limits).strip():
                raise FormatError(path, f"expected limits as '(lo hi)' pairs, got {text[:40]!r}", line=n)
            bone["limits"] += [
                (_float(path, a, n, "a limit"), _float(path, b, n, "a limit")) for a, b in pairs
            ]
            limits_left = len(bone["dof"]) - len(bone["limits"])
            continue
        elif key in ("id", "bodymass", "cofmass"):
            pass
        else:
            raise FormatError(
                path,
                f"unknown bone field {key!r}; expected name, direction, length, axis, dof, limits",
                line=n,
            )
        limits_left = 0
    if bone is not None:
        raise FormatError(path, "the last bone has no 'end'", line=bone["line"])
    uses = Counter(b["name"] for b in bones)
    for b in bones:
        if b["name"] == "root" or uses[b["name"]] > 1:
            raise FormatError(path, f"bone name {b['name']!r} is used twice (or is 'root')", line=b["line"])
    return bones


def _finish_bone(path, bone: dict, line: int) -> dict:
    for key in ("name", "direction", "length"):
        if key not in bone:
            raise FormatError(
                path, f"bone has no '{key}' line (expected name, direction, length, axis)", line=bone["line"]
            )
    if bone["axis"] is None:
        raise FormatError(path, f"bone {bone['name']!r} has no 'axis' line", line=bone["line"])
    if LENGTH_DOF in bone["dof"]:
        raise FormatError(path, f"bone {bone['name']!r}: dof {LENGTH_DOF!r} (a bone length channel) is not supported",
                          line=bone["dof_line"])
    if bone["limits"] and len(bone["limits"]) != len(bone["dof"]):
        raise FormatError(
            path,
            f"bone {bone['name']!r}: expected {len(bone['dof'])} limits (one per dof), "
            f"got {len(bone['limits'])}",
            line=line,
        )
    bone["offset"] = tuple(d * bone["length"] for d in bone["direction"])
    bone["limits"] = tuple(bone["limits"])
    return bone


def _parse_hierarchy(path, lines, names: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """Map each bone to its parent's name (and to the line saying so) from ``parent child ...`` lines."""
    known = set(names) | {"root"}
    parents: dict[str, str] = {}
    parent_lines: dict[str, int] = {}
    body = [(n, t) for n, t in lines if t.lower() not in ("begin", "end")]
    for n, text in body:
        parent, *children = text.split()
        for name in [parent, *children]:
            if name not in known:
                raise FormatError(
                    path, f"hierarchy names unknown bone {name!r}; expected a bone from :bonedata", line=n
                )
        for child in children:
            if child == "root":
                raise FormatError(path, "hierarchy gives 'root' a parent; the root has none", line=n)
            if child in parents:
                raise FormatError(
                    path, f"bone {child!r} is given a second parent ({parents[child]!r}, {parent!r})", line=n
                )
            parents[child] = parent
            parent_lines[child] = n
    return parents, parent_lines


def _parents_first(
    path, names: list[str], parents: dict[str, str], parent_lines: dict[str, int], where
) -> list[int]:
    """Bone indices in bonedata order, each moved after its parent: repeatedly the first bone (in bonedata
    order) whose parent is placed. Missing parents and cycles raise. O(n log n) for n bones."""
    for name in names:
        if name not in parents:
            raise FormatError(
                path, f"bone {name!r} has no parent in :hierarchy; expected it under root", line=where
            )
    kids: dict[str, list[int]] = {}
    for k, name in enumerate(names):
        kids.setdefault(parents[name], []).append(k)
    ready = list(kids.get("root", []))
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for child in kids.get(names[k], ()):
            heapq.heappush(ready, child)
    if len(order) < len(names):  # the bones left hang from a cycle: walk up from the first one to find it
        placed = set(order)
        name = next(names[k] for k in range(len(names)) if k not in placed)
        seen = {name: 0}
        chain = [name]
        while parents[chain[-1]] not in seen:
            chain.append(parents[chain[-1]])
            seen[chain[-1]] = len(chain) - 1
        p = parents[chain[-1]]
        cycle = " -> ".join(chain[seen[p] :] + [p])
        raise FormatError(path, f"hierarchy has a cycle: {cycle}", line=parent_lines[chain[-1]])
    return order


def _check_frame(path, skeleton, bone_of: dict[str, int], seen_in: list[int], frame: int, listed: int,
                 line: int) -> None:
    """Frame ``frame`` (starting at ``line``, ``listed`` bone lines) lists every bone that has channels."""
    if listed != len(bone_of):
        missing = next(j for j in bone_of.values() if seen_in[j] != frame)
        raise FormatError(
            path,
            f"frame starting here misses bone {skeleton.joints[missing].name!r}; expected every bone with a dof",
            line=line,
        )
