"""Pose errors in units that mean the same on every subject: degrees of joint rotation and centimetres of
joint position (forward kinematics), ignoring where the body is and which way it faces."""

from __future__ import annotations

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import joint_positions, local_rotations, rotation_channels
from crbm.mocap.lengths import centimetres, length_unit
from crbm.mocap.motion import Motion


def _check_pair(truth: Motion, other: Motion) -> None:
    if truth.skeleton != other.skeleton or truth.frames.shape != other.frames.shape:
        raise CRBMError(
            f"clips {truth.name!r} and {other.name!r} must share a skeleton and a frame count to be compared, "
            f"got {truth.frames.shape} and {other.frames.shape}"
        )


def joint_angle_error(truth: Motion, other: Motion) -> np.ndarray:
    """Per frame ``(T,)``: the mean over non-root joints with rotation channels of the angle (degrees) of
    ``R_truth^T R_other``, the rotation between the two clips' local joint rotations."""
    _check_pair(truth, other)
    joints = [j for j, _, _ in rotation_channels(truth.skeleton) if j != 0]
    if not joints:
        raise CRBMError(f"clip {truth.name!r}: no joint besides the root has rotation channels")
    a = local_rotations(truth.skeleton, truth.frames)[:, joints]
    b = local_rotations(other.skeleton, other.frames)[:, joints]
    r = np.swapaxes(a, -1, -2) @ b
    cos = (np.trace(r, axis1=-2, axis2=-1) - 1) / 2  # trace = 1 + 2 cos(angle)
    skew = r - np.swapaxes(r, -1, -2)  # = 2 sin(angle) [axis]x
    sin = np.linalg.norm(np.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1), axis=-1) / 2
    return np.rad2deg(np.arctan2(sin, cos)).mean(axis=1)


def joint_position_error(truth: Motion, other: Motion) -> np.ndarray:
    """Per frame ``(T,)``: the mean distance (cm) over non-root joints between the two clips' joint positions
    with the root at the origin and unrotated (the root's channels set to zero), so the error is the pose's
    alone, not the body's place or heading."""
    _check_pair(truth, other)
    root = len(truth.skeleton.joints[0].channels)
    pos = []
    for clip in (truth, other):
        frames = clip.frames.copy()
        frames[:, :root] = 0.0
        pos.append(joint_positions(clip.replace(frames=frames))[:, 1:])
    return np.linalg.norm(pos[0] - pos[1], axis=-1).mean(axis=1) * centimetres(length_unit(truth.skeleton))
