"""Rotation conversions and forward kinematics, in float64 numpy, vectorised over leading axes.

Conventions (column vectors, right-handed, ``v_world = R @ v_local``):

* **Euler angles** ``angles[..., i]`` belong to axis ``order[i]`` and compose in that order,
  ``R = R_order[0](a0) @ R_order[1](a1) @ R_order[2](a2)``. This is BVH's rule: the channel order in the
  file is the multiplication order. Acclaim (ASF/AMC) lists its dofs the other way round: ``dof rx ry rz``
  means ``R = Rz @ Ry @ Rx`` (the first listed rotation acts first on the vector), the convention of the
  CMU database and of its ``amc2bvh`` conversions (which write ``Zrotation Yrotation Xrotation``).
  :func:`rotation_channels` hides that difference.
* **Exponential maps** are axis-angle vectors ``v = theta * axis`` (radians).
* **Quaternions** are ``(w, x, y, z)``.

Forward kinematics (:func:`joint_positions`):

* BVH: ``G_j = G_parent @ R_j``, ``p_j = p_parent + G_parent @ t_j`` where ``R_j`` composes the joint's
  rotation channels in file order and ``t_j`` is the joint's translation in its parent's frame: its
  ``OFFSET``, with each position channel the joint has replacing that component (``Yposition`` alone
  replaces ``OFFSET[1]``), as bvhio and Blender's importer read it. The root's position is its ``t``.
  End sites sit at ``p_j + G_j @ end_site``.
* ASF (Acclaim, as in the CMU database): bone ``j`` has a local frame ``C_j`` given by its ``axis``
  angles; ``M_j`` is built from its dof angles; ``G_j = G_parent @ C_j @ M_j @ C_j^-1`` and the bone's end
  is ``p_j = p_parent + G_j @ (direction_j * length_j)``. The root's ``C`` comes from its ``orientation``
  (stored in ``Joint.axis``, order ``Joint.axis_order``), its position is ``position + (tx, ty, tz)``.
  A joint's position is the end of its bone; the root's is the root position.
"""

from __future__ import annotations

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.motion import Motion, Skeleton

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def _check_order(order: str) -> str:
    order = order.upper()
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise CRBMError(f"rotation order must be a permutation of 'XYZ' (e.g. 'ZXY'), got {order!r}")
    return order


