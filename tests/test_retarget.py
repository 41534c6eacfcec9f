"""Retargeting between rigs of one topology: exact round trips, limb directions kept, root scaled by leg
length, any rotation order, missing joints refused; pose errors in degrees and centimetres."""

from __future__ import annotations

import numpy as np
import pytest

import crbm
from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import euler_to_matrix, joint_positions, matrix_to_euler
from crbm.mocap.retarget import bvh_rig, rest_alignment


def _subject(data_root, nn: str, trial: str):
    folder = data_root / "mocap" / "cmu" / nn
    skeleton = crbm.read_asf(folder / f"{nn}.asf")
    return skeleton, crbm.read_amc(folder / f"{nn}_{trial}.amc", skeleton)


def _bone_directions(motion: crbm.Motion) -> np.ndarray:
    """World direction of every bone (joint -> child and End Site) of a BVH-kind clip, (T, n_bones, 3)."""
    pos = joint_positions(motion, end_sites=True)
    sk = motion.skeleton
    parents = [j.parent for j in sk.joints] + [i for i, j in enumerate(sk.joints) if j.end_site is not None]
    vecs = [pos[:, c] - pos[:, p] for c, p in enumerate(parents) if p >= 0]
    vecs = [v for v in vecs if np.linalg.norm(v[0]) > 1e-9]
    v = np.stack(vecs, axis=1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_retarget_through_a_three_channel_rig_and_back_is_exact(data_root):
    s35, walk = _subject(data_root, "35", "01")
    s12 = crbm.read_asf(data_root / "mocap" / "cmu" / "12" / "12.asf")
    for rig in (crbm.canonical_rig([s12]), crbm.asf_to_bvh(crbm.read_amc(
            data_root / "mocap" / "cmu" / "12" / "12_01.amc", s12)).skeleton):
        there = crbm.retarget(walk, rig)
        assert there.skeleton is rig and there.n_frames == walk.n_frames
        np.testing.assert_allclose(crbm.retarget(there, s35).frames, walk.frames, atol=1e-9)


def test_retarget_onto_fewer_channels_keeps_what_they_can_express(data_root):
    """Subject 12's ASF has 1- and 2-dof joints in its own axes: subject 35's knee bend lands there as the
    part of the rotation those dofs express, so the round trip is close but not exact."""
    s35, walk = _subject(data_root, "35", "01")
    s12 = crbm.read_asf(data_root / "mocap" / "cmu" / "12" / "12.asf")
    back = crbm.retarget(crbm.retarget(walk, s12), s35)
    err = crbm.joint_angle_error(walk, back)
    assert err.max() < 1.0 and err.mean() < 0.5  # degrees, averaged over joints


def test_retarget_keeps_limb_directions_and_scales_the_root_by_leg_length(data_root):
    s35, walk = _subject(data_root, "35", "01")
    s12 = crbm.read_asf(data_root / "mocap" / "cmu" / "12" / "12.asf")
    rig = crbm.canonical_rig([s35, s12])
    on_rig = crbm.retarget(walk, rig)
    source = crbm.asf_to_bvh(walk)
    assert on_rig.skeleton.names == source.skeleton.names
    np.testing.assert_allclose(_bone_directions(on_rig), _bone_directions(source), atol=1e-9)
    ratio = crbm.leg_length(rig) / crbm.leg_length(s35)
    np.testing.assert_allclose(joint_positions(on_rig)[:, 0], ratio * joint_positions(walk)[:, 0], atol=1e-9)
    # the two subjects' rest directions differ, so the same angles are not the same limb directions
    assert not np.allclose(rest_alignment(bvh_rig(s12), bvh_rig(s35)), np.eye(3), atol=1e-3)


def test_retarget_onto_its_own_rig_is_the_identity(data_root):
    s35, walk = _subject(data_root, "35", "02")
    np.testing.assert_allclose(crbm.retarget(walk, s35).frames, walk.frames, atol=1e-9)
    bvh = crbm.asf_to_bvh(walk)
    np.testing.assert_allclose(crbm.retarget(bvh, bvh.skeleton).frames, bvh.frames, atol=1e-9)


def _reorder(motion: crbm.Motion, order: str) -> crbm.Motion:
    """The same BVH clip with every joint's rotation channels in ``order`` (e.g. "XZY")."""
    sk = motion.skeleton
    joints, cols, col = [], [], 0
    for j in sk.joints:
        rot = [c for c in j.channels if c.endswith("rotation")]
        pos = [c for c in j.channels if c.endswith("position")]
        idx = {c: col + k for k, c in enumerate(j.channels)}
        col += len(j.channels)
        angles = motion.frames[:, [idx[c] for c in rot]]
        matrix = euler_to_matrix(angles, "".join(c[0] for c in rot))
        cols.append(motion.frames[:, [idx[c] for c in pos]])
        cols.append(matrix_to_euler(matrix, order))
        joints.append(crbm.Joint(j.name, j.parent, j.offset, tuple(pos) + tuple(f"{a}rotation" for a in order),
                                 j.end_site))
    skeleton = crbm.Skeleton(tuple(joints), kind="bvh", units=sk.units)
    return crbm.Motion(skeleton, np.concatenate(cols, axis=1), motion.fps, motion.name)


@pytest.mark.parametrize("order", ["XYZ", "ZXY", "YXZ"])
def test_any_rotation_order_gives_the_same_model_input(data_root, order):
    s35, walk = _subject(data_root, "35", "03")
    bvh = crbm.asf_to_bvh(walk)
    rig = crbm.canonical_rig([s35])
    expected = crbm.retarget(bvh, rig)
    got = crbm.retarget(_reorder(bvh, order), rig)
    np.testing.assert_allclose(
        euler_to_matrix(got.frames[:, 3:].reshape(-1, 3), "ZYX"),
        euler_to_matrix(expected.frames[:, 3:].reshape(-1, 3), "ZYX"), atol=1e-9)
    np.testing.assert_allclose(got.frames[:, :3], expected.frames[:, :3], atol=1e-9)


def test_missing_joints_are_named(data_root):
    s35, walk = _subject(data_root, "35", "01")
    sk = crbm.asf_to_bvh(walk).skeleton
    gone = sk.index("lthumb")
    assert not sk.children(gone)
    keep = [j for i, j in enumerate(sk.joints) if i != gone]
    keep = [crbm.Joint(j.name, j.parent - (j.parent > gone), j.offset, j.channels, j.end_site) for j in keep]
    smaller = crbm.Skeleton(tuple(keep), kind="bvh", units=sk.units)
    clip = crbm.Motion(smaller, np.zeros((2, len(smaller.channel_names))), 30.0, name="short")
    with pytest.raises(CRBMError, match=r"clip 'short' lacks joints \['lthumb'\]"):
        crbm.retarget(clip, sk)


def test_canonical_rig_names_the_skeleton_of_another_topology():
    """Training on a Blender-named and a Mixamo-named file: the message says which skeleton lacks which joints
    (it said "clip 'Hips' lacks joints ['Hips', ...]", naming neither)."""
    def rig(prefix):
        return crbm.Skeleton((crbm.Joint(prefix + "Hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition")),
                              crbm.Joint(prefix + "LeftFoot", 0, (0.0, -90.0, 0.0), end_site=(0.0, 0.0, 10.0))))

    with pytest.raises(CRBMError, match=r"^skeleton 2 of 2 \(root 'mixamorig:Hips'\) lacks joints "
                       r"\['Hips', 'LeftFoot'\] that skeleton 1 \(root 'Hips'\) has; expected a skeleton with the same "
                       r"joint names$"):
        crbm.canonical_rig([rig(""), rig("mixamorig:")])


def test_pose_errors_are_zero_for_the_same_clip_and_measure_a_known_rotation(data_root):
    s35, walk = _subject(data_root, "35", "01")
    bvh = crbm.asf_to_bvh(walk)
    assert np.all(crbm.joint_angle_error(bvh, bvh) < 1e-6) and np.all(crbm.joint_position_error(bvh, bvh) < 1e-9)
    frames = bvh.frames.copy()
    col = bvh.channel_names.index("lradius.Xrotation")  # a forearm: the hand end moves, the rest stays
    frames[:, col] += 10.0
    other = bvh.replace(frames=frames)
    joints = sum(1 for j in bvh.skeleton.joints[1:] if j.channels)
    np.testing.assert_allclose(crbm.joint_angle_error(bvh, other), 10.0 / joints, rtol=1e-9)
    assert np.all(crbm.joint_position_error(bvh, other) > 0)
    with pytest.raises(CRBMError, match="must share a skeleton"):
        crbm.joint_angle_error(bvh, walk)
