"""Length units: the unit table, the ASF unit, convert_length, unit-aware reading and writing, ``--units``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from crbm import (
    CRBMError,
    Joint,
    Motion,
    Skeleton,
    asf_to_bvh,
    convert_length,
    joint_positions,
    read_amc,
    read_asf,
    read_bvh,
    read_motion,
    read_motions,
    read_parquet,
    write_asf,
    write_bvh,
    write_motion,
)
from crbm.cli import main
from crbm.mocap.lengths import LENGTH_UNITS, centimetres, length_unit
from crbm.motion.model import demo_model_path

CMU_CM = 2.54 / 0.45  # CMU's ASF: ``length 0.45``, so 1 unit = 1/0.45 inch = 5.644 cm


@pytest.fixture(scope="module")
def cmu(data_root):
    folder = data_root / "mocap/cmu/35"
    return read_amc(folder / "35_01.amc", read_asf(folder / "35.asf"))


def _height(motion: Motion) -> float:
    """Vertical extent of the first frame's joints (and End Sites)."""
    p = joint_positions(motion.replace(frames=motion.frames[:1]), end_sites=True)[0]
    return float(np.ptp(p[:, 1]))


def _arm(units: dict | None = None) -> Motion:
    """A BVH arm with position channels on the root and on a non-root joint, rotations and End Sites."""
    joints = (
        Joint("hips", -1, (1.0, 2.0, 3.0), ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation",
                                              "Yrotation")),
        Joint("elbow", 0, (10.0, 0.0, 0.0), ("Yrotation",)),
        Joint("hand", 1, (0.0, 20.0, 0.0), ("Yposition", "Zrotation"), end_site=(5.0, 0.0, 0.0)),
    )
    rng = np.random.default_rng(0)
    frames = rng.uniform(-60, 60, (7, 9))
    return Motion(Skeleton(joints, units={} if units is None else units), frames, fps=30.0, name="arm")


# ------------------------------------------------------------------------------------------ the table


def test_units_table_and_the_asf_unit():
    assert LENGTH_UNITS == {"mm": 0.1, "cm": 1.0, "m": 100.0, "in": 2.54, "cmu": 2.54 / 0.45}
    assert centimetres("cmu") == centimetres(0.45)  # the CMU ASF's unit by name
    assert centimetres("m") == 100.0 and centimetres(1.0) == 2.54  # Acclaim's default length 1: inches
    assert abs(centimetres(0.45) - 5.644444444444444) < 1e-15
    assert centimetres(2.54) == 1.0  # the ASF number that means centimetres
    for bad in ("ft", "CM", ""):
        with pytest.raises(CRBMError, match="unknown length unit"):
            centimetres(bad)
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, None):
        with pytest.raises(CRBMError, match="an ASF length unit must be a positive number"):
            centimetres(bad)


def test_length_unit_defaults_by_kind(cmu):
    assert length_unit(_arm().skeleton) == "cm"  # BVH declares no unit
    assert length_unit(cmu.skeleton) == 0.45
    asf = Skeleton((Joint("root", -1, (0.0, 0.0, 0.0), ("tx",)),), kind="asf")
    assert length_unit(asf) == 1.0  # an ASF without ``:units length``: Acclaim's inches
    with pytest.raises(CRBMError, match="unknown length unit 'furlong'"):
        length_unit(Skeleton(asf.joints, kind="asf", units={"length": "furlong"}))


# ------------------------------------------------------------------------------------------ convert_length


@pytest.mark.parametrize(("start", "target", "factor"), [("cm", "m", 0.01), ("m", "mm", 1000.0), ("in", "cm", 2.54)])
def test_convert_length_scales_positions_not_rotations(start, target, factor):
    m = _arm({"length": start})
    out = convert_length(m, target)
    assert out.skeleton.units == {"length": target} and m.skeleton.units == {"length": start}
    lengths = [0, 1, 2, 7]  # hips X/Y/Zposition, hand Yposition
    rotations = [3, 4, 5, 6, 8]
    np.testing.assert_allclose(out.frames[:, lengths], m.frames[:, lengths] * factor, rtol=1e-15)
    np.testing.assert_array_equal(out.frames[:, rotations], m.frames[:, rotations])
    assert out.skeleton.joints[2].end_site == pytest.approx((5.0 * factor, 0.0, 0.0), rel=1e-15)
    # forward kinematics scales by exactly the factor: every length moved, every angle kept
    a, b = joint_positions(m, end_sites=True), joint_positions(out, end_sites=True)
    np.testing.assert_allclose(b, a * factor, rtol=0, atol=1e-12 * np.abs(a * factor).max())
    back = convert_length(out, start)
    np.testing.assert_allclose(back.frames, m.frames, rtol=1e-14)
    assert convert_length(m, start) is m  # already in that unit


