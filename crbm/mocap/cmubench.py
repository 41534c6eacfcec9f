"""The CMU-mocap motion-prediction benchmark of Li et al. 2018 (ConvSeq2Seq) and Mao et al. 2019 (LTD): its
117-column exponential-map text files, its 38-joint skeleton, and its protocol's test windows and errors.

**Format.** One frame per line, 117 comma-separated numbers: the root position (3 numbers, CMU's ASF length
unit, 1 / 0.45 inch), then 38 joints x 3 exponential maps ``r_j`` (axis times angle, radians), joint 0 being
the root's global rotation. The files are at CMU's 120 fps.

**Skeleton.** :data:`NAMES` / :data:`PARENTS`: CMU's ASF bones in ASF order (joint ``j`` sits where bone
``j`` starts and turns the bones after it), plus an ``_end`` joint at the tip of each chain. The source's
forward kinematics (Martinez et al. 2017) multiplies row vectors; in crbm's column-vector convention joint
``j`` turns by ``L_j = exp(r_j)^T`` (Rodrigues, :func:`crbm.mocap.kinematics.expmap_to_matrix`), its world
rotation is ``G_j = G_parent L_j`` and its position ``p_j = p_parent + G_parent o_j``, with ``o_j`` the rest
vector of the parent's bone in world axes (Y up): a BVH rig whose rest frames are the world frame. So
:func:`read_cmubench` returns an ordinary BVH-kind :class:`Motion` (``Zrotation Yrotation Xrotation`` in
degrees of ``L_j``) that every crbm tool can use. The source gives no bone lengths; :func:`skeleton` takes
them from a CMU ASF skeleton (by default CMU subject 35's, :data:`CMU35_BONES`).

**Protocol** (both papers' code): every file down-sampled by 2 (60 fps); for each action, 8 test windows of
75 frames of ``test/<action>/<action>_1.txt`` drawn by :func:`test_starts`; condition on the first 50,
predict the last 25; report predicted frames :data:`HORIZONS_MS` (labelled 80 ... 1000 ms by the papers).
:func:`euler_error` is the error they report; :func:`position_error` a 3-D joint error in millimetres.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from crbm.engine.errors import CRBMError, FormatError
from crbm.mocap.acclaim import _lines
from crbm.mocap.kinematics import expmap_to_matrix, joint_positions, local_rotations, matrix_to_expmap
from crbm.mocap.lengths import centimetres, length_unit
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.preprocess import decode_euler

NAMES = (
    "root",
    "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "ltoes_end",
    "rhipjoint", "rfemur", "rtibia", "rfoot", "rtoes", "rtoes_end",
    "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head", "head_end",
    "lclavicle", "lhumerus", "lradius", "lwrist", "lhand", "lfingers", "lfingers_end", "lthumb", "lthumb_end",
    "rclavicle", "rhumerus", "rradius", "rwrist", "rhand", "rfingers", "rfingers_end", "rthumb", "rthumb_end",
)  # fmt: skip
PARENTS = (-1, 0, 1, 2, 3, 4, 5, 0, 7, 8, 9, 10, 11, 0, 13, 14, 15, 16, 17, 18, 15, 20, 21, 22, 23, 24, 25, 23, 27,
           15, 29, 30, 31, 32, 33, 34, 32, 36)
COLUMNS = 3 + 3 * len(NAMES)  # 117
UNIT = 0.45  # the files' length unit: CMU's ASF ``length 0.45`` (1 unit = 1 / 0.45 inch)
FPS = 120.0

# Bone vectors (ASF ``direction * length``, in ASF units) of CMU subject 35's ASF, for every bone that is a
# parent in the tree; the benchmark's files do not say which subject they come from.
CMU35_BONES = {
    "lhipjoint": (1.777792, -1.889894, 0.482667), "lfemur": (2.53442, -6.963266, 0.0),
    "ltibia": (2.710683, -7.447546, 0.0), "lfoot": (0.179915, -0.494313, 2.22524), "ltoes": (0.0, 0.0, 1.14687),
    "rhipjoint": (-1.584694, -1.889894, 0.482666), "rfemur": (-2.603856, -7.154043, 0.0),
    "rtibia": (-2.733338, -7.509792, 0.0), "rfoot": (-0.256178, -0.703841, 2.218215), "rtoes": (0.0, 0.0, 1.16381),
    "lowerback": (0.034096, 2.016116, -0.222302), "upperback": (0.034646, 2.030123, 0.009369),
    "thorax": (0.016735, 2.054371, 0.114382), "lowerneck": (-0.00219, 1.704585, 0.208575),
    "upperneck": (0.025184, 1.723394, -0.221791), "head": (0.002816, 1.741219, -0.09823),
    "lclavicle": (3.363579, 1.005474, -0.376608), "lhumerus": (5.06507, 0.0, 0.0), "lradius": (3.60196, 0.0, 0.0),
    "lwrist": (1.80098, 0.0, 0.0), "lhand": (0.450346, 0.0, 0.0), "lfingers": (0.363081, 0.0, 0.0),
    "lthumb": (0.368624, 0.0, 0.368624),
    "rclavicle": (-3.501593, 0.803826, -0.715258), "rhumerus": (-5.36394, 0.0, 0.0), "rradius": (-3.58035, 0.0, 0.0),
    "rwrist": (-1.79017, 0.0, 0.0), "rhand": (-0.663747, 0.0, 0.0), "rfingers": (-0.53513, 0.0, 0.0),
    "rthumb": (-0.5433, 0.0, 0.5433),
}  # fmt: skip

# the papers' horizons: label (ms) -> 0-based index among the 25 predicted frames
HORIZONS_MS = {80: 1, 160: 3, 320: 7, 400: 9, 560: 13, 1000: 24}
SEED = 1234567890  # numpy.random.RandomState seed of the test windows
WINDOWS, OBSERVED, PREDICTED = 8, 50, 25
STD_FLOOR = 1e-4  # a column counts only if its standard deviation exceeds this

_ROOT_CHANNELS = ("Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation")
_ROTATION = ("Zrotation", "Yrotation", "Xrotation")


def skeleton(asf: Skeleton | None = None) -> Skeleton:
    """The benchmark's 38-joint BVH-kind skeleton (:data:`NAMES`, :data:`PARENTS`): root channels
    ``X/Y/Zposition Z/Y/Xrotation``, every other joint ``Z/Y/Xrotation``; joint ``j``'s offset is the bone
    vector of its parent's ASF bone (zero under the root).

    asf: a CMU ASF skeleton whose bones give the lengths and rest directions, in its own length unit;
        default :data:`CMU35_BONES` in :data:`UNIT`.
    """
    if asf is None:
        bones, unit = CMU35_BONES, UNIT
    else:
        if asf.kind != "asf":
            raise CRBMError(f"cmubench.skeleton needs an ASF skeleton (kind 'asf'), got kind {asf.kind!r}")
        missing = [n for n in CMU35_BONES if n not in asf.names]
        if missing:
            raise CRBMError(f"ASF skeleton lacks the CMU bones {missing}; expected a CMU subject's ASF")
        bones, unit = {n: asf.joints[asf.index(n)].offset for n in CMU35_BONES}, length_unit(asf)
    joints = tuple(
        Joint(name=name, parent=p, offset=tuple(float(v) for v in bones[NAMES[p]]) if p > 0 else (0.0, 0.0, 0.0),
              channels=_ROOT_CHANNELS if p < 0 else _ROTATION)
        for name, p in zip(NAMES, PARENTS)
    )
    return Skeleton(joints=joints, kind="bvh", units={"length": unit}, meta={"name": "cmu-bench"})


def motion_from_expmaps(values: np.ndarray, *, fps: float = FPS, name: str = "",
                        rig: Skeleton | None = None) -> Motion:
    """Rows of the file format ``(T, 117)`` -> a Motion on ``rig`` (default :func:`skeleton`): the root
    position as it is, every joint's ``L_j = exp(r_j)^T`` as Z/Y/X Euler angles in degrees, continuous across
    frames (:func:`crbm.mocap.preprocess.decode_euler`)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != COLUMNS:
        raise CRBMError(f"benchmark frames must have shape (T, {COLUMNS}), got {values.shape}")
    rig = skeleton() if rig is None else rig
    _check_rig(rig, f"clip {name!r}")
    t = values.shape[0]
    local = np.swapaxes(expmap_to_matrix(values[:, 3:].reshape(t, len(NAMES), 3)), -1, -2)
    frames = np.empty((t, 3 + 3 * len(NAMES)))
    frames[:, :3] = values[:, :3]
    for j in range(len(NAMES)):
        frames[:, 3 + 3 * j : 6 + 3 * j] = decode_euler(local[:, j], "ZYX", degrees=True) if t else 0.0
    return Motion(rig, frames, fps, name=name)


