"""Retargeting: the same motion on another rig of the same topology (joints matched by name).

Two subjects of one topology differ in bone lengths and rest directions (CMU's ASF files: a femur of
7.41 or 6.92 units, hip bones 9 degrees apart), so the same joint angles put their limbs in different
places. Retargeting keeps what the motion *means* instead: every limb's world direction and the root's
trajectory scaled by the ratio of leg lengths.

Both rigs are first seen as BVH rigs whose rest frames are the world frame (an ASF rig through
:func:`crbm.asf_to_bvh`). For each target joint ``j`` a rest alignment ``R_j`` maps the directions of the
target's rest bones out of ``j`` (to its children and End Site) onto the source's
(``R_j = argmin sum_i |R a_i - b_i|^2`` over rotations, Kabsch; the smallest rotation taking ``a`` to
``b`` when ``j`` has one bone; the parent's ``R`` when it has none). With ``G`` the source's world
rotations, the target's are ``G'_j = G_j R_j`` (so ``G'_j a_i = G_j b_i``: same limb directions), its local
rotations ``G'_parent^T G'_j``, and its root position ``s p_root`` with ``s = leg_target / leg_source``,
a leg being the rest height of the root above the lowest joint or End Site along the rig's up axis. "Root"
here is the joint that carries the trajectory (:func:`crbm.mocap.kinematics.trajectory_joint`): the file's
root, or, in a rig such as the Bandai Namco one (a ground-level ``joint_Root`` above ``Hips``, 6 channels on
every joint), the Hips, whose world path (the root bone's motion included) is the body's trajectory. A root
bone above it moves as the source's joint of its name when the source has one, else stays at rest, the
Hips' position channels then taking the whole path. A Z-up
rig (Blender's BVH export; :func:`up_axis` tells it from the rest pose) is first seen in a Y-up world,
turned a quarter about X (``p -> U p``, ``G -> U G U^T``), and a clip comes back onto a Z-up rig the same
way. Retargeting onto the source's own rig is the identity; onto another rig and back returns the clip (to
float rounding) for joints with three rotation channels. A joint with fewer rotation channels keeps the part
of its rotation those channels can express (a 1-dof knee keeps its twist about that axis).

:func:`canonical_rig` builds one rig for many subjects: their mean rest directions and leg-scaled bone
lengths, in centimetres, Y-up, with three rotation channels on every joint; its root is the trajectory joint
(a root bone above the Hips is left out). Models train on clips retargeted
onto it, so the same pose is the same model input whatever the subject.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.convert import asf_to_bvh
from crbm.mocap.kinematics import (
    _axis_matrix,
    _degrees,
    body_rest_points,
    channel_kind,
    joint_positions,
    matrix_to_euler,
    rest_points,
    rest_positions,
    rotation_channels,
    trajectory_joint,
    world_rotations,
)
from crbm.mocap.lengths import centimetres, length_unit
from crbm.mocap.motion import Joint, Motion, Skeleton

_ROTATION = ("Zrotation", "Yrotation", "Xrotation")
_POSITION = ("Xposition", "Yposition", "Zposition")
_QUARTER_X = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # -90 degrees about X: Z -> Y


def bvh_rig(skeleton: Skeleton) -> Skeleton:
    """A skeleton's BVH rig with world-aligned rest frames (the skeleton itself for BVH; ``asf_to_bvh``'s
    for ASF, whose joint ``j`` sits at the start of bone ``j``). Only its rest directions are used here."""
    if skeleton.kind == "bvh":
        return skeleton
    zero = Motion(skeleton, np.zeros((1, len(skeleton.channel_names))), 30.0)
    return asf_to_bvh(zero).skeleton


def up_axis(skeleton: Skeleton) -> str:
    """"Y" or "Z": the world axis along which the body's rest pose is taller (a body's height against a
    foot's length); "Z" for Z-up exports such as Blender's BVH, "Y" for most others and for a tie. The body
    is ``crbm.mocap.kinematics.body_rest_points``: the subtree of the joint that carries the trajectory, so
    an OFFSET its position channels replace, or a ground-level root bone above it, does not count."""
    points = body_rest_points(skeleton)
    extent = points.max(0) - points.min(0)
    return "Z" if extent[2] > extent[1] else "Y"


def y_up_turn(skeleton: Skeleton) -> np.ndarray:
    """(3, 3): the rotation taking ``skeleton``'s world to a Y-up one: the identity for a Y-up rig, a quarter
    turn about X for a Z-up rig (Z -> Y, and -Y, a Z-up rig's usual forward, -> Z)."""
    return _QUARTER_X if up_axis(skeleton) == "Z" else np.eye(3)


def _turned(skeleton: Skeleton, u: np.ndarray) -> Skeleton:
    """A BVH rig with every OFFSET and End Site rotated by ``u`` (its rest pose turned; channels kept)."""
    def turn(v):
        return None if v is None else tuple(float(x) for x in u @ np.asarray(v))

    return Skeleton(tuple(Joint(j.name, j.parent, turn(j.offset), j.channels, turn(j.end_site))
                          for j in skeleton.joints), kind=skeleton.kind, units=skeleton.units, meta=skeleton.meta)


def leg_length(skeleton: Skeleton) -> float:
    """Rest height of the joint that carries the trajectory (``crbm.mocap.kinematics.trajectory_joint``: the
    root, or the Hips below a ground-level root bone) above the lowest joint or End Site of its subtree along
    the up axis (:func:`up_axis`), in the skeleton's own length unit. (An ASF bone's end is ``parent's end +
    direction * length`` at rest, like a BVH OFFSET.)"""
    axis = "XYZ".index(up_axis(skeleton))
    top = trajectory_joint(skeleton)
    if top == 0:
        leg = float(rest_positions(skeleton)[0][0, axis] - rest_points(skeleton)[:, axis].min())
    else:  # body_rest_points puts the trajectory joint at the origin
        leg = float(-body_rest_points(skeleton)[:, axis].min())
    if not leg > 0:
        where = "its root" if top == 0 else f"its joint {skeleton.joints[top].name!r}"
        raise CRBMError(
            f"skeleton with root {skeleton.joints[0].name!r}: {where} is not above its feet in the rest "
            "pose (expected a Y-up or Z-up rig standing on its legs)"
        )
    return leg


def _bones(rig: Skeleton, pos: np.ndarray, ends: dict, j: int) -> dict[str, np.ndarray]:
    """Rest vectors out of joint ``j``: to each child (by name) and to its End Site (key ``""``)."""
    out = {rig.joints[c].name: pos[c] - pos[j] for c in rig.children(j)}
    if j in ends:
        out[""] = ends[j] - pos[j]
    return out


def _smallest_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation by the smallest angle taking unit vector ``a`` to unit vector ``b``."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-12:  # opposite: half a turn about any axis normal to a
        n = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        n /= np.linalg.norm(n)
        return 2 * np.outer(n, n) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation R minimising ``sum |R a_i - b_i|^2`` for unit rows ``a``, ``b`` (n, 3), n >= 1."""
    h = a.T @ b
    u, s, vt = np.linalg.svd(h)
    if len(a) == 1 or s[1] <= 1e-9 * s[0]:  # all bones on one line: only their direction is defined
        return _smallest_rotation(a[0], b[0])
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def _above(skeleton: Skeleton, j: int) -> list[int]:
    """The joints above joint ``j`` (its ancestors), the root first."""
    out = []
    while skeleton.joints[j].parent >= 0:
        j = skeleton.joints[j].parent
        out.append(j)
    return out[::-1]


def _subtree(skeleton: Skeleton, top: int) -> list[int]:
    """Joint ``top`` and the joints below it, in skeleton order."""
    inside = {top}
    for j, joint in enumerate(skeleton.joints[top + 1:], start=top + 1):
        if joint.parent in inside:
            inside.add(j)
    return sorted(inside)


def rest_alignment(target: Skeleton, source: Skeleton) -> np.ndarray:
    """``R`` (J_target, 3, 3): per target joint, the rotation taking its rest bone directions onto the
    source's (module docstring). Both are BVH rigs; every target joint must be in the source but those above
    the target's trajectory joint (``crbm.mocap.kinematics.trajectory_joint``, e.g. a root bone above the
    Hips), which get the identity: their bone leads to an OFFSET that position channels replace."""
    s_index = {n: i for i, n in enumerate(source.names)}
    t_pos, t_ends = rest_positions(target)
    s_pos, s_ends = rest_positions(source)
    out = np.empty((len(target.joints), 3, 3))
    above = set(_above(target, trajectory_joint(target)))
    for j, joint in enumerate(target.joints):
        if j in above:
            out[j] = np.eye(3)
            continue
        mine = _bones(target, t_pos, t_ends, j)
        theirs = {}
        for name in mine:
            if name:
                theirs[name] = s_pos[s_index[name]] - s_pos[s_index[joint.name]]
            elif s_index[joint.name] in s_ends:
                theirs[name] = s_ends[s_index[joint.name]] - s_pos[s_index[joint.name]]
        pairs = [(mine[n], theirs[n]) for n in theirs]
        pairs = [(a, b) for a, b in pairs if np.linalg.norm(a) > 1e-9 and np.linalg.norm(b) > 1e-9]
        if pairs:
            a = np.stack([p / np.linalg.norm(p) for p, _ in pairs])
            b = np.stack([q / np.linalg.norm(q) for _, q in pairs])
            out[j] = _align(a, b)
        else:
            out[j] = out[joint.parent] if joint.parent >= 0 else np.eye(3)
    return out


def _missing(target: Skeleton, source: Skeleton, what: str, needs: str = "the target skeleton needs",
             only: Sequence[int] | None = None) -> None:
    """CRBMError naming the ``source`` (``what``, e.g. "clip 'walk'") and the joints of ``target`` (those of
    indices ``only`` if given) it lacks."""
    have = set(source.names)
    joints = target.joints if only is None else [target.joints[j] for j in only]
    missing = [j.name for j in joints if j.name not in have]
    if missing:
        raise CRBMError(f"{what} lacks joints {missing} that {needs}; expected a skeleton with the same joint names")


def retarget(motion: Motion, skeleton: Skeleton) -> Motion:
    """The clip on ``skeleton`` (BVH or ASF; joints matched by name): same limb directions, the trajectory
    joint's path (``crbm.mocap.kinematics.trajectory_joint``: the root, or the Hips below a root bone)
    scaled by the leg-length ratio (module docstring). Joints of ``skeleton`` above its trajectory joint move
    as the clip's joints of those names (scaled alike), or, when the clip lacks them (a clip from the model's
    rig, which has only the body), stay at rest, the trajectory joint then taking the whole path. Returns
    frames in ``skeleton``'s channel layout."""
    top = trajectory_joint(skeleton)
    above = _above(skeleton, top)
    names = set(motion.skeleton.names)
    moved = list(range(len(skeleton.joints)))  # joints whose pose comes from the clip
    if not all(skeleton.joints[a].name in names for a in above):
        moved = sorted(set(moved) - set(above))
    _missing(skeleton, motion.skeleton, f"clip {motion.name!r}", only=moved)
    idx = [motion.skeleton.names.index(skeleton.joints[j].name) for j in moved]
    t = motion.n_frames
    world = np.broadcast_to(np.eye(3), (t, len(skeleton.joints), 3, 3)).copy()
    place = np.zeros((t, len(skeleton.joints), 3))  # world positions (used along the path to ``top``)
    # an ASF bone's world rotation is that of asf_to_bvh's joint of the same name
    world[:, moved], source = world_rotations(motion)[:, idx], bvh_rig(motion.skeleton)
    place[:, moved] = joint_positions(motion)[:, idx]
    u = y_up_turn(skeleton).T @ y_up_turn(motion.skeleton)  # the source's world -> the target's
    if not np.array_equal(u, np.eye(3)):  # one rig Y-up, the other Z-up: the source seen in the target's world
        world, source, place = u @ world @ u.T, _turned(source, u), place @ u.T
    world = world @ rest_alignment(bvh_rig(skeleton), source)
    place = leg_length(skeleton) / leg_length(motion.skeleton) * place
    if len(moved) < len(skeleton.joints):  # joints above ``top`` that the clip lacks: at rest
        place[:, above] = rest_positions(skeleton)[0][above]
    parents = [j.parent for j in skeleton.joints]
    local = world.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[:, j] = np.swapaxes(world[:, p], -1, -2) @ world[:, j]
    moves = {}  # translation in the parent's frame of each joint from the root to ``top``
    for j in [*above, top]:
        p = parents[j]
        moves[j] = place[:, j] if p < 0 else np.einsum("tba,tb->ta", world[:, p], place[:, j] - place[:, p])
    frames = _channels(skeleton, local, moves)
    return Motion(skeleton, frames, motion.fps, name=motion.name)


