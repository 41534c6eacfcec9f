"""Cleaning recorded motion (crbm.motion.cleanup): the noise estimate, the smoother, gap filling, the online filter,
the frame streams, and the motion model's part in them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import crbm
from crbm.cli import main
from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import euler_to_matrix, matrix_to_euler
from crbm.mocap.metrics import joint_position_error
from crbm.motion.cleanup import (
    Q_RATIOS,
    Gap,
    OnlineFilter,
    _fit_q,
    _loglik,
    _on_clip,
    _shares,
    denoise_motion,
    estimate_noise,
    fill_motion,
    format_frame,
    interpolate_gaps,
    model_predictions,
    parse_gap,
    read_frames,
    smooth_series,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _smooth_signal(rng, n=600, channels=4, fps=120.0):
    """Channels of sums of slow sinusoids (0.3-2 Hz, 5-30 units), (n, channels)."""
    t = np.arange(n)[:, None] / fps
    out = np.zeros((n, channels))
    for _ in range(3):
        f, a, ph = rng.uniform(0.3, 2.0, channels), rng.uniform(5, 30, channels), rng.uniform(0, 6.3, channels)
        out += a * np.sin(2 * np.pi * f * t + ph)
    return out


@pytest.fixture(scope="module")
def walk(data_root):
    """Two seconds of the CMU walk 35_29 at its own 120 fps."""
    clip = crbm.read_amc(data_root / "mocap/cmu/35/35_29.amc", crbm.read_asf(data_root / "mocap/cmu/35/35.asf"))
    return clip.replace(frames=clip.frames[:240])


def _train(data_root, epochs, **kw):
    asf = crbm.read_asf(data_root / "mocap/cmu/35/35.asf")
    clips = [crbm.read_amc(data_root / f"mocap/cmu/35/35_{k:02d}.amc", asf) for k in (1, 2)]
    torch.set_num_threads(1)
    return crbm.train_motion_model(clips, epochs=epochs, seed=0, **kw)


@pytest.fixture(scope="module")
def model(data_root):
    """A small CRBM (30 fps) trained on two other walks of subject 35."""
    return _train(data_root, 150, hidden=30)


def _noisy(clip, sd, seed=0):
    rot = [i for i, n in enumerate(clip.channel_names) if n.split(".")[1].startswith("r")]
    frames = clip.frames.copy()
    frames[:, rot] += np.random.default_rng(seed).normal(0, sd, (clip.n_frames, len(rot)))
    return clip.replace(frames=frames)


# ------------------------------------------------------------------------------------------ noise, smoother
def test_estimate_noise_recovers_white_noise_and_ignores_outliers():
    rng = np.random.default_rng(0)
    clean = _smooth_signal(rng, n=2000)
    noisy = clean + rng.normal(0, 0.7, clean.shape)
    np.testing.assert_allclose(estimate_noise(noisy), 0.7, rtol=0.06)
    spikes = noisy.copy()
    spikes[rng.choice(2000, 20, replace=False)] += 90.0  # 1 % of the frames
    np.testing.assert_allclose(estimate_noise(spikes), 0.7, rtol=0.1)
    assert np.all(estimate_noise(clean) < 0.01)  # a smooth curve at 120 fps has almost no third difference
    observed = np.ones(clean.shape, dtype=bool)
    observed[:, 0] = False
    assert estimate_noise(noisy, observed=observed)[0] == 0.0  # nothing to estimate from


def test_smoother_beats_its_input_from_the_first_frame_and_keeps_clean_data():
    rng = np.random.default_rng(1)
    clean = _smooth_signal(rng)
    noisy = clean + rng.normal(0, 1.0, clean.shape)
    out, q = smooth_series(noisy, np.ones(4))
    err = np.abs(out - clean)
    assert np.sqrt(np.mean(err**2)) < 0.4 and q.shape == (4,)  # noise 1.0
    # no start-up transient: the first ten frames are about as good as the middle of the clip
    assert np.sqrt(np.mean(err[:10] ** 2)) < 2.5 * np.sqrt(np.mean(err[200:400] ** 2))
    assert np.sqrt(np.mean(err[-10:] ** 2)) < 2.5 * np.sqrt(np.mean(err[200:400] ** 2))
    tiny = clean + rng.normal(0, 1e-3, clean.shape)
    assert np.abs(smooth_series(tiny, np.full(4, 1e-6))[0] - tiny).max() < 5e-3


def test_process_intensity_is_found_between_the_grid_points():
    """An integrated random walk whose ratio q / r = 10^-2.25 lies midway between two points of the coarse
    grid (10^-2.5, 10^-2): the refined maximum-likelihood fit finds it to one refinement step (1/8 decade),
    where the grid alone is a quarter decade off, and its likelihood is at least the best grid point's."""
    rng = np.random.default_rng(0)
    n, channels, ratio = 3000, 6, 10**-2.25
    w = rng.multivariate_normal([0, 0], ratio * np.array([[1 / 3, 1 / 2], [1 / 2, 1]]), size=(n, channels))
    velocity = np.cumsum(w[..., 1], 0)
    x = np.cumsum(velocity + w[..., 0], 0) + rng.normal(0, 1.0, (n, channels))
    q = _fit_q(x, np.ones(channels))
    assert np.abs(np.log10(q) + 2.25).max() <= 0.125 + 1e-9
    assert np.isclose(np.median(np.log10(q)), -2.25)
    ll = _loglik(x, np.ones(channels), np.vstack([q[None], np.repeat(Q_RATIOS[:, None], channels, 1)]))
    assert np.all(ll[0] >= ll[1:].max(0))


