"""Rotation conversions (exact round trips, scipy as an independent reference) and forward kinematics
(hand-built skeletons with known answers, invariances, real CMU data, bvhio as an independent BVH reader)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from mocap_fixtures import bvh_motion_via_bvhio, cmu35_skeleton, read_amc_frames
from scipy.spatial.transform import Rotation

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import (
    axis_rotation,
    euler_alternative,
    euler_to_matrix,
    expmap_continuous,
    expmap_to_matrix,
    joint_positions,
    matrix_to_euler,
    matrix_to_expmap,
    matrix_to_quaternion,
    nearest_euler,
    position_names,
    position_parents,
    quaternion_to_matrix,
    rotation_channels,
    wrap_angle,
)
from crbm.mocap.motion import Joint, Motion, Skeleton

ORDERS = ["".join(p) for p in itertools.permutations("XYZ")]


def _random_euler(rng, n):
    return np.stack([rng.uniform(-180, 180, n), rng.uniform(-89.9, 89.9, n), rng.uniform(-180, 180, n)], -1)


@pytest.mark.parametrize("order", ORDERS)
def test_euler_matrix_euler_round_trip(order):
    rng = np.random.default_rng(0)
    angles = _random_euler(rng, 2000)
    back = matrix_to_euler(euler_to_matrix(angles, order), order)
    assert np.abs(back - angles).max() < 1e-9


@pytest.mark.parametrize("order", ORDERS)
def test_euler_matches_scipy_intrinsic(order):
    """Our ``R = R_o0 @ R_o1 @ R_o2`` is scipy's intrinsic (upper-case) convention."""
    rng = np.random.default_rng(1)
    angles = _random_euler(rng, 50)
    ours = euler_to_matrix(angles, order)
    theirs = Rotation.from_euler(order, angles, degrees=True).as_matrix()
    assert np.abs(ours - theirs).max() < 1e-14


