"""BVH read/write: a hand-checked tiny file, the bvhtoolbox samples, bvhio cross-checks, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mocap_fixtures import least_cpu_seconds
from mocap_fk import bvh_points, bvhio_points

import crbm.mocap.bvh as bvh_module
from crbm import CRBMError, FormatError, Joint, Motion, Skeleton, joint_positions, read_bvh, write_bvh

TINY = """\
HIERARCHY
ROOT Hips
{
  OFFSET 0.5 1 -2
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10.25 0
    CHANNELS 1 Yrotation
    JOINT Head
    {
      OFFSET 0 5 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 3 0
      }
    }
  }
  JOINT Slider
  {
    OFFSET 1 0 0
    CHANNELS 6 Zrotation Xposition Yrotation Yposition Zposition Xrotation
    End Site
    {
      OFFSET 0 -1 0.5
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.025
1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
-1.5 0 0 0 0 0 1e-3 0 0 0 0 0 0 0 0 -90
"""
TINY_LINE_OF = {line: n for n, line in enumerate(TINY.splitlines(), 1)}


def _write(tmp_path: Path, text: str, name: str = "t.bvh", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_tiny_values(tmp_path):
    m = read_bvh(_write(tmp_path, TINY))
    sk = m.skeleton
    assert sk.kind == "bvh" and sk.names == ["Hips", "Chest", "Head", "Slider"]
    assert [j.parent for j in sk.joints] == [-1, 0, 1, 0]
    assert sk.joints[0].offset == (0.5, 1.0, -2.0) and sk.joints[1].offset == (0.0, 10.25, 0.0)
    assert sk.joints[1].channels == ("Yrotation",)
    assert sk.joints[3].channels == (
        "Zrotation",
        "Xposition",
        "Yrotation",
        "Yposition",
        "Zposition",
        "Xrotation",
    )
    assert sk.joints[2].end_site == (0.0, 3.0, 0.0) and sk.joints[1].end_site is None
    assert sk.channel_names[6:8] == ["Chest.Yrotation", "Head.Xrotation"]
    assert m.fps == 40.0 and m.name == "t" and m.frames.dtype == np.float64
    np.testing.assert_array_equal(m.frames[0], np.arange(1, 17))
    assert m.frames[1, 0] == -1.5 and m.frames[1, 6] == 1e-3 and m.frames[1, 15] == -90


def test_crlf_tabs_and_blank_lines_read_the_same(tmp_path):
    a = read_bvh(_write(tmp_path, TINY))
    odd = TINY.replace("  ", "\t").replace(" ", " \t ").replace("MOTION\n", "MOTION\n\n") + "\n\n"
    b = read_bvh(_write(tmp_path, odd, "crlf.bvh", newline="\r\n"))
    assert a.skeleton == b.skeleton
    np.testing.assert_array_equal(a.frames, b.frames)


@pytest.mark.parametrize("variant", ["byte-order mark", "CR line ends", "End site"])
def test_what_other_editors_and_tools_write_reads_the_same(tmp_path, variant):
    """A UTF-8 byte-order mark (Windows editors), lone CR line ends (classic Mac) and 'End site': the same
    clip, and a file error still names its line."""
    data = {"byte-order mark": "\ufeff" + TINY, "CR line ends": TINY.replace("\n", "\r"),
            "End site": TINY.replace("End Site", "End site")}[variant]
    path = tmp_path / "odd.bvh"
    path.write_bytes(data.encode("utf-8"))
    a, b = read_bvh(_write(tmp_path, TINY)), read_bvh(path)
    assert a.skeleton == b.skeleton and np.array_equal(a.frames, b.frames)
    path.write_bytes(data.replace("CHANNELS 1 Yrotation", "CHANNELS 1 Yrot").encode("utf-8"))
    with pytest.raises(FormatError) as info:
        read_bvh(path)
    assert info.value.line == TINY_LINE_OF["    CHANNELS 1 Yrotation"]


def test_round_trip_exact_and_depth_first_order(tmp_path):
    m = read_bvh(_write(tmp_path, TINY))
    write_bvh(m, tmp_path / "out.bvh")
    back = read_bvh(tmp_path / "out.bvh")
    assert back.skeleton == m.skeleton and back.fps == m.fps
    np.testing.assert_array_equal(back.frames, m.frames)


def test_precision_bound(tmp_path):
    m = read_bvh(_write(tmp_path, TINY))
    rng = np.random.default_rng(0)
    noisy = m.replace(frames=rng.normal(0, 200, size=(50, 16)), fps=1 / 0.0083333)
    for precision in (2, 6):
        write_bvh(noisy, tmp_path / "p.bvh", precision=precision)
        back = read_bvh(tmp_path / "p.bvh")
        err = np.abs(back.frames - noisy.frames).max()
        assert 0 < err <= 0.5 * 10.0**-precision * (1 + 1e-9)
        assert back.fps == noisy.fps


def test_writer_reorders_a_non_depth_first_skeleton(tmp_path):
    joints = (
        Joint("a", -1, (0.0, 0.0, 0.0), ("Xrotation",)),
        Joint("b", 0, (1.0, 0.0, 0.0), ("Yrotation",)),
        Joint("c", 0, (0.0, 1.0, 0.0), ("Zrotation",)),
        Joint("d", 1, (0.0, 0.0, 1.0), ("Xrotation",), end_site=(1.0, 1.0, 1.0)),
    )
    m = Motion(Skeleton(joints), np.array([[1.0, 2.0, 3.0, 4.0]]), fps=30.0)
    write_bvh(m, tmp_path / "o.bvh")
    back = read_bvh(tmp_path / "o.bvh")
    assert back.skeleton.names == ["a", "b", "d", "c"]
    assert back.frames.tolist() == [[1.0, 2.0, 4.0, 3.0]]


def test_joint_names_with_spaces_read_and_write_back(tmp_path):
    """3ds Max Biped and Rocketbox rigs name joints 'Bip01 L Thigh': the name is the rest of its line (up to a
    brace on the same line), and the writer writes it back so that it reads the same."""
    text = (TINY.replace("ROOT Hips", "ROOT Bip01").replace("JOINT Chest", "JOINT Bip01  Spine1")
            .replace("    JOINT Head\n    {", "    JOINT Bip01 Head {"))
    m = read_bvh(_write(tmp_path, text))
    assert m.skeleton.names == ["Bip01", "Bip01 Spine1", "Bip01 Head", "Slider"]
    np.testing.assert_array_equal(m.frames, read_bvh(_write(tmp_path, TINY, "plain.bvh")).frames)
    write_bvh(m, tmp_path / "back.bvh")
    back = read_bvh(tmp_path / "back.bvh")
    assert back.skeleton == m.skeleton and np.array_equal(back.frames, m.frames)
    assert "JOINT Bip01 Spine1\n" in (tmp_path / "back.bvh").read_text()
    for bad in ("Bip01  Spine1", " Spine1", "Spine1 {", ""):  # would not read back as themselves
        joints = (m.skeleton.joints[0], *(Joint(bad, 0, j.offset, j.channels) for j in m.skeleton.joints[1:2]))
        with pytest.raises(CRBMError, match="words separated by single spaces, none of them a brace"):
            write_bvh(Motion(Skeleton(joints), m.frames[:, :7], fps=40.0), tmp_path / "bad.bvh")
    assert not (tmp_path / "bad.bvh").exists()


def test_write_rejects_asf_kind_and_nan(tmp_path):
    m = read_bvh(_write(tmp_path, TINY))
    frames = m.frames.copy()
    frames[0, 0] = np.nan
    with pytest.raises(CRBMError, match="NaN"):
        write_bvh(m.replace(frames=frames), tmp_path / "nan.bvh")
    asf = Skeleton((Joint("root", -1, (0.0, 0.0, 0.0), ("tx",)),), kind="asf")
    with pytest.raises(CRBMError, match="asf_to_bvh"):
        write_bvh(Motion(asf, np.zeros((1, 1)), fps=1.0), tmp_path / "asf.bvh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bvh"]  # no partial or temporary files


# ------------------------------------------------------------------------------------------ real files

SAMPLES = "mocap/samples/bvhtoolbox-0.1.3"


@pytest.mark.parametrize(
    ("name", "joints", "channels", "frames"),
    [("test_mocapbank.bvh", 19, 60, 455), ("test_freebvh.bvh", 55, 168, 69)],
)
def test_samples_match_the_raw_text(data_root, tmp_path, name, joints, channels, frames):
    path = data_root / SAMPLES / name
    m = read_bvh(path)
    assert (len(m.skeleton.joints), m.frames.shape) == (joints, (frames, channels))
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    for k in (0, frames // 2, frames - 1):
        assert m.frames[k].tolist() == [float(t) for t in lines[len(lines) - frames + k].split()]
    time_line = next(line for line in lines if line.startswith("Frame Time"))
    assert m.fps == 1.0 / float(time_line.split()[-1])
    # the samples have 4 decimals, so writing with 6 reproduces every value exactly
    write_bvh(m, tmp_path / name)
    back = read_bvh(tmp_path / name)
    assert back.skeleton == m.skeleton and back.fps == m.fps
    np.testing.assert_array_equal(back.frames, m.frames)


@pytest.mark.parametrize("name", ["test_mocapbank.bvh", "test_freebvh.bvh"])
def test_written_sample_agrees_with_bvhio(data_root, tmp_path, name):
    """World positions: our reader + a reference FK, against bvhio on the file our writer wrote."""
    m = read_bvh(data_root / SAMPLES / name)
    write_bvh(m, tmp_path / name)
    scale = np.abs(m.frames[:, :3]).max() + 100.0
    for frame in (0, m.n_frames - 1):
        ours = bvh_points(m, frame)
        theirs = bvhio_points(tmp_path / name, frame)
        assert set(theirs) == set(m.skeleton.names)
        for joint, p in theirs.items():
            # bvhio computes in float32 (PyGLM): allow a few float32 ulps of the coordinate scale
            np.testing.assert_allclose(p, ours[joint], rtol=0, atol=2e-6 * scale, err_msg=joint)


# ------------------------------------------------------------------------------------------ as other tools write it

# A 17-joint humanoid in centimetres (1.72 m tall): (name, parent, OFFSET), and End Sites.
_HUMAN = [
    ("Hips", None, (10.0, 20.0, 30.0)), ("Spine", "Hips", (0, 10, 0)), ("Chest", "Spine", (0, 25, -2)),
    ("Neck", "Chest", (0, 20, 1)), ("Head", "Neck", (0, 12, 2)),
    ("LArm", "Chest", (18, 15, 0)), ("LForeArm", "LArm", (28, 0, 0)), ("LHand", "LForeArm", (25, 0, 0)),
    ("RArm", "Chest", (-18, 15, 0)), ("RForeArm", "RArm", (-28, 0, 0)), ("RHand", "RForeArm", (-25, 0, 0)),
    ("LUpLeg", "Hips", (9, -8, 0)), ("LLeg", "LUpLeg", (0, -42, 0)), ("LFoot", "LLeg", (0, -40, 2)),
    ("RUpLeg", "Hips", (-9, -8, 0)), ("RLeg", "RUpLeg", (0, -42, 0)), ("RFoot", "RLeg", (0, -40, 2)),
]
_HUMAN_ENDS = {"Head": (0, 10, 0), "LHand": (8, 0, 0), "RHand": (-8, 0, 0), "LFoot": (0, -5, 12), "RFoot": (0, -5, 12)}
_POS = ("Xposition", "Yposition", "Zposition")
_ORDERS = ("ZXY", "XYZ", "YXZ")


def _rot(order: str) -> tuple[str, ...]:
    return tuple(a + "rotation" for a in order)


def _human_text(channels_of, *, root_offset=(10.0, 20.0, 30.0), indent="\t", sep=" ", frame_time="0.033333",
                n_frames=6, seed=0) -> str:
    """A BVH of ``_HUMAN`` with the channels ``channels_of(joint index)``: position channels hold the OFFSET
    component plus noise (the root also walks), as Blender's exporter writes them; rotations in +-60 deg."""
    rng = np.random.default_rng(seed)
    lines, columns = ["HIERARCHY"], []

    def visit(i: int, depth: int) -> None:
        name, parent, offset = _HUMAN[i]
        offset = root_offset if parent is None else offset
        pad = indent * depth
        channels = channels_of(i)
        lines.extend([f"{pad}{'ROOT' if parent is None else 'JOINT'} {name}", pad + "{",
                      f"{pad}{indent}OFFSET{sep}" + sep.join(f"{v:.6f}" for v in offset),
                      f"{pad}{indent}CHANNELS {len(channels)}" + "".join(sep + c for c in channels)])
        for c in channels:
            if c.endswith("position"):
                axis = "XYZ".index(c[0])
                walk = np.linspace(0.0, 80.0, n_frames) if parent is None and axis != 1 else 0.0
                columns.append(offset[axis] + walk + rng.normal(0.0, 3.0, n_frames))
            else:
                columns.append(rng.uniform(-60.0, 60.0, n_frames))
        for k, (_, p, _) in enumerate(_HUMAN):
            if p == name:
                visit(k, depth + 1)
        if name in _HUMAN_ENDS:
            lines.extend([f"{pad}{indent}End Site", f"{pad}{indent}{{",
                          f"{pad}{indent * 2}OFFSET{sep}" + sep.join(f"{v:.6f}" for v in _HUMAN_ENDS[name]),
                          f"{pad}{indent}}}"])
        lines.append(pad + "}")

    visit(0, 0)
    frames = np.stack(columns, axis=1)
    lines += ["MOTION", f"Frames: {n_frames}", f"Frame Time: {frame_time}"]
    lines += [sep.join(f"{v:.4f}" for v in row) for row in frames]
    return "\n".join(lines) + "\n"


# the variants Blender, bvhio and mocap releases write; every one has a non-zero root OFFSET
_VARIANTS = {
    # Blender's exporter (3.x default): tabs, 6 channels on every joint, each bone's own rotation order
    "blender-6-channels-everywhere": dict(channels_of=lambda i: _POS + _rot(_ORDERS[i % 3])),
    "root-positions-zxy": dict(channels_of=lambda i: (_POS if i == 0 else ()) + _rot("ZXY"), indent="  "),
    "xyz-tabs-crlf": dict(channels_of=lambda i: (_POS if i == 0 else ()) + _rot("XYZ"), sep="\t", newline="\r\n"),
    "yxz-root-offset-only": dict(channels_of=lambda i: (_POS if i == 0 else ()) + _rot("YXZ"), frame_time="0.0083333"),
    # any channel subset: Yposition alone, one or two rotation axes, positions after rotations
    "partial-channels": dict(channels_of=lambda i: _rot(_ORDERS[i % 3])[: 1 + i % 3] + (("Yposition",) if i % 4 == 0
                                                                                         else ())),
}


def _variant(tmp_path: Path, name: str) -> Path:
    options = dict(_VARIANTS[name])
    newline = options.pop("newline", "\n")
    return _write(tmp_path, _human_text(**options), f"{name}.bvh", newline=newline)


def _height(motion: Motion) -> float:
    """Rest-pose height: the vertical extent of joints and End Sites with every rotation zero, OFFSETs as is."""
    pos: list[np.ndarray] = []
    for j in motion.skeleton.joints:
        pos.append(np.asarray(j.offset) + (pos[j.parent] if j.parent >= 0 else 0.0))
    ends = [pos[i] + j.end_site for i, j in enumerate(motion.skeleton.joints) if j.end_site is not None]
    return float(np.ptp(np.array(pos + ends)[:, 1]))


def _bvhio_positions(path: Path, names: list[str], n_frames: int) -> np.ndarray:
    """World joint positions (n_frames, J, 3) as bvhio computes them (float32 internally)."""
    import warnings

    bvhio = pytest.importorskip("bvhio")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    assert set(joints) == set(names)
    out = np.empty((n_frames, len(names), 3))
    for t in range(n_frames):
        root.loadPose(t)
        out[t] = [list(joints[n].PositionWorld) for n in names]
    return out


def _assert_same_positions(ours: np.ndarray, theirs: np.ndarray, height: float) -> None:
    err = np.abs(ours - theirs).max()
    assert err < 1e-6 * height, f"{err:.3g} cm apart, {err / height:.3g} of the body height"


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_fk_matches_bvhio_on_the_variants_tools_write(tmp_path, variant):
    """Position channels replace the OFFSET (root included), any channel subset and order, tabs, CRLF."""
    path = _variant(tmp_path, variant)
    m = read_bvh(path)
    assert m.skeleton.joints[0].offset == (10.0, 20.0, 30.0) and _height(m) == 172.0
    _assert_same_positions(joint_positions(m), _bvhio_positions(path, m.skeleton.names, m.n_frames), _height(m))


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_crbm_write_then_bvhio_read(tmp_path, variant):
    m = read_bvh(_variant(tmp_path, variant))
    write_bvh(m, tmp_path / "ours.bvh")
    back = read_bvh(tmp_path / "ours.bvh")  # reading inverts writing: same skeleton, same numbers
    assert back.skeleton == m.skeleton and back.fps == m.fps
    np.testing.assert_array_equal(back.frames, m.frames)
    theirs = _bvhio_positions(tmp_path / "ours.bvh", m.skeleton.names, m.n_frames)
    _assert_same_positions(joint_positions(m), theirs, _height(m))


@pytest.mark.parametrize("writer", ["writeBvh", "writeHierarchy"])
@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_bvhio_write_then_crbm_read(tmp_path, variant, writer):
    """bvhio rewrites the file (writeHierarchy rebuilds OFFSETs and channels from its own rest pose: ZXY
    rotations, position channels where they move); crbm's reading of it puts every joint where bvhio does."""
    import warnings

    bvhio = pytest.importorskip("bvhio")
    path = _variant(tmp_path, variant)
    m = read_bvh(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if writer == "writeBvh":
            bvhio.writeBvh(str(tmp_path / "theirs.bvh"), bvhio.readAsBvh(str(path)), 9)
        else:
            bvhio.writeHierarchy(str(tmp_path / "theirs.bvh"), bvhio.readAsHierarchy(str(path)), 1 / m.fps,
                                 frames=m.n_frames)
    theirs = read_bvh(tmp_path / "theirs.bvh")
    assert theirs.skeleton.names == m.skeleton.names and theirs.n_frames == m.n_frames
    want = _bvhio_positions(path, m.skeleton.names, m.n_frames)
    _assert_same_positions(joint_positions(theirs), want, _height(m))


@pytest.mark.parametrize("name", ["test_mocapbank.bvh", "test_freebvh.bvh"])
def test_samples_fk_matches_bvhio_in_every_frame(data_root, name):
    m = read_bvh(data_root / SAMPLES / name)
    assert 160 < _height(m) < 185  # human figures in centimetres, the unit crbm assumes for BVH
    _assert_same_positions(joint_positions(m), _bvhio_positions(data_root / SAMPLES / name, m.skeleton.names,
                                                                m.n_frames), _height(m))


# ------------------------------------------------------------------------------------------ bad input


def _error(tmp_path: Path, text: str) -> FormatError:
    path = _write(tmp_path, text, "bad.bvh")
    with pytest.raises(FormatError) as info:
        read_bvh(path)
    assert str(info.value).startswith(f"{path}")
    return info.value


MOTION_LINE = TINY_LINE_OF["1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"]


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "1 2 3", MOTION_LINE, "expected 16 values"),
        ("14 15 16", "14 15 16 17", MOTION_LINE, "got 17"),
        ("5 6 7", "5 six 7", MOTION_LINE, "expected a number in the MOTION section, got 'six'"),
        ("5 6 7", "5 6,5 7", MOTION_LINE, "got '6,5'"),
        ("-1.5 0", "nan 0", MOTION_LINE + 1, "expected finite numbers"),
        ("-1.5 0", "1e999 0", MOTION_LINE + 1, "expected finite numbers"),
        ("Frames: 2", "Frames: 3", MOTION_LINE + 1, "'Frames: 3' but the MOTION section has 2 frame lines"),
        ("Frames: 2", "Frames: two", TINY_LINE_OF["Frames: 2"], "whole frame count"),
        ("Frame Time: 0.025", "Frame Time: 0", TINY_LINE_OF["Frame Time: 0.025"], "positive Frame Time"),
        ("Frame Time: 0.025", "FrameTime 0.025", TINY_LINE_OF["Frame Time: 0.025"], "Frame Time: <number>"),
        ("CHANNELS 1 Yrotation", "CHANNELS 1 Yrot", TINY_LINE_OF["    CHANNELS 1 Yrotation"], "channel name"),
        ("CHANNELS 1 Yrotation", "CHANNELS 2 Yrotation", TINY_LINE_OF["    JOINT Head"], "channel name"),
        ("CHANNELS 1 Yrotation", "CHANNELS 7 Yrotation", TINY_LINE_OF["    CHANNELS 1 Yrotation"], "0..6"),
        (
            "OFFSET 0 10.25 0",
            "OFFSET 0 10.25",
            TINY_LINE_OF["    CHANNELS 1 Yrotation"],
            "OFFSET (3 numbers)",
        ),
        ("JOINT Head", "JOINT Hips", TINY_LINE_OF["    JOINT Head"], "used twice"),
        ("  JOINT Slider", "  BONE Slider", TINY_LINE_OF["  JOINT Slider"], "expected OFFSET, CHANNELS"),
    ],
)
def test_bad_input(tmp_path, old, new, line, expected):
    assert old in TINY
    err = _error(tmp_path, TINY.replace(old, new, 1))
    assert expected in str(err) and err.line == line, str(err)