def test_outliers_are_left_out():
    rng = np.random.default_rng(2)
    clean = _smooth_signal(rng)
    noisy = clean + rng.normal(0, 1.0, clean.shape)
    at = rng.choice(np.arange(5, 595), 6, replace=False)
    noisy[at, 1] += 90.0
    out, _ = smooth_series(noisy, np.ones(4))
    assert np.abs(out[at, 1] - clean[at, 1]).max() < 2.0


def test_missing_values_are_bridged_by_the_spline():
    rng = np.random.default_rng(3)
    clean = _smooth_signal(rng)
    x = clean.copy()
    x[300:306, 2] = np.nan
    out, _ = smooth_series(x, np.full(4, 1e-4))
    assert np.abs(out[300:306, 2] - clean[300:306, 2]).max() < 0.05


def test_a_gap_in_a_channel_recorded_almost_without_noise_is_bridged():
    """Gaps of 5, 15 and 30 frames in channels with 0.002 units of noise: the course through a gap is a guess,
    so the values after it are taken in whatever their distance, and the gap is filled from both sides. When
    those values were gated against the guess's tiny spread, they were rejected, taken for a jump, and the
    gap filled from one side: up to 83 units off where linear interpolation is 18 off."""
    t = np.arange(600)[:, None] / 120.0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        clean = sum(a * np.sin(2 * np.pi * f * t + p)
                    for a, f, p in zip(rng.uniform(5, 30, 3), rng.uniform(0.3, 2, 3), rng.uniform(0, 6, 3)))
        x = clean + rng.normal(0, 0.002, clean.shape)
        for start, n in ((200, 5), (300, 15), (400, 30)):
            gap = slice(start, start + n)
            held = x.copy()
            held[gap] = np.nan
            out, _ = smooth_series(held, np.maximum(estimate_noise(held), 1e-6) ** 2)
            linear = np.interp(np.arange(start, start + n), [start - 1, start + n], [x[start - 1, 0], x[start + n, 0]])
            error = np.abs(out[gap, 0] - clean[gap, 0]).max()
            assert error < 5.0 and error <= np.abs(linear - clean[gap, 0]).max(), (seed, n, error)


def _held_with_bursts():
    """A channel held at 0 but for two short moves (a keyed toe twist in a Mixamo file), (69, 1) degrees."""
    z = np.zeros((69, 1))
    z[26:31, 0] = [0.03, 2.6, 4.7, 2.4, 0]
    z[61:69, 0] = [0, 9.3, 16.8, 19.9, 19.5, 13.9, 6.4, 3.1]
    return z


def test_a_real_jump_is_followed_from_where_it_happened():
    """A channel that steps by 90 units and stays there: the filter rejects the first values after the step,
    then restarts at the first of them and takes them in again, and the backward pass does not smooth across
    the step. Before, the five frames after it kept the old level (an error of 90) and the frames before a
    restart were pulled along a line drawn back from after it."""
    rng = np.random.default_rng(5)
    clean = _smooth_signal(rng, channels=1)
    clean[300:] += 90.0
    out, _ = smooth_series(clean + rng.normal(0, 1.0, clean.shape), np.ones(1))
    assert np.abs(out - clean).max() < 2.0


def test_a_channel_without_measurable_noise_comes_back_as_recorded(walk):
    """Values held or keyed (their third differences mostly exactly 0) have no noise to remove: the offline
    smoother returns them as recorded, as the online filter does, and smooths the other channels."""
    frames = walk.frames[:69].copy()
    c = walk.channel_names.index("rfoot.rx")
    frames[:, c] = _held_with_bursts()[:, 0]
    noisy = _noisy(walk.replace(frames=frames), 1.0)
    noisy.frames[:, c] = frames[:, c]
    out = denoise_motion(noisy)
    assert np.array_equal(out.frames[:, c], frames[:, c])
    assert np.abs(out.frames - noisy.frames).max() > 0.1  # the noisy channels are smoothed