def _channels(skeleton: Skeleton, local: np.ndarray, moves: dict[int, np.ndarray]) -> np.ndarray:
    """Channel values of ``skeleton`` for BVH-rig local rotations ``local`` (T, J, 3, 3) (rest frames =
    world) and translations ``moves`` {joint: (T, 3)} in the parent's frame (the root's: its position) of the
    joints from the root to the trajectory joint; other joints' position channels hold their OFFSET."""
    t = local.shape[0]
    frames = np.zeros((t, len(skeleton.channel_names)))
    degrees = skeleton.kind == "bvh" or _degrees(skeleton)
    if skeleton.kind == "asf":  # dof rotation M = C^T L C in the bone's own axes
        for j, joint in enumerate(skeleton.joints):
            c = _axis_matrix(joint, degrees)
            local[:, j] = c.T @ local[:, j] @ c
    for j, cols, axes in rotation_channels(skeleton):
        frames[:, cols] = _euler_subset(local[:, j], axes, degrees)
    col = 0
    for j, joint in enumerate(skeleton.joints):
        for name in joint.channels:
            kind, axis = channel_kind(name)
            if kind == "position":
                k = "XYZ".index(axis)
                rest = np.asarray(joint.offset)[k]
                frames[:, col] = (moves[j][:, k] - (rest if skeleton.kind == "asf" else 0.0)) if j in moves else rest
            col += 1
    return frames


