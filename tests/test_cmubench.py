"""The CMU-mocap prediction benchmark's format and protocol: exact round trips, forward kinematics against
hand-computed answers, the protocol's windows and Euler conversion, its zero-velocity figures reproduced on
the real files, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest

import crbm
from crbm.engine.errors import CRBMError, FormatError
from crbm.mocap import cmubench
from crbm.mocap.kinematics import joint_positions
from crbm.mocap.resample import resample

BENCH = ("mocap", "cmu-bench")


def _values(t: int, seed: int = 0) -> np.ndarray:
    """Random rows of the file format: root positions and exp-maps of angle below pi."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(t, cmubench.COLUMNS))
    r = v[:, 3:].reshape(t, -1, 3)
    r *= (rng.uniform(0.0, 3.0, size=r.shape[:2]) / np.linalg.norm(r, axis=-1))[..., None]
    return v


def _write_rows(path, rows: np.ndarray) -> None:
    np.savetxt(path, rows, fmt="%.17g", delimiter=",")


def test_skeleton_is_the_protocol_tree_with_subject_35_bones(data_root):
    sk = cmubench.skeleton()
    assert len(sk.joints) == 38 and len(sk.channel_names) == cmubench.COLUMNS
    assert [j.parent for j in sk.joints] == list(cmubench.PARENTS)
    assert sk.joints[cmubench.NAMES.index("ltibia")].offset == cmubench.CMU35_BONES["lfemur"]
    assert sk.joints[cmubench.NAMES.index("lfemur")].offset == cmubench.CMU35_BONES["lhipjoint"]
    assert sk.joints[cmubench.NAMES.index("lhipjoint")].offset == (0.0, 0.0, 0.0)
    assert sk.joints[cmubench.NAMES.index("lthumb_end")].offset == cmubench.CMU35_BONES["lthumb"]
    asf = crbm.read_asf(data_root / "mocap" / "cmu" / "35" / "35.asf")
    from35 = cmubench.skeleton(asf)  # the built-in table is subject 35's ASF, to its 6 decimals
    assert from35.names == sk.names and from35.units == sk.units
    np.testing.assert_allclose([j.offset for j in from35.joints], [j.offset for j in sk.joints], atol=5e-7)
    other = cmubench.skeleton(crbm.read_asf(data_root / "mocap" / "cmu" / "12" / "12.asf"))
    assert other.names == sk.names and other != sk


def test_round_trip_through_the_writer_is_exact(tmp_path):
    rows = _values(40)
    _write_rows(tmp_path / "a.txt", rows)
    m = crbm.read_cmubench(tmp_path / "a.txt")
    assert m.fps == 120.0 and m.n_frames == 40 and m.name == "a"
    np.testing.assert_allclose(cmubench.expmaps(m), rows, atol=1e-12)
    crbm.write_cmubench(m, tmp_path / "b.txt", precision=17)
    back = np.loadtxt(tmp_path / "b.txt", delimiter=",")
    np.testing.assert_allclose(back, rows, atol=1e-12)
    np.testing.assert_allclose(crbm.read_cmubench(tmp_path / "b.txt").frames, m.frames, atol=1e-9)


def test_same_clip_in_centimetres_writes_the_same_file(tmp_path):
    rows = _values(5, seed=1)
    _write_rows(tmp_path / "a.txt", rows)
    m = crbm.read_cmubench(tmp_path / "a.txt")
    sk = m.skeleton
    scale = 2.54 / cmubench.UNIT
    cm = crbm.Skeleton(tuple(j.__class__(j.name, j.parent, tuple(v * scale for v in j.offset), j.channels)
                             for j in sk.joints), kind="bvh", units={"length": "cm"})
    frames = m.frames.copy()
    frames[:, :3] *= scale
    np.testing.assert_allclose(cmubench.expmaps(crbm.Motion(cm, frames, 120.0)), rows, atol=1e-12)