# ------------------------------------------------------------------------------------------ clips
def test_denoise_motion_cleans_a_real_take_without_root_drift(walk):
    noisy = _noisy(walk, 3.0)
    out = denoise_motion(noisy)
    assert out.skeleton == walk.skeleton and out.fps == walk.fps and out.frames.shape == walk.frames.shape
    before, after = joint_position_error(walk, noisy).mean(), joint_position_error(walk, out).mean()
    assert after < 0.4 * before, (before, after)
    assert after < 0.4 * joint_position_error(walk, _noisy(walk, 3.0, seed=1)).mean()
    # the root's position (not noised here) stays where it was: nothing is integrated
    assert np.abs(out.frames[:, :3] - walk.frames[:, :3]).max() < 0.05  # ASF units (1 = 5.6 cm)
    given = denoise_motion(noisy, noise_std=3.0)
    assert joint_position_error(walk, given).mean() < 1.15 * after
    clean = denoise_motion(walk)  # a clean take stays (its own jitter aside) as it was
    assert joint_position_error(walk, clean).mean() < 0.2


def test_angles_come_back_on_the_input_branch(walk):
    frames = walk.frames.copy()
    c = walk.channel_names.index("root.ry")
    turning = np.linspace(150.0, 215.0, walk.n_frames)  # through 180 degrees
    frames[:, c] = (turning + 180.0) % 360.0 - 180.0  # written wrapped into [-180, 180)
    wrapped = walk.replace(frames=frames)
    out = denoise_motion(_noisy(wrapped, 1.0))
    gap = (out.frames[:, c] - frames[:, c] + 180.0) % 360.0 - 180.0
    assert np.abs(gap).max() < 2.0
    assert np.abs(out.frames[:, c] - frames[:, c]).max() < 2.0  # the same whole turns as the input


def _arm_near_gimbal_lock():
    """Four seconds at 60 fps of a BVH arm swinging with XYZ Euler angles whose middle angle passes within
    2 degrees of -90 (gimbal lock: the outer two swing through 170 degrees), the Blender Z-up export of an arm
    hanging down; and the same take with 1 degree of noise on the arm's angles."""
    t = np.arange(240) / 60.0
    position = ("Xposition", "Yposition", "Zposition")
    rotation = ("Xrotation", "Yrotation", "Zrotation")
    rig = crbm.Skeleton((crbm.Joint("Hips", -1, (0.0, 0.0, 0.0), position + rotation),
                         crbm.Joint("LeftArm", 0, (10.0, 0.0, 0.0), rotation, end_site=(20.0, 0.0, 0.0))))
    swing = np.stack([30 * np.sin(2 * np.pi * t), -86 + 3 * np.sin(np.pi * t), 20 * np.cos(2 * np.pi * t)], -1)
    angles = np.unwrap(matrix_to_euler(euler_to_matrix(swing, "ZYX"), "XYZ"), period=360.0, axis=0)
    truth = crbm.Motion(rig, np.hstack([np.zeros((240, 6)), angles]), 60.0, name="arm")
    noise = np.random.default_rng(0).normal(0.0, 1.0, (240, 3))
    return truth, truth.replace(frames=truth.frames + np.hstack([np.zeros((240, 6)), noise]))


def test_denoise_near_gimbal_lock_cleans_the_rotation_not_the_angles():
    truth, noisy = _arm_near_gimbal_lock()
    assert np.abs(truth.frames[:, 7]).max() > 88 and np.ptp(truth.frames[:, 6]) > 170

    def hand_error(clip):
        hand = crbm.joint_positions(clip, end_sites=True)[:, -1]
        return np.linalg.norm(hand - crbm.joint_positions(truth, end_sites=True)[:, -1], axis=-1).mean()

    out = denoise_motion(noisy)
    assert out.skeleton == noisy.skeleton and out.frames.shape == noisy.frames.shape  # the file's XYZ channels
    assert hand_error(out) < 0.5 * hand_error(noisy), (hand_error(noisy), hand_error(out))
    assert np.abs(out.frames - noisy.frames).max() < 40  # on the input's branch, near its angles


def test_denoise_near_gimbal_lock_on_an_asf_bone(walk):
    """The same for an ASF bone (``dof rx ry rz``: its M composes rz, ry, rx): the CMU walk's left humerus
    swinging with its ry within 6 degrees of -90, 1 degree of noise on its three angles. ASF joints were
    smoothed angle by angle in their file order, which made the wrist's error larger than the noise's."""
    t = np.arange(walk.n_frames) / walk.fps
    swing = np.stack([30 * np.sin(2 * np.pi * t), -86 + 3 * np.sin(np.pi * t), 20 * np.cos(2 * np.pi * t)], -1)
    cols = [walk.channel_names.index(f"lhumerus.r{a}") for a in "zyx"]  # M's order, ZYX
    frames = walk.frames.copy()
    frames[:, cols] = np.unwrap(matrix_to_euler(euler_to_matrix(swing, "XYZ"), "ZYX"), period=360.0, axis=0)
    truth = walk.replace(frames=frames)
    noisy = truth.replace(frames=frames.copy())
    noisy.frames[:, cols] += np.random.default_rng(0).normal(0.0, 1.0, (walk.n_frames, 3))
    wrist = crbm.mocap.kinematics.position_names(walk.skeleton).index("lwrist")

    def wrist_error(clip):
        return np.linalg.norm(crbm.joint_positions(clip)[:, wrist] - crbm.joint_positions(truth)[:, wrist], axis=-1)

    out = denoise_motion(noisy)
    assert out.skeleton == noisy.skeleton
    before, after = wrist_error(noisy).mean(), wrist_error(out).mean()
    assert after < 0.5 * before, (before, after)