def test_convert_length_asf_keeps_a_valid_asf(cmu, tmp_path):
    cm = convert_length(cmu, "cm")
    assert cm.skeleton.kind == "asf" and cm.skeleton.units["length"] == 2.54  # 1 unit = 1/2.54 inch = 1 cm
    assert cm.skeleton.units["angle"] == "deg" and cm.skeleton.units["mass"] == 1.0
    np.testing.assert_allclose(cm.frames[:, :3], cmu.frames[:, :3] * CMU_CM, rtol=1e-15)  # root tx ty tz
    np.testing.assert_array_equal(cm.frames[:, 3:], cmu.frames[:, 3:])
    a, b = joint_positions(cmu), joint_positions(cm)
    np.testing.assert_allclose(b, a * CMU_CM, rtol=0, atol=1e-12 * np.abs(b).max())
    assert 160 < np.ptp(b[0, :, 1]) < 180  # about 1.7 m
    write_asf(cm.skeleton, tmp_path / "cm.asf")
    again = read_asf(tmp_path / "cm.asf")
    assert again.units["length"] == 2.54 and length_unit(again) == 2.54 and centimetres(2.54) == 1.0
    assert convert_length(cm.replace(skeleton=again), "cm").skeleton is again


def test_convert_length_scales_asf_translation_limits():
    joints = (
        Joint("root", -1, (1.0, 0.0, 0.0), ("tx", "ty", "tz", "rx", "ry", "rz")),
        Joint("slide", 0, (0.0, 2.0, 0.0), ("tx", "rz"), limits=((-1.0, 3.0), (-90.0, 90.0))),
    )
    m = Motion(Skeleton(joints, kind="asf", units={"length": 1.0}), np.ones((2, 8)), fps=120.0)
    cm = convert_length(m, "cm")
    assert cm.skeleton.joints[0].offset == (2.54, 0.0, 0.0)
    assert cm.skeleton.joints[1].limits == ((-2.54, 3 * 2.54), (-90.0, 90.0))
    assert cm.frames[0].tolist() == [2.54, 2.54, 2.54, 1, 1, 1, 2.54, 1]


# ------------------------------------------------------------------------------------------ reading and writing


def test_read_bvh_records_the_unit_it_is_told(tmp_path):
    write_bvh(_arm(), tmp_path / "arm.bvh")
    assert read_bvh(tmp_path / "arm.bvh").skeleton.units == {"length": "cm"}
    m = read_bvh(tmp_path / "arm.bvh", units="m")
    assert m.skeleton.units == {"length": "m"}
    np.testing.assert_array_equal(m.frames, read_bvh(tmp_path / "arm.bvh").frames)  # relabelled, not scaled
    assert read_motion(tmp_path / "arm.bvh", units="in").skeleton.units == {"length": "in"}
    with pytest.raises(CRBMError, match=r"arm\.bvh: unknown length unit 'feet'; expected one of mm, cm, m, in"):
        read_bvh(tmp_path / "arm.bvh", units="feet")
    write_motion(_arm(), tmp_path / "arm.parquet")
    with pytest.raises(CRBMError, match=r"arm\.parquet: units is the length unit of \.bvh input"):
        read_motions(tmp_path / "arm.parquet", units="m")