def test_forward_kinematics_known_answers():
    bones = {k: np.asarray(v) for k, v in cmubench.CMU35_BONES.items()}
    idx = cmubench.NAMES.index
    rows = np.zeros((3, cmubench.COLUMNS))
    rows[:, :3] = [1.0, 17.0, -2.0]
    rows[1, 3 + 3 * idx("lfemur") + 2] = np.pi / 2  # r = (0, 0, pi/2) on the femur
    rows[2, 3 + 1] = np.pi  # the root turned half a turn about Y
    pos = joint_positions(cmubench.motion_from_expmaps(rows))
    root = np.array([1.0, 17.0, -2.0])
    hip = root + bones["lhipjoint"]
    leg = bones["lhipjoint"] + bones["lfemur"] + bones["ltibia"] + bones["lfoot"] + bones["ltoes"]
    np.testing.assert_allclose(pos[0, idx("lfemur")], hip, atol=1e-12)  # rest pose: offsets add up
    np.testing.assert_allclose(pos[0, idx("ltoes_end")], root + leg, atol=1e-12)
    # the source's p_child = o_child exp(r_parent) (row vectors): the femur vector (x, y, 0) -> (y, -x, 0)
    x, y, _ = bones["lfemur"]
    np.testing.assert_allclose(pos[1, idx("ltibia")], hip + [y, -x, 0.0], atol=1e-12)
    np.testing.assert_allclose(pos[1, idx("lfemur")], hip, atol=1e-12)
    np.testing.assert_allclose(pos[2, idx("ltoes_end")], root + leg * [-1.0, 1.0, -1.0], atol=1e-12)


def test_position_error_is_the_pose_error_in_millimetres(tmp_path):
    a = cmubench.motion_from_expmaps(_values(6, seed=2))
    b = cmubench.motion_from_expmaps(_values(6, seed=3))
    every = list(range(1, 38))
    np.testing.assert_allclose(cmubench.position_error(a, b, every), 10 * crbm.joint_position_error(a, b),
                               rtol=1e-12)
    moved = a.replace(frames=a.frames.copy())
    moved.frames[:, :6] += 5.0  # root place and heading do not count
    np.testing.assert_allclose(cmubench.position_error(moved, a, every), 0.0, atol=1e-9)


def test_test_starts_are_the_protocols():
    # down-sampled lengths of the five test files -> PROTOCOL.md's windows
    assert cmubench.test_starts(180) == [2, 102, 47, 12, 51, 33, 43, 60]  # walking
    assert cmubench.test_starts(82) == [2, 6, 4, 3, 1, 3, 1, 4]  # running
    assert cmubench.test_starts(289) == [130, 102, 47, 140, 51, 33, 171, 105]  # basketball
    assert cmubench.test_starts(1043) == [386, 358, 47, 140, 819, 289, 939, 105]  # jumping
    with pytest.raises(CRBMError, match="more than 75 frames"):
        cmubench.test_starts(75)


