"""Preprocessing steps: exact inverses (real CMU data and synthetic clips with full rotations), heading
invariance, known trajectories, JSON state round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from mocap_fixtures import bvh_motion_via_bvhio, cmu35_skeleton

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import axis_rotation, euler_to_matrix, joint_positions, matrix_to_euler, wrap_angle
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.preprocess import (
    BodyCentredRoot,
    Downsample,
    DropConstant,
    FootContacts,
    FrameDifferences,
    JointAngles,
    Pipeline,
    PlantedFootRoot,
    RunningCentring,
    ZScore,
    body_centred_pipeline,
    decode_euler,
    step_from_state,
)


def _skeleton():
    return Skeleton((
        Joint("hips", -1, (0.0, 0.0, 0.0),
              ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")),
        Joint("spine", 0, (0.0, 1.0, 0.0), ("Zrotation", "Xrotation", "Yrotation")),
        Joint("knee", 0, (1.0, 0.0, 0.0), ("Xrotation",)),
        Joint("wrist", 1, (0.0, 1.0, 0.0), ("Zrotation", "Yrotation")),
        Joint("head", 1, (0.0, 1.0, 0.0), ("Yrotation", "Zrotation", "Xrotation")),
    ))


def _synthetic_clip(rng, n=300, *, wrapped=True):
    """Smooth random motion: the root's heading and the joints' first/last Euler angles turn through several
    full rotations; stored wrapped into (-180, 180] (360-degree jumps) or continuous. Middle angles stay
    within (-89, 89); the root tilts by under 30 degrees (a body-centred heading needs an upright body)."""
    t = np.arange(n)
    f = np.zeros((n, 15))
    f[:, 0] = np.cumsum(rng.normal(0, 3, n))
    f[:, 1] = 90 + 5 * np.sin(t / 7)
    f[:, 2] = np.cumsum(rng.normal(0, 3, n))
    f[:, 3] = 30 * np.sin(t / 17)                       # root: human-like tilt, heading turns around
    f[:, 4] = 25 * np.sin(t / 9)
    f[:, 5] = np.cumsum(rng.normal(4, 6, n))
    for first, middle, last in [(6, 7, 8), (12, 13, 14)]:
        f[:, first] = np.cumsum(rng.normal(4, 6, n))       # turns more than a full circle
        f[:, middle] = 80 * np.sin(t / 11 + rng.uniform(0, 6))
        f[:, last] = np.cumsum(rng.normal(-4, 6, n))
    f[:, 9] = 170 * np.sin(t / 13)
    f[:, 10] = np.cumsum(rng.normal(3, 5, n))
    f[:, 11] = 40 * np.sin(t / 5)   # wrist Yrotation (2-dof joint)
    if wrapped:
        angles = [c for c in range(3, 15) if c not in (4, 7, 13)]
        f[:, angles] = wrap_angle(f[:, angles])
    return f


@pytest.mark.parametrize("temporal", [None, "differences", "centring"])
@pytest.mark.parametrize("representation", ["expmap", "euler"])
@pytest.mark.parametrize("wrapped", [True, False])
def test_pipeline_exact_inverse_synthetic_full_rotations(representation, wrapped, temporal):
    rng = np.random.default_rng(10)
    sk = _skeleton()
    clips = [_synthetic_clip(rng, n, wrapped=wrapped) for n in (300, 200, 250)]
    pipe = body_centred_pipeline(sk, representation=representation, differences=temporal == "differences",
                                 centring=temporal == "centring")
    z = pipe.fit_transform(clips, sk.channel_names)
    assert all(np.all(np.isfinite(c)) for c in z)
    # no 360-degree jumps remain before z-scoring: frame-to-frame steps stay below 90 degrees / units
    angles = Pipeline(pipe.steps[:2]).transform(clips)
    assert max(np.abs(np.diff(c, axis=0)).max() for c in angles) < 90.0
    contexts = pipe.contexts(clips)
    back = pipe.inverse_transform(z, contexts=json.loads(json.dumps(contexts)))
    assert max(np.abs(b - c).max() for b, c in zip(back, clips, strict=True)) < 1e-6


def test_joint_angles_no_context_needed_when_data_fits_windows():
    """Joint channels whose training values span less than 360 degrees (a wrapped range is fine) come back
    exactly from the fitted windows alone, through the exp-map branch choice."""
    rng = np.random.default_rng(11)
    sk = _skeleton()
    clips = [_synthetic_clip(rng, 300, wrapped=True) for _ in range(2)]
    step = JointAngles.for_skeleton(sk, representation="expmap")
    z = step.fit_transform(clips, sk.channel_names)
    back = step.inverse_transform(z)
    for b, c in zip(back, clips, strict=True):
        assert np.abs(b[:, 6:] - c[:, 6:]).max() < 1e-9


def test_decode_euler_branch_choice():
    """Middle angles beyond 90 degrees (the non-principal branch) come back exactly: from the branch
    window when all lie beyond 90, from continuity when the motion crosses 90."""
    t = np.linspace(0, 1, 200)
    beyond = np.stack([100 * np.sin(7 * t), 125 + 25 * np.sin(5 * t), -120 + 50 * t], -1)
    r = euler_to_matrix(beyond, "YXZ")
    assert np.abs(decode_euler(r, "YXZ") - beyond).max() > 100  # the principal branch alone is wrong
    back = decode_euler(r, "YXZ", middle_low=90.0, lows=[-180.0, -180.0, -180.0])
    assert np.abs(back - beyond).max() < 1e-9
    crossing = beyond.copy()
    crossing[:, 1] = 95 + 55 * np.sin(5 * t)
    r = euler_to_matrix(crossing, "YXZ")
    back = decode_euler(r, "YXZ", reference=crossing[0])
    assert np.abs(back - crossing).max() < 1e-9


def test_body_centred_root_heading_invariance():
    """Turning a whole clip about the vertical and shifting it on the ground changes only the context."""
    rng = np.random.default_rng(12)
    sk = _skeleton()
    clip = _synthetic_clip(rng, 200)
    step = BodyCentredRoot.for_skeleton(sk).fit([clip], sk.channel_names)
    turn = axis_rotation("Y", 123.0)
    moved = clip.copy()
    moved[:, :3] = clip[:, :3] @ turn.T + [5.0, 0.0, -7.0]
    r = euler_to_matrix(clip[:, 3:6], "ZXY")
    moved[:, 3:6] = matrix_to_euler(turn @ r, "ZXY")
    a, b = step.transform(clip), step.transform(moved)
    assert np.abs(a - b).max() < 1e-9
    ca, cb = step.context(clip), step.context(moved)
    assert ca["start"] != cb["start"]
    assert np.abs(step.inverse_transform(b, contexts=[cb]) - moved).max() < 1e-9


def test_body_centred_root_known_trajectories():
    """Generated frames without a context start at the origin facing +z: constant forward speed walks
    along +z; adding a constant yaw rate walks a circle of radius v / (2 sin(dyaw / 2))."""
    sk = _skeleton()
    step = BodyCentredRoot.for_skeleton(sk).fit([np.zeros((3, 15))], sk.channel_names)
    names = step.names_out
    assert names[:6] == ["hips.vx", "hips.vz", "hips.dyaw", "hips.height", "hips.pitch", "hips.roll"]
    y = np.zeros((37, len(names)))
    y[:, 1], y[:, 3] = 2.0, 17.0
    x = step.inverse_transform(y)
    assert np.abs(x[:, 0]).max() < 1e-12 and np.abs(x[:, 2] - 2.0 * np.arange(37)).max() < 1e-12
    assert np.abs(x[:, 1] - 17.0).max() < 1e-12
    y[1:, 2] = 10.0
    x = step.inverse_transform(y)
    radius = 2.0 / (2 * np.sin(np.deg2rad(5.0)))
    ground = x[:, [0, 2]]
    centre = ground[:36].mean(axis=0)  # 36 turns of 10 degrees: a closed regular polygon
    assert np.abs(np.linalg.norm(ground - centre, axis=1) - radius).max() < 1e-9
    assert np.abs(ground[36] - ground[0]).max() < 1e-9
    assert centre[0] > 0  # positive yaw about +y turns +z towards +x: the circle lies on the +x side
    yaw = matrix_to_euler(euler_to_matrix(x[:, 3:6], "ZXY"), "YXZ")[:, 0]
    assert np.abs(wrap_angle(yaw - 10.0 * np.arange(37))).max() < 1e-9


def test_drop_constant_and_zscore_known_values():
    x = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 2.0 + 1e-12], [5.0, 5.0, 2.0]])
    drop = DropConstant(atol=1e-9).fit([x], ["a", "b", "c"])
    assert drop.names_out == ["a"]
    assert np.abs(drop.inverse_transform(drop.transform(x)) - x).max() < 1e-9
    z = ZScore().fit([x[:, :2]], ["a", "b"])
    assert np.allclose(z.transform(x[:, :2]), [[-np.sqrt(1.5), 0.0], [0.0, 0.0], [np.sqrt(1.5), 0.0]])
    assert z.std == [np.sqrt(8 / 3), 1.0]
    assert np.abs(z.inverse_transform(z.transform(x[:, :2])) - x[:, :2]).max() < 1e-14


def test_zscore_floors_by_name_end():
    x = np.array([[0.0, 0.0, 0.0], [1e-5, 2.0, 1e-5], [2e-5, 4.0, 2e-5]])
    z = ZScore(min_std={"ex": 0.01, "ex.d": 0.5}).fit([x], ["knee.ex", "knee.ex.d", "knee.ey"])
    assert z.std[0] == 0.01 and z.std[1] == np.std(x[:, 1]) and z.std[2] == np.std(x[:, 2])
    assert np.abs(z.transform(x)[:, 0]).max() < 2e-3  # tiny spread, floored scale: no amplification
    assert ZScore.from_state(json.loads(json.dumps(z.state_dict()))).std == z.std


def test_frame_differences_known_values_rates_kept_and_integration():
    x = np.array([[1.0, 2.0, 10.0], [2.0, 5.0, 11.0], [4.0, 9.0, 13.0]])
    names = ["knee.ex", "root.vx", "root.height"]
    step = FrameDifferences().fit([x], names)
    assert step.names_out == ["knee.ex.d", "root.vx", "root.height.d"]
    d = step.transform(x)
    assert np.array_equal(d, [[0.0, 2.0, 0.0], [1.0, 5.0, 1.0], [2.0, 9.0, 2.0]])
    assert np.array_equal(step.inverse_transform(d, contexts=[step.context(x)]), x)
    # without the clip's first frame the integration starts from the training mean pose
    assert np.allclose(step.inverse_transform(d)[0], [7 / 3, 2.0, 34 / 3])
    # the same movement from another pose gives the same input
    assert np.array_equal(step.transform(x + [5.0, 0.0, -3.0])[:, [0, 2]], d[:, [0, 2]])


def test_running_centring_known_values_and_exact_inverse_without_context():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [8.0, 7.0], [0.0, 7.0]])
    step = RunningCentring(prior=2.0).fit([x], ["knee.ex", "root.dyaw"])
    assert step.names_out == ["knee.ex.c", "root.dyaw"] and step.mean == {"knee.ex": 3.0}
    # m_0 = mu = 3, m_1 = (2 * 3 + 1) / 3, m_2 = (6 + 1 + 3) / 4, m_3 = (6 + 1 + 3 + 8) / 5
    expected = x[:, 0] - np.array([3.0, 7 / 3, 10 / 4, 18 / 5])
    np.testing.assert_allclose(step.transform(x)[:, 0], expected, rtol=1e-14)
    assert np.array_equal(step.transform(x)[:, 1], x[:, 1])
    np.testing.assert_allclose(step.inverse_transform(step.transform(x)), x, rtol=1e-14)
    # causal: a frame's input does not depend on later frames
    later = x.copy()
    later[3] = 100.0
    np.testing.assert_array_equal(step.transform(later)[:3], step.transform(x)[:3])
    with pytest.raises(CRBMError, match="positive prior"):
        RunningCentring(prior=0.0)


def test_downsample_keeps_frames_and_interpolates():
    x = np.stack([np.arange(13.0), 2 * np.arange(13.0) + 1], -1)
    step = Downsample(4).fit([x], ["a", "b"])
    y = step.transform(x)
    assert np.array_equal(y, x[::4])
    up = step.inverse_transform(y)  # 4 kept frames -> 13 frames; exact here because x is linear in time
    assert up.shape == (13, 2) and np.abs(up - x).max() < 1e-12
    with pytest.raises(CRBMError):
        Downsample(0)


def test_state_dict_json_round_trip():
    rng = np.random.default_rng(13)
    sk = _skeleton()
    clips = [_synthetic_clip(rng, 150) for _ in range(2)]
    pipe = Pipeline([Downsample(2), *body_centred_pipeline(sk).steps])
    z = pipe.fit_transform(clips, sk.channel_names)
    state = json.loads(json.dumps(pipe.state_dict()))
    again = step_from_state(state)
    assert again.names_out == pipe.names_out
    for a, b in zip(again.transform(clips), z, strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(again.inverse_transform(z), pipe.inverse_transform(z), strict=True):
        assert np.array_equal(a, b)


def test_errors():
    sk = _skeleton()
    step = JointAngles.for_skeleton(sk)
    with pytest.raises(CRBMError, match="not fitted"):
        step.transform(np.zeros((2, 15)))
    step.fit([np.zeros((2, 15))], sk.channel_names)
    with pytest.raises(CRBMError, match="shape"):
        step.transform(np.zeros((2, 14)))
    with pytest.raises(CRBMError, match="unknown preprocessing step"):
        step_from_state({"type": "Nope"})
    with pytest.raises(CRBMError, match="representation"):
        JointAngles({}, representation="quat")
    with pytest.raises(CRBMError, match="root"):
        BodyCentredRoot.for_skeleton(Skeleton((Joint("r", -1, (0.0, 0.0, 0.0), ("Zrotation",)),)))


@pytest.fixture(scope="module")
def walkjog(data_root):
    d = scipy.io.loadmat(data_root / "mocap/gpmat/cmu35WalkJog.mat")
    seq = d["lbls"].argmax(axis=1)
    return [d["Y"][seq == s] for s in range(d["lbls"].shape[1])] + [d["Ytest"]]


@pytest.mark.parametrize("representation", ["expmap", "euler"])
def test_pipeline_exact_inverse_on_cmu35(data_root, walkjog, representation):
    """All 33 GPmat clips (62 AMC channels, 30 fps) come back within 1e-6 degrees / units."""
    sk = cmu35_skeleton(data_root / "mocap/cmu/35/35.asf")
    pipe = body_centred_pipeline(sk, representation=representation)
    z = pipe.fit_transform(walkjog[:-1], sk.channel_names)
    assert len(pipe.names_out) == 62 - 6 + 0  # 6 root channels -> 6 features, 6 constant channels dropped
    contexts = pipe.contexts(walkjog)
    back = pipe.inverse_transform(pipe.transform(walkjog), contexts=contexts)
    assert max(np.abs(b - c).max() for b, c in zip(back, walkjog, strict=True)) < 1e-6
    assert all(np.abs(c).max() < 20 for c in z)  # unit-variance channels, no 360 jumps left
    # without contexts only the root's absolute placement and the raw data's own 360-degree jumps differ
    free = pipe.inverse_transform(z)
    names = sk.channel_names
    joints = [i for i, n in enumerate(names) if not n.startswith("root.")]
    diff = np.concatenate([b[:, joints] - c[:, joints] for b, c in zip(free, walkjog[:-1], strict=True)])
    off = [names[joints[i]] for i in np.flatnonzero(np.abs(diff).max(axis=0) > 1e-6)]
    assert off == ["rhand.rz"]
    k = diff[:, joints.index(names.index("rhand.rz"))] / 360
    assert np.abs(k - np.round(k)).max() < 1e-9
    # heading invariance on real data: the walk turned by 150 degrees about the vertical, moved on the floor
    clip = walkjog[0]
    turned = clip.copy()
    turn = axis_rotation("Y", 150.0)
    turned[:, :3] = clip[:, :3] @ turn.T + [40.0, 0.0, -3.0]
    turned[:, [5, 4, 3]] = matrix_to_euler(turn @ euler_to_matrix(clip[:, [5, 4, 3]], "ZYX"), "ZYX")
    assert np.abs(pipe.transform(turned) - z[0]).max() < 1e-9


@pytest.mark.parametrize("name", ["test_mocapbank.bvh", "test_freebvh.bvh"])
def test_pipeline_exact_inverse_on_bvh_samples(data_root, name):
    """BVH rigs nobody here wrote (ZXY root, 19 and 55 joints): exact with contexts, and the body-centred
    features do not depend on where the clip starts or which way it faces."""
    pytest.importorskip("bvhio")
    motion = bvh_motion_via_bvhio(data_root / "mocap/samples/bvhtoolbox-0.1.3" / name)
    sk, x = motion.skeleton, motion.frames
    pipe = body_centred_pipeline(sk)
    clips = [x[: len(x) // 2], x[len(x) // 2:]]
    z = pipe.fit_transform(clips, sk.channel_names)
    back = pipe.inverse_transform(z, contexts=pipe.contexts(clips))
    assert max(np.abs(b - c).max() for b, c in zip(back, clips, strict=True)) < 1e-6
    later = pipe.transform(clips[1][5:])
    assert np.abs(later[1:] - z[1][6:]).max() < 1e-9


def _legs_skeleton():
    """A root with two legs (hip, knee, foot), the feet at x = +-1, y = -2 in the rest pose."""
    return Skeleton((
        Joint("hips", -1, (0.0, 0.0, 0.0),
              ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")),
        Joint("lupleg", 0, (1.0, 0.0, 0.0), ("Zrotation", "Xrotation", "Yrotation")),
        Joint("lknee", 1, (0.0, -1.0, 0.0), ("Xrotation",)),
        Joint("lfoot", 2, (0.0, -1.0, 0.0), ()),
        Joint("rupleg", 0, (-1.0, 0.0, 0.0), ("Zrotation", "Xrotation", "Yrotation")),
        Joint("rknee", 4, (0.0, -1.0, 0.0), ("Xrotation",)),
        Joint("rfoot", 5, (0.0, -1.0, 0.0), ()),
    ))


def _stepping_clip(rng, n=160):
    """Legs swinging in antiphase (hips and knees), the root turning and moving on the ground."""
    t = np.arange(n)
    f = np.zeros((n, 14))
    f[:, 0], f[:, 2] = np.cumsum(rng.normal(0, 0.05, n)), 0.08 * t
    f[:, 1] = 2.0 + 0.05 * np.sin(2 * np.pi * t / 15)
    f[:, 3], f[:, 4], f[:, 5] = 4 * np.sin(t / 9), 3 * np.sin(t / 7), np.cumsum(rng.normal(1, 1, n))
    f[:, 7], f[:, 11] = 25 * np.sin(2 * np.pi * t / 30), -25 * np.sin(2 * np.pi * t / 30)
    f[:, 9], f[:, 13] = 20 - 20 * np.cos(2 * np.pi * t / 30), 20 + 20 * np.cos(2 * np.pi * t / 30)
    return f


def test_planted_foot_root_exact_inverse_and_state():
    """root="foot": exact with contexts, and after a JSON state round trip; the step's channels replace vx, vz."""
    rng = np.random.default_rng(14)
    sk = _legs_skeleton()
    clips = [_stepping_clip(rng, n) for n in (160, 120)]
    pipe = body_centred_pipeline(sk, root="foot")
    z = pipe.fit_transform(clips, sk.channel_names)
    assert isinstance(pipe.steps[0], PlantedFootRoot) and pipe.names_out[:3] == ["hips.fx", "hips.fz", "hips.dyaw"]
    again = Pipeline.from_state(json.loads(json.dumps(pipe.state_dict())))
    contexts = json.loads(json.dumps(pipe.contexts(clips)))
    for p in (pipe, again):
        back = p.inverse_transform(z, contexts=contexts)
        assert max(np.abs(b - c).max() for b, c in zip(back, clips, strict=True)) < 1e-9
    # the foot's steps are not the root's: the legs' swing is in them
    velocity = body_centred_pipeline(sk).fit_transform(clips, sk.channel_names)
    assert np.abs(z[0][:, :2] - velocity[0][:, :2]).max() > 0.1