def expmaps(motion: Motion) -> np.ndarray:
    """A Motion on a benchmark skeleton -> rows of the file format ``(T, 117)``: the root position in
    :data:`UNIT`, then ``r_j = log(L_j^T)`` per joint with angle in [0, pi]."""
    _check_rig(motion.skeleton, f"clip {motion.name!r}")
    local = local_rotations(motion.skeleton, motion.frames)
    out = np.empty((motion.n_frames, COLUMNS))
    out[:, :3] = motion.frames[:, :3] * (centimetres(length_unit(motion.skeleton)) / centimetres(UNIT))
    out[:, 3:] = matrix_to_expmap(np.swapaxes(local, -1, -2)).reshape(motion.n_frames, -1)
    return out


def read_cmubench(path: str | os.PathLike, *, fps: float = FPS, rig: Skeleton | None = None) -> Motion:
    """Read one benchmark file (module docstring) as a Motion on ``rig`` (default :func:`skeleton`) at ``fps``.

    Raises FormatError naming the file, the line and what was expected (117 comma-separated finite numbers
    per line; blank lines are skipped; at least one frame)."""
    rows = []
    for n, line in _lines(path):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != COLUMNS:
            raise FormatError(path, f"expected {COLUMNS} comma-separated numbers, got {len(parts)} fields", line=n)
        try:
            row = np.array(parts, dtype=np.float64)
        except ValueError:
            _bad_number(path, parts, n)
        if not np.isfinite(row).all():
            bad = int(np.flatnonzero(~np.isfinite(row))[0])
            raise FormatError(path, f"column {bad + 1}: expected a finite number, got {parts[bad].strip()!r}",
                              line=n)
        rows.append(row)
    if not rows:
        raise FormatError(path, f"no frames; expected lines of {COLUMNS} comma-separated numbers")
    name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return motion_from_expmaps(np.stack(rows), fps=fps, name=name, rig=rig)