def test_denoise_smooths_a_joint_near_lock_in_every_order_as_a_rotation():
    """An arm tumbling so that every Euler order passes within 7 degrees of gimbal lock over the take: no order
    is safe for the whole take, so the joint is smoothed through its quaternions. A take recorded almost
    without noise comes back within a tenth of a degree (angle by angle: 1.5 degrees off where the outer
    angles swing), and with 1 degree of noise the largest error is under a third of the noise's."""
    t = np.arange(480) / 120.0
    rotation = ("Xrotation", "Yrotation", "Zrotation")
    rig = crbm.Skeleton((crbm.Joint("Hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition") + rotation),
                         crbm.Joint("LeftArm", 0, (10.0, 0.0, 0.0), rotation, end_site=(20.0, 0.0, 0.0))))
    zero = 0 * t
    m = (euler_to_matrix(np.stack([90 * t, 100 * np.sin(np.pi * t / 2), 60 * t], -1), "ZXY")
         @ euler_to_matrix(np.stack([zero, 100 * np.sin(np.pi * t / 2 + 1), zero], -1), "XZY"))
    for order in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):
        assert np.abs(np.cos(np.deg2rad(matrix_to_euler(m, order)[:, 1]))).min() < 0.12
    angles = np.unwrap(matrix_to_euler(m, "XYZ"), period=360.0, axis=0)

    def turn(frames):  # the angle between the arm's rotation in ``frames`` and the true one, per frame
        rel = np.einsum("tab,tac->tbc", euler_to_matrix(frames[:, 6:], "XYZ"), m)
        return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))

    for sd, bound in ((0.01, 0.1), (1.0, None)):
        noise = np.random.default_rng(1).normal(0.0, sd, angles.shape)
        clip = crbm.Motion(rig, np.hstack([np.zeros((480, 6)), angles + noise]), 120.0, name="tumbling")
        error = turn(denoise_motion(clip).frames).max()
        assert error < (bound or turn(clip.frames).max() / 3), (sd, error)


def test_fill_near_gimbal_lock_fills_the_rotation():
    """A gap in the arm near gimbal lock is filled through the rotation, not through each swinging angle."""
    truth, _ = _arm_near_gimbal_lock()
    gap = slice(100, 130)
    out = fill_motion(truth, [Gap(("LeftArm",), gap.start, gap.stop)])
    assert out.skeleton == truth.skeleton
    keep = np.ones(truth.n_frames, dtype=bool)
    keep[gap] = False
    np.testing.assert_array_equal(out.frames[keep], truth.frames[keep])  # recorded frames come back exactly
    hand = [crbm.joint_positions(c, end_sites=True)[gap, -1] for c in (truth, out)]
    assert np.linalg.norm(hand[1] - hand[0], axis=-1).max() < 1.0  # of an arm 30 long


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "3"])
def test_noise_level_must_be_a_finite_number_not_below_zero(walk, bad):
    with pytest.raises(CRBMError, match="noise_std"):
        denoise_motion(walk, noise_std=bad)
    with pytest.raises(CRBMError, match="position_noise_std"):
        denoise_motion(walk, position_noise_std=bad)


def test_fill_motion_keeps_recorded_values_and_meets_them_at_the_edges(walk):
    gaps = [Gap(("rfemur", "rtibia"), 100, 140), Gap(("lhumerus",), 0, 30), Gap(("head",), 220, 240)]
    out = fill_motion(walk, gaps)
    names = walk.channel_names
    missing = np.zeros(walk.frames.shape, dtype=bool)
    for g in gaps:
        missing[g.start : g.end, [i for i, n in enumerate(names) if n.split(".")[0] in g.joints]] = True
    assert np.array_equal(out.frames[~missing], walk.frames[~missing])
    assert not np.allclose(out.frames[missing], walk.frames[missing], atol=1e-3)
    step = np.abs(np.diff(walk.frames, axis=0))
    for c in np.flatnonzero(missing.any(0)):
        typical = np.percentile(step[:, c], 99) + 1e-9
        d = np.abs(np.diff(out.frames[:, c]))
        assert d.max() < 3 * typical, names[c]  # no jump anywhere, edges included
    knee = names.index("rtibia.rx")
    assert np.abs(out.frames[100:140, knee] - walk.frames[100:140, knee]).max() < 25.0