def test_write_motion_bvh_keeps_the_clips_unit_and_writes_asf_in_centimetres(cmu, tmp_path):
    """ASF units -> cm for .bvh: the CMU figure is ~1.7 m tall, not 30 units (27 m in Blender); a BVH clip
    comes back in its own unit."""
    write_motion(cmu, tmp_path / "cm.bvh")
    write_motion(cmu, tmp_path / "m.bvh", units="m")
    cm, m = read_bvh(tmp_path / "cm.bvh"), read_bvh(tmp_path / "m.bvh", units="m")
    assert 160 < _height(cm) < 180 and 1.6 < _height(m) < 1.8
    asf_height = _height(asf_to_bvh(cmu, units=None))
    assert abs(_height(cm) - asf_height * CMU_CM) < 1e-4 and abs(_height(m) - asf_height * CMU_CM / 100) < 1e-6
    # a BVH read as metres and written without a unit comes out in metres, the numbers as they were
    write_motion(m, tmp_path / "again.bvh")
    assert (tmp_path / "again.bvh").read_bytes() == (tmp_path / "m.bvh").read_bytes()


@pytest.mark.parametrize("unit", ["mm", "cm", "m"])
def test_read_bvh_reads_the_unit_from_the_skeletons_size(cmu, unit, tmp_path):
    """A person written in mm, cm or m (Blender's BVH) reads back in that unit without being told, so joint
    positions in cm and the feet's contacts (a 5 cm height tolerance) are the same from every file."""
    from crbm.mocap.realism import contacts

    write_motion(cmu, tmp_path / f"{unit}.bvh", units=unit)
    back = read_bvh(tmp_path / f"{unit}.bvh")
    assert back.skeleton.units == {"length": unit}
    reference = read_bvh(tmp_path / f"{unit}.bvh", units=unit)
    np.testing.assert_array_equal(back.frames, reference.frames)
    write_motion(cmu, tmp_path / "cm-ref.bvh")
    cm = read_bvh(tmp_path / "cm-ref.bvh")
    assert abs(_height(back) * centimetres(unit) - _height(cm)) < 1e-2
    planted = contacts(back)
    assert 0.2 < planted.mean() < 0.8 and np.array_equal(planted, contacts(cm))


def test_the_size_rule_leaves_small_and_large_rigs_in_centimetres(tmp_path):
    """Outside a body's size in metres or millimetres a skeleton stays in centimetres: a 20-unit arm, a toy
    rig a tenth of a unit wide, a 60-unit figure (an inch-based rig cannot be told from cm by size)."""
    for scale, unit in ((1.0, "cm"), (0.004, "cm"), (3.0, "cm"), (0.05, "m"), (60.0, "mm")):
        arm = _arm()
        joints = tuple(dataclasses.replace(j, offset=tuple(scale * o for o in j.offset),
                                           end_site=None if j.end_site is None else
                                           tuple(scale * e for e in j.end_site)) for j in arm.skeleton.joints)
        write_bvh(arm.replace(skeleton=Skeleton(joints)), tmp_path / "arm.bvh")
        assert read_bvh(tmp_path / "arm.bvh").skeleton.units == {"length": unit}, scale


def test_a_cmu_conversion_reads_in_the_cmu_asf_unit(tmp_path):
    """The BVH conversions of the CMU database (cgspeed, B. Hahne) keep the ASF's lengths (1 unit = 1/0.45 inch)
    and its hip bones as joints LHipJoint / RHipJoint: a person 30 units tall, read as 30 cm before (foot
    contacts then found within a 28 cm tolerance). Such a rig reads as "cmu", 5.644 cm a unit; the same rig
    without those joints stays in centimetres, and a BVH written in "cmu" names its unit on the way back."""
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
    three = six[3:]

    def rig(hip_names):
        joints = [Joint("Hips", -1, (0.0, 0.0, 0.0), six)]
        for side, name in zip((1.0, -1.0), hip_names):
            prefix = "Left" if side > 0 else "Right"
            joints.append(Joint(name, 0, (0.0, 0.0, 0.0), three))
            joints.append(Joint(prefix + "UpLeg", len(joints) - 1, (side * 1.4, -1.6, 0.8), three))
            joints.append(Joint(prefix + "Leg", len(joints) - 1, (side * 2.4, -6.7, 0.0), three))
            joints.append(Joint(prefix + "Foot", len(joints) - 1, (0.0, -7.4, 0.0), three, end_site=(0.0, -0.8, 2.4)))
        joints.append(Joint("Spine", 0, (0.0, 2.0, 0.0), three))
        joints.append(Joint("Head", len(joints) - 1, (0.0, 11.0, 0.0), three, end_site=(0.0, 2.5, 0.0)))
        return Skeleton(tuple(joints))

    for names, unit in ((("LHipJoint", "RHipJoint"), "cmu"), (("LeftHip0", "RightHip0"), "cm")):
        sk = rig(names)
        write_bvh(Motion(sk, np.zeros((2, len(sk.channel_names))), 120.0, name="01_01"), tmp_path / "take.bvh")
        assert read_bvh(tmp_path / "take.bvh").skeleton.units == {"length": unit}, names
    from crbm.mocap.kinematics import rest_points

    body = read_bvh(tmp_path / "take.bvh", units="cmu")  # 32 units from head to toes: 180.6 cm
    assert abs(np.ptp(rest_points(convert_length(body, "cm").skeleton)[:, 1]) - 32.0 * 2.54 / 0.45) < 1e-9