def test_protocol_euler_known_answers():
    rows = np.zeros((4, cmubench.COLUMNS))
    j = 3 + 3 * cmubench.NAMES.index("lfemur")
    rows[0, j], rows[1, j + 1], rows[2, j + 2] = 0.3, -0.4, 0.5  # one axis each
    e = cmubench.protocol_euler(cmubench.motion_from_expmaps(rows)).reshape(4, 38, 3)
    np.testing.assert_allclose(e[0, 2], [-0.3, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(e[1, 2], [0.0, 0.4, 0.0], atol=1e-12)
    np.testing.assert_allclose(e[2, 2], [0.0, 0.0, -0.5], atol=1e-12)
    np.testing.assert_allclose(e[3], 0.0, atol=1e-12)
    # gimbal lock: the joint's channels Yrotation 90 give R = exp(r) with R_02 = -1 exactly
    m = cmubench.motion_from_expmaps(rows[:1])
    frames = np.zeros_like(m.frames)
    frames[0, 3 + 3 * 2 + 1] = 90.0
    lock = cmubench.protocol_euler(m.replace(frames=frames)).reshape(38, 3)[2]
    np.testing.assert_allclose(lock, [np.pi, np.pi / 2, 0.0], atol=1e-12)


def test_euler_error_counts_only_columns_that_vary_in_the_truth():
    rows = np.zeros((5, cmubench.COLUMNS))
    j = 3 + 3 * cmubench.NAMES.index("lhumerus")
    rows[:, j] = np.linspace(0.1, 0.5, 5)
    truth = cmubench.motion_from_expmaps(rows)
    guess = rows.copy()
    guess[:, j] = 0.0
    guess[:, 3 + 3 * cmubench.NAMES.index("head")] = 0.7  # constant in the truth: not counted
    guess[:, 3:6] = 1.0  # the root's rotation: never counted
    err = cmubench.euler_error(truth, cmubench.motion_from_expmaps(guess))
    np.testing.assert_allclose(err, np.linspace(0.1, 0.5, 5), atol=1e-12)
    # two windows end to end: each chooses its columns on its own truth frames
    still = np.zeros((5, cmubench.COLUMNS))
    two = cmubench.motion_from_expmaps(np.concatenate([still, rows]))
    err = cmubench.euler_error(two, cmubench.motion_from_expmaps(np.concatenate([guess, guess])), window=5)
    np.testing.assert_allclose(err, np.concatenate([np.zeros(5), np.linspace(0.1, 0.5, 5)]), atol=1e-12)
    with pytest.raises(CRBMError, match="window must divide"):
        cmubench.euler_error(two, two, window=3)


def test_bad_files_are_refused_with_file_and_line(tmp_path):
    good = ",".join(["0"] * cmubench.COLUMNS)
    cases = {
        "short.txt": (f"{good}\n1,2,3\n", r"short\.txt:2: expected 117 comma-separated numbers, got 3 fields"),
        "word.txt": (good + "\n" + good.replace("0", "x", 1) + "\n", r"word\.txt:2: column 1: expected a number"),
        "nan.txt": (good[:-1] + "nan\n", r"nan\.txt:1: column 117: expected a finite number, got 'nan'"),
        "empty.txt": ("\n\n", r"empty\.txt: no frames"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FormatError, match=message):
            crbm.read_cmubench(tmp_path / name)
    hips = crbm.Skeleton((crbm.Joint("hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition")),))
    with pytest.raises(CRBMError, match="benchmark's 38-joint skeleton"):
        crbm.write_cmubench(crbm.Motion(hips, np.zeros((2, 3)), 30.0), tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_real_files_read_and_zero_velocity_reproduces_the_protocol(data_root):
    """PROTOCOL.md's zero-velocity table, computed here by the protocol from the files."""
    stated = {
        "walking": (0.407, 0.602, 0.832, 0.951, 1.085, 1.338),
        "running": (0.563, 0.995, 1.381, 1.459, 1.573, 1.543),
        "basketball": (0.488, 0.821, 1.404, 1.640, 2.048, 2.831),
        "jumping": (0.363, 0.616, 1.484, 1.683, 1.988, 2.027),
        "soccer": (0.274, 0.477, 0.922, 1.096, 1.362, 1.839),
    }
    folder = data_root.joinpath(*BENCH)
    for action, figures in stated.items():
        path = folder / "test" / action / f"{action}_1.txt"
        clip = crbm.read_cmubench(path)
        assert clip.n_frames == len(path.read_text().splitlines())
        np.testing.assert_allclose(cmubench.expmaps(clip), np.loadtxt(path, delimiter=","), atol=1e-12)
        c = resample(clip, 60.0)
        errors = []
        for s in cmubench.test_starts(c.n_frames):
            seen = c.frames[s + 49]
            truth = c.replace(frames=c.frames[s + 50 : s + 75])
            errors.append(cmubench.euler_error(truth, truth.replace(frames=np.repeat(seen[None], 25, axis=0))))
        mean = np.mean(errors, axis=0)
        np.testing.assert_allclose([mean[i] for i in cmubench.HORIZONS_MS.values()], figures, atol=5e-4)


def test_measured_joints_leave_out_joints_fixed_to_the_root(data_root):
    clip = crbm.read_cmubench(data_root.joinpath(*BENCH, "train", "walking", "walking_1.txt"))
    joints = cmubench.measured_joints([clip])
    names = [cmubench.NAMES[j] for j in joints]
    for fixed in ("root", "lhipjoint", "lfemur", "rhipjoint", "rfemur", "lowerback", "lclavicle", "rclavicle"):
        assert fixed not in names
    for moving in ("ltibia", "ltoes_end", "head_end", "lwrist", "rthumb_end", "lowerneck"):
        assert moving in names