@pytest.mark.parametrize(
    "gap, message",
    [
        (Gap(("rfemur",), 50, 50), "start < end"),
        (Gap(("rfemur",), 60, 50), "start < end"),
        (Gap(("rfemur",), -1, 50), "start < end"),
        (Gap(("rfemur",), 200, 241), "start < end <= 240"),
        (Gap(("tail",), 0, 10), r"unknown joints \['tail'\]"),
    ],
)
def test_bad_gaps_are_refused(walk, gap, message):
    with pytest.raises(CRBMError, match=message):
        fill_motion(walk, [gap])


def test_parse_gap():
    assert parse_gap("rfemur, rtibia:100:160") == Gap(("rfemur", "rtibia"), 100, 160)
    assert parse_gap("mixamorig:LeftLeg,mixamorig:LeftFoot:10:40") == Gap(
        ("mixamorig:LeftLeg", "mixamorig:LeftFoot"), 10, 40)  # Mixamo's joint names hold a colon
    for bad in ("rfemur:100", "rfemur:a:3", ":1:2", "rfemur;1;2"):
        with pytest.raises(CRBMError, match="JOINTS:START:END"):
            parse_gap(bad)



def test_fill_shares_follow_the_errors_on_the_windows():
    share = _shares([4.0, 1.0, 2.0])
    assert share.sum() == pytest.approx(1.0) and share.argmax() == 1 and share[0] < share[2]
    assert _shares([0.0, 1e-3, 5.0])[0] == 1.0  # a candidate without error on the windows takes it all
    assert _shares([2.0, 2.0]) == pytest.approx([0.5, 0.5])


def test_fill_is_exact_where_the_spline_is(model, walk):
    """A joint moving along one cubic of time: the spline interpolation is exactly right, the windows show it,
    and the fill of a gap comes out exact, where linear interpolation and slerp are off by degrees. (Its angles
    stay far from gimbal lock, so it is filled in its file's order, in which it is a cubic.)"""
    cols = [i for i, n in enumerate(walk.channel_names) if n.split(".")[0] == "rhumerus"]
    u = (np.arange(walk.n_frames)[:, None] - 115) / 40
    frames = walk.frames.copy()
    frames[:, cols] = np.array([-20.0, 40.0, 5.0]) + np.array([8.0, -6.0, 4.0]) * (u**3 / 8 + u**2)
    clip = walk.replace(frames=frames)
    gap = Gap(("rhumerus",), 100, 130)
    out = fill_motion(clip, [gap], model=model)
    assert np.abs(out.frames[100:130, cols] - frames[100:130, cols]).max() < 1e-6
    for method in ("linear", "slerp"):
        off = interpolate_gaps(clip, [gap], method=method).frames[100:130, cols] - frames[100:130, cols]
        assert np.abs(off).max() > 0.5, method


@pytest.mark.parametrize("method", ["linear", "spline", "slerp"])
def test_interpolations_of_a_joint_missing_everywhere_are_zero_and_hide_nothing(walk, method):
    """A joint missing in every frame has nothing to interpolate from: every method gives 0 there (the
    recorded values never leak into the gap) and keeps the other joints exactly."""
    cols = [i for i, n in enumerate(walk.channel_names) if n.split(".")[0] == "rfemur"]
    out = interpolate_gaps(walk, [Gap(("rfemur",), 0, walk.n_frames)], method=method).frames
    assert np.all(out[:, cols] == 0.0)
    rest = np.setdiff1d(np.arange(walk.frames.shape[1]), cols)
    assert np.array_equal(out[:, rest], walk.frames[:, rest])


def test_fill_motion_needs_a_gap(walk):
    with pytest.raises(CRBMError, match="no gap"):
        fill_motion(walk, [])


# ------------------------------------------------------------------------------------------ the online filter
def test_online_filter_is_causal_up_to_its_lag(walk):
    noisy = _noisy(walk, 2.0).frames
    for lag in (0, 2):
        base = OnlineFilter(walk.skeleton, walk.fps, lag=lag).run(noisy)
        assert base.shape == noisy.shape
        changed = noisy.copy()
        changed[150:] += 10.0
        other = OnlineFilter(walk.skeleton, walk.fps, lag=lag).run(changed)
        np.testing.assert_array_equal(other[: 150 - lag], base[: 150 - lag])  # no output looks further ahead
        assert not np.allclose(other[150 - lag], base[150 - lag])


