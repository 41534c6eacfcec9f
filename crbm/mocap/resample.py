"""Resampling a clip to another frame rate: rotations by quaternion slerp per joint, translations linearly.

Time grid: frame ``i`` of a clip at ``fps`` is at ``t = i / fps``; both grids start at ``t = 0``. A clip of
``T`` frames at ``fps_in`` becomes, at ``fps_out``, the frames at ``t_j = j / fps_out`` for every ``t_j`` up to
the last input time ``(T - 1) / fps_in`` (:func:`frame_count`), unless a frame count is asked for: frames
past the last input time then repeat the last frame.

Frame ``j`` sits at input position ``s_j = j r`` with ``r = fps_in / fps_out`` (:func:`rate_ratio`): between
input frames ``i = floor(s_j)`` and ``i + 1`` at fraction ``f = s_j - i``. At ``f = 0`` the input frame is
copied unchanged, so a whole ratio ``r = k`` keeps every k-th frame exactly (``frames[::k]``) and
``30 -> 60 -> 30`` gives back the original frames. Rates stated with a rounded frame time count as whole
ratios: ``r`` (or ``1 / r``) within a relative ``RATIO_RTOL`` = 1e-4 of a whole number ``k`` is taken as
exactly ``k``. That covers BVH frame times written with 4 or more significant digits (``0.0083333``:
120.0005 fps, ``0.033333``: 30.0003 fps) and leaves real rate differences such as 29.97 against 30 fps
(1e-3 apart) to interpolation.

Between frames, per joint (``kinematics.rotation_channels``, which knows each joint's rotation order and
the BVH and ASF conventions):

* three rotation channels: the rotations ``q_a``, ``q_b`` as unit quaternions, ``slerp(q_a, q_b, f) =
  q_a (q_a^-1 q_b)^f`` along the shorter arc, written back as the Euler triple (either branch, each angle
  moved by whole turns) nearest the angles of the nearer input frame, so the channels stay continuous;
* one or two rotation channels: each angle along its shorter arc, ``a + f wrap(b - a)`` with ``wrap`` into
  (-180, 180] degrees (counted from the nearer frame). For one axis this is exactly slerp; two channels
  cannot hold every slerped rotation, so they are interpolated angle by angle;
* every other channel (positions): ``(1 - f) a + f b``.
"""

from __future__ import annotations

import math

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import (
    _degrees,
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quaternion,
    nearest_euler,
    quaternion_to_matrix,
    rotation_channels,
    wrap_angle,
)
from crbm.mocap.motion import Motion, check_fps

RATIO_RTOL = 1e-4  # relative distance below which a rate ratio counts as a whole number
_GRID_TOL = 1e-9  # input positions within this of a whole frame are that frame (float rounding of j * r)


def rate_ratio(fps_in: float, fps_out: float) -> float:
    """``r = fps_in / fps_out``: input frames per output frame, snapped to ``k`` or ``1 / k`` when within
    ``RATIO_RTOL`` (relative) of a whole number ``k``."""
    r = check_fps(fps_in, "input frame rate") / check_fps(fps_out, "output frame rate")
    for ratio, invert in ((r, False), (1 / r, True)):
        k = round(ratio)
        if k >= 1 and abs(ratio - k) <= RATIO_RTOL * k:
            return 1 / k if invert else float(k)
    return r


def frame_count(n_frames: int, fps_in: float, fps_out: float) -> int:
    """Frames at ``fps_out`` covering ``n_frames`` frames at ``fps_in``: ``floor((n_frames - 1) / r) + 1``
    (0 for an empty clip), the frames at ``t_j = j / fps_out <= (n_frames - 1) / fps_in``."""
    if n_frames <= 0:
        return 0
    return math.floor((n_frames - 1) / rate_ratio(fps_in, fps_out) + _GRID_TOL) + 1