def test_planted_foot_root_zero_step_plants_the_lower_foot():
    """Frames whose fx, fz are 0 come back with the lower foot fixed on the ground while the root moves."""
    rng = np.random.default_rng(15)
    sk = _legs_skeleton()
    clip = _stepping_clip(rng)
    step = PlantedFootRoot.for_skeleton(sk).fit([clip], sk.channel_names)
    y = step.transform(clip)
    y[:, :2] = 0.0
    x = step.inverse_transform(y)
    pos = joint_positions(Motion(sk, x, 30.0))
    feet = pos[:, [3, 6]]
    lower = np.argmin(feet[:-1, :, 1] + feet[1:, :, 1], axis=1)
    rows = np.arange(len(lower))
    slide = np.linalg.norm((feet[1:][rows, lower] - feet[:-1][rows, lower])[:, [0, 2]], axis=1)
    assert slide.max() < 1e-9
    assert np.linalg.norm(np.diff(pos[:, 0, [0, 2]], axis=0), axis=1).mean() > 0.05  # the body walks on
    with pytest.raises(CRBMError, match="skeleton's own"):
        PlantedFootRoot.for_skeleton(sk).fit([clip[:, :13]], sk.channel_names[:13])
    with pytest.raises(CRBMError, match="root must be one of"):
        body_centred_pipeline(sk, root="feet")


