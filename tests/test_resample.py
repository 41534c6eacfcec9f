"""crbm.mocap.resample: any rate to any rate, rotations by slerp, whole ratios frame-exact."""

from __future__ import annotations

import numpy as np
import pytest

from crbm import CRBMError
from crbm.mocap.io import read_motion
from crbm.mocap.kinematics import (
    axis_rotation,
    euler_to_matrix,
    expmap_to_matrix,
    local_rotations,
    matrix_to_euler,
    matrix_to_quaternion,
    rotation_channels,
)
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.resample import frame_count, rate_ratio, resample, slerp

BVH_SKELETON = Skeleton((
    Joint("Hips", -1, (0.0, 0.0, 0.0),
          ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")),
    Joint("Chest", 0, (0.0, 1.0, 0.0),  # position channels and another order, as Blender writes
          ("Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation")),
    Joint("Knee", 0, (0.0, -1.0, 0.0), ("Xrotation",)),
    Joint("Wrist", 1, (1.0, 0.0, 0.0), ("Yrotation", "Zrotation")),
), kind="bvh")


def _asf_skeleton(angle: str = "deg") -> Skeleton:
    return Skeleton((
        Joint("root", -1, (0.0, 0.0, 0.0), ("tx", "ty", "tz", "rx", "ry", "rz")),
        Joint("femur", 0, (0.0, -7.0, 0.0), ("rx", "ry", "rz"), axis=(0.0, 0.0, 20.0)),
        Joint("tibia", 1, (0.0, -6.0, 0.0), ("rx",)),
        Joint("foot", 2, (0.0, 0.0, 2.0), ("rx", "rz")),
    ), kind="asf", units={"length": 1.0, "angle": angle})


SKELETONS = {"bvh": BVH_SKELETON, "asf-deg": _asf_skeleton(), "asf-rad": _asf_skeleton("rad")}


def _smooth(skeleton: Skeleton, n: int, fps: float) -> Motion:
    """A smooth clip: every channel a slow sinusoid of its own phase (angles up to 60 degrees or radians' worth)."""
    t = np.arange(n)[:, None] / fps
    c = np.arange(len(skeleton.channel_names))[None, :]
    scale = 60.0 if skeleton.kind == "bvh" or skeleton.units["angle"] == "deg" else np.deg2rad(60.0)
    return Motion(skeleton, scale * np.sin(2.0 * t + 0.7 * c) * (0.5 + 0.1 * (c % 5)), fps, name="smooth")


def _constant_velocity(skeleton: Skeleton, times: np.ndarray) -> tuple[np.ndarray, dict]:
    """Frames at ``times`` where every rotating joint turns at a constant angular velocity from its own start
    pose, R_j(t) = R0_j exp(t w_j), and every position channel moves linearly; and {joint: R_j(t) function}."""
    degrees = skeleton.kind == "bvh" or skeleton.units["angle"] == "deg"
    rng = np.random.default_rng(3)
    frames = np.empty((len(times), len(skeleton.channel_names)))
    analytic = {}
    unit = 1.0 if degrees else np.pi / 180  # degrees -> the skeleton's angle unit
    for j, cols, axes in rotation_channels(skeleton):
        if len(cols) == 3:
            r0 = expmap_to_matrix(rng.normal(size=3))
            w = rng.normal(size=3) * 2.0  # rad/s: about 6 degrees a frame at 30 fps

            def rotation(t, r0=r0, w=w):
                return r0 @ expmap_to_matrix(np.asarray(t)[:, None] * w)

            frames[:, cols] = matrix_to_euler(rotation(times), axes, degrees=degrees)
        else:  # one or two channels: each angle at its own constant rate, wrapped into (-180, 180]
            start, rate = rng.uniform(-170, 170, len(cols)), rng.uniform(-250, 250, len(cols))

            def rotation(t, start=start, rate=rate, axes=axes):
                out = np.eye(3)
                for a, axis in enumerate(axes):
                    out = out @ axis_rotation(axis, (start[a] + np.asarray(t) * rate[a]) * unit, degrees=degrees)
                return out

            frames[:, cols] = (np.mod(start + times[:, None] * rate + 180, 360) - 180) * unit
        analytic[j] = rotation
    rotating = {c for _, cols, _ in rotation_channels(skeleton) for c in cols}
    for c in range(frames.shape[1]):
        if c not in rotating:
            frames[:, c] = 1.5 * c - 4.0 * times
    return frames, analytic


@pytest.mark.parametrize("kind", SKELETONS)
def test_same_rate_is_identity(kind):
    m = _smooth(SKELETONS[kind], 40, 30.0)
    out = resample(m, 30.0)
    assert out.fps == 30.0 and np.array_equal(out.frames, m.frames) and out.name == m.name


@pytest.mark.parametrize("kind", SKELETONS)
def test_up_and_down_again_gives_the_original_frames(kind):
    m = _smooth(SKELETONS[kind], 40, 30.0)
    up = resample(m, 60.0)
    assert up.n_frames == 79 and up.fps == 60.0
    assert np.array_equal(up.frames[::2], m.frames)  # input frames on the output grid are copied
    assert not np.array_equal(up.frames[1], m.frames[0])
    assert np.array_equal(resample(up, 30.0).frames, m.frames)
    # 25 -> 30 -> 25: the frames on both grids (t = 0, 0.2, 0.4, ...) come back exactly
    m25 = m.replace(fps=25.0)
    back = resample(resample(m25, 30.0), 25.0)
    assert np.array_equal(back.frames[::5], m25.frames[::5])


@pytest.mark.parametrize("fps", [120.0, 1 / 0.00833333, 1 / 0.0083333, 1 / 0.008333])
def test_whole_ratios_keep_every_kth_frame(fps):
    """CMU's 120 fps and the rates of rounded BVH frame times (120.000048, 120.00048, 120.0048 fps) -> 30 fps
    keep every 4th frame exactly, as crbm always has."""
    m = _smooth(BVH_SKELETON, 101, fps)
    out = resample(m, 30.0)
    assert out.fps == 30.0 and np.array_equal(out.frames, m.frames[::4])
    assert np.array_equal(resample(m, 60.0).frames, m.frames[::2])


def test_rate_ratio_snaps_rounded_frame_times_but_not_real_differences():
    assert rate_ratio(1 / 0.033333, 30.0) == 1.0  # Blender's 30 fps Frame Time, 30.0003 fps
    assert rate_ratio(30.0, 1 / 0.016667) == 0.5  # 59.9988 fps
    assert rate_ratio(25.0, 30.0) == 25.0 / 30.0
    assert rate_ratio(29.97, 30.0) == 29.97 / 30.0  # NTSC is a real rate difference (1e-3), interpolated
    m = _smooth(BVH_SKELETON, 40, 29.97)
    assert not np.array_equal(resample(m, 30.0).frames[1:], m.frames[1:])


def test_frame_count_follows_the_time_grid():
    assert frame_count(358, 120.0, 30.0) == 90  # t = 0 .. 89/30 <= 357/120
    assert frame_count(26, 25.0, 30.0) == 31  # one second: both ends on the grid
    assert frame_count(40, 30.0, 60.0) == 79
    assert frame_count(1, 30.0, 120.0) == 1 and frame_count(0, 30.0, 120.0) == 0
    m = _smooth(BVH_SKELETON, 26, 25.0)
    assert resample(m, 30.0).n_frames == 31 and resample(m, 24.0).n_frames == 25


def test_asked_frame_count_holds_the_last_frame():
    m = _smooth(BVH_SKELETON, 10, 30.0)
    out = resample(m, 120.0, n_frames=40)
    assert out.n_frames == 40 and np.array_equal(out.frames[::4], m.frames)
    assert np.array_equal(out.frames[36:], np.repeat(m.frames[-1:], 4, axis=0))
    assert np.array_equal(resample(m, 30.0, n_frames=4).frames, m.frames[:4])


def test_slerp_halfway_is_the_mid_rotation():
    r0 = expmap_to_matrix(np.array([0.3, -1.1, 0.4]))
    q0 = matrix_to_quaternion(r0)
    q1 = matrix_to_quaternion(r0 @ euler_to_matrix([90.0, 0.0, 0.0], "XYZ"))
    mid = matrix_to_quaternion(r0 @ euler_to_matrix([45.0, 0.0, 0.0], "XYZ"))
    for q in (slerp(q0, q1, 0.5), slerp(q0, -q1, 0.5)):  # either sign of q1: the shorter arc
        assert min(np.abs(q - mid).max(), np.abs(q + mid).max()) < 1e-12
    np.testing.assert_allclose(slerp(q0, q1, 0.0), q0, atol=1e-15)
    np.testing.assert_allclose(slerp(q0, q0, 0.3), q0, atol=1e-15)
    # the same through resample: Hips turns 90 degrees about its own X between two frames at 1 fps
    frames = np.zeros((2, len(BVH_SKELETON.channel_names)))
    a = matrix_to_euler(np.stack([r0, r0 @ euler_to_matrix([90.0, 0.0, 0.0], "XYZ")]), "ZXY")
    frames[:, 3:6] = a
    out = resample(Motion(BVH_SKELETON, frames, 1.0), 2.0)
    got = local_rotations(BVH_SKELETON, out.frames)[1, 0]
    np.testing.assert_allclose(got, r0 @ euler_to_matrix([45.0, 0.0, 0.0], "XYZ"), atol=1e-12)


@pytest.mark.parametrize("kind", SKELETONS)
@pytest.mark.parametrize("fps_out", [25.0, 47.0, 120.0])
def test_constant_angular_velocity_is_reproduced_exactly(kind, fps_out):
    """Rotations at a constant angular velocity and linear positions, sampled at 30 fps, resampled to another
    rate: every joint's rotation matches the analytic one at the new frame times (slerp follows the geodesic;
    one-axis joints turn at their constant rate, through +-180 degrees too)."""
    skeleton = SKELETONS[kind]
    times = np.arange(31) / 30.0
    frames, analytic = _constant_velocity(skeleton, times)
    out = resample(Motion(skeleton, frames, 30.0), fps_out)
    new_times = np.arange(out.n_frames) / fps_out
    assert out.n_frames == frame_count(31, 30.0, fps_out) and new_times[-1] <= times[-1]
    expected, _ = _constant_velocity(skeleton, new_times)
    rot = local_rotations(skeleton, out.frames)
    for j, rotation in analytic.items():
        np.testing.assert_allclose(rot[:, j], rotation(new_times), atol=1e-10, err_msg=skeleton.joints[j].name)
    rotating = {c for _, cols, _ in rotation_channels(skeleton) for c in cols}
    moving = [c for c in range(frames.shape[1]) if c not in rotating]
    np.testing.assert_allclose(out.frames[:, moving], expected[:, moving], atol=1e-12)


def test_wrap_around_interpolates_through_180_not_0():
    """179 -> -179 degrees is a 2-degree turn: the frames between pass 180, for a one-channel joint and for
    the yaw of a three-channel joint; each frame keeps the representation of the nearer input frame."""
    frames = np.zeros((2, len(BVH_SKELETON.channel_names)))
    knee, yaw = BVH_SKELETON.channel_names.index("Knee.Xrotation"), 3
    frames[:, knee] = frames[:, yaw] = [179.0, -179.0]
    out = resample(Motion(BVH_SKELETON, frames, 1.0), 4.0)
    np.testing.assert_allclose(out.frames[:, knee], [179.0, 179.5, -180.0, -179.5, -179.0], atol=1e-12)
    np.testing.assert_allclose(out.frames[:, yaw], [179.0, 179.5, -180.0, -179.5, -179.0], atol=1e-9)
    np.testing.assert_allclose(out.frames[:, 4:6], 0.0, atol=1e-9)


def test_angles_keep_the_input_representation():
    """Unwrapped angles (a yaw past 180) and the other Euler branch stay as the input writes them."""
    frames = np.zeros((3, len(BVH_SKELETON.channel_names)))
    frames[:, 3] = [170.0, 190.0, 210.0]  # Hips yaw, unwrapped
    frames[:, 9:12] = [[200.0, 150.0, 190.0], [204.0, 146.0, 194.0], [208.0, 142.0, 198.0]]  # Chest, other branch
    out = resample(Motion(BVH_SKELETON, frames, 1.0), 2.0)
    np.testing.assert_allclose(out.frames[:, 3], [170.0, 180.0, 190.0, 200.0, 210.0], atol=1e-9)
    assert np.all(np.abs(out.frames[1:4:2, 9:12] - (frames[:-1, 9:12] + frames[1:, 9:12]) / 2) < 1.0)


def test_cmu_120_to_30_is_every_fourth_frame(data_root):
    d = data_root / "mocap" / "cmu" / "35"
    m = read_motion(d / "35_01.amc", asf=d / "35.asf")
    out = resample(m, 30.0)
    assert out.n_frames == 90 and np.array_equal(out.frames, m.frames[::4])


@pytest.mark.parametrize("fps", [0.0, -30.0, float("nan"), float("inf"), 10_001.0, 1e6])
def test_bad_rates_are_refused(fps):
    m = _smooth(BVH_SKELETON, 5, 30.0)
    with pytest.raises(CRBMError, match=r"clip 'smooth': resampling rate: expected a frame rate above 0 and at most "
                                        r"10,000 fps, got"):
        resample(m, fps)
    with pytest.raises(CRBMError, match=r"motion 'x': fps: expected a frame rate above 0 and at most 10,000 fps"):
        Motion(BVH_SKELETON, m.frames, fps, name="x")
    assert resample(m, 10_000.0).n_frames == frame_count(5, 30.0, 10_000.0)