def test_online_filter_push_flush_and_its_output(walk):
    noisy = _noisy(walk, 3.0)
    f = OnlineFilter(walk.skeleton, walk.fps, lag=1)
    assert f.latency == pytest.approx(1 / 120)
    outs = [f.push(row) for row in noisy.frames]
    assert outs[0] is None and all(o is not None for o in outs[1:])
    rest = f.flush()
    cleaned = np.array(outs[1:] + rest)
    np.testing.assert_array_equal(cleaned, OnlineFilter(walk.skeleton, walk.fps, lag=1).run(noisy.frames))
    before = joint_position_error(walk, noisy).mean()
    assert joint_position_error(walk, noisy.replace(frames=cleaned)).mean() < 0.7 * before
    holes = noisy.frames.copy()
    holes[100:110, 10:20] = np.nan  # values not recorded: bridged
    assert np.isfinite(OnlineFilter(walk.skeleton, walk.fps).run(holes)).all()
    with pytest.raises(CRBMError, match="62 values"):
        f.push(np.zeros(5))
    with pytest.raises(CRBMError, match="lag"):
        OnlineFilter(walk.skeleton, walk.fps, lag=-1)
    with pytest.raises(CRBMError, match="window must be a whole number of frames >= 11"):
        OnlineFilter(walk.skeleton, walk.fps, window=10)  # too short for any noise estimate: it never cleaned
    assert not np.array_equal(OnlineFilter(walk.skeleton, walk.fps, lag=1, window=11).run(noisy.frames),
                              noisy.frames)


def test_online_filter_follows_a_real_jump_from_where_it_happened(walk):
    """A joint angle steps by 90 degrees at frame 150 and stays (noise 1 degree): with a lag of 8 frames every
    output frame after the step is on the new level. Before, the frames between the step and the filter's
    restart came out at the old trajectory's predictions (tens of degrees off, growing)."""
    clean = walk.frames.copy()
    c = walk.channel_names.index("rfemur.rx")
    clean[150:, c] += 90.0
    noisy = _noisy(walk.replace(frames=clean), 1.0).frames
    out = OnlineFilter(walk.skeleton, walk.fps, lag=8).run(noisy)
    assert np.abs(out[140:, c] - clean[140:, c]).max() < 5.0


def test_online_filter_puts_each_limb_bone_s_own_axis_in_the_middle():
    """The stream's rotation orders are chosen before its motion is known: a BVH limb joint is filtered in an
    order whose middle angle (the one that locks at +-90 degrees) turns about its bone, which twists little,
    not about a bending axis: a ZXY knee (bone along -Y) bends about X, its file order's middle axis, and
    comes near lock in a deep bend (a MocapBank take's knee: up to 127 degrees off at lag 1). The hips (three
    children) keep the file order; the rotations themselves do not change."""
    from crbm.motion.cleanup import _online_orders, _reorder

    rot = ("Zrotation", "Xrotation", "Yrotation")
    rig = crbm.Skeleton((crbm.Joint("Hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition", *rot)),
                         crbm.Joint("LeftLeg", 0, (9.0, -45.0, 0.0), rot, end_site=(0.0, -42.0, 3.0)),
                         crbm.Joint("RightLeg", 0, (-9.0, -45.0, 0.0), rot, end_site=(0.0, -42.0, 3.0)),
                         crbm.Joint("Arm", 0, (0.0, 50.0, 0.0), rot),
                         crbm.Joint("Hand", 3, (30.0, 0.0, 0.0), rot, end_site=(8.0, 0.0, 0.0))))
    first = np.zeros((1, len(rig.channel_names)))
    first[0, 6:9] = [5.0, 40.0, -3.0]
    work = _online_orders(crbm.Motion(rig, first, 30.0))
    orders = {j.name: "".join(c[0] for c in j.channels if c.endswith("rotation")) for j in work.joints}
    assert orders["Hips"] == "ZXY" and orders["LeftLeg"][1] == "Y" and orders["RightLeg"][1] == "Y"
    assert orders["Arm"][1] == "X" and orders["Hand"][1] == "X"
    frames = np.random.default_rng(0).uniform(-60, 60, (20, len(rig.channel_names)))
    back = _reorder(_reorder(frames, rig, work), work, rig, reference=frames)
    np.testing.assert_allclose(back, frames, atol=1e-9)


def test_online_filter_passes_frames_through_until_it_knows_the_noise(walk):
    """At 30 fps a walk's joints move degrees a frame: before the noise level is estimated (11 frames) the
    recorded frames come out as they are, not as outliers against a noise level of 0 (which threw away real
    motion and extrapolated: the first 20 frames came out 2 to 3 times worse than recorded)."""
    clip = walk.replace(frames=walk.frames[::4], fps=30.0)
    noisy = _noisy(clip, 1.0)
    for lag in (0, 1, 4):
        out = OnlineFilter(clip.skeleton, clip.fps, lag=lag).run(noisy.frames)
        np.testing.assert_array_equal(out[: 10 - lag], noisy.frames[: 10 - lag])
        before = joint_position_error(clip, noisy)
        after = joint_position_error(clip, noisy.replace(frames=out))
        assert after[:30].mean() <= before[:30].mean() and after.mean() < before.mean(), (lag, after, before)


