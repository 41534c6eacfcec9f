"""How real a clip moves, in figures that compare generated motion with real motion of the same kind: foot
skating, joint angular speed, gait period and the power-spectrum distance (PSKL).

Every figure works on any rig of a topology (a BVH, an ASF/AMC subject, a model's canonical rig): positions
come from forward kinematics in centimetres, Y up (a Z-up rig's world turned by
``crbm.mocap.retarget.y_up_turn``), rotations are the joints' local rotations.

* **Foot skating** (:func:`foot_skating`): the feet are the lowest rest-pose point on each side of the root
  (``x > 0`` and ``x < 0``; end sites included). A foot is in stance on a frame when it is within
  ``height_tol`` of its floor (the clip's 5th-percentile height of that foot) and moves horizontally slower
  than the root does on average. Skating is the stance feet's mean horizontal speed over the root's mean
  horizontal speed: 0 for feet planted while the body walks on, 1 for feet gliding along with it.
* **Angular speed** (:func:`angular_speed`): the angle of ``R_t^T R_{t+1}`` per joint (local rotations,
  :func:`crbm.mocap.metrics.joint_angle_error` between consecutive frames) times the frame rate, averaged
  over joints other than the root and over frames, in degrees per second.
* **Gait period** (:func:`gait_period`): the dominant period of the left foot's height minus the right's, in
  seconds: one stride (two steps). It is the shortest autocorrelation peak within 10 % of the highest
  (:func:`dominant_period`; multiples of the period peak as high), on a grid 4 times finer
  than the frames, at lags up to two thirds of the clip.
* **Step timing** (:func:`clip_steps`, :func:`style_transition`): a foot strikes where its stance begins
  (short lifts and landings of under 0.1 s ignored, :func:`foot_strikes`); a step is the time from one
  strike to the next. A change of gait (walk -> run) completes on the first strike after the switch from
  which every step alternates feet and lasts within 15 % of the new gait's steady step, and a step on the
  way is irregular when it repeats a foot or fits neither gait's steady step within 15 %.
* **PSKL** (:func:`pskl`; Hernandez, Gall & Moreno-Noguer 2019): per coordinate of the root-relative joint
  positions, the power spectrum (Welch, segments of ``segment`` frames at a common rate, averaged over
  clips) normalised to sum to one; the KL divergence ``sum P log(P / Q)`` between the real (P) and the
  other (Q) spectra, averaged over coordinates. Both directions are given.

The figures compare clips on one rig at one rate: :func:`realism` and :func:`pskl` resample both sets and
retarget the real clips onto the other clips' rig (:func:`common_rig`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import channel_kind, joint_positions, position_names, rest_points, rest_positions
from crbm.mocap.lengths import centimetres, length_unit
from crbm.mocap.metrics import joint_angle_error
from crbm.mocap.motion import Motion
from crbm.mocap.resample import resample
from crbm.mocap.retarget import retarget, y_up_turn

FLOOR_PERCENTILE = 5.0
UPSAMPLE = 4  # gait_period's finer grid
PERIOD_TOLERANCE = 0.1  # the shortest autocorrelation peak within 10 % of the highest is the period


def _positions(motion: Motion) -> np.ndarray:
    """World positions ``(T, P, 3)`` in centimetres of joints and end sites, Y up."""
    turn = y_up_turn(motion.skeleton)
    return joint_positions(motion, end_sites=True) @ turn.T * centimetres(length_unit(motion.skeleton))


def feet(motion: Motion) -> tuple[int, int]:
    """Rows of ``joint_positions(motion, end_sites=True)`` of the two feet: the lowest point of the rest pose
    (the skeleton's offsets, ``crbm.mocap.kinematics.rest_positions``) on the ``x > 0`` side of the root and on
    the ``x < 0`` side (Y up)."""
    sk = motion.skeleton
    rest = rest_points(sk) if sk.kind == "bvh" else rest_positions(sk)[0]
    rest = (rest - rest[0]) @ y_up_turn(motion.skeleton).T
    out = []
    for side in (1.0, -1.0):
        rows = np.flatnonzero(side * rest[:, 0] > 1e-9)
        if not len(rows):
            raise CRBMError(f"clip {motion.name!r}: no joint on the {'+' if side > 0 else '-'}x side of the root "
                            "to serve as a foot")
        out.append(int(rows[np.argmin(rest[rows, 1])]))
    return out[0], out[1]


def _check(motion: Motion, frames: int = 3) -> None:
    if motion.n_frames < frames:
        raise CRBMError(f"clip {motion.name!r}: at least {frames} frames are needed, got {motion.n_frames}")


def _planted(motion: Motion, height_tol: float) -> tuple[np.ndarray, np.ndarray, float]:
    """``(planted, foot_speed, root_speed)``: the stance test of the module docstring per foot of
    :func:`feet` (``planted`` (T-1, 2) bool, row i for frame i + 1), the feet's horizontal speeds (T-1, 2)
    in cm/s over the same frames and the root's mean horizontal speed (0: no foot is in stance)."""
    pos = _positions(motion)
    ground = np.linalg.norm(np.diff(pos[:, :, [0, 2]], axis=0), axis=-1) * motion.fps  # (T-1, P) cm/s
    root = float(ground[:, 0].mean())
    fs = list(feet(motion))
    low = np.percentile(pos[:, fs, 1], FLOOR_PERCENTILE, axis=0)
    planted = (pos[1:, fs, 1] < low + height_tol) & (ground[:, fs] < root)
    return planted, ground[:, fs], root


def _stance(motion: Motion, height_tol: float) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`_planted` of a clip of at least 3 frames whose root moves over the ground."""
    _check(motion)
    planted, speed, root = _planted(motion, height_tol)
    if not root > 0:
        raise CRBMError(f"clip {motion.name!r}: the root does not move over the ground; stance is undefined")
    return planted, speed, root


def stance(motion: Motion, *, height_tol: float = 5.0) -> np.ndarray:
    """``(T - 1, 2)`` bool: whether each foot of :func:`feet` is in stance (module docstring) on frames
    ``1 .. T - 1`` (row i is frame i + 1: its height, and its speed from frame i); ``height_tol`` in cm."""
    return _stance(motion, height_tol)[0]


def contacts(motion: Motion, *, height_tol: float = 5.0) -> np.ndarray:
    """``(T, 2)`` bool: :func:`stance` of each foot on every frame of a clip of at least 2 frames, frame 0
    taking frame 1's; a clip whose root does not move over the ground has no foot in stance."""
    _check(motion, 2)
    planted = _planted(motion, height_tol)[0]
    return np.concatenate([planted[:1], planted])


def foot_skating(motion: Motion, *, height_tol: float = 5.0) -> dict[str, float]:
    """``{"skating": ratio, "stance_speed": cm/s, "root_speed": cm/s, "stance": fraction of foot-frames in
    stance}`` of one clip (module docstring); ``height_tol`` in centimetres."""
    planted, speed, root = _stance(motion, height_tol)
    if not planted.any():
        names = position_names(motion.skeleton, end_sites=True)
        raise CRBMError(f"clip {motion.name!r}: no foot ({', '.join(names[f] for f in feet(motion))}) is ever in "
                        "stance")
    v = float(speed[planted].mean())
    return {"skating": v / root, "stance_speed": v, "root_speed": root, "stance": float(planted.mean())}


def lock_feet(motion: Motion, *, height_tol: float = 5.0) -> Motion:
    """Foot locking, a post-process: the clip with its root's ground path changed so that on every step from
    frame t-1 to t whose lower foot (the lower over the two frames, relative to the root: the foot
    ``crbm.mocap.preprocess.PlantedFootRoot`` carries the step with) is in :func:`stance` at frame t, that
    foot does not move over the ground; on the other steps the root moves as before. The pose, heading,
    height and tilt are unchanged, and so are the other figures of this module but skating.

    The root's ground position gains ``d_t = d_{t-1} - (q_t - q_{t-1})`` on those steps (``q``: that foot's
    ground position) and ``d_t = d_{t-1}`` on the others, in the ground plane of the rig's world (X-Z, or
    X-Y on a Z-up rig); the root needs its position channels on both ground axes."""
    _check(motion)
    sk = motion.skeleton
    turn = y_up_turn(sk)
    ground = [int(np.argmax(np.abs(turn[:, k]))) for k in (0, 2)]  # the rig's axes that turn into X and Z
    axes = {channel_kind(c)[1]: i for i, c in enumerate(sk.joints[0].channels) if channel_kind(c)[0] == "position"}
    missing = ["XYZ"[a] for a in ground if "XYZ"[a] not in axes]
    if missing:
        raise CRBMError(f"clip {motion.name!r}: foot locking moves the root over the ground; its root "
                        f"{sk.joints[0].name!r} has no {'/'.join(missing)} position channel")
    pos = joint_positions(motion, end_sites=True) @ turn.T  # the skeleton's length unit, Y up
    fs = list(feet(motion))
    height = pos[:, fs, 1] - pos[:, :1, 1]
    lower = np.argmin(height[:-1] + height[1:], axis=1)  # (T - 1,)
    rows = np.arange(len(lower))
    locked = stance(motion, height_tol=height_tol)[rows, lower]
    foot = pos[:, fs][:, :, [0, 2]]
    steps = foot[1:][rows, lower] - foot[:-1][rows, lower]  # (T - 1, 2): the lower foot's ground step
    shift = np.zeros((motion.n_frames, 3))
    shift[1:, [0, 2]] = np.cumsum(np.where(locked[:, None], -steps, 0.0), axis=0)
    frames = motion.frames.copy()
    offset = shift @ turn  # back to the rig's world axes
    for a in ground:
        frames[:, axes["XYZ"[a]]] += offset[:, a]
    return motion.replace(frames=frames)


def frame_angular_speed(motion: Motion) -> np.ndarray:
    """``(T - 1,)``: the joints' mean angular speed (module docstring) from each frame to the next, deg/s."""
    _check(motion, 2)
    return joint_angle_error(motion.replace(frames=motion.frames[:-1]),
                             motion.replace(frames=motion.frames[1:])) * motion.fps


def angular_speed(motion: Motion) -> float:
    """Mean angular speed of the joints other than the root, degrees per second (module docstring)."""
    return float(frame_angular_speed(motion).mean())


def dominant_period(signal: np.ndarray, *, min_lag: int = 5, max_lag: int | None = None,
                    tolerance: float = 0.0) -> float:
    """The lag (in frames) of the highest autocorrelation peak of a 1-D ``signal`` between ``min_lag`` and
    ``max_lag`` (default: a third of its length): the gait period for a leg angle. NaN without a peak.
    ``tolerance``: the shortest lag whose peak reaches ``(1 - tolerance)`` times the highest, so that twice
    the period, whose peak can come out a little higher, does not win over the period itself."""
    x = np.asarray(signal, dtype=np.float64)
    x = x - x.mean()
    if not np.any(x):
        return float("nan")
    max_lag = max_lag or len(x) // 3
    ac = np.correlate(x, x, "full")[len(x) - 1 :] / np.arange(len(x), 0, -1)
    ac = ac / ac[0]
    lags = np.arange(min_lag, max_lag)
    peaks = [lag for lag in lags if ac[lag] > ac[lag - 1] and ac[lag] >= ac[lag + 1] and ac[lag] > 0]
    if not peaks:
        return float("nan")
    best = max(ac[lag] for lag in peaks)
    return float(min(lag for lag in peaks if ac[lag] >= (1 - tolerance) * best))


def gait_period(motion: Motion) -> float:
    """The stride period in seconds (module docstring); NaN when the feet show no periodic pattern."""
    _check(motion)
    pos = _positions(motion)
    left, right = feet(motion)
    signal = pos[:, left, 1] - pos[:, right, 1]
    # on a grid UPSAMPLE times finer (linear interpolation), for periods between two whole frames
    fine = np.interp(np.arange((len(signal) - 1) * UPSAMPLE + 1) / UPSAMPLE, np.arange(len(signal)), signal)
    lag = dominant_period(fine, min_lag=5 * UPSAMPLE, max_lag=2 * len(fine) // 3, tolerance=PERIOD_TOLERANCE)
    return lag / (UPSAMPLE * motion.fps)


def _runs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal values of a 1-D bool array: their starts, lengths and values."""
    starts = np.concatenate([[0], np.flatnonzero(x[1:] != x[:-1]) + 1])
    return starts, np.diff(np.concatenate([starts, [len(x)]])), x[starts]


def foot_strikes(planted: np.ndarray, *, min_frames: int = 3) -> list[np.ndarray]:
    """The frames on which each foot's stance begins, from ``planted`` (T, F) bool (one column a foot, as
    :func:`stance` gives): per column, first every swing shorter than ``min_frames`` between two stances is
    closed (the foot did not really lift), then every stance shorter than ``min_frames`` is dropped (it did
    not really land); a strike is the first frame of each stance left, except one that starts at row 0 (its
    onset is not seen). Returns F int arrays of rows of ``planted``, increasing."""
    planted = np.asarray(planted, dtype=bool)
    if planted.ndim != 2:
        raise CRBMError(f"foot_strikes: expected (frames, feet) stance flags, got shape {planted.shape}")
    out = []
    for x in planted.T.copy():
        for value in (False, True):  # close short swings, then drop short stances
            for start, n, v in zip(*_runs(x)):
                if v == value and n < min_frames and (value or 0 < start < len(x) - n):
                    x[start : start + n] = not value
        starts, _, values = _runs(x)
        out.append(starts[values & (starts > 0)])
    return out


def step_timing(strikes: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The steps of a clip from its feet's strikes (:func:`foot_strikes`): ``{"frames": (S,) strike frames in
    time order, "feet": (S,) which foot struck, "intervals": (S - 1,) frames from each strike to the next,
    "alternate": (S - 1,) bool, the next strike is the other foot's}``. Step i runs from strike i to strike
    i + 1; two strikes on one frame come in foot order (an interval of 0, not alternating after the first)."""
    frames = np.concatenate([np.asarray(s, dtype=np.int64) for s in strikes])
    which = np.concatenate([np.full(len(s), i) for i, s in enumerate(strikes)])
    order = np.lexsort((which, frames))
    frames, which = frames[order], which[order]
    return {"frames": frames, "feet": which, "intervals": np.diff(frames), "alternate": which[1:] != which[:-1]}


def clip_steps(motion: Motion, *, height_tol: float = 5.0, min_time: float = 0.1) -> dict[str, np.ndarray]:
    """:func:`step_timing` of a clip, its strikes found by :func:`foot_strikes` on :func:`stance` with
    ``min_frames = max(1, round(min_time * fps))``; strike frames are frames of the clip (stance row + 1)."""
    planted = stance(motion, height_tol=height_tol)
    strikes = foot_strikes(planted, min_frames=max(1, round(min_time * motion.fps)))
    return step_timing([s + 1 for s in strikes])


def steady_step(motions: Sequence[Motion], **kw) -> float:
    """The median interval, in frames, of the alternating steps (:func:`clip_steps`, keywords passed on) of
    ``motions`` pooled: the steady step of a gait (half its stride). NaN without any."""
    steps = [clip_steps(m, **kw) for m in motions]
    pooled = np.concatenate([s["intervals"][s["alternate"]] for s in steps])
    return float(np.median(pooled)) if len(pooled) else float("nan")


def off_gait(steps: dict[str, np.ndarray], step: float, *, tolerance: float = 0.15) -> np.ndarray:
    """``(S - 1,)`` bool: the steps of :func:`step_timing` that do not fit a gait of steady step ``step``
    frames: the same foot strikes again (``not a_i``), or ``|d_i - step| > tolerance * step``."""
    return ~steps["alternate"] | (np.abs(steps["intervals"] - step) > tolerance * step)


def style_transition(steps: dict[str, np.ndarray], switch: int, before: float, after: float, *,
                     tolerance: float = 0.15, min_steps: int = 4) -> dict[str, float]:
    """When a gait change completes and how many steps on the way are irregular.

    ``steps``: :func:`step_timing` of a clip (strike frames f_0 < f_1 < ..., intervals d_i = f_{i+1} - f_i,
    alternation a_i); ``switch``: the frame the style changes; ``before``, ``after``: the steady step
    intervals (frames; :func:`steady_step`) of the gait before and after it; ``tolerance``: tau.

    * Step i fits the new gait when ``a_i`` and ``|d_i - after| <= tau * after``.
    * The transition completes on the first strike f_j >= switch from which every later step fits the new
      gait, at least ``min_steps`` of them (j <= S - 1 - min_steps); ``frames = f_j - switch`` and
      ``cycles = frames / (2 * after)`` (a gait cycle is a stride, two steps). NaN when no strike qualifies.
    * A step i ending after the switch (f_{i+1} > switch) is irregular when it does not alternate, or when
      its interval fits neither gait: ``|d_i - before| > tau * before`` and ``|d_i - after| > tau * after``.

    Returns ``{"frames", "cycles", "irregular", "steps"}`` (``steps``: those ending after the switch)."""
    if not (before > 0 and after > 0):
        raise CRBMError(f"style_transition: the steady step intervals must be positive, got {before} and {after}")
    frames = steps["frames"]
    fits = ~off_gait(steps, after, tolerance=tolerance)
    # fits_from[j]: every step from strike j on fits (the last strike starts no step: vacuously true)
    fits_from = np.append(np.cumprod(fits[::-1])[::-1].astype(bool), True)
    j = np.flatnonzero(fits_from & (frames >= switch) & (np.arange(len(frames)) <= len(frames) - 1 - min_steps))
    done = float(frames[j[0]] - switch) if len(j) else float("nan")
    later = frames[1:] > switch
    odd = off_gait(steps, before, tolerance=tolerance) & off_gait(steps, after, tolerance=tolerance)
    return {"frames": done, "cycles": done / (2 * after), "irregular": int((odd & later).sum()),
            "steps": int(later.sum())}


def common_rig(motions: Sequence[Motion], real: Sequence[Motion], *, fps: float = 30.0) -> tuple[list, list]:
    """Both sets of clips at ``fps`` on the first of ``motions``' skeletons: the real clips retargeted onto it
    (``crbm.retarget``: same limb directions, root trajectory scaled by leg length), so that positions,
    speeds and spectra compare point by point."""
    if not motions or not real:
        raise CRBMError("realism figures need at least one clip on each side")
    rig = motions[0].skeleton
    out = [resample(m, fps) for m in motions]
    for m in out:
        if m.skeleton != rig:
            raise CRBMError(f"clip {m.name!r}: its skeleton differs from clip {out[0].name!r}'s; the clips to judge "
                            "must share one rig")
    return out, [m if m.skeleton == rig else retarget(m, rig) for m in (resample(r, fps) for r in real)]


def _spectra(motions: Sequence[Motion], segment: int) -> np.ndarray:
    """Mean normalised Welch spectra ``(F, n_coordinates)`` of root-relative joint positions over clips."""
    from scipy.signal import welch

    out = []
    for m in motions:
        if m.n_frames < segment:
            raise CRBMError(f"clip {m.name!r}: {m.n_frames} frames at {m.fps:g} fps, fewer than a segment of "
                            f"{segment}")
        frames = m.frames.copy()
        frames[:, : len(m.skeleton.joints[0].channels)] = 0.0
        pos = _positions(m.replace(frames=frames))[:, 1:].reshape(m.n_frames, -1)
        _, p = welch(pos, fs=m.fps, nperseg=segment, axis=0)
        out.append(p)
    return np.mean(out, axis=0)


def pskl(motions: Sequence[Motion], real: Sequence[Motion], *, fps: float = 30.0,
         segment: int = 32) -> dict[str, float]:
    """``{"real_to_other": KL(P_real || P_other), "other_to_real": KL(P_other || P_real)}`` between the power
    spectra of ``motions`` and ``real`` (module docstring; clips brought together by :func:`common_rig`), over
    the coordinates that move in the real clips; ``segment`` frames at ``fps`` per Welch segment."""
    motions, real = common_rig(motions, real, fps=fps)
    p, q = _spectra(real, segment), _spectra(motions, segment)
    moving = p.sum(axis=0) > 1e-12 * max(float(p.sum(axis=0).max()), 1e-300)
    if not moving.any():
        raise CRBMError(f"pskl: nothing moves relative to the root in the real clips ({real[0].name!r}, ...)")
    eps = 1e-12
    p = p[:, moving] / p[:, moving].sum(axis=0) + eps
    q = q[:, moving] / np.maximum(q[:, moving].sum(axis=0), eps) + eps
    return {"real_to_other": float(np.mean(np.sum(p * np.log(p / q), axis=0))),
            "other_to_real": float(np.mean(np.sum(q * np.log(q / p), axis=0)))}


def realism(motions: Sequence[Motion], real: Sequence[Motion], *, fps: float = 30.0) -> dict[str, dict[str, float]]:
    """The figures of ``motions`` and of ``real`` side by side at ``fps`` on one rig (:func:`common_rig`), each
    averaged over its clips: ``{"skating" | "stance_speed" | "angular_speed" | "gait_period": {"motion": ...,
    "real": ...}, "pskl": pskl(motions, real)}``; gait periods are medians over the clips that show one."""
    motions, real = common_rig(motions, real, fps=fps)
    out: dict[str, dict[str, float]] = {}
    for side, clips in (("motion", motions), ("real", real)):
        skate = [foot_skating(m) for m in clips]
        out.setdefault("skating", {})[side] = float(np.mean([s["skating"] for s in skate]))
        out.setdefault("stance_speed", {})[side] = float(np.mean([s["stance_speed"] for s in skate]))
        out.setdefault("angular_speed", {})[side] = float(np.mean([angular_speed(m) for m in clips]))
        periods = [p for p in (gait_period(m) for m in clips) if np.isfinite(p)]
        out.setdefault("gait_period", {})[side] = float(np.median(periods)) if periods else float("nan")
    out["pskl"] = pskl(motions, real, fps=fps)
    return out