def slerp(q0, q1, t) -> np.ndarray:
    """Spherical linear interpolation of unit quaternions ``(..., 4)`` at fractions ``t`` (broadcast to
    ``(...)``), along the shorter arc: ``q0 sin((1 - t) w) / sin w + q1' sin(t w) / sin w`` with ``q1' = +-q1``
    on ``q0``'s side and ``w`` the angle between them as 4-vectors (``2 atan2(|q1' - q0|, |q1' + q0|)``,
    accurate for small angles). ``t = 0`` gives ``q0``, ``t = 1`` gives ``q1'``; equal quaternions give ``q0``."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    q1 = np.where(np.sum(q0 * q1, axis=-1, keepdims=True) < 0, -q1, q1)
    w = 2 * np.arctan2(np.linalg.norm(q1 - q0, axis=-1), np.linalg.norm(q1 + q0, axis=-1))[..., None]
    moving = w > 0
    sin_w = np.where(moving, np.sin(w), 1.0)
    a = np.where(moving, np.sin((1 - t) * w) / sin_w, 1 - t)
    b = np.where(moving, np.sin(t * w) / sin_w, t)
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _interpolate(motion: Motion, a: np.ndarray, b: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Frames between rows ``a`` and ``b`` (n, C) at fractions ``f`` (n,) in (0, 1), as the module states."""
    skeleton = motion.skeleton
    degrees = True if skeleton.kind == "bvh" else _degrees(skeleton)
    out = a + f[:, None] * (b - a)
    later = f >= 0.5  # reference: the nearer input frame
    for _, cols, axes in rotation_channels(skeleton):
        ea, eb = a[:, cols], b[:, cols]
        near = np.where(later[:, None], eb, ea)
        if len(cols) < 3:
            step = wrap_angle(eb - ea, degrees=degrees)
            out[:, cols] = np.where(later[:, None], eb - (1 - f)[:, None] * step, ea + f[:, None] * step)
            continue
        qa = matrix_to_quaternion(euler_to_matrix(ea, axes, degrees=degrees))
        qb = matrix_to_quaternion(euler_to_matrix(eb, axes, degrees=degrees))
        angles = matrix_to_euler(quaternion_to_matrix(slerp(qa, qb, f)), axes, degrees=degrees)
        out[:, cols] = nearest_euler(angles, near, degrees=degrees)
    return out


def resample(motion: Motion, fps: float, *, n_frames: int | None = None) -> Motion:
    """The clip at ``fps``: ``frame_count(motion.n_frames, motion.fps, fps)`` frames, or ``n_frames`` (frames
    past the clip's last time repeat its last frame). See the module for the time grid and the interpolation.

    Frames ``(T, C)`` -> ``(n, C)``; the result has ``fps`` (the requested rate) and the clip's name and
    skeleton. Input frames on the output grid are copied bit for bit (a whole ratio ``k`` gives
    ``frames[::k]``; the same rate gives the same frames).
    """
    fps = check_fps(fps, f"clip {motion.name!r}: resampling rate")
    r = rate_ratio(motion.fps, fps)
    total = motion.n_frames
    n = frame_count(total, motion.fps, fps) if n_frames is None else int(n_frames)
    if n < 0:
        raise CRBMError(f"clip {motion.name!r}: n_frames must be 0 or more, got {n_frames}")
    if total == 0:
        if n:
            raise CRBMError(f"clip {motion.name!r} has no frames to resample to {n} frames")
        return motion.replace(fps=fps)
    s = np.minimum(np.arange(n) * r, total - 1)
    whole = np.round(s)
    on_grid = np.abs(s - whole) <= _GRID_TOL * np.maximum(1.0, s)
    i = np.where(on_grid, whole, np.floor(s)).astype(np.int64)
    f = np.where(on_grid, 0.0, s - i)
    frames = motion.frames[i]
    between = f > 0
    if np.any(between):
        rows = i[between]
        frames[between] = _interpolate(motion, motion.frames[rows], motion.frames[rows + 1], f[between])
    return motion.replace(frames=frames, fps=fps)