def axis_rotation(axis: str, angle, *, degrees: bool = True) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about one coordinate axis (``"X"``, ``"Y"`` or ``"Z"``)."""
    a = np.asarray(angle, dtype=np.float64)
    if degrees:
        a = np.deg2rad(a)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    axis = axis.upper()
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "Z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise CRBMError(f"axis must be 'X', 'Y' or 'Z', got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler_to_matrix(angles, order: str, *, degrees: bool = True) -> np.ndarray:
    """Euler angles ``(..., 3)`` -> rotation matrices ``(..., 3, 3)``.

    ``R = R_o0(a0) @ R_o1(a1) @ R_o2(a2)`` with ``o = order``.
    """
    order = _check_order(order)
    a = np.asarray(angles, dtype=np.float64)
    if a.shape[-1:] != (3,):
        raise CRBMError(f"Euler angles must have shape (..., 3), got {a.shape}")
    r = axis_rotation(order[0], a[..., 0], degrees=degrees)
    r = r @ axis_rotation(order[1], a[..., 1], degrees=degrees)
    return r @ axis_rotation(order[2], a[..., 2], degrees=degrees)


def _parity(order: str) -> float:
    """+1 for the cyclic orders XYZ, YZX, ZXY; -1 for the others."""
    return 1.0 if order in ("XYZ", "YZX", "ZXY") else -1.0


def matrix_to_euler(matrix, order: str, *, degrees: bool = True, gimbal_eps: float = 1e-12) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> Euler angles ``(..., 3)`` (inverse of :func:`euler_to_matrix`).

    Returns the principal solution: middle angle in [-90, 90], the others in (-180, 180]. At gimbal lock
    (``cos(middle) <= gimbal_eps``) only ``a0 +- a2`` is defined; the third angle is then set to 0.
    """
    order = _check_order(order)
    r = np.asarray(matrix, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise CRBMError(f"rotation matrices must have shape (..., 3, 3), got {r.shape}")
    i, j, k = (_AXIS_INDEX[c] for c in order)
    s = _parity(order)
    cos_b = np.hypot(r[..., i, i], r[..., i, j])
    b = np.arctan2(s * r[..., i, k], cos_b)
    locked = cos_b <= gimbal_eps
    a_free = np.arctan2(-s * r[..., j, k], r[..., k, k])
    a = np.where(locked, np.arctan2(s * r[..., k, j], r[..., j, j]), a_free)
    c = np.where(locked, 0.0, np.arctan2(-s * r[..., i, j], r[..., i, i]))
    out = np.stack([a, b, c], axis=-1)
    return np.rad2deg(out) if degrees else out


def euler_alternative(angles, *, degrees: bool = True) -> np.ndarray:
    """The other Euler triple of the same rotation: ``(a0 + 180, 180 - a1, a2 + 180)``, in (-180, 180]."""
    half = 180.0 if degrees else np.pi
    a = np.asarray(angles, dtype=np.float64)
    alt = np.stack([a[..., 0] + half, half - a[..., 1], a[..., 2] + half], axis=-1)
    return wrap_angle(alt, degrees=degrees)


def wrap_angle(angles, *, degrees: bool = True, low: float | np.ndarray | None = None) -> np.ndarray:
    """Angles mapped into ``[low, low + period)``; by default into (-180, 180] (or (-pi, pi])."""
    period = 360.0 if degrees else 2 * np.pi
    a = np.asarray(angles, dtype=np.float64)
    if low is None:
        return -np.mod(-a + period / 2, period) + period / 2
    return np.mod(a - low, period) + low


def nearest_euler(angles, reference, *, degrees: bool = True) -> np.ndarray:
    """The Euler triples of the same rotations as ``angles`` (n, 3) nearest ``reference`` (n, 3), row by row:
    ``angles`` or :func:`euler_alternative` of them, each angle moved by whole turns into the half turn around
    the reference's."""
    period = 360.0 if degrees else 2 * np.pi
    ref = np.asarray(reference, dtype=np.float64)
    candidates = [wrap_angle(a, degrees=degrees, low=ref - period / 2)
                  for a in (angles, euler_alternative(angles, degrees=degrees))]
    far = [np.sum((c - ref) ** 2, axis=-1) for c in candidates]
    return np.where((far[1] < far[0])[:, None], candidates[1], candidates[0])


def _skew(v: np.ndarray) -> np.ndarray:
    z = np.zeros_like(v[..., 0])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return np.stack(
        [np.stack([z, -w, y], -1), np.stack([w, z, -x], -1), np.stack([-y, x, z], -1)], axis=-2
    )


def expmap_to_matrix(expmap) -> np.ndarray:
    """Exponential maps ``(..., 3)`` (radians) -> rotation matrices ``(..., 3, 3)`` (Rodrigues' formula).

    ``R = I + sin(t)/t K + 2 sin^2(t/2)/t^2 K^2`` with ``t = |v|`` and ``K`` the cross-product matrix of v;
    the coefficients use their Taylor series for ``t < 1e-4``.
    """
    v = np.asarray(expmap, dtype=np.float64)
    if v.shape[-1:] != (3,):
        raise CRBMError(f"exponential maps must have shape (..., 3), got {v.shape}")
    t = np.linalg.norm(v, axis=-1)
    small = t < 1e-4
    ts = np.where(small, 1.0, t)
    t2 = t * t
    a = np.where(small, 1 - t2 / 6 + t2 * t2 / 120, np.sin(ts) / ts)
    b = np.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, 2 * np.sin(ts / 2) ** 2 / (ts * ts))
    k = _skew(v)
    return np.eye(3) + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_quaternion(matrix) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> unit quaternions ``(..., 4)`` as (w, x, y, z) with w >= 0.

    Shepperd's method: the largest of 4w^2, 4x^2, 4y^2, 4z^2 picks the formula, so it is accurate for every
    angle, including near 180 degrees.
    """
    r = np.asarray(matrix, dtype=np.float64)
    if r.shape[-2:] != (3, 3):
        raise CRBMError(f"rotation matrices must have shape (..., 3, 3), got {r.shape}")
    tr = r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2]
    d = np.stack([tr, r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]], axis=-1)
    case = np.argmax(d, axis=-1)
    q = np.empty(r.shape[:-2] + (4,))
    # each case: the component with the large denominator, then the others from off-diagonal sums
    for c in range(4):
        m = case == c
        if not np.any(m):
            continue
        rm = r[m]
        if c == 0:
            s = 2 * np.sqrt(1 + rm[:, 0, 0] + rm[:, 1, 1] + rm[:, 2, 2])
            q[m] = np.stack([s / 4, (rm[:, 2, 1] - rm[:, 1, 2]) / s, (rm[:, 0, 2] - rm[:, 2, 0]) / s,
                             (rm[:, 1, 0] - rm[:, 0, 1]) / s], -1)
        elif c == 1:
            s = 2 * np.sqrt(1 + rm[:, 0, 0] - rm[:, 1, 1] - rm[:, 2, 2])
            q[m] = np.stack([(rm[:, 2, 1] - rm[:, 1, 2]) / s, s / 4, (rm[:, 0, 1] + rm[:, 1, 0]) / s,
                             (rm[:, 0, 2] + rm[:, 2, 0]) / s], -1)
        elif c == 2:
            s = 2 * np.sqrt(1 - rm[:, 0, 0] + rm[:, 1, 1] - rm[:, 2, 2])
            q[m] = np.stack([(rm[:, 0, 2] - rm[:, 2, 0]) / s, (rm[:, 0, 1] + rm[:, 1, 0]) / s, s / 4,
                             (rm[:, 1, 2] + rm[:, 2, 1]) / s], -1)
        else:
            s = 2 * np.sqrt(1 - rm[:, 0, 0] - rm[:, 1, 1] + rm[:, 2, 2])
            q[m] = np.stack([(rm[:, 1, 0] - rm[:, 0, 1]) / s, (rm[:, 0, 2] + rm[:, 2, 0]) / s,
                             (rm[:, 1, 2] + rm[:, 2, 1]) / s, s / 4], -1)
    q = np.where(q[..., :1] < 0, -q, q)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quaternion_to_matrix(quaternion) -> np.ndarray:
    """Quaternions ``(..., 4)`` as (w, x, y, z), normalised first -> rotation matrices ``(..., 3, 3)``."""
    q = np.asarray(quaternion, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise CRBMError(f"quaternions must have shape (..., 4), got {q.shape}")
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def quaternion_to_expmap(quaternion) -> np.ndarray:
    """Quaternions ``(..., 4)`` -> exponential maps ``(..., 3)`` with angle in [0, pi]."""
    q = np.asarray(quaternion, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    w, xyz = q[..., 0], q[..., 1:]
    n = np.linalg.norm(xyz, axis=-1)
    # theta / n = 2 atan2(n, w) / n; for tiny n its series is 2 / w (w ~ 1 there)
    tiny = n < 1e-12
    scale = np.where(tiny, 2.0 / np.where(tiny, w, 1.0), 2 * np.arctan2(n, w) / np.where(tiny, 1.0, n))
    return xyz * scale[..., None]


def matrix_to_expmap(matrix) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> exp maps ``(..., 3)`` (angle in [0, pi]), via quaternions."""
    return quaternion_to_expmap(matrix_to_quaternion(matrix))


