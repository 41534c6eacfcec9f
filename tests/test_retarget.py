"""Retargeting between rigs of one topology: exact round trips, limb directions kept, root scaled by leg
length, any rotation order, missing joints refused; pose errors in degrees and centimetres."""

from __future__ import annotations

import numpy as np
import pytest

import crbm
from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import (
    euler_to_matrix,
    joint_positions,
    matrix_to_euler,
    rotation_channels,
    trajectory_joint,
)
from crbm.mocap.retarget import bvh_rig, rest_alignment, up_axis


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


def _standing_rig(turn: np.ndarray) -> crbm.Skeleton:
    """A small BVH rig standing Y-up (legs along -Y, toes along +Z) with its rest pose turned by ``turn``."""
    def v(x, y, z):
        return tuple(float(c) for c in turn @ np.array([x, y, z]))

    rot = ("Zrotation", "Xrotation", "Yrotation")
    return crbm.Skeleton((
        crbm.Joint("Hips", -1, v(0, 0, 0), ("Xposition", "Yposition", "Zposition", *rot)),
        crbm.Joint("LeftUpLeg", 0, v(9, -5, 0), rot), crbm.Joint("LeftLeg", 1, v(0, -42, 0), rot),
        crbm.Joint("LeftFoot", 2, v(0, -42, 0), rot, end_site=v(0, -4, 14)),
        crbm.Joint("RightUpLeg", 0, v(-9, -5, 0), rot), crbm.Joint("RightLeg", 4, v(0, -42, 0), rot),
        crbm.Joint("RightFoot", 5, v(0, -42, 0), rot, end_site=v(0, -4, 14)),
        crbm.Joint("Spine", 0, v(0, 12, 0), rot), crbm.Joint("Head", 7, v(0, 40, 2), rot, end_site=v(0, 15, 0)),
        crbm.Joint("LeftArm", 7, v(18, 35, 0), rot, end_site=v(28, 0, 0)),
    ))


def _rooted_rig(hips: tuple[float, float, float], turn: np.ndarray | None = None,
                scale: float = 1.0) -> crbm.Skeleton:
    """:func:`_standing_rig` below a ground-level root bone ``joint_Root``, 6 channels on every joint and the
    Hips OFFSET at ``hips`` (the Bandai Namco layout: that OFFSET is the first frame's place, which the Hips
    position channels replace), lengths times ``scale``."""
    body = _standing_rig(np.eye(3) if turn is None else turn)
    six = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")

    def scaled(v):
        return None if v is None else tuple(scale * float(c) for c in v)

    joints = [crbm.Joint("joint_Root", -1, (0.0, 0.0, 0.0), six)]
    for j in body.joints:
        offset = tuple(float(c) for c in hips) if j.parent < 0 else scaled(j.offset)
        joints.append(crbm.Joint(j.name, j.parent + 1, offset, six, scaled(j.end_site)))
    return crbm.Skeleton(tuple(joints), kind="bvh")


def test_a_root_bone_above_the_hips_is_left_out_of_the_up_axis_and_the_leg():
    """The Bandai Namco rig: a static root bone at the ground, the body's trajectory in the Hips position
    channels, the Hips OFFSET the first frame's place (``0.847 93.98 -452.2``). That OFFSET never moves a joint,
    so it must not decide the up axis (it made one take Z-up and lying on the floor, another Y-up) or the leg
    (measured from the root bone at the ground: 'not above its feet')."""
    to_z = euler_to_matrix(np.array([90.0, 0.0, 0.0]), "XYZ")
    for hips in ((0.0, 94.0, 0.0), (0.847, 93.98, -452.2), (900.0, 94.0, 0.0), (3.0, -500.0, 20.0)):
        rig = _rooted_rig(hips)
        assert up_axis(rig) == "Y", hips
        assert crbm.leg_length(rig) == pytest.approx(93.0)  # from the Hips: 5 + 42 + 42 + 4
        z_rig = _rooted_rig(tuple(to_z @ np.array(hips)), to_z)
        assert up_axis(z_rig) == "Z", hips
        assert crbm.leg_length(z_rig) == pytest.approx(93.0)
    # the body is the Hips' subtree; a root that carries the trajectory itself is measured as before
    assert (trajectory_joint(_rooted_rig((0.0, 94.0, 0.0))), trajectory_joint(_standing_rig(np.eye(3)))) == (1, 0)