def test_the_unit_is_read_from_the_body_not_from_an_offset_its_position_channels_replace(tmp_path):
    """A ground-level root bone above a Hips whose OFFSET holds the first frame's place (the Bandai Namco
    rig): that OFFSET is replaced by the Hips position channels, so it must not change the unit. Hips at
    x = 900 made a centimetre rig read as millimetres; at x = 9 a metre rig read as centimetres."""
    from crbm.mocap.lengths import guess_bvh_length_unit

    def rig(hips, scale):
        six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
        leg = [(9.0, -5.0, 0.0), (0.0, -42.0, 0.0), (0.0, -42.0, 0.0)]
        joints = [Joint("joint_Root", -1, (0.0, 0.0, 0.0), six), Joint("Hips", 0, hips, six)]
        for side in (1.0, -1.0):
            for k, (x, y, z) in enumerate(leg):
                joints.append(Joint(f"Leg{side:+.0f}{k}", 1 if k == 0 else len(joints) - 1,
                                    (side * x * scale, y * scale, z * scale), six,
                                    end_site=(0.0, -4.0 * scale, 14.0 * scale) if k == 2 else None))
        joints.append(Joint("Head", 1, (0.0, 52.0 * scale, 0.0), six, end_site=(0.0, 15.0 * scale, 0.0)))
        return Skeleton(tuple(joints))

    for scale, unit in ((1.0, "cm"), (0.01, "m"), (10.0, "mm")):
        for hips in ((0.0, 94.0, 0.0), (900.0, 94.0, 0.0), (9.0, 0.94, 0.0), (0.847, 93.98, -452.2),
                     (0.0, 9400.0, -45000.0)):
            sk = rig(hips, scale)
            assert guess_bvh_length_unit(sk) == unit, (scale, hips)
            frames = np.zeros((2, len(sk.channel_names)))
            write_bvh(Motion(sk, frames, 30.0, name="take"), tmp_path / "take.bvh")
            assert read_bvh(tmp_path / "take.bvh").skeleton.units == {"length": unit}, (scale, hips)


def test_cli_input_units_overrides_the_size_rule(data_root, tmp_path, capsys):
    folder = data_root / "mocap/cmu/35"
    amc, asf = str(folder / "35_01.amc"), str(folder / "35.asf")
    metres = tmp_path / "m.bvh"
    assert main(["convert", amc, str(metres), "--asf", asf, "--units", "m"]) == 0
    assert main(["convert", str(metres), str(tmp_path / "cm.bvh"), "--units", "cm"]) == 0  # read as metres
    assert 160 < _height(read_bvh(tmp_path / "cm.bvh")) < 180
    assert main(["convert", str(metres), str(tmp_path / "told.bvh"), "--input-units", "cm", "--units", "cm"]) == 0
    assert 1.6 < _height(read_bvh(tmp_path / "told.bvh")) < 1.8  # taken as centimetres: the numbers stay
    write_motion(read_bvh(metres), tmp_path / "m.parquet")  # AMC and Parquet record their unit: not refused
    assert main(["train", str(metres), str(tmp_path / "m.parquet"), "--input-units", "m", "--epochs", "1",
                 "--hidden", "4", "--out", str(tmp_path / "two.safetensors")]) == 0
    capsys.readouterr()
    assert main(["convert", str(metres), str(tmp_path / "bad.bvh"), "--input-units", "ft"]) == 2
    err = capsys.readouterr().err
    assert err == "crbm convert: error: --input-units: unknown length unit 'ft'; expected one of mm, cm, m, in, cmu\n"
    assert not (tmp_path / "bad.bvh").exists()