def test_online_filter_with_a_lag_cleans_its_first_frames_like_the_offline_smoother(walk):
    """Each noise estimate of the first 64 frames filters the frames so far again, so with a lag of 32 frames
    the first output already comes from a filter that knows the noise level: the first 20 frames are cleaned
    about as well as the offline smoother cleans them (they came out as recorded, 3 degrees of noise,
    before)."""
    noisy = _noisy(walk, 3.0)
    out = OnlineFilter(walk.skeleton, walk.fps, lag=32).run(noisy.frames)
    before = joint_position_error(walk, noisy)[:20].mean()
    after = joint_position_error(walk, noisy.replace(frames=out))[:20].mean()
    offline = joint_position_error(walk, denoise_motion(noisy))[:20].mean()
    assert after < 0.4 * before and after < 1.2 * offline, (after, before, offline)


def test_online_filter_near_gimbal_lock_follows_the_rotation():
    """The arm near gimbal lock streamed through the online filter: the hand is cleaned, without the spikes
    of filtering each swinging Euler angle on its own (a 54 cm hand spike on a Z-up BVH before)."""
    truth, noisy = _arm_near_gimbal_lock()
    hand = crbm.joint_positions(truth, end_sites=True)[:, -1]
    out = noisy.replace(frames=OnlineFilter(noisy.skeleton, noisy.fps, lag=2).run(noisy.frames))
    before = np.linalg.norm(crbm.joint_positions(noisy, end_sites=True)[:, -1] - hand, axis=-1)
    after = np.linalg.norm(crbm.joint_positions(out, end_sites=True)[:, -1] - hand, axis=-1)
    assert after.mean() < 0.6 * before.mean() and after.max() < before.max(), (before, after)
    np.testing.assert_array_equal(out.frames[:8], noisy.frames[:8])  # no noise level yet: as recorded


def test_read_frames_parses_lines_and_refuses_a_broken_stream():
    rows = list(read_frames(["1 2 3\n", "\n", "4 nan 6"], 3))
    assert len(rows) == 2 and np.isnan(rows[1][1]) and rows[0].tolist() == [1, 2, 3]
    assert list(read_frames([format_frame(np.array([0.1, -2.5e-7, 3e8]))], 3))[0].tolist() == [0.1, -2.5e-7, 3e8]
    for lines, message in ((["1 2 3", "4 5"], "line 2: 2 values, expected 3"), (["1 x 3"], "'x' is not a number"),
                           (["1 inf 3"], "infinite")):
        with pytest.raises(CRBMError, match=message):
            list(read_frames(lines, 3))


# ------------------------------------------------------------------------------------------ with a model
def test_model_predictions_cover_every_sub_clip(model, walk):
    pred, k = model_predictions(model, walk)
    assert k == 4 and pred.shape == walk.frames.shape
    knee = walk.channel_names.index("rtibia.rx")
    assert np.isnan(pred[: 4 * 3, knee]).all() and np.isfinite(pred[12:, knee]).all()  # order 3, 4 sub-clips
    rms = np.sqrt(np.mean((pred[12:, knee] - walk.frames[12:, knee]) ** 2))
    assert rms < 0.5 * walk.frames[:, knee].std()  # far better than the knee's mean angle


@pytest.mark.slow
def test_an_untrained_model_does_not_spoil_denoising(walk, data_root):
    noisy = _noisy(walk, 5.0)
    alone = joint_position_error(walk, denoise_motion(noisy)).mean()
    untrained = denoise_motion(noisy, model=_train(data_root, 1, hidden=10))
    assert joint_position_error(walk, untrained).mean() < 1.02 * alone


def test_model_denoise_and_fill_through_the_motion_model(model, walk):
    noisy = _noisy(walk, 5.0)
    with_model = model.denoise(noisy)
    assert with_model.frames.shape == walk.frames.shape and with_model.fps == walk.fps
    assert joint_position_error(walk, with_model).mean() < 0.4 * joint_position_error(walk, noisy).mean()
    filled = model.fill(walk, ["rfemur", "rtibia.rx"], start=60, end=120, gaps=[Gap(("lhumerus",), 200, 240)])
    cols = [i for i, n in enumerate(walk.channel_names) if n.split(".")[0] in ("rfemur", "rtibia")]
    keep = np.ones(walk.frames.shape, dtype=bool)
    keep[60:120, cols] = False
    keep[200:, [i for i, n in enumerate(walk.channel_names) if n.startswith("lhumerus.")]] = False
    assert np.array_equal(filled.frames[keep], walk.frames[keep])
    assert np.isfinite(filled.frames).all()
    with pytest.raises(CRBMError, match="unknown joints"):
        model.fill(walk, ["tail"])