def write_cmubench(motion: Motion, path: str | os.PathLike, *, precision: int = 9) -> None:
    """Write a Motion on a benchmark skeleton in the file format (``precision`` significant digits),
    atomically. Retarget other clips onto :func:`skeleton` first (``crbm.retarget``)."""
    from crbm.engine.atomic import atomic_open

    if not (isinstance(precision, int) and 1 <= precision <= 17):
        raise CRBMError(f"precision must be an int in 1..17, got {precision!r}")
    rows = expmaps(motion)
    with atomic_open(path, "w", newline="\n") as f:
        np.savetxt(f, rows, fmt=f"%.{precision}g", delimiter=",")


def _bad_number(path, parts: list[str], line: int) -> None:
    """Raise FormatError for the first field of ``parts`` that is not a number."""
    for i, text in enumerate(parts):
        try:
            float(text)
        except ValueError:
            got = text.strip()[:40]
            raise FormatError(path, f"column {i + 1}: expected a number, got {got!r}", line=line) from None


def _check_rig(rig: Skeleton, what: str) -> None:
    if rig.kind != "bvh" or tuple(rig.names) != NAMES or [j.parent for j in rig.joints] != list(PARENTS):
        raise CRBMError(f"{what}: expected the benchmark's 38-joint skeleton (crbm.mocap.cmubench.skeleton(); "
                        f"retarget the clip onto it first), got {rig!r}")


# ------------------------------------------------------------------------------------------------ protocol
def test_starts(n_frames: int, *, windows: int = WINDOWS, length: int = OBSERVED + PREDICTED,
                seed: int = SEED) -> list[int]:
    """First frames of the test windows of a down-sampled test clip of ``n_frames`` frames: ``windows``
    draws of ``numpy.random.RandomState(seed).randint(0, n_frames - length)``, as both papers' code."""
    if n_frames <= length:
        raise CRBMError(f"a test clip needs more than {length} frames, got {n_frames}")
    rng = np.random.RandomState(seed)  # the protocol's own generator, kept for its exact windows
    return [int(rng.randint(0, n_frames - length)) for _ in range(windows)]