def test_truncated_files(tmp_path):
    cut_motion = TINY[: TINY.index("-1.5 0 0 0 0") + 7]
    err = _error(tmp_path, cut_motion)
    assert "expected 16 values" in str(err) and err.line == MOTION_LINE + 1
    err = _error(tmp_path, TINY[: TINY.index("-1.5")])
    assert "file truncated" in str(err)
    assert "no MOTION section" in str(_error(tmp_path, TINY[: TINY.index("MOTION")]))
    assert "ends early" in str(_error(tmp_path, TINY[: TINY.index("Frame Time")]))


# ------------------------------------------------------------------------------------------ fuzzing

_FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 2), st.integers(0, 255)), min_size=1, max_size=6
    )
)
def test_fuzz_mutations(tmp_path, edits):
    b = bytearray(TINY.encode())
    for pos, kind, byte in edits:
        pos %= max(len(b), 1)
        if kind == 0 and b:
            b[pos] = byte
        elif kind == 1 and b:
            del b[pos]
        else:
            b.insert(pos, byte)
    path = tmp_path / "f.bvh"
    path.write_bytes(bytes(b))
    try:
        m = read_bvh(path)
    except CRBMError:
        return
    assert m.frames.shape == (m.n_frames, len(m.skeleton.channel_names)) and np.all(np.isfinite(m.frames))