def expmap_continuous(expmap) -> np.ndarray:
    """Along axis 0 (frames), replace each exponential map by an equivalent ``(t + 2 pi k) * axis`` so that
    the sequence is continuous (no sign flip when a rotation passes through 180 degrees).

    ``expmap``: (T, ..., 3). The axis sign is chosen to agree with the previous frame's axis, then the angle
    along it is unwrapped with period 2 pi. The rotations are unchanged.
    """
    v = np.asarray(expmap, dtype=np.float64)
    theta = np.linalg.norm(v, axis=-1)
    axis = v / np.where(theta > 0, theta, 1.0)[..., None]
    agree = np.sum(axis[1:] * axis[:-1], axis=-1) >= 0
    sign = np.cumprod(np.concatenate([np.ones_like(theta[:1]), np.where(agree, 1.0, -1.0)]), axis=0)
    angle = np.unwrap(sign * theta, period=2 * np.pi, axis=0)
    return (angle * sign)[..., None] * axis


# ---------------------------------------------------------------------------------------------------
# channels of a skeleton


def rest_positions(skeleton: Skeleton) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Rest positions ``(J, 3)`` from the offsets, ``p_j = p_parent + offset_j`` (root at its offset), and
    End Sites ``{joint index: (3,)}``: a BVH rig's joints (rest frames are the world frame), or an ASF
    skeleton's bone ends."""
    pos = np.zeros((len(skeleton.joints), 3))
    ends = {}
    for j, joint in enumerate(skeleton.joints):
        pos[j] = np.asarray(joint.offset) + (pos[joint.parent] if joint.parent >= 0 else 0.0)
        if joint.end_site is not None:
            ends[j] = pos[j] + np.asarray(joint.end_site)
    return pos, ends


def rest_points(skeleton: Skeleton) -> np.ndarray:
    """(J + E, 3): the rest positions of the joints and End Sites."""
    pos, ends = rest_positions(skeleton)
    return np.vstack([pos, *ends.values()])