def _rooted_clip(rig: crbm.Skeleton, root_path: np.ndarray | None = None) -> crbm.Motion:
    """40 frames on :func:`_rooted_rig`: the root bone still at its OFFSET (or along ``root_path`` (T, 3)),
    the Hips walking (its position channels), every joint turning; other joints' position channels hold
    their OFFSET."""
    t = np.arange(40)[:, None] / 30.0
    angles = 25 * np.sin(2 * np.pi * t + np.arange(3 * len(rig.joints))[None] / 3.0)
    blocks = []
    for j, joint in enumerate(rig.joints):
        if j == 0:
            where = np.zeros((40, 3)) if root_path is None else root_path
            angles[:, :3] = 0.0
        elif j == 1:
            where = np.hstack([8 * t, 89 + np.sin(6 * t), 120 * t])
        else:
            where = np.repeat([joint.offset], 40, axis=0)
        blocks += [where, angles[:, 3 * j: 3 * j + 3]]
    return crbm.Motion(rig, np.hstack(blocks), 30.0, name="walk")


def test_the_body_below_a_root_bone_goes_onto_the_model_rig_and_back_with_its_trajectory():
    """The Bandai Namco rig: the model's rig is the body (the Hips' subtree, Hips its root, carrying the
    trajectory); back on the file's rig the root bone is restored at rest and the Hips take the path. Before,
    the trajectory came from the static root bone and the canonical rig kept it: 'root is not above its
    feet', or, with the Hips OFFSET far off, a Z-up rig whose generated Hips hung metres from the root."""
    for hips in ((0.0, 94.0, 0.0), (0.847, 93.98, -452.2)):
        rig = _rooted_rig(hips)
        clip = _rooted_clip(rig)
        model_rig = crbm.canonical_rig([rig])
        assert model_rig.names == rig.names[1:] and model_rig.joints[0].channels[:3] == (
            "Xposition", "Yposition", "Zposition")
        on_rig = crbm.retarget(clip, model_rig)
        np.testing.assert_allclose(joint_positions(on_rig), joint_positions(clip)[:, 1:], atol=1e-6)
        back = crbm.retarget(on_rig, rig)
        np.testing.assert_allclose(joint_positions(back), joint_positions(clip), atol=1e-6)
        np.testing.assert_allclose(back.frames[:, :6], 0.0, atol=1e-12)  # the root bone as it was: at rest
    # a root bone that moves too (the Bandai dash: joint_Root along Z): the body keeps its whole path
    t = np.arange(40)[:, None] / 30.0
    rig = _rooted_rig((0.847, 93.98, -452.2))
    clip = _rooted_clip(rig, np.hstack([0 * t, 0 * t, 400 * t]))
    back = crbm.retarget(crbm.retarget(clip, crbm.canonical_rig([rig])), rig)
    np.testing.assert_allclose(joint_positions(back)[:, 1:], joint_positions(clip)[:, 1:], atol=1e-6)
    np.testing.assert_allclose(joint_positions(crbm.retarget(clip, rig)), joint_positions(clip), atol=1e-6)


def test_a_z_up_rig_retargets_like_the_same_rig_y_up():
    """A Blender-style Z-up export (its world turned a quarter about X from the Y-up rig) is the same motion:
    the same leg length, the same canonical (Y-up) rig, the same model frames on it, and back."""
    to_z = euler_to_matrix(np.array([90.0, 0.0, 0.0]), "XYZ")  # Y -> Z, Z -> -Y
    y_rig, z_rig = _standing_rig(np.eye(3)), _standing_rig(to_z)
    assert (up_axis(y_rig), up_axis(z_rig)) == ("Y", "Z")
    assert crbm.leg_length(z_rig) == pytest.approx(crbm.leg_length(y_rig)) == pytest.approx(93.0)  # 5 + 42 + 42 + 4
    t = np.arange(40)[:, None] / 30.0
    angles = 25 * np.sin(2 * np.pi * t + np.arange(30)[None] / 3.0)  # every joint moving, 10 x 3 channels
    frames = np.hstack([np.hstack([8 * t, 89 + np.sin(6 * t), 120 * t]), angles])
    y_clip = crbm.Motion(y_rig, frames, 30.0, name="walk")
    z_frames = frames.copy()
    z_frames[:, :3] = frames[:, :3] @ to_z.T
    for _, cols, axes in rotation_channels(y_rig):
        z_frames[:, cols] = matrix_to_euler(to_z @ euler_to_matrix(frames[:, cols], axes) @ to_z.T, axes)
    z_clip = crbm.Motion(z_rig, z_frames, 30.0, name="walk")
    np.testing.assert_allclose(joint_positions(z_clip), joint_positions(y_clip) @ to_z.T, atol=1e-9)
    rig = crbm.canonical_rig([y_rig])
    for a, b in zip(rig.joints, crbm.canonical_rig([z_rig]).joints):
        np.testing.assert_allclose(a.offset, b.offset, atol=1e-9)
    on_rig = crbm.retarget(z_clip, rig)
    np.testing.assert_allclose(joint_positions(on_rig), joint_positions(crbm.retarget(y_clip, rig)), atol=1e-9)
    np.testing.assert_allclose(joint_positions(crbm.retarget(on_rig, z_rig)), joint_positions(z_clip), atol=1e-9)


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