def _euler_subset(r: np.ndarray, axes: str, degrees: bool) -> np.ndarray:
    """Angles (T, len(axes)) for rotations ``r`` (T, 3, 3) composed ``R_axes[0] R_axes[1] ...``, unwrapped
    across frames. With fewer than 3 axes the missing ones are appended to the order and dropped (for one
    axis, the twist about it)."""
    full = axes + "".join(a for a in "XYZ" if a not in axes)
    angles = matrix_to_euler(r, full, degrees=degrees)[:, : len(axes)]
    return np.unwrap(angles, period=360.0 if degrees else 2 * np.pi, axis=0)


def canonical_rig(skeletons: Sequence[Skeleton], *, name: str = "canonical") -> Skeleton:
    """One BVH rig for subjects of one topology: the first skeleton's body (the subtree of its trajectory
    joint, ``crbm.mocap.kinematics.trajectory_joint``: all its joints but for a root bone above the Hips;
    names, parents), each bone's mean rest direction over ``skeletons``, bone lengths scaled to the mean leg
    length and averaged, in centimetres; root (the trajectory joint) channels ``X/Y/Zposition
    Z/Y/Xrotation``, every other joint ``Z/Y/Xrotation``. :func:`retarget` puts a clip back on a rig with
    a root bone above the body with that bone at rest."""
    if not skeletons:
        raise CRBMError("canonical_rig needs at least one skeleton")
    rigs = [bvh_rig(s) for s in skeletons]
    rigs = [r if up_axis(r) == "Y" else _turned(r, y_up_turn(r)) for r in rigs]  # every rig Y-up
    first = rigs[0]

    def label(sk: Skeleton) -> str:  # the ASF :name, else the root joint's name
        return repr(sk.meta["name"]) if sk.meta.get("name") else f"root {sk.joints[0].name!r}"

    top = trajectory_joint(first)
    body = _subtree(first, top)
    row = {j: n for n, j in enumerate(body)}
    for k, (rig, sk) in enumerate(zip(rigs, skeletons)):
        _missing(first, rig, f"skeleton {k + 1} of {len(skeletons)} ({label(sk)})",
                 f"skeleton 1 ({label(skeletons[0])}) has", only=body)
    legs = np.array([leg_length(r) for r in rigs])
    leg = float(np.mean([leg_length(s) * centimetres(length_unit(s)) for s in skeletons]))
    offsets = np.zeros((len(rigs), len(body), 3))
    ends = np.zeros_like(offsets)
    for k, rig in enumerate(rigs):
        pos, e = rest_positions(rig)
        index = {n: i for i, n in enumerate(rig.names)}
        for n, j in enumerate(body):
            joint = first.joints[j]
            if j != top:
                offsets[k, n] = (pos[index[joint.name]] - pos[index[first.joints[joint.parent].name]]) * leg / legs[k]
            if index[joint.name] in e:
                ends[k, n] = (e[index[joint.name]] - pos[index[joint.name]]) * leg / legs[k]
    joints = []
    for n, j in enumerate(body):
        joint = first.joints[j]
        end = None if joint.end_site is None else tuple(float(v) for v in _mean_vector(ends[:, n]))
        joints.append(Joint(
            name=joint.name,
            parent=-1 if j == top else row[joint.parent],
            offset=(0.0, 0.0, 0.0) if j == top else tuple(float(v) for v in _mean_vector(offsets[:, n])),
            channels=(_POSITION + _ROTATION) if j == top else _ROTATION,
            end_site=end,
        ))
    return Skeleton(joints=tuple(joints), kind="bvh", units={"length": "cm"}, meta={"name": name})


def _mean_vector(v: np.ndarray) -> np.ndarray:
    """Mean direction times mean length of vectors ``(n, 3)`` (zero vectors give zero)."""
    lengths = np.linalg.norm(v, axis=-1)
    if not np.any(lengths > 0):
        return np.zeros(3)
    units = v[lengths > 0] / lengths[lengths > 0, None]
    d = units.mean(0)
    return d / np.linalg.norm(d) * lengths.mean()
