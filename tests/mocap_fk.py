"""Reference forward kinematics for the mocap I/O tests, written independently of crbm with scipy.

Both functions loop over frames and joints in plain Python and build rotations with
``scipy.spatial.transform.Rotation``, so they share no code with ``crbm.mocap.convert``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _columns(skeleton) -> list[list[int]]:
    out, k = [], 0
    for j in skeleton.joints:
        out.append(list(range(k, k + len(j.channels))))
        k += len(j.channels)
    return out


def asf_points(motion, frame: int) -> dict[str, np.ndarray]:
    """Acclaim FK of one frame: ``{"root": root position, bone: end point of the bone}``.

    Bone world rotation W = W_parent C M C^-1, with C = the ``axis`` angles applied in axis order (for
    "XYZ": x first, i.e. scipy's extrinsic "xyz") and M = the dof angles applied in dof order (extrinsic,
    same rule); the root uses its orientation/axis and its translation channels plus ``position``.
    A bone ends at (its parent's end) + W (direction * length).
    """
    sk = motion.skeleton
    deg = str(sk.units.get("angle", "deg")).startswith("deg")
    cols = _columns(sk)
    world, end = {}, {}
    for i, j in enumerate(sk.joints):
        values = dict(zip(j.channels, motion.frames[frame, cols[i]], strict=True))
        c = Rotation.from_euler(j.axis_order.lower(), j.axis, degrees=deg).as_matrix()
        rot = [ch for ch in j.channels if ch[0] == "r"]
        m = (
            Rotation.from_euler(
                "".join(ch[1] for ch in rot), [values[ch] for ch in rot], degrees=deg
            ).as_matrix()
            if rot
            else np.eye(3)
        )
        local = c @ m @ np.linalg.inv(c)
        if i == 0:
            world[i] = local
            end[i] = np.asarray(j.offset) + np.array([values.get(t, 0.0) for t in ("tx", "ty", "tz")])
        else:
            world[i] = world[j.parent] @ local
            end[i] = end[j.parent] + world[i] @ np.asarray(j.offset)
    return {sk.joints[i].name: p for i, p in end.items()}


def bvh_points(motion, frame: int) -> dict[str, np.ndarray]:
    """BVH FK of one frame: ``{joint: position, joint + "/end": End Site position}``.

    Joint world transform = parent's world transform * translate(t) * R, with t the OFFSET whose
    components the joint's position channels replace (as bvhio and Blender read them) and R the rotation
    channels composed in file order as intrinsic rotations (``Zrotation Xrotation Yrotation`` -> Rz Rx Ry).
    """
    sk = motion.skeleton
    cols = _columns(sk)
    world, pos, out = {}, {}, {}
    for i, j in enumerate(sk.joints):
        values = dict(zip(j.channels, motion.frames[frame, cols[i]], strict=True))
        t = np.array([values.get(a + "position", o) for a, o in zip("XYZ", j.offset)], dtype=float)
        rot = [ch for ch in j.channels if ch.endswith("rotation")]
        r = Rotation.from_euler(
            "".join(ch[0] for ch in rot), [values[ch] for ch in rot], degrees=True
        ).as_matrix()
        r = r if rot else np.eye(3)
        if i == 0:
            pos[i], world[i] = t, r
        else:
            pos[i] = pos[j.parent] + world[j.parent] @ t
            world[i] = world[j.parent] @ r
        out[j.name] = pos[i]
        if j.end_site is not None:
            out[j.name + "/end"] = pos[i] + world[i] @ np.asarray(j.end_site)
    return out


def bvhio_points(path, frame: int) -> dict[str, np.ndarray]:
    """World joint positions of one frame as the independent PyPI reader bvhio computes them."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import bvhio

        root = bvhio.readAsHierarchy(str(path))
        root.loadPose(frame)
        return {j.Name: np.array(j.PositionWorld, dtype=float) for j, _, _ in root.layout()}