def test_write_motion_other_formats_keep_or_convert(cmu, tmp_path):
    write_motion(cmu, tmp_path / "asf.parquet")
    assert length_unit(read_parquet(tmp_path / "asf.parquet")[0].skeleton) == 0.45  # kept
    write_motion(cmu, tmp_path / "m.parquet", units="m")
    back = read_parquet(tmp_path / "m.parquet")[0]
    assert back.skeleton.kind == "asf" and length_unit(back.skeleton) == 2.54 / 100
    np.testing.assert_allclose(back.frames[:, :3], cmu.frames[:, :3] * CMU_CM / 100, rtol=1e-15)
    bvh_m = read_bvh(_written_bvh(tmp_path), units="m")
    write_motion(bvh_m, tmp_path / "bvh.parquet")
    assert read_parquet(tmp_path / "bvh.parquet")[0].skeleton.units == {"length": "m"}  # Parquet keeps the unit
    written = write_motion(cmu, tmp_path / "cm.amc", units="cm")
    again = read_amc(written[0], read_asf(written[1]))
    assert again.skeleton.units["length"] == 2.54
    np.testing.assert_allclose(again.frames[:, :3], cmu.frames[:, :3] * CMU_CM, atol=1e-5)
    with pytest.raises(CRBMError, match=r"out\.bvh: unknown length unit 'ft'"):
        write_motion(cmu, tmp_path / "out.bvh", units="ft")
    assert not (tmp_path / "out.bvh").exists()


def _written_bvh(tmp_path):
    write_bvh(_arm(), tmp_path / "arm.bvh")
    return tmp_path / "arm.bvh"


# ------------------------------------------------------------------------------------------ the command line


def test_cli_convert_units(data_root, tmp_path, capsys):
    folder = data_root / "mocap/cmu/35"
    amc, asf = str(folder / "35_01.amc"), str(folder / "35.asf")
    heights = {}
    for unit in (None, "cm", "m", "in"):
        out = tmp_path / f"{unit}.bvh"
        assert main(["convert", amc, str(out), "--asf", asf] + ([] if unit is None else ["--units", unit])) == 0
        heights[unit] = _height(read_bvh(out))
    assert heights[None] == heights["cm"] and 160 < heights["cm"] < 180
    assert abs(heights["m"] * 100 - heights["cm"]) < 1e-3 and abs(heights["in"] * 2.54 - heights["cm"]) < 1e-3
    capsys.readouterr()
    assert main(["convert", amc, str(tmp_path / "bad.bvh"), "--asf", asf, "--units", "yd"]) == 2
    err = capsys.readouterr().err
    assert err == "crbm convert: error: --units: unknown length unit 'yd'; expected one of mm, cm, m, in, cmu\n"
    assert not (tmp_path / "bad.bvh").exists()


@pytest.mark.skipif(not demo_model_path().is_file(), reason="the shipped demo model is not built yet")
def test_cli_generate_denoise_fill_write_the_unit_asked_for(data_root, tmp_path, capsys):
    folder = data_root / "mocap/cmu/35"
    clip = ["--asf", str(folder / "35.asf")]
    runs = {
        "generate": ["generate", "demo", "--frames", "4", "--k", "2"],
        "denoise": ["denoise", "demo", str(folder / "35_03.amc"), *clip],
        "fill": ["fill", "demo", str(folder / "35_03.amc"), *clip, "--missing", "rtibia"],
    }
    for name, argv in runs.items():
        cm, metres = tmp_path / f"{name}_cm.bvh", tmp_path / f"{name}_m.bvh"
        assert main([*argv, "--out", str(cm)]) == 0
        assert main([*argv, "--out", str(metres), "--units", "m"]) == 0
        a, b = read_bvh(cm), read_bvh(metres, units="m")
        assert 140 < _height(a) < 200, name  # a person in centimetres
        np.testing.assert_allclose(b.frames[:, :3] * 100, a.frames[:, :3], atol=1e-3, err_msg=name)
    capsys.readouterr()