@_FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes(tmp_path, data):
    path = tmp_path / "r.bvh"
    path.write_bytes(data)
    with pytest.raises(CRBMError):
        read_bvh(path)


def test_small_parse_chunks_give_the_same_values_and_lines(data_root, tmp_path, monkeypatch):
    from crbm.mocap import bvh as bvh_module

    path = data_root / SAMPLES / "test_mocapbank.bvh"
    whole = read_bvh(path)
    monkeypatch.setattr(bvh_module, "_CHUNK_BYTES", 100)  # every chunk a line or two
    np.testing.assert_array_equal(read_bvh(path).frames, whole.frames)
    lines = path.read_bytes().split(b"\n")
    lines[-40] = b" ".join(lines[-40].split()[:-1])  # drop a value on a late line
    (tmp_path / "cut.bvh").write_bytes(b"\n".join(lines))
    with pytest.raises(FormatError) as info:
        read_bvh(tmp_path / "cut.bvh")
    assert info.value.line == len(lines) - 40 + 1 and "expected 60 values" in str(info.value)


# ------------------------------------------------------------------------------------------ limits and scale


def _flat_text(n: int) -> str:
    """A root with ``n`` children, one frame."""
    joints = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{{\n"
                     f"OFFSET 0 1 0\n}}\n}}\n" for i in range(n))
    return (f"HIERARCHY\nROOT r\n{{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n{joints}}}\n"
            f"MOTION\nFrames: 1\nFrame Time: 0.01\n" + " ".join(["0.5"] * (3 * n + 3)) + "\n")


def _chain_text(n: int) -> str:
    """A chain of ``n`` joints under the root, one frame."""
    opened = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 1 Xrotation\n" for i in range(n))
    return (f"HIERARCHY\nROOT r\n{{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n{opened}" + "}\n" * (n + 1)
            + "MOTION\nFrames: 1\nFrame Time: 0.01\n" + " ".join(["1"] * (n + 1)) + "\n")


def test_999_nested_joints_read_and_write_without_recursion(tmp_path):
    """Parsed and written without recursion: Python's recursion limit (1,000) is no limit on the depth."""
    m = read_bvh(_write(tmp_path, _chain_text(999), "deep.bvh"))
    assert m.skeleton.joints[-1].parent == 998 and m.frames.shape == (1, 1000)
    write_bvh(m, tmp_path / "back.bvh")
    back = read_bvh(tmp_path / "back.bvh")
    assert [j.parent for j in back.skeleton.joints] == list(range(-1, 999))
    assert np.array_equal(back.frames, m.frames)


def test_parsing_time_grows_linearly_with_the_joints(tmp_path):
    """40,000 flat joints took 12.6 s when each name was looked up in a list; four times the joints now take
    about four times the CPU time (a quadratic parser: sixteen)."""
    small, large = (_write(tmp_path, _flat_text(n), f"flat{n}.bvh") for n in (5_000, 20_000))
    read_bvh(small)  # (warm up)
    ratio = least_cpu_seconds(lambda: read_bvh(large)) / least_cpu_seconds(lambda: read_bvh(small))
    assert ratio < 8, ratio


def test_more_joints_than_the_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(bvh_module, "MAX_JOINTS", 50)
    with pytest.raises(FormatError, match=r"flat\.bvh:\d+: the hierarchy has more than 50 joints$"):
        read_bvh(_write(tmp_path, _flat_text(50), "flat.bvh"))
    assert read_bvh(_write(tmp_path, _flat_text(49), "ok.bvh")).skeleton.joints[-1].name == "j48"