def test_foot_contacts_appended_and_dropped_exactly_and_kept_in_state():
    """contacts=True: one 0/1 channel per foot after the pose (the clip's stance by crbm.mocap.realism.contacts),
    with either root; without pin the inverse is exact, also after a JSON state round trip."""
    from crbm.mocap.realism import contacts

    rng = np.random.default_rng(16)
    sk = _legs_skeleton()
    clips = [_stepping_clip(rng, n) for n in (160, 120)]
    for root in ("velocity", "foot"):
        pipe = body_centred_pipeline(sk, contacts=True, root=root)
        step = pipe.steps[0]
        assert isinstance(step, FootContacts) and step.pin
        step.pin = False
        z = pipe.fit_transform(clips, sk.channel_names)
        assert step.names_out == sk.channel_names + ["lfoot.contact", "rfoot.contact"]
        assert pipe.names_out[-2:] == ["lfoot.contact", "rfoot.contact"] and z[0].shape[1] == 12
        flags = step.transform(clips[0])[:, -2:]
        np.testing.assert_array_equal(flags, contacts(Motion(sk, clips[0], 30.0)))
        assert 0 < flags.mean() < 1
        again = Pipeline.from_state(json.loads(json.dumps(pipe.state_dict())))
        assert isinstance(again.steps[0], FootContacts) and not again.steps[0].pin
        contexts = pipe.contexts(clips)
        for p in (pipe, again):
            back = p.inverse_transform(z, contexts=contexts)
            assert max(np.abs(b - c).max() for b, c in zip(back, clips, strict=True)) < 1e-9