def _positioned(joint) -> bool:
    """Whether a joint has a position channel (BVH ``Xposition``..., ASF ``tx``...)."""
    return any(channel_kind(c)[0] == "position" for c in joint.channels)


def trajectory_joint(skeleton: Skeleton) -> int:
    """Index of the joint that carries the body's trajectory: the topmost joint with position channels (the
    root in nearly every rig), and below it, while it has a single child (and no End Site) that has position
    channels too, that child. A ground-level root bone that only carries its child, such as the Bandai Namco
    rig's ``joint_Root`` above ``Hips`` (6 channels on every joint), is then left above it: the body is the
    subtree of ``Hips``. 0 for a skeleton without position channels."""
    joints = skeleton.joints
    top = next((j for j, joint in enumerate(joints) if _positioned(joint)), 0)
    while True:
        kids = skeleton.children(top)
        if len(kids) != 1 or joints[top].end_site is not None or not _positioned(joints[kids[0]]):
            return top
        top = kids[0]


def body_rest_points(skeleton: Skeleton) -> np.ndarray:
    """(n, 3): the rest shape of the body, the rest positions of the joints and End Sites in the subtree of
    :func:`trajectory_joint`, that joint at the origin (its OFFSET, which its position channels replace, and
    the joints above it left out). When it is the root this is :func:`rest_points` (the root's OFFSET moves
    every point alike)."""
    top = trajectory_joint(skeleton)
    if top == 0:
        return rest_points(skeleton)
    pos: dict[int, np.ndarray] = {top: np.zeros(3)}
    ends = []
    for j, joint in enumerate(skeleton.joints[top:], start=top):
        if j != top:
            if joint.parent not in pos:
                continue
            pos[j] = pos[joint.parent] + np.asarray(joint.offset)
        if joint.end_site is not None:
            ends.append(pos[j] + np.asarray(joint.end_site))
    return np.vstack([*pos.values(), *ends])


def channel_kind(name: str) -> tuple[str, str]:
    """``("position" | "rotation", axis)`` for a BVH (``Xrotation``) or ASF (``rx``, ``TX``) channel name."""
    low = name.lower()
    if len(low) == 2 and low[0] in "tr" and low[1] in "xyz":
        return ("position" if low[0] == "t" else "rotation"), low[1].upper()
    if low[1:] in ("position", "rotation") and low[0] in "xyz":
        return low[1:], low[0].upper()
    raise CRBMError(
        f"unsupported channel {name!r}: expected Xposition..Zrotation (BVH) or tx..rz (ASF)"
    )


def rotation_channels(skeleton: Skeleton) -> list[tuple[int, list[int], str]]:
    """For each joint with rotation channels: ``(joint index, frame columns, order)`` such that
    ``euler_to_matrix(frames[:, columns], order)`` is the joint's rotation (``M`` for ASF).

    BVH composes in file order; ASF in reverse dof order (``dof rx ry rz`` -> columns of rz, ry, rx, "ZYX").
    Joints with fewer than 3 rotation channels get an order over the axes they have (length 1 or 2).
    """
    out = []
    col = 0
    for j, joint in enumerate(skeleton.joints):
        cols, axes = [], ""
        for name in joint.channels:
            kind, axis = channel_kind(name)
            if kind == "rotation":
                cols.append(col)
                axes += axis
            col += 1
        if skeleton.kind == "asf":
            cols, axes = cols[::-1], axes[::-1]
        if cols:
            if len(set(axes)) != len(axes):
                raise CRBMError(f"joint {joint.name!r} repeats a rotation axis: {joint.channels}")
            out.append((j, cols, axes))
    return out


def _partial_euler_to_matrix(angles: np.ndarray, axes: str, degrees: bool) -> np.ndarray:
    r = axis_rotation(axes[0], angles[..., 0], degrees=degrees)
    for n in range(1, len(axes)):
        r = r @ axis_rotation(axes[n], angles[..., n], degrees=degrees)
    return r


def _degrees(skeleton: Skeleton) -> bool:
    unit = str(skeleton.units.get("angle", "deg")).lower()
    if unit.startswith("deg"):
        return True
    if unit.startswith("rad"):
        return False
    raise CRBMError(f"skeleton angle unit must be 'deg' or 'rad', got {unit!r}")


def local_rotations(skeleton: Skeleton, frames) -> np.ndarray:
    """Each joint's rotation from its channels, ``(T, J, 3, 3)`` (identity for joints without rotations).

    For ASF this is ``M``, the dof rotation in the bone's own axes (not yet conjugated by ``C``).
    """
    f = np.asarray(frames, dtype=np.float64)
    degrees = True if skeleton.kind == "bvh" else _degrees(skeleton)
    out = np.broadcast_to(np.eye(3), (f.shape[0], len(skeleton.joints), 3, 3)).copy()
    for j, cols, axes in rotation_channels(skeleton):
        out[:, j] = _partial_euler_to_matrix(f[:, cols], axes, degrees)
    return out