def test_a_model_of_frame_differences_predicts_frame_by_frame(data_root, walk):
    asf = crbm.read_asf(data_root / "mocap/cmu/35/35.asf")
    diff = crbm.train_motion_model([crbm.read_amc(data_root / "mocap/cmu/35/35_01.amc", asf)], hidden=8, epochs=1,
                                   differences=True)
    clip = walk.replace(frames=walk.frames[::4], fps=30.0)
    (z,) = diff.transform([clip])
    same = _on_clip(diff, clip, z, z, per_frame=True)
    knee = clip.channel_names.index("rtibia.rx")
    np.testing.assert_allclose(same[:, knee], clip.frames[:, knee], atol=1e-6)
    moved = z.clone()
    moved[20] += 0.5
    out = _on_clip(diff, clip, z, moved, per_frame=True)
    changed = np.flatnonzero(np.abs(out[:, knee] - same[:, knee]) > 1e-6)
    assert changed.tolist() == [20]  # each frame continues from the clip's own frame before it
    assert np.isfinite(diff.fill(walk, ["rfemur"], start=50, end=90).frames).all()


# ------------------------------------------------------------------------------------------ command line
def test_cli_streams_frames_through_the_online_filter(model, walk, tmp_path, monkeypatch, capsys):
    path = tmp_path / "m.safetensors"
    model.save(path)
    ref = tmp_path / "walk.parquet"
    crbm.write_parquet(walk, ref)
    lines = "\n".join(format_frame(f) for f in _noisy(walk, 2.0).frames[:50]) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["denoise", str(path), "-", "--online", "--skeleton", str(ref), "--out", "-"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r]
    assert len(rows) == 50 and len(rows[0].split()) == 62
    monkeypatch.setattr("sys.stdin", io.StringIO(lines + "1 2 3\n"))  # the stream ends mid-frame
    out = tmp_path / "x.parquet"
    assert main(["denoise", str(path), "-", "--online", "--skeleton", str(ref), "--out", str(out)]) == 2
    assert "line 51: 3 values, expected 62" in capsys.readouterr().err and not out.exists()


def test_cli_online_filter_needs_no_model(walk, tmp_path, monkeypatch, capsys):
    """``crbm denoise --online IN`` without MODEL filters a file or a stream (the filter uses no model); offline
    denoising without one, and a stream with no skeleton to read it by, are one-line errors."""
    clip = tmp_path / "walk.parquet"
    crbm.write_parquet(_noisy(walk, 2.0), clip)
    out = tmp_path / "clean.parquet"
    assert main(["denoise", "--online", str(clip), "--noise-std", "2", "--out", str(out)]) == 0
    back = crbm.read_parquet(out)[0]
    assert back.frames.shape == walk.frames.shape and back.fps == walk.fps
    assert capsys.readouterr().out.strip() == str(out)
    lines = "\n".join(format_frame(f) for f in _noisy(walk, 2.0).frames[:30]) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["denoise", "--online", "-", "--skeleton", str(clip), "--out", "-"]) == 0
    assert len([r for r in capsys.readouterr().out.splitlines() if r]) == 30
    assert main(["denoise", str(clip), "--out", str(tmp_path / "x.parquet")]) == 2
    assert "give MODEL" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert main(["denoise", "--online", "-", "--out", "-"]) == 2
    assert "give --skeleton FILE" in capsys.readouterr().err


def test_cli_fill_takes_several_gaps_and_refuses_bad_ones(model, walk, tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    model.save(path)
    clip = tmp_path / "walk.parquet"
    crbm.write_parquet(walk, clip)
    out = tmp_path / "filled.parquet"
    argv = ["fill", str(path), str(clip), "--missing", "rfemur", "--start", "30", "--end", "60",
            "--gap", "lhumerus,lradius:100:130", "--gap", "head:0:20", "--out", str(out)]
    assert main(argv) == 0
    back = crbm.read_parquet(out)[0]
    assert back.frames.shape == walk.frames.shape and back.fps == walk.fps
    bad_gaps = (
        (["--gap", "rfemur:50:40"], "start < end"),
        (["--gap", "rfemur:0:999"], "<= 240"),
        (["--gap", "wing:0:9"], "unknown joints"),
        (["--missing", "rfemur", "--end", "9999"], "<= 240"),
        ([], "give the missing joints"),
        (["--gap", "rfemur"], "JOINTS:START:END"),
    )
    for bad, message in bad_gaps:
        capsys.readouterr()
        target = tmp_path / "bad.parquet"
        assert main(["fill", str(path), str(clip), *bad, "--out", str(target)]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and not target.exists(), (bad, err)
    for bad in ("-1", "nan", "2,x", "1,2,3"):
        assert main(["denoise", str(path), str(clip), "--noise-std", bad, "--out", str(tmp_path / "d.bvh")]) == 2
        assert "--noise-std" in capsys.readouterr().err and not (tmp_path / "d.bvh").exists()