def test_euler_order_is_multiplication_order():
    a, b, c = 30.0, -50.0, 120.0
    expect = axis_rotation("Z", a) @ axis_rotation("X", b) @ axis_rotation("Y", c)
    assert np.abs(euler_to_matrix([a, b, c], "ZXY") - expect).max() < 1e-15
    # a +90 degree turn about Z takes x to y (right-handed, column vectors)
    assert np.allclose(axis_rotation("Z", 90.0) @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    assert np.allclose(axis_rotation("X", 90.0) @ [0, 1, 0], [0, 0, 1], atol=1e-15)
    assert np.allclose(axis_rotation("Y", 90.0) @ [0, 0, 1], [1, 0, 0], atol=1e-15)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("middle", [90.0, -90.0, 90.0 - 1e-7, -90.0 + 1e-9])
def test_gimbal_lock_matrix_round_trip(order, middle):
    rng = np.random.default_rng(2)
    angles = np.stack([rng.uniform(-180, 180, 100), np.full(100, middle), rng.uniform(-180, 180, 100)], -1)
    r = euler_to_matrix(angles, order)
    back = matrix_to_euler(r, order)
    assert np.all(np.isfinite(back))
    assert np.abs(euler_to_matrix(back, order) - r).max() < 1e-12


def test_euler_alternative_is_same_rotation():
    rng = np.random.default_rng(3)
    angles = _random_euler(rng, 100)
    for order in ORDERS:
        alt = euler_alternative(angles)
        assert np.abs(euler_to_matrix(alt, order) - euler_to_matrix(angles, order)).max() < 1e-13
        assert np.all(np.abs(alt[:, 1]) >= 90.0 - 1e-9)


def test_nearest_euler_picks_the_branch_and_turns_of_the_reference():
    """Either Euler branch of a rotation, moved by whole turns, comes back as the triple next to the reference:
    the reference's own branch and turns when it lies close to it, the same rotation in every case."""
    rng = np.random.default_rng(4)
    truth = _random_euler(rng, 200) + 360.0 * rng.integers(-2, 3, size=(200, 3))
    turns = 360.0 * rng.integers(-3, 4, (200, 3))
    given = np.where(rng.random((200, 1)) < 0.5, euler_alternative(truth), truth) + turns
    reference = truth + rng.normal(scale=5.0, size=truth.shape)
    out = nearest_euler(given, reference)
    np.testing.assert_allclose(out, truth, atol=1e-9)
    radians = nearest_euler(np.deg2rad(given), np.deg2rad(reference), degrees=False)
    np.testing.assert_allclose(radians, np.deg2rad(truth), atol=1e-11)
    far = nearest_euler(given, reference + 180.0)  # a reference half a turn away: still the same rotations
    for order in ORDERS:
        assert np.abs(euler_to_matrix(far, order) - euler_to_matrix(truth, order)).max() < 1e-12


def test_wrap_angle():
    wrapped = wrap_angle([180.0, -180.0, 540.0, 181.0, -181.0])
    assert np.allclose(wrapped, [180.0, 180.0, 180.0, -179.0, 179.0])
    assert np.allclose(wrap_angle([-330.0, 30.0, 400.0], low=-300.0), [30.0, 30.0, 40.0])


def _random_expmap(rng, n, max_angle=np.pi):
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * rng.uniform(0, max_angle, (n, 1))


def test_expmap_matrix_round_trip_and_scipy():
    rng = np.random.default_rng(4)
    v = _random_expmap(rng, 2000, np.pi - 1e-6)
    r = expmap_to_matrix(v)
    assert np.abs(r - Rotation.from_rotvec(v).as_matrix()).max() < 1e-14
    assert np.abs(matrix_to_expmap(r) - v).max() < 1e-12


@pytest.mark.parametrize("angle", [0.0, 1e-12, 1e-9, 1e-5, 1e-4, 2e-4, np.pi - 1e-4, np.pi - 1e-9])
def test_expmap_round_trip_small_and_near_pi(angle):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    v = angle * axis
    r = expmap_to_matrix(v)
    assert np.abs(r - Rotation.from_rotvec(v).as_matrix()).max() < 1e-15
    assert np.abs(matrix_to_expmap(r) - v).max() < 1e-12


def test_expmap_at_pi_is_plus_or_minus():
    axis = np.array([2.0, -1.0, 0.5]) / np.linalg.norm([2.0, -1.0, 0.5])
    back = matrix_to_expmap(expmap_to_matrix(np.pi * axis))
    assert min(np.abs(back - np.pi * axis).max(), np.abs(back + np.pi * axis).max()) < 1e-12


def test_quaternion_round_trip_and_scipy():
    rng = np.random.default_rng(5)
    r = Rotation.random(500, random_state=6).as_matrix()
    q = matrix_to_quaternion(r)
    assert np.all(q[:, 0] >= 0)
    sq = Rotation.from_matrix(r).as_quat()  # (x, y, z, w)
    sq = np.where(sq[:, 3:] < 0, -sq, sq)
    assert np.abs(q - np.concatenate([sq[:, 3:], sq[:, :3]], 1)).max() < 1e-14
    assert np.abs(quaternion_to_matrix(q) - r).max() < 1e-14
    # 180-degree turns about each axis (trace -1) go through the other Shepperd branches
    for axis in "XYZ":
        m = axis_rotation(axis, 180.0 + rng.uniform(-1e-9, 1e-9))
        assert np.abs(quaternion_to_matrix(matrix_to_quaternion(m)) - m).max() < 1e-14


def test_expmap_continuous_through_pi():
    axis = np.array([0.0, 0.6, 0.8])
    angles = np.linspace(0, 4 * np.pi, 200)
    raw = matrix_to_expmap(expmap_to_matrix(angles[:, None] * axis))
    assert np.abs(np.diff(raw, axis=0)).max() > 1.0  # the principal value flips at pi
    smooth = expmap_continuous(raw)
    assert np.abs(smooth - angles[:, None] * axis).max() < 1e-10
    assert np.abs(expmap_to_matrix(smooth) - expmap_to_matrix(raw)).max() < 1e-13


# ---------------------------------------------------------------------------------------------------
# forward kinematics


def _bvh_arm():
    """Root with OFFSET (1, 2, 3) and position channels, rotating Zrotation Xrotation Yrotation; an elbow
    one unit along x; a 6-channel hand with OFFSET (0, 2, 0) and an end site one unit along x."""
    joints = (
        Joint("hips", -1, (1.0, 2.0, 3.0),
              ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")),
        Joint("elbow", 0, (1.0, 0.0, 0.0), ("Yrotation",)),
        Joint("hand", 1, (0.0, 2.0, 0.0), ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation",
                                          "Yrotation"), end_site=(1.0, 0.0, 0.0)),
    )
    return Skeleton(joints, kind="bvh")


def test_bvh_fk_known_answer():
    sk = _bvh_arm()
    f = np.zeros((3, 13))
    f[0, :3] = [1.0, 2.0, 3.0]     # position channels equal to the OFFSETs: the rest pose
    f[0, 7:10] = [0.0, 2.0, 0.0]
    f[1, :3] = [11.0, 2.0, 3.0]    # root translation: the channels are the root's position
    f[1, 6] = 90.0                 # elbow Yrotation: x -> -z
    f[1, 7:10] = [0.0, 2.0, 1.0]   # the hand's channels replace its OFFSET
    f[1, 10] = 90.0                # hand Zrotation: end site x -> y
    # frame 2: every position channel 0 puts the root at the origin and the hand on the elbow
    p = joint_positions(Motion(sk, f, 30.0), end_sites=True)
    assert p.shape == (3, 4, 3)
    expect0 = [[1, 2, 3], [2, 2, 3], [2, 4, 3], [3, 4, 3]]
    assert np.abs(p[0] - expect0).max() < 1e-14
    # frame 1: root at (11,2,3); elbow at (12,2,3); hand translation (0,2,1) rotated by Ry(90): (1,2,0)
    # end site: R = Ry(90) Rz(90) applied to (1,0,0) = Ry(90) (0,1,0) = (0,1,0)
    expect1 = [[11, 2, 3], [12, 2, 3], [13, 4, 3], [13, 5, 3]]
    assert np.abs(p[1] - expect1).max() < 1e-14
    assert np.abs(p[2] - [[0, 0, 0], [1, 0, 0], [1, 0, 0], [2, 0, 0]]).max() < 1e-14
    assert position_parents(sk, end_sites=True) == [-1, 0, 1, 2]
    assert position_names(sk, end_sites=True)[-1] == "hand.end"
    assert joint_positions(Motion(sk, f, 30.0)).shape == (3, 3, 3)


def test_bvh_partial_position_channels_replace_only_their_components():
    """``Yposition`` alone replaces OFFSET[1]; x and z stay the OFFSET's (bvhio's reading)."""
    sk = Skeleton((Joint("root", -1, (10.0, 20.0, 30.0), ("Yposition", "Zrotation")),
                   Joint("slider", 0, (1.0, 2.0, 3.0), ("Zposition", "Xposition"), end_site=(0.0, 1.0, 0.0))))
    f = np.array([[5.0, 90.0, -4.0, 7.0]])  # root y = 5, Rz(90); slider z = -4, x = 7
    p = joint_positions(Motion(sk, f, 30.0), end_sites=True)[0]
    # slider translation (7, 2, -4) turned by Rz(90): (-2, 7, -4); its end site (0, 1, 0) -> (-1, 0, 0)
    assert np.abs(p - [[10, 5, 30], [8, 12, 26], [7, 12, 26]]).max() < 1e-13


def _asf_leg():
    joints = (
        Joint("root", -1, (0.0, 0.0, 0.0), ("tx", "ty", "tz", "rx", "ry", "rz")),
        Joint("femur", 0, (0.0, -2.0, 0.0), ("rx", "ry", "rz"), axis=(0.0, 0.0, 90.0), axis_order="XYZ"),
        Joint("tibia", 1, (0.0, -3.0, 0.0), ("rx",), axis=(0.0, 0.0, 0.0), axis_order="XYZ"),
    )
    return Skeleton(joints, kind="asf", units={"angle": "deg"})


def test_asf_fk_known_answer():
    sk = _asf_leg()
    assert rotation_channels(sk) == [(0, [5, 4, 3], "ZYX"), (1, [8, 7, 6], "ZYX"), (2, [9], "X")]
    f = np.zeros((3, 10))
    f[1, 6] = 90.0  # femur rx in its own axes: C = Rz(90) maps local x to world y, so it turns about world y
    f[2, 9] = 90.0  # tibia rx about world x: (0,-3,0) -> (0,0,-3)
    f[2, :3] = [1.0, 2.0, 3.0]
    p = joint_positions(Motion(sk, f, 120.0))
    assert np.abs(p[0] - [[0, 0, 0], [0, -2, 0], [0, -5, 0]]).max() < 1e-14
    assert np.abs(p[1] - [[0, 0, 0], [0, -2, 0], [0, -5, 0]]).max() < 1e-14  # a turn about the bone itself
    assert np.abs(p[2] - [[1, 2, 3], [1, 0, 3], [1, 0, 0]]).max() < 1e-14


def test_asf_dof_order_is_reversed_composition():
    """``dof rx ry rz`` means R = Rz Ry Rx (CMU): the femur end follows that product applied to the bone."""
    sk = Skeleton((Joint("root", -1, (0.0, 0.0, 0.0), ()),
                   Joint("bone", 0, (1.0, 0.0, 0.0), ("rx", "ry", "rz"))), kind="asf")
    rx, ry, rz = 20.0, 30.0, 40.0
    p = joint_positions(Motion(sk, np.array([[rx, ry, rz]]), 120.0))
    expect = axis_rotation("Z", rz) @ axis_rotation("Y", ry) @ axis_rotation("X", rx) @ [1.0, 0, 0]
    assert np.abs(p[0, 1] - expect).max() < 1e-15


def test_fk_root_rotation_rotates_whole_body():
    """Adding a rotation about the vertical to the root rotates every position about the root."""
    sk = _bvh_arm()
    rng = np.random.default_rng(7)
    f = rng.uniform(-180, 180, (20, 13))
    f[:, 4] = rng.uniform(-80, 80, 20)
    p = joint_positions(Motion(sk, f, 30.0), end_sites=True)
    yaw = 37.0
    g = f.copy()
    r_root = euler_to_matrix(f[:, 3:6], "ZXY")
    g[:, 3:6] = matrix_to_euler(axis_rotation("Y", yaw) @ r_root, "ZXY")
    g[:, :3] = (axis_rotation("Y", yaw) @ f[:, :3][..., None])[..., 0]
    q = joint_positions(Motion(sk, g, 30.0), end_sites=True)
    assert np.abs(q - p @ axis_rotation("Y", yaw).T).max() < 1e-12


def test_fk_preserves_bone_lengths_under_random_angles():
    sk = _asf_leg()
    rng = np.random.default_rng(8)
    f = rng.uniform(-180, 180, (50, 10))
    p = joint_positions(Motion(sk, f, 120.0))
    assert np.abs(np.linalg.norm(p[:, 1] - p[:, 0], axis=-1) - 2.0).max() < 1e-13
    assert np.abs(np.linalg.norm(p[:, 2] - p[:, 1], axis=-1) - 3.0).max() < 1e-13


def test_bad_channel_and_order():
    with pytest.raises(CRBMError, match="unsupported channel"):
        rotation_channels(Skeleton((Joint("a", -1, (0.0, 0.0, 0.0), ("Wrotation",)),)))
    with pytest.raises(CRBMError, match="permutation"):
        euler_to_matrix([0, 0, 0], "XXY")


def test_cmu35_fk_walk_is_physical(data_root):
    """35_01 (a walk): bone lengths fixed, a foot on the ground in every frame, the stance foot still,
    left and right limbs of equal length and on their own sides."""
    sk = cmu35_skeleton(data_root / "mocap/cmu/35/35.asf")
    f = read_amc_frames(data_root / "mocap/cmu/35/35_01.amc", sk)
    p = joint_positions(Motion(sk, f, 120.0))
    names = sk.names
    for j, joint in enumerate(sk.joints[1:], start=1):
        length = np.linalg.norm(p[:, j] - p[:, joint.parent], axis=-1)
        assert np.abs(length - np.linalg.norm(joint.offset)).max() < 1e-12
    toes = p[:, [names.index("ltoes"), names.index("rtoes")]]
    low = toes[..., 1].min(axis=1)
    ground = np.median(low)
    assert np.abs(low - ground).max() < 1.0  # ASF units (1/0.45 inch): within about 5 cm of the floor
    # the lower toe moves far less horizontally than the root (stance), over the whole walk
    stance = np.argmin(toes[..., 1], axis=1)
    toe = toes[np.arange(len(toes)), stance]
    toe_speed = np.median(np.linalg.norm(np.diff(toe[:, [0, 2]], axis=0), axis=-1))
    root_speed = np.median(np.linalg.norm(np.diff(p[:, 0, [0, 2]], axis=0), axis=-1))
    assert toe_speed < 0.25 * root_speed
    # symmetry: over a walk the left and right knees and feet reach the same mean heights
    for left, right in [("ltibia", "rtibia"), ("lfoot", "rfoot"), ("lradius", "rradius")]:
        hl, hr = p[:, names.index(left), 1].mean(), p[:, names.index(right), 1].mean()
        assert abs(hl - hr) < 0.05 * abs(p[:, 0, 1].mean())
    heading = p[-1, 0] - p[0, 0]
    heading[1] = 0
    side = np.cross([0.0, 1.0, 0.0], heading)  # points to the walker's left for a Y-up, right-handed frame
    lfoot = np.mean((p[:, names.index("lfoot")] - p[:, 0]) @ side)
    rfoot = np.mean((p[:, names.index("rfoot")] - p[:, 0]) @ side)
    assert lfoot > 0.5 and rfoot < -0.5
    assert abs(lfoot + rfoot) < 0.3 * (lfoot - rfoot)


@pytest.mark.parametrize("name", ["test_mocapbank.bvh", "test_freebvh.bvh"])
def test_bvh_fk_matches_bvhio(data_root, name):
    """World positions agree with the independent BVH library bvhio on files nobody here wrote."""
    bvhio = pytest.importorskip("bvhio")
    path = data_root / "mocap/samples/bvhtoolbox-0.1.3" / name
    motion = bvh_motion_via_bvhio(path)
    p = joint_positions(motion)
    hierarchy = bvhio.readAsHierarchy(str(path))
    layout = {j.Name: j for j, _, _ in hierarchy.layout()}
    scale = np.abs(p).max()
    for frame in (0, motion.n_frames // 2, motion.n_frames - 1):
        hierarchy.loadPose(frame)
        theirs = np.array([list(layout[n].PositionWorld) for n in motion.skeleton.names])
        # bvhio computes in float32 (glm): agreement to its precision
        assert np.abs(p[frame] - theirs).max() < 1e-5 * scale