def test_foot_contacts_pin_holds_the_contact_foot_and_moves_the_root_otherwise():
    """With pin, a foot whose contact is on does not move over the ground on the step into that frame (the
    larger contact wins when both are on); steps without a contact and every other channel are the clip's."""
    rng = np.random.default_rng(17)
    sk = _legs_skeleton()
    clip = _stepping_clip(rng)
    step = FootContacts.for_skeleton(sk).fit([clip], sk.channel_names)
    y = step.transform(clip)
    t = np.arange(len(clip))
    y[:, -2:] = np.stack([t % 20 < 8, (t % 20 >= 6) & (t % 20 < 16)], axis=1) * np.array([0.9, 0.7])
    x = step.inverse_transform(y)
    feet = joint_positions(Motion(sk, x, 30.0))[:, [3, 6], :][:, :, [0, 2]]
    for k in range(1, len(clip)):
        on = y[k, -2:] > 0.5
        if on.any():
            f = int(np.argmax(y[k, -2:]))
            assert np.linalg.norm(feet[k, f] - feet[k - 1, f]) < 1e-9
        else:
            np.testing.assert_allclose(x[k, [0, 2]] - x[k - 1, [0, 2]], clip[k, [0, 2]] - clip[k - 1, [0, 2]],
                                       atol=1e-9)
    others = [c for c in range(clip.shape[1]) if c not in (0, 2)]
    np.testing.assert_array_equal(x[:, others], clip[:, others])
    assert np.abs(x[:, [0, 2]] - clip[:, [0, 2]]).max() > 0.1
    with pytest.raises(CRBMError, match="begin with its skeleton's own"):
        FootContacts.for_skeleton(sk).fit([clip[:, 1:]], sk.channel_names[1:])
    with pytest.raises(CRBMError, match="positive height tolerance"):
        FootContacts(sk, height_tol=0.0)
