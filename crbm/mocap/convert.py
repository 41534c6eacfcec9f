"""ASF/AMC -> BVH conversion that keeps every joint's world position.

Acclaim forward kinematics (column vectors; the Acclaim spec writes the same with row vectors as
``L = C^-1 M C``): a bone with axis rotation ``C`` (its ``axis`` angles, applied in ``axis_order``) and
dof rotation ``M`` (its dof angles, applied in ``dof`` order: for ``dof rx ry rz``, ``M = Rz Ry Rx``) has
world rotation ``W = W_parent C M C^T``; it starts where its parent ends and ends at
``start + W (direction * length)``. The root has ``W = C M C^T`` with ``C`` from its ``orientation`` and
``axis`` and starts (and ends) at ``position + (tx, ty, tz)``.

The BVH written here has one joint per ASF bone, placed at the bone's start, with rest frame equal to
the world frame: so its OFFSET is the parent bone's ``direction * length``, its local rotation is
``W_parent^T W = C M C^T`` written as ``Zrotation Yrotation Xrotation`` (R = Rz Ry Rx), and a leaf bone's
end becomes an End Site. Joints are written depth first; every joint gets the three rotation channels
(zeros for bones without dofs), which BVH readers such as Blender's and bvhio expect.
"""

from __future__ import annotations

import numpy as np

from crbm.errors import CRBMError
from crbm.mocap.motion import Joint, Motion, Skeleton

_BVH_ROTATION = ("Zrotation", "Yrotation", "Xrotation")
_BVH_POSITION = ("Xposition", "Yposition", "Zposition")


def asf_to_bvh(motion: Motion) -> Motion:
    """Convert an ASF-kind Motion to a BVH-kind Motion with the same world positions (float rounding).

    Lengths stay in ASF units; angles become degrees. frames: (T, 6 + 3 * n_rotating_bones).
    Raises CRBMError for non-root bones with translation or length dofs (no BVH equivalent here).
    """
    sk = motion.skeleton
    if sk.kind != "asf":
        raise CRBMError(f"asf_to_bvh needs an ASF-kind motion, got kind {sk.kind!r}")
    world = _asf_world_rotations(motion)
    order = sk.depth_first()
    new_index = {old: new for new, old in enumerate(order)}
    cols = _channel_columns(sk)
    joints, columns = [], []
    for i in order:
        j = sk.joints[i]
        if i == 0:
            t = np.zeros((motion.n_frames, 3))
            for axis, c in enumerate(("tx", "ty", "tz")):
                if c in j.channels:
                    t[:, axis] = motion.frames[:, cols[0][j.channels.index(c)]]
            joints.append(
                Joint(name=j.name, parent=-1, offset=(0.0, 0.0, 0.0), channels=_BVH_POSITION + _BVH_ROTATION)
            )
            columns += [t + np.asarray(j.offset), _matrix_to_zyx(world[0])]
            continue
        bad = [c for c in j.channels if not c.startswith("r")]
        if bad:
            raise CRBMError(f"bone {j.name!r} has dof {bad}; only rotation dofs convert to BVH")
        parent = sk.joints[j.parent]
        offset = (0.0, 0.0, 0.0) if j.parent == 0 else parent.offset
        end = None if sk.children(i) else tuple(float(v) for v in j.offset)
        joints.append(
            Joint(
                name=j.name,
                parent=new_index[j.parent],
                offset=tuple(float(v) for v in offset),
                channels=_BVH_ROTATION,
                end_site=end,
            )
        )
        local = np.swapaxes(world[j.parent], -1, -2) @ world[i]
        columns.append(_matrix_to_zyx(local))
    frames = np.concatenate(columns, axis=1) if columns else np.zeros((motion.n_frames, 0))
    units = {"length": sk.units["length"]} if "length" in sk.units else {}
    meta = {"converted_from": "asf"} | ({"name": sk.meta["name"]} if "name" in sk.meta else {})
    return Motion(
        skeleton=Skeleton(joints=tuple(joints), kind="bvh", units=units, meta=meta),
        frames=frames,
        fps=motion.fps,
        name=motion.name,
    )


def _asf_world_rotations(motion: Motion) -> list[np.ndarray]:
    """World rotation W (T, 3, 3) of every ASF joint: W = W_parent C M C^T (root: C M C^T)."""
    sk = motion.skeleton
    to_rad = np.pi / 180.0 if str(sk.units.get("angle", "deg")).lower().startswith("deg") else 1.0
    cols = _channel_columns(sk)
    world: list[np.ndarray] = []
    for i, j in enumerate(sk.joints):
        # C: the axis angles applied in axis_order (first letter first, so it is the rightmost factor)
        c = _rotations(np.asarray(j.axis, dtype=np.float64)[None] * to_rad, j.axis_order)[0]
        rot = [(ch[1].upper(), k) for ch, k in zip(j.channels, cols[i], strict=True) if ch.startswith("r")]
        if rot:
            angles = motion.frames[:, [k for _, k in rot]] * to_rad
            m = _rotations(angles, "".join(a for a, _ in rot))
        else:
            m = np.broadcast_to(np.eye(3), (motion.n_frames, 3, 3))
        local = c @ m @ c.T
        world.append(local if i == 0 else world[j.parent] @ local)
    return world


def _rotations(angles: np.ndarray, axes: str) -> np.ndarray:
    """(T, 3, 3) rotation applying ``angles[:, 0]`` about ``axes[0]`` first, then the next: R = ... R1 R0."""
    out = np.broadcast_to(np.eye(3), (angles.shape[0], 3, 3))
    for k, axis in enumerate(axes):
        out = _axis_rotation(angles[:, k], axis) @ out
    return out


def _axis_rotation(theta: np.ndarray, axis: str) -> np.ndarray:
    """(T, 3, 3) right-handed rotation by ``theta`` (radians) about X, Y or Z."""
    c, s = np.cos(theta), np.sin(theta)
    r = np.zeros(theta.shape + (3, 3))
    a = "XYZ".index(axis)
    b, d = (a + 1) % 3, (a + 2) % 3
    r[..., a, a] = 1.0
    r[..., b, b] = c
    r[..., d, d] = c
    r[..., b, d] = -s
    r[..., d, b] = s
    return r


def _matrix_to_zyx(r: np.ndarray) -> np.ndarray:
    """Angles (T, 3) in degrees, columns (z, y, x), with R = Rz(z) Ry(y) Rx(x); y in [-90, 90]."""
    sy = np.clip(-r[..., 2, 0], -1.0, 1.0)
    cy = np.hypot(r[..., 0, 0], r[..., 1, 0])
    y = np.arctan2(sy, cy)
    z = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    x = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    lock = cy < 1e-9  # gimbal lock: only z -+ x is defined; put it all in x
    if np.any(lock):
        z = np.where(lock, 0.0, z)
        x = np.where(lock, np.arctan2(-r[..., 1, 2], r[..., 1, 1]), x)
    return np.degrees(np.stack([z, y, x], axis=-1))


def _channel_columns(sk: Skeleton) -> list[list[int]]:
    out, k = [], 0
    for j in sk.joints:
        out.append(list(range(k, k + len(j.channels))))
        k += len(j.channels)
    return out