def _local_translations(skeleton: Skeleton, frames: np.ndarray) -> np.ndarray:
    """Each joint's offset with its position channels applied, (T, J, 3).

    BVH: a position channel replaces its component of the OFFSET. ASF: the root's translation channels
    are added to its ``position`` (bones have none here; their offsets are rotated by the kinematics).
    """
    out = np.repeat(np.array([[j.offset for j in skeleton.joints]], dtype=np.float64), frames.shape[0], axis=0)
    replace = skeleton.kind == "bvh"
    col = 0
    for j, joint in enumerate(skeleton.joints):
        for name in joint.channels:
            kind, axis = channel_kind(name)
            if kind == "position":
                a = _AXIS_INDEX[axis]
                out[:, j, a] = frames[:, col] if replace else out[:, j, a] + frames[:, col]
            col += 1
    return out


def _axis_matrix(joint, degrees: bool) -> np.ndarray:
    """ASF ``C``: the bone's axis angles, composed so that the first listed axis acts first."""
    order = _check_order(joint.axis_order)
    return euler_to_matrix(np.asarray(joint.axis, dtype=np.float64)[::-1], order[::-1], degrees=degrees)


def position_parents(skeleton: Skeleton, *, end_sites: bool = False) -> list[int]:
    """Parent row of each row of :func:`joint_positions` (-1 for the root); end sites follow the joints."""
    parents = [j.parent for j in skeleton.joints]
    if end_sites and skeleton.kind == "bvh":
        parents += [i for i, j in enumerate(skeleton.joints) if j.end_site is not None]
    return parents


def position_names(skeleton: Skeleton, *, end_sites: bool = False) -> list[str]:
    """Name of each row of :func:`joint_positions` (end sites are ``<joint>.end``)."""
    names = skeleton.names
    if end_sites and skeleton.kind == "bvh":
        names += [f"{j.name}.end" for j in skeleton.joints if j.end_site is not None]
    return names


def world_rotations(motion: Motion) -> np.ndarray:
    """World rotation of every joint, ``(T, J, 3, 3)``: BVH ``W = W_parent R``; ASF ``W = W_parent C M C^T``."""
    skeleton = motion.skeleton
    rot = local_rotations(skeleton, motion.frames)
    glob = np.empty_like(rot)
    degrees = _degrees(skeleton) if skeleton.kind == "asf" else True
    for j, joint in enumerate(skeleton.joints):
        local = rot[:, j]
        if skeleton.kind == "asf":
            c = _axis_matrix(joint, degrees)
            local = c @ local @ c.T
        glob[:, j] = local if joint.parent < 0 else glob[:, joint.parent] @ local
    return glob


def joint_positions(motion: Motion, *, end_sites: bool = False) -> np.ndarray:
    """World positions of every joint, ``(T, J, 3)``, in the file's length unit (forward kinematics).

    ``end_sites=True`` appends BVH ``End Site`` positions after the joints (ASF has none: a bone's end is
    already its joint position). Row meanings: :func:`position_names`, :func:`position_parents`.
    ASF: a bone ends at ``start + W (direction * length)``; BVH: a joint sits at ``parent + W_parent t``
    with ``t`` its OFFSET, position channels replacing their components (see the module docstring).
    """
    skeleton, frames = motion.skeleton, np.asarray(motion.frames, dtype=np.float64)
    glob = world_rotations(motion)
    trans = _local_translations(skeleton, frames)
    pos = np.empty((frames.shape[0], len(skeleton.joints), 3))
    ends = []
    for j, joint in enumerate(skeleton.joints):
        if joint.parent < 0:
            pos[:, j] = trans[:, j]
        elif skeleton.kind == "asf":
            pos[:, j] = pos[:, joint.parent] + glob[:, j] @ np.asarray(joint.offset, dtype=np.float64)
        else:
            pos[:, j] = pos[:, joint.parent] + (glob[:, joint.parent] @ trans[:, j][..., None])[..., 0]
        if end_sites and skeleton.kind == "bvh" and joint.end_site is not None:
            ends.append(pos[:, j] + glob[:, j] @ np.asarray(joint.end_site, dtype=np.float64))
    if ends:
        pos = np.concatenate([pos, np.stack(ends, axis=1)], axis=1)
    return pos
