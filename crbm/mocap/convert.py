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
(zeros for bones without dofs), which BVH readers such as Blender's and bvhio expect. The root's OFFSET
is the ASF root ``position`` and its position channels hold ``position + (tx, ty, tz)``: BVH position
channels replace the OFFSET (see :mod:`crbm.mocap.kinematics`).
"""

from __future__ import annotations

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import matrix_to_euler, world_rotations
from crbm.mocap.lengths import BVH_DEFAULT_UNIT, convert_length, length_unit
from crbm.mocap.motion import Joint, Motion, Skeleton

_BVH_ROTATION = ("Zrotation", "Yrotation", "Xrotation")
_BVH_POSITION = ("Xposition", "Yposition", "Zposition")


def asf_to_bvh(motion: Motion, *, units: str | None = BVH_DEFAULT_UNIT) -> Motion:
    """Convert an ASF-kind Motion to a BVH-kind Motion with the same world positions (float rounding).

    units: the BVH's length unit (a name of ``crbm.mocap.lengths.LENGTH_UNITS``; default centimetres, so a
    CMU subject is about 1.7 m tall rather than 30 ASF units); None keeps the ASF file's unit (the
    skeleton's ``units["length"]`` stays the ASF number). Angles become degrees.
    frames: (T, 6 + 3 * (J - 1)) for J joints. Raises CRBMError for an unknown unit and for non-root bones
    with translation or length dofs (no BVH equivalent here).
    """
    sk = motion.skeleton
    if sk.kind != "asf":
        raise CRBMError(f"asf_to_bvh needs an ASF-kind motion, got kind {sk.kind!r}")
    length = length_unit(sk) if units is None else units
    if units is not None:
        motion = convert_length(motion, units)
        sk = motion.skeleton
    world = world_rotations(motion)
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
            joints.append(Joint(name=j.name, parent=-1, offset=j.offset, channels=_BVH_POSITION + _BVH_ROTATION))
            columns += [t + np.asarray(j.offset), matrix_to_euler(world[:, 0], "ZYX")]
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
        local = np.swapaxes(world[:, j.parent], -1, -2) @ world[:, i]
        columns.append(matrix_to_euler(local, "ZYX"))
    frames = np.concatenate(columns, axis=1) if columns else np.zeros((motion.n_frames, 0))
    meta = {"converted_from": "asf"} | ({"name": sk.meta["name"]} if "name" in sk.meta else {})
    return Motion(
        skeleton=Skeleton(joints=tuple(joints), kind="bvh", units={"length": length}, meta=meta),
        frames=frames,
        fps=motion.fps,
        name=motion.name,
    )


def _channel_columns(sk: Skeleton) -> list[list[int]]:
    out, k = [], 0
    for j in sk.joints:
        out.append(list(range(k, k + len(j.channels))))
        k += len(j.channels)
    return out
