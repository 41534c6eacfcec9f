"""Realism figures on clips built to have known answers: a foot sliding at a set fraction of the body's speed,
a joint turning at a set rate, feet stepping at a set period; PSKL zero for the same motion on another rig."""

from __future__ import annotations

import numpy as np
import pytest

import crbm
from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import joint_positions
from crbm.mocap.realism import (
    angular_speed,
    clip_steps,
    contacts,
    dominant_period,
    feet,
    foot_skating,
    foot_strikes,
    gait_period,
    lock_feet,
    off_gait,
    pskl,
    realism,
    stance,
    steady_step,
    step_timing,
    style_transition,
)

FPS = 30.0
POS = ("Xposition", "Yposition", "Zposition")


def _walker(n: int = 120, *, slide: float = 30.0, root_speed: float = 100.0, period: int = 30) -> crbm.Motion:
    """A root walking along +z at ``root_speed`` cm/s with two feet (position channels: world = root + local)
    that take turns: planted (height 0, sliding forward at ``slide`` cm/s) for half of each ``period`` frames,
    then swinging 10 cm up and ahead; the arm ``hand`` turns about Z at 90 degrees a second."""
    sk = crbm.Skeleton((
        crbm.Joint("hips", -1, (0.0, 0.0, 0.0), POS + ("Zrotation", "Yrotation", "Xrotation")),
        crbm.Joint("lfoot", 0, (10.0, -90.0, 0.0), POS),
        crbm.Joint("rfoot", 0, (-10.0, -90.0, 0.0), POS),
        crbm.Joint("hand", 0, (30.0, 0.0, 0.0), ("Zrotation",)),
    ))
    t = np.arange(n)
    root_z = root_speed * t / FPS
    frames = np.zeros((n, 13))
    frames[:, 1], frames[:, 2] = 90.0, root_z
    for col, x, phase in ((6, 10.0, 0), (9, -10.0, period // 2)):
        step = (t + phase) % period
        planted = step < period // 2
        world_z = np.where(planted, slide * t / FPS, root_z + 40.0)  # a swinging foot runs well ahead
        frames[:, col] = x
        frames[:, col + 1] = np.where(planted, 0.0, 10.0) - 90.0
        frames[:, col + 2] = world_z - root_z
    frames[:, 12] = 90.0 * t / FPS
    return crbm.Motion(sk, frames, FPS, name="walker")


def test_feet_are_the_lowest_point_on_each_side():
    assert feet(_walker()) == (1, 2)


def test_a_foot_sliding_at_a_third_of_the_bodys_speed_skates_at_a_third():
    m = _walker(slide=30.0)
    s = foot_skating(m)
    np.testing.assert_allclose(s["skating"], 0.3, rtol=1e-12)
    np.testing.assert_allclose([s["stance_speed"], s["root_speed"]], [30.0, 100.0], rtol=1e-12)
    assert 0.4 < s["stance"] < 0.5  # half the frames, less each landing (a fast step, not stance)
    assert foot_skating(_walker(slide=0.0))["skating"] == 0.0


def test_angular_speed_and_gait_period_known_answers():
    m = _walker(period=36)
    np.testing.assert_allclose(angular_speed(m), 90.0, rtol=1e-9)  # the only non-root joint that turns
    assert gait_period(m) == pytest.approx(36 / FPS)
    # a stride of 21.5 frames: found as such, not as 43 whole frames
    t = np.arange(300)
    wave = m.replace(frames=np.repeat(m.frames[:1], 300, axis=0))
    wave.frames[:, 7] = -90.0 + 5 * np.sin(2 * np.pi * t / 21.5)
    wave.frames[:, 10] = -90.0 - 5 * np.sin(2 * np.pi * t / 21.5)
    assert gait_period(wave) == pytest.approx(21.5 / FPS, abs=0.25 / FPS)


def _swinger(period: float, n: int = 128) -> crbm.Motion:
    """An arm swinging 30 degrees either way about Z with ``period`` frames; the root, on a rigid leg, moves
    along +z."""
    sk = crbm.Skeleton((
        crbm.Joint("hips", -1, (0.0, 0.0, 0.0), POS + ("Zrotation", "Yrotation", "Xrotation")),
        crbm.Joint("arm", 0, (20.0, 0.0, 0.0), ("Zrotation",)),
        crbm.Joint("hand", 1, (25.0, 0.0, 0.0), (), end_site=(5.0, 0.0, 0.0)),
        crbm.Joint("foot", 0, (0.0, -90.0, 0.0), ()),
    ))
    t = np.arange(n)
    frames = np.zeros((n, 7))
    frames[:, 1], frames[:, 2] = 90.0, 100.0 * t / FPS
    frames[:, 6] = 30.0 * np.sin(2 * np.pi * t / period)
    return crbm.Motion(sk, frames, FPS, name="swinger")


def test_pskl_is_zero_for_the_same_motion_on_another_rig_and_grows_with_a_change():
    m = _swinger(30.0)
    same = pskl([m], [crbm.convert_length(m, "mm")], segment=32)
    assert same["real_to_other"] == pytest.approx(0.0, abs=1e-9)
    assert same["other_to_real"] == pytest.approx(0.0, abs=1e-9)
    faster = pskl([_swinger(8.0)], [m], segment=32)
    assert faster["real_to_other"] > 0.5 and faster["other_to_real"] > 0.5
    walker = _walker(period=30)
    figures = realism([walker], [walker])
    assert figures["skating"]["motion"] == figures["skating"]["real"] == pytest.approx(0.3)
    assert figures["gait_period"]["motion"] == pytest.approx(1.0)
    assert figures["pskl"]["real_to_other"] == pytest.approx(0.0, abs=1e-12)


def test_bad_input():
    m = _walker()
    still = m.replace(frames=np.repeat(m.frames[:1], 10, axis=0))
    with pytest.raises(CRBMError, match="root does not move"):
        foot_skating(still)
    with pytest.raises(CRBMError, match="at least one clip"):
        realism([], [m])
    with pytest.raises(CRBMError, match="fewer than a segment"):
        pskl([m.replace(frames=m.frames[:20])], [m], segment=32)
    with pytest.raises(CRBMError, match="nothing moves"):
        pskl([_swinger(30.0)], [_swinger(30.0).replace(frames=np.zeros((64, 7)))], segment=32)


def test_dominant_period_tolerance_prefers_the_period_to_its_multiples():
    t = np.arange(300)
    wave = np.sin(2 * np.pi * t / 21.5)  # between whole frames: the peaks at 43, 86... lags are a little higher
    assert dominant_period(wave, max_lag=200) % 43 == 0
    assert dominant_period(wave, max_lag=200, tolerance=0.1) in (21.0, 22.0)
    assert np.isnan(dominant_period(np.zeros(50)))


def test_foot_strikes_ignore_short_lifts_and_landings_and_an_unseen_onset():
    rows = np.zeros((40, 2), dtype=bool)
    rows[0:5, 0] = True  # in stance from the first row: its onset is not seen
    rows[10:20, 0] = True
    rows[14:16, 0] = False  # a 2-row lift inside a stance: closed
    rows[25:27, 0] = True  # a 2-row landing: dropped
    rows[30:40, 0] = True  # a stance running to the end
    rows[7:12, 1] = True
    rows[12:14, 1] = False
    rows[14:16, 1] = True  # closing the 2-row lift before it makes one 9-row stance: one strike
    left, right = foot_strikes(rows, min_frames=3)
    assert left.tolist() == [10, 30] and right.tolist() == [7]
    assert foot_strikes(rows, min_frames=1)[0].tolist() == [10, 16, 25, 30]
    with pytest.raises(CRBMError, match="frames, feet"):
        foot_strikes(rows[:, 0])


def test_step_timing_orders_strikes_and_marks_alternation():
    steps = step_timing([np.array([10, 40, 50]), np.array([25, 50])])
    assert steps["frames"].tolist() == [10, 25, 40, 50, 50]
    assert steps["feet"].tolist() == [0, 1, 0, 0, 1]
    assert steps["intervals"].tolist() == [15, 15, 10, 0]
    assert steps["alternate"].tolist() == [True, True, False, True]


def test_clip_steps_of_a_walker_stepping_every_half_period():
    m = _walker(n=120, period=30)
    rows = stance(m)
    # row i is frame i + 1: the left foot stands on frames 1-14, lands on frame 30 (moving fast), stands from 31
    assert rows.shape == (119, 2) and rows[:14, 0].all() and not rows[14:30, 0].any() and rows[30, 0]
    steps = clip_steps(m)
    # right foot lands on frames 15, 45, ...; left on 30, 60, ...; stance is seen from the frame after
    assert steps["frames"].tolist() == [16, 31, 46, 61, 76, 91, 106]
    assert steps["feet"].tolist() == [1, 0, 1, 0, 1, 0, 1]
    assert steady_step([m, _walker(n=120, period=36)]) == pytest.approx(np.median([15] * 6 + [18] * 5))


def test_off_gait_marks_repeated_feet_and_steps_outside_the_band():
    steps = step_timing([np.array([0, 20, 31]), np.array([10, 23])])  # 0 L, 10 R, 20 L, 23 R, 31 L
    assert steps["intervals"].tolist() == [10, 10, 3, 8]
    assert off_gait(steps, 10.0).tolist() == [False, False, True, True]  # 3 and 8 lie more than 1.5 off 10
    assert off_gait(steps, 10.0, tolerance=0.25).tolist() == [False, False, True, False]
    repeated = step_timing([np.array([0, 10]), np.array([], dtype=int)])
    assert off_gait(repeated, 10.0).tolist() == [True]


def _steps(frames, feet_):
    return step_timing([np.array([f for f, s in zip(frames, feet_) if s == side], dtype=int) for side in (0, 1)])


def test_style_transition_known_answers():
    walk = list(range(4, 100, 16))  # 4, 20, ..., 84: steps of 16 frames
    run = [112 + 10 * i for i in range(8)]  # from 112 on: steps of 10 frames
    feet_ = [i % 2 for i in range(len(walk) + len(run))]
    steps = _steps(walk + run, feet_)  # 84 -> 112: one step of 28 frames
    t = style_transition(steps, 90, 16.0, 10.0)
    assert t["frames"] == 112 - 90 and t["cycles"] == pytest.approx(22 / 20)
    assert t["irregular"] == 1 and t["steps"] == 8  # the 28-frame step fits neither gait
    # 84 -> 98 (14 frames) fits the walk (16 - 2.4 <= 14), 98 -> 110 (12) fits neither (10 + 1.5 < 12)
    steps = _steps([*walk, 98, *(110 + 10 * i for i in range(8))], feet_ + [0])
    t = style_transition(steps, 90, 16.0, 10.0)
    assert t["frames"] == 110 - 90 and t["irregular"] == 1
    # a repeated foot after the switch is irregular and restarts the count
    frames = [*walk, 100, 110, 120, 130, 140, 150, 160]
    side = [i % 2 for i in range(len(walk))] + [0, 0, 1, 0, 1, 0, 1]
    t = style_transition(_steps(frames, side), 90, 16.0, 10.0)
    assert walk[-1] == 84 and side[len(walk) - 1] == 1
    assert t["frames"] == 110 - 90 and t["irregular"] == 1
    # too few fitting steps after the last irregular one: the transition never completes
    t = style_transition(_steps(frames[:-2], side[:-2]), 90, 16.0, 10.0, min_steps=4)
    assert np.isnan(t["frames"]) and np.isnan(t["cycles"])
    assert style_transition(_steps(frames[:-2], side[:-2]), 90, 16.0, 10.0, min_steps=3)["frames"] == 20
    with pytest.raises(CRBMError, match="must be positive"):
        style_transition(steps, 90, float("nan"), 10.0)


def test_lock_feet_plants_the_stance_foot_and_keeps_the_pose():
    """A walker whose planted feet slide at 30 cm/s: locked, its stance feet stand still; only the root's
    ground path changes (the pose, height and heading are the clip's), and a clip without sliding is kept."""
    walker = _walker(slide=30.0)
    locked = lock_feet(walker)
    assert foot_skating(walker)["stance_speed"] == pytest.approx(30.0, rel=1e-6)
    assert foot_skating(locked)["stance_speed"] < 1e-6
    ground = [0, 2]
    others = [c for c in range(walker.frames.shape[1]) if c not in ground]
    np.testing.assert_allclose(locked.frames[:, others], walker.frames[:, others], atol=1e-9)
    assert np.abs(locked.frames[:, ground] - walker.frames[:, ground]).max() > 10.0
    still = _walker(slide=0.0)
    np.testing.assert_allclose(lock_feet(still).frames, still.frames, atol=1e-9)


def _z_up_twin(m: crbm.Motion) -> crbm.Motion:
    """The walker exported Z-up (Blender): its world turned a quarter about X (Y -> Z, Z -> -Y); the hand's
    turn about Z becomes a turn about -Y."""
    def turn(v):
        return None if v is None else (v[0], -v[2], v[1])

    joints = [crbm.Joint(j.name, j.parent, turn(j.offset), ("Yrotation",) if j.name == "hand" else j.channels)
              for j in m.skeleton.joints]
    f = m.frames.copy()
    for c in (0, 6, 9):  # the position channels: the root's and the feet's
        f[:, c + 1], f[:, c + 2] = -m.frames[:, c + 2], m.frames[:, c + 1]
    f[:, 12] = -m.frames[:, 12]
    return crbm.Motion(crbm.Skeleton(tuple(joints)), f, m.fps, name=m.name)


def test_a_z_up_rig_gives_the_figures_and_the_foot_locking_of_its_y_up_twin():
    """Blender's Z-up export of the sliding walker: its feet, skating and gait are those of the Y-up clip, and
    foot locking moves its root over its own ground (X-Y), keeping its height (Z): the locked clip is the
    locked Y-up clip turned (before, the root was moved along X-Z, through the floor)."""
    walker = _walker(slide=30.0)
    twin = _z_up_twin(walker)
    to_z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(joint_positions(twin), joint_positions(walker) @ to_z.T, atol=1e-9)
    assert feet(twin) == feet(walker)
    for key, value in foot_skating(walker).items():
        assert foot_skating(twin)[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert gait_period(twin) == pytest.approx(gait_period(walker), rel=1e-9)
    locked = lock_feet(twin)
    np.testing.assert_allclose(joint_positions(locked), joint_positions(lock_feet(walker)) @ to_z.T, atol=1e-9)
    np.testing.assert_array_equal(locked.frames[:, 2], twin.frames[:, 2])  # the height
    assert foot_skating(locked)["stance_speed"] < 1e-6


def test_lock_feet_needs_the_roots_ground_position_channels():
    walker = _walker()
    sk = walker.skeleton
    hips = sk.joints[0]
    no_x = crbm.Skeleton((crbm.Joint(hips.name, -1, hips.offset, hips.channels[1:]), *sk.joints[1:]))
    with pytest.raises(CRBMError, match="clip 'walker': foot locking moves the root over the ground; its root "
                                        "'hips' has no X position channel"):
        lock_feet(crbm.Motion(no_x, walker.frames[:, 1:], walker.fps, name="walker"))


def test_contacts_mark_each_foots_planted_frames_but_its_landing():
    """The walker's feet are planted for half of each period, in turn; contacts are on for those frames but the
    landing (the step into it is a fast one), frame 0 as frame 1; a root that stands still gives none."""
    walker = _walker(slide=30.0)
    t = np.arange(walker.n_frames)
    planted = np.stack([t % 30 < 15, (t + 15) % 30 < 15], axis=1)
    expected = planted.copy()
    expected[1:] &= planted[:-1]
    expected[0] = expected[1]
    got = contacts(walker)
    assert got.shape == (walker.n_frames, 2) and got.dtype == bool
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[1:], stance(walker))
    assert not contacts(_walker(slide=0.0, root_speed=0.0)).any()