def protocol_euler(motion: Motion) -> np.ndarray:
    """Euler angles ``(T, 114)`` of every joint's exp-map rotation ``R_j = exp(r_j) = L_j^T`` by the
    conversion of Martinez et al. (SRNN): ``e2 = -asin(R_02)``, ``e1 = atan2(R_12, R_22)``,
    ``e3 = atan2(R_01, R_00)``; where ``R_02 = +-1`` exactly (gimbal lock): ``e1 = atan2(R_01, R_02)``,
    ``e3 = 0``."""
    _check_rig(motion.skeleton, f"clip {motion.name!r}")
    r = np.swapaxes(local_rotations(motion.skeleton, motion.frames), -1, -2)
    r02 = r[..., 0, 2]
    e1 = np.arctan2(r[..., 1, 2], r[..., 2, 2])
    e2 = -np.arcsin(np.clip(r02, -1.0, 1.0))
    e3 = np.arctan2(r[..., 0, 1], r[..., 0, 0])
    lock = np.abs(r02) == 1.0
    e1 = np.where(lock, np.arctan2(r[..., 0, 1], r02), e1)
    e3 = np.where(lock, 0.0, e3)
    return np.stack([e1, e2, e3], axis=-1).reshape(motion.n_frames, -1)


def euler_error(truth: Motion, prediction: Motion, *, window: int | None = None) -> np.ndarray:
    """The benchmark's error per frame ``(T,)``: Euclidean norm of the difference of :func:`protocol_euler`
    (root rotation set to zero, the root position not included) over the columns whose standard deviation
    over ``truth``'s frames exceeds :data:`STD_FLOOR`.

    window: when the clips hold several windows end to end, their length (dividing T); the columns are then
    chosen window by window, on each window's own truth frames."""
    _check_pair(truth, prediction)
    n = truth.n_frames if window is None else int(window)
    if n < 1 or truth.n_frames % n:
        raise CRBMError(f"window must divide the clips' {truth.n_frames} frames, got {window!r}")
    a = protocol_euler(truth)[:, 3:].reshape(-1, n, 3 * (len(NAMES) - 1))
    b = protocol_euler(prediction)[:, 3:].reshape(a.shape)
    use = a.std(axis=1, keepdims=True) > STD_FLOOR
    return np.sqrt((np.square(a - b) * use).sum(axis=-1)).reshape(-1)


def root_relative_positions(motion: Motion) -> np.ndarray:
    """Joint positions ``(T, 38, 3)`` in millimetres with the root's channels set to zero (root at the origin,
    unturned), by the skeleton's forward kinematics."""
    frames = motion.frames.copy()
    frames[:, :6] = 0.0
    return joint_positions(motion.replace(frames=frames)) * (10 * centimetres(length_unit(motion.skeleton)))


def measured_joints(motions: Sequence[Motion]) -> list[int]:
    """Joints that :func:`position_error` averages over: those whose root-relative position varies over
    ``motions`` (standard deviation above :data:`STD_FLOOR` mm in some coordinate), one per rest position
    (the clavicles start where the neck does; only the first joint there counts)."""
    pos = np.concatenate([root_relative_positions(m) for m in motions])
    moving = np.flatnonzero((pos.std(axis=0) > STD_FLOOR).any(axis=-1))
    rest = joint_positions(motions[0].replace(frames=np.zeros((1, motions[0].frames.shape[1]))))[0]
    out: list[int] = []
    for j in moving:
        if all(np.linalg.norm(rest[j] - rest[k]) > 1e-9 for k in out):
            out.append(int(j))
    return out


def position_error(truth: Motion, prediction: Motion, joints: Sequence[int]) -> np.ndarray:
    """Mean 3-D joint error per frame ``(T,)`` in millimetres over ``joints`` (e.g. :func:`measured_joints`
    of the training clips), positions from :func:`root_relative_positions`."""
    _check_pair(truth, prediction)
    if not len(joints):
        raise CRBMError("position_error needs at least one joint to measure")
    d = root_relative_positions(truth)[:, list(joints)] - root_relative_positions(prediction)[:, list(joints)]
    return np.linalg.norm(d, axis=-1).mean(axis=1)


def _check_pair(truth: Motion, prediction: Motion) -> None:
    _check_rig(truth.skeleton, f"clip {truth.name!r}")
    if prediction.skeleton != truth.skeleton or prediction.frames.shape != truth.frames.shape:
        raise CRBMError(
            f"clips {truth.name!r} and {prediction.name!r} must share a skeleton and a frame count to be compared, "
            f"got {truth.frames.shape} and {prediction.frames.shape}"
        )
