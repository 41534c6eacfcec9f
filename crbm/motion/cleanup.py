"""Cleaning recorded motion: the noise level of a take, an offline smoother, gap filling from both sides of a
gap, and an online filter for streams. Everything works on the clip's own channels at its own frame rate, so a
cleaned clip comes back with the input's skeleton, rate and frame count.

**The smoother.** Each channel c (an Euler angle unwrapped across frames, or a position) is a smooth curve
observed with white noise. The curve's prior is the integrated random walk: state (value, velocity),

    value_{t+1} = value_t + velocity_t + w,   velocity_{t+1} = velocity_t + w',
    cov(w, w') = q_c [[1/3, 1/2], [1/2, 1]]   (white acceleration of intensity q_c, one frame a step)

whose posterior mean given every frame is the cubic smoothing spline (Wahba, 1978; Kohn & Ansley, 1987). A
Kalman filter runs forward and a Rauch-Tung-Striebel pass backward, so every frame uses the frames before
and after it, and the first frames are estimated like any other (no start-up transient). Two observations
enter each frame: the recorded value x_t (variance r_c, the noise level) and, for joint rotations, the motion
model's one-step prediction m_t (variance p_c); their weights are the Kalman gains, i.e. each counts in
proportion to its precision and to how well the curve's past and future already pin the frame down.

* r_c: the take's noise level, estimated per channel (:func:`estimate_noise`) unless the user gives it.
* q_c: chosen per channel and per take by maximum likelihood over a grid of ratios q_c / r_c
  (``Q_RATIOS``, then ``REFINE`` around the best), scoring the filter's one-step predictive density of
  the recorded values.
* m_t, p_c: the model's mean-field one-step prediction of frame t from the smoothed frames before it
  (``crbm.motion.sample.predict_next``, in the model's representation and at its frame rate: a clip at a whole
  multiple K of the model's rate is cut into K interleaved sub-clips), mapped back to the clip's channels.
  Nominally p_c = (2K)^2 v_c, v_c the robust variance of the prediction's distance to the spline-smoothed
  curve (a prediction's error is shared by the K sub-clips' neighbouring frames and persists for a few
  frames, so these pseudo-observations carry far less than independent ones would). How much the model is
  trusted is then decided on the take itself: every ``HELD_OUT``-th frame is held out, the rest smoothed
  with the predictions at each weight of ``WEIGHTS`` (precision times 0, 1/4, 1, 4), and the weight that
  best estimates the held-out frames is kept if it beats the spline alone by at least two standard errors
  (their noise is independent of every other frame's, so this compares the candidates' errors without
  bias). A model that does not clearly help is left out. The root's
  channels take no model prediction: integrated from velocities it would drift.
* outliers: an observation whose innovation exceeds ``GATE`` standard deviations is left out. After
  ``REACQUIRE`` rejections in a row it was a real jump: the filter restarts at the first of them and takes
  them in again, and the backward pass does not smooth across the restart (a jump is followed from where it
  happened, not bridged). The first ``AFTER_GAP`` values after frames not recorded are taken in ungated: the
  course through a gap is the prior's guess, not a prediction to hold values to.
* gimbal lock: a joint of three rotation channels (BVH, or an ASF bone or root) whose Euler angles come
  within 30 degrees of gimbal lock in the take (the middle angle near +-90 degrees, where the outer two swing
  fast and together for a small turn of the joint) is smoothed in the rotation order, of the six, whose lock
  is farthest from the take's rotations, and written back in the file's order (:func:`_away_from_lock`);
  every other joint is smoothed in its file's order. A joint that comes near lock in every order (an arm
  circling) is smoothed as a rotation, by its quaternions (:func:`_smooth_locked`, offline only).

**Gap filling** (:func:`fill_motion`): the missing entries are first inferred in the model's representation
by maximising the model's predictive density of every frame that depends on them, with the frames after the
gap as well as before it (``crbm.motion.sample.fill_both_sides``); those values, mapped back to the clip's
channels, are pseudo-observations (variance p_c) inside the gap for the smoother, whose spline prior carries
the curve smoothly into the recorded frames on both sides: near the edges the spline dominates, deep in a
long gap the model. Nominally p_c = K^2 v_c, v_c the robust variance of the model's one-step prediction error
on the recorded frames; the weight actually given to the model is chosen per gap by filling windows of the
same length and joints elsewhere in the take, where the truth is known, and the gap is a blend of these fills
and of the linear, cubic-spline and slerp interpolations, led by whichever filled the windows best
(:func:`fill_motion`). The recorded
entries come back exactly, and what remains between the smoothed curve and the recorded values at
each edge is blended linearly across the gap, so nothing jumps there.

**The online filter** (:class:`OnlineFilter`) runs the forward pass frame by frame with a fixed lag.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from crbm.engine.errors import CRBMError
from crbm.engine.progress import phases
from crbm.mocap.kinematics import (
    _degrees,
    channel_kind,
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_quaternion,
    nearest_euler,
    quaternion_to_matrix,
    rotation_channels,
)
from crbm.mocap.motion import Motion, Skeleton, check_fps

GATE = 5.0  # innovations beyond this many predictive standard deviations are outliers
REACQUIRE = 5  # after this many rejections in a row the filter restarts from the observation
AFTER_GAP = 2  # values after a gap taken in ungated: two fix the state's value and velocity anew
OUTLIERS = 0.01  # the share of outliers the likelihood allows for (a uniform density over a channel's range)
Q_RATIOS = 10.0 ** np.arange(-8.0, 8.01, 0.5)  # q_c / r_c tried per channel (maximum likelihood)
REFINE = 10.0 ** np.array([-0.25, -0.125, 0.125, 0.25])  # then these multiples of the best ratio
_NOISE_FLOOR = 1e-6  # smallest noise std, relative to the channel's unit (degree, radian or length unit)
_BURN_IN = 3  # observations per channel before the likelihood counts (the state is still diffuse)
_CHI2_MEDIAN = 0.45493642311957283  # median of chi-square with one degree of freedom
_Z_CLAMP = 8.0  # model inputs are clipped to this many training standard deviations
WEIGHTS = (0.0, 0.25, 1.0, 4.0)  # the model's weights tried on the take itself (multiples of 1 / p_c)
SHARPNESS = 4  # gap filling blends its candidates in proportion to (error on the windows)^-SHARPNESS
HELD_OUT = 10  # denoising holds out every HELD_OUT-th frame to choose the model's weight
GIMBAL = 0.5  # |cos(middle Euler angle)| below which a joint is smoothed in another rotation order (30 deg off lock)
_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_REFITS = (11, 16, 24, 32, 48, 64)  # frames after which the online filter first estimates the noise level
_REPLAY = 64  # up to here each estimate refilters the frames so far; then one every 32 frames, going on


# ------------------------------------------------------------------------------------------------ channels
def _channel_units(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Per channel of ``skeleton``: whether it is a rotation (bool (C,)), and its angle period (360 or 2 pi)
    or NaN for positions."""
    rotation = np.array([channel_kind(n.rsplit(".", 1)[-1])[0] == "rotation" for n in skeleton.channel_names])
    degrees = skeleton.kind == "bvh" or _degrees(skeleton)
    period = np.where(rotation, 360.0 if degrees else 2 * math.pi, np.nan)
    return rotation, period


def _unwrap(x: np.ndarray, period: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles unwrapped across frames: ``(x + offsets, offsets)``, offsets whole periods per frame and
    channel (0 for positions). Unobserved entries carry the offset of the last observed frame before them
    (or the first one after)."""
    t = np.arange(x.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(observed, t, -1), axis=0)
    first = np.flip(np.minimum.accumulate(np.flip(np.where(observed, t, x.shape[0]), 0), axis=0), 0)
    src = np.where(last >= 0, last, np.minimum(first, x.shape[0] - 1))
    filled = np.take_along_axis(x, src, axis=0)
    offsets = np.zeros_like(x)
    wrap = np.isfinite(period)
    if np.any(wrap):
        p = period[wrap]
        unwrapped = np.unwrap(filled[:, wrap], period=p, axis=0)
        offsets[:, wrap] = np.round((unwrapped - filled[:, wrap]) / p) * p
    return x + offsets, offsets


def estimate_noise(frames: np.ndarray, *, observed: np.ndarray | None = None) -> np.ndarray:
    """The noise standard deviation of each channel of ``frames`` (T, C), (C,), from third differences:

        sigma_c = 1.4826 MAD(d_c) / sqrt(20),   d_t = x_{t+3} - 3 x_{t+2} + 3 x_{t+1} - x_t

    (white noise of std sigma gives d of variance 20 sigma^2; the median absolute deviation ignores the
    occasional outlier). A smooth motion's own third differences are small at mocap rates (a 30-degree joint
    swinging once a second contributes 0.3 degrees at 30 fps, 0.005 at 120 fps), so the estimate is the
    noise's when there is noise, and the recording's own jitter when there is none. Only differences whose
    four frames are all ``observed`` (T, C) count; a channel with fewer than 8 such differences gets 0.
    Angles should be unwrapped first."""
    x = np.asarray(frames, dtype=np.float64)
    ok = np.ones(x.shape, dtype=bool) if observed is None else np.asarray(observed, dtype=bool)
    if x.shape[0] < 4:
        return np.zeros(x.shape[1])
    d = x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3]
    valid = ok[3:] & ok[2:-1] & ok[1:-2] & ok[:-3]
    d = np.where(valid, d, np.nan)
    enough = valid.sum(0) >= 8
    centre = np.nanmedian(np.where(enough, d, 0.0), axis=0, keepdims=True)
    mad = np.nanmedian(np.abs(np.where(enough, d, 0.0) - centre), axis=0)
    return np.where(enough, 1.4826 * mad / math.sqrt(20.0), 0.0)


def _robust_var(e: np.ndarray) -> np.ndarray:
    """Per column of ``e`` (T, C) with NaN for absent values: median(e^2) / 0.4549 (the variance of a
    Gaussian with that median square), 0 where a column has no value."""
    sq = np.where(np.isnan(e), np.nan, e * e)
    has = ~np.all(np.isnan(sq), axis=0)
    med = np.nanmedian(np.where(has, sq, 0.0), axis=0)
    return np.where(has, med / _CHI2_MEDIAN, 0.0)


# -------------------------------------------------------------------------------- the state-space machinery
@dataclass
class _Forward:
    """One forward pass over (T, B) series: filtered and predicted means (value, velocity) and covariances
    (a, b, c) = [[a, b], [b, c]], each (T, B); where the state restarted at a recorded value (T, B); the
    log-likelihood of the recorded values (B,)."""

    mean: np.ndarray  # (T, B, 2)
    cov: np.ndarray  # (T, B, 3)
    pmean: np.ndarray  # (T, B, 2)
    pcov: np.ndarray  # (T, B, 3)
    restart: np.ndarray  # (T, B) bool
    loglik: np.ndarray  # (B,)


class _State:
    """The integrated random walk's Kalman state for B independent series, arrays of shape (B,), with the
    gating counters of each series."""

    def __init__(self, value: np.ndarray, r: np.ndarray, spread: np.ndarray):
        self.p, self.v = value.copy(), np.zeros_like(value)
        self.a, self.b, self.c = r + spread, np.zeros_like(value), r + spread  # diffuse on the scale of the data
        self.seen = np.zeros(value.shape, dtype=int)  # observations taken in
        self.rejected = np.zeros(value.shape, dtype=int)  # rejections in a row
        self.restarted = np.zeros(value.shape, dtype=bool)  # whether the last observation restarted the state
        self.bridged = np.zeros(value.shape, dtype=int)  # recorded values still to take in ungated after a gap

    def predict(self, q: np.ndarray) -> None:
        self.p = self.p + self.v
        self.a = self.a + 2 * self.b + self.c + q / 3
        self.b = self.b + self.c + q / 2
        self.c = self.c + q

    def _update(self, use: np.ndarray, e: np.ndarray, s: np.ndarray, noise: np.ndarray) -> None:
        """Take in innovations ``e`` of variance ``s`` = a + ``noise`` where ``use``. The covariance is updated
        with 1 - k1 written as noise / s, and kept positive semi-definite: with a value recorded almost without
        noise after a long gap (noise / a ~ 1e-18) the textbook form cancels to a negative variance."""
        k1 = np.where(use, self.a / s, 0.0)
        k2 = np.where(use, self.b / s, 0.0)
        f = np.where(use, noise / s, 1.0)  # 1 - k1
        e = np.where(use, e, 0.0)
        self.p, self.v = self.p + k1 * e, self.v + k2 * e
        c = np.maximum(self.c - k2 * self.b, 0.0)
        a, b = self.a * f, self.b * f
        bound = np.sqrt(a * c)
        self.a, self.b, self.c = a, np.clip(b, -bound, bound), c

    def assimilate(self, m: np.ndarray, var: np.ndarray) -> None:
        """Take in pseudo-observations ``m`` (B,) (NaN: none) of variance ``var``, gated, not counted."""
        has = ~np.isnan(m)
        if has.any():
            e, s = np.where(has, m, 0.0) - self.p, self.a + var
            self._update(has & (e * e <= GATE * GATE * s), e, s, var)

    def observe(self, y: np.ndarray, r: np.ndarray, spread: np.ndarray, outlier: np.ndarray,
                gate: np.ndarray | None = None) -> np.ndarray:
        """Take in recorded values ``y`` (B,) (NaN: not recorded) of noise variance ``r``: an innovation
        beyond ``GATE`` standard deviations is rejected, unless ``REACQUIRE`` were rejected in a row, and then
        the state restarts at the value (velocity unknown on ``spread``); a series where ``gate`` (B,) bool is
        False restarts at every recorded value, unscored (default: all are gated). Returns each series' log predictive
        density (B,): the Gaussian's for an accepted value, ``outlier`` (B,) (the log density of an outlier,
        which does not depend on the filter) for a rejected one, 0 before ``_BURN_IN`` observations and where
        nothing was recorded."""
        has = ~np.isnan(y)
        y = np.where(has, y, 0.0)
        e, s = y - self.p, self.a + r
        # the first AFTER_GAP values after a gap are taken in whatever their distance: the course through it was a guess
        inside = (e * e <= GATE * GATE * s) | (self.bridged > 0)
        scored = has & (self.seen >= _BURN_IN)
        restart = has & ~inside & (self.rejected >= REACQUIRE)
        if gate is not None:
            restart, scored = restart | (has & ~gate), scored & gate
        gauss = -0.5 * (np.log(2 * math.pi * s) + e * e / s)
        loglik = np.where(scored, np.where(inside, gauss, outlier), 0.0)
        self._update(has & inside, e, s, r)
        self.p = np.where(restart, y, self.p)
        self.v = np.where(restart, 0.0, self.v)
        self.a = np.where(restart, r, self.a)
        self.b = np.where(restart, 0.0, self.b)
        self.c = np.where(restart, r + spread, self.c)
        self.rejected = np.where(has & ~inside & ~restart, self.rejected + 1, np.where(has, 0, self.rejected))
        self.seen = self.seen + has
        self.restarted = restart
        self.bridged = np.where(~has & (self.seen > 0), AFTER_GAP, np.maximum(self.bridged - has, 0))
        return loglik

    def stack(self) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([self.p, self.v], -1), np.stack([self.a, self.b, self.c], -1)

    def part(self, js: np.ndarray) -> _State:
        """Series ``js`` (indices) alone, as a state of those series (a copy)."""
        some = object.__new__(_State)
        for name, value in vars(self).items():
            setattr(some, name, value[js])
        return some

    def put(self, js: np.ndarray, some: _State) -> None:
        """Series ``js`` set from the state ``some`` of those series."""
        for name, value in vars(some).items():
            getattr(self, name)[js] = value


def _outlier_density(x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """log(OUTLIERS / W) per column of ``x`` (T, B) (NaN: not recorded): an outlier's log density, uniform over
    the column's range W (plus 10 noise standard deviations)."""
    ok = ~np.isnan(x)
    span = np.max(np.where(ok, x, -np.inf), axis=0, initial=-np.inf) - np.min(np.where(ok, x, np.inf), axis=0,
                                                                                initial=np.inf)
    span = np.where(np.isfinite(span), span, 0.0)  # 0 for a column with no recorded value
    return np.log(OUTLIERS / (span + 10 * np.sqrt(r)))


def _start(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A robust starting value (the median of the first five observed values) and a spread (the variance of
    the series, for a diffuse start) per column of ``x`` (T, B) with NaN for unobserved entries."""
    first = np.full(x.shape[1], np.nan)
    seen = np.zeros(x.shape[1], dtype=int)
    head = np.full((5, x.shape[1]), np.nan)
    for t in range(x.shape[0]):  # the first five observed values of each column
        ok = ~np.isnan(x[t]) & (seen < 5)
        if not ok.any() and (seen >= 5).all():
            break
        head[seen[ok], np.flatnonzero(ok)] = x[t, ok]
        seen += ok
    has = seen > 0
    first[has] = np.nanmedian(head[:, has], axis=0)
    first[~has] = 0.0
    spread = np.where(has, np.nan_to_num(np.nanvar(np.where(has, x, 0.0), axis=0)), 1.0)
    return first, spread + r


def _forward(
    x: np.ndarray,
    r: np.ndarray,
    q: np.ndarray,
    *,
    pseudo: np.ndarray | None = None,
    pseudo_var: np.ndarray | None = None,
    keep: bool = True,
) -> _Forward:
    """The Kalman filter over ``x`` (T, B) (NaN: not observed) with noise variances ``r`` (B,) and process
    intensities ``q`` (B,); ``pseudo`` (T, B) (NaN: none) are extra observations of variance ``pseudo_var``
    (B,), taken in before the recorded value of each frame. Gating and restarts as in the module docstring.
    ``keep=False`` keeps only the log-likelihood (for the grid search)."""
    n, b = x.shape
    start, spread = _start(x, r)
    outlier = _outlier_density(x, r)
    state = _State(start, r, spread)
    shape = (n, b) if keep else (0, b)
    out = _Forward(np.empty((*shape, 2)), np.empty((*shape, 3)), np.empty((*shape, 2)), np.empty((*shape, 3)),
                   np.zeros(shape, dtype=bool), np.zeros(b))
    run = np.full(b, -1)  # the frame where each series' current run of rejections began (-1: none)
    for t in range(n):
        if t:
            state.predict(q)
        if keep:
            out.pmean[t], out.pcov[t] = state.stack()
        if pseudo is not None:
            state.assimilate(pseudo[t], pseudo_var[t] if pseudo_var.ndim == 2 else pseudo_var)
        out.loglik += state.observe(x[t], r, spread, outlier)
        if keep:
            out.mean[t], out.cov[t] = state.stack()
            out.restart[t] = state.restarted
        jumped = np.flatnonzero(state.restarted & (run >= 0))
        began = run[jumped]
        run = np.where(state.rejected == 0, -1, np.where(run < 0, t, run))
        for s0 in np.unique(began):  # jumps, taken in again from where they happened (scored as before)
            cols, span = jumped[began == s0], slice(s0, t + 1)
            extra = None if pseudo is None else pseudo[span][:, cols]
            extra_var = None if pseudo is None else np.broadcast_to(
                pseudo_var[span][:, cols] if pseudo_var.ndim == 2 else pseudo_var[cols], (t + 1 - s0, len(cols)))
            some = state.part(cols)
            rows = _refilter(some, x[span][:, cols], r[cols], q[cols], spread[cols], pseudo=extra,
                             pseudo_var=extra_var)
            if keep:
                for u, (pm, pc, mean, cov, restarted) in enumerate(rows, s0):
                    if pm is not None:
                        out.pmean[u, cols], out.pcov[u, cols] = pm, pc
                    out.mean[u, cols], out.cov[u, cols], out.restart[u, cols] = mean, cov, restarted
            state.put(cols, some)
    return out


def _refilter(one: _State, ys: np.ndarray, r: np.ndarray, q: np.ndarray, spread: np.ndarray, *,
              pseudo: np.ndarray | None = None, pseudo_var: np.ndarray | None = None) -> list[tuple]:
    """Jumps found ``REACQUIRE`` frames late, in the B series of the state ``one`` whose runs of rejections
    began at the same frame: each restarts at ``ys[0]`` (the first rejected values, (B,)) and takes in
    ``ys[1:]`` (K, B) again, with the pseudo-observations (K, B) where given, this time without the gate (the
    run of values is what showed the jump: none of it is an outlier of the new course, and a motion that
    turned faster than q allows is followed rather than rejected again).
    Returns per frame (predicted mean, predicted covariance, mean, covariance, restarted), the first frame's
    prediction None (it stays as it was)."""
    one.p[:], one.v[:], one.a[:], one.b[:], one.c[:] = ys[0], 0.0, r, 0.0, r + spread
    one.rejected[:], one.restarted = 0, np.ones(len(r), dtype=bool)
    rows: list[tuple] = [(None, None, *one.stack(), one.restarted)]
    for k in range(1, len(ys)):
        one.predict(q)
        predicted = one.stack()
        if pseudo is not None:
            one.assimilate(pseudo[k], pseudo_var[k])
        has = ~np.isnan(ys[k])
        one._update(has, np.where(has, ys[k], 0.0) - one.p, one.a + r, r)
        one.restarted, one.seen = np.zeros(len(r), dtype=bool), one.seen + has
        rows.append((*predicted, *one.stack(), one.restarted))
    return rows


def _backward(fw: _Forward) -> np.ndarray:
    """Rauch-Tung-Striebel: the smoothed values (T, B) from a kept forward pass. Where the state restarted at
    frame t + 1 (a jump the filter did not follow), nothing after it reaches frame t: the smoothing starts
    afresh from the filtered state at t (the gain of a transition of unbounded variance is 0)."""
    n = fw.mean.shape[0]
    value = np.empty(fw.mean.shape[:2])
    sm = fw.mean[-1].copy()
    value[-1] = sm[:, 0]
    for t in range(n - 2, -1, -1):
        a, b, c = fw.cov[t].T
        pa, pb, pc = fw.pcov[t + 1].T
        det = np.maximum(pa * pc - pb * pb, 1e-300)
        # G = P F^T P_pred^-1 with P F^T = [[a + b, b], [b + c, c]]
        g11, g12 = ((a + b) * pc - b * pb) / det, (b * pa - (a + b) * pb) / det
        g21, g22 = ((b + c) * pc - c * pb) / det, (c * pa - (b + c) * pb) / det
        d = sm - fw.pmean[t + 1]
        sm = fw.mean[t] + np.stack([g11 * d[:, 0] + g12 * d[:, 1], g21 * d[:, 0] + g22 * d[:, 1]], -1)
        sm = np.where(fw.restart[t + 1][:, None], fw.mean[t], sm)
        value[t] = sm[:, 0]
    return value


def _loglik(x: np.ndarray, r: np.ndarray, ratios: np.ndarray, *, pseudo=None, pseudo_var=None) -> np.ndarray:
    """The log-likelihood (G, C) of the recorded values of each column of ``x`` (T, C) under the process
    intensities q = ``ratios`` (G, C) * r: one batched forward pass over the G C series."""
    g = ratios.shape[0]

    def tile(a):  # the columns once per row of ratios: (T, C) -> (T, G C), (C,) -> (G C,)
        return None if a is None else np.tile(a, (1, g) if a.ndim == 2 else g)

    fw = _forward(tile(x), tile(r), (ratios * r).ravel(), pseudo=tile(pseudo), pseudo_var=tile(pseudo_var),
                  keep=False)
    return fw.loglik.reshape(ratios.shape)


def _fit_q(x: np.ndarray, r: np.ndarray, *, pseudo=None, pseudo_var=None) -> np.ndarray:
    """Per column of ``x`` (T, C): the process intensity q = ratio * r whose ratio maximises the likelihood of
    the recorded values, first over ``Q_RATIOS`` (a factor sqrt(10) apart), then over ``REFINE`` times the
    best of them (the grid's neighbours of the best lie beyond), so that the ratio is found to a factor
    10^(1/8); the best of these, the coarse one on a tie."""
    c = x.shape[1]
    coarse = _loglik(x, r, np.repeat(Q_RATIOS[:, None], c, 1), pseudo=pseudo, pseudo_var=pseudo_var)
    centre = Q_RATIOS[coarse.argmax(0)]
    ratios = np.vstack([centre, REFINE[:, None] * centre])
    ll = np.vstack([coarse.max(0), _loglik(x, r, ratios[1:], pseudo=pseudo, pseudo_var=pseudo_var)])
    return ratios[ll.argmax(0), np.arange(c)] * r


def smooth_series(
    x: np.ndarray,
    r: np.ndarray,
    *,
    q: np.ndarray | None = None,
    pseudo: np.ndarray | None = None,
    pseudo_var: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The smoother of the module docstring on plain series: ``x`` (T, C) with NaN where nothing was
    recorded, noise variances ``r`` (C,), optional pseudo-observations ``pseudo`` (T, C) (NaN: none) of
    variance ``pseudo_var`` ((C,) or (T, C); infinite: none). ``q`` (C,) defaults to the maximum-likelihood
    choice. Returns the smoothed series (T, C) (every frame, recorded or not) and q."""
    x = np.asarray(x, dtype=np.float64)
    r = np.maximum(np.asarray(r, dtype=np.float64), 1e-300)
    if pseudo is not None:
        pseudo_var = np.asarray(pseudo_var, dtype=np.float64)
        pseudo = np.where(np.isfinite(pseudo_var), pseudo, np.nan)
        pseudo_var = np.where(np.isfinite(pseudo_var), pseudo_var, 1.0)
    if q is None:
        q = _fit_q(x, r, pseudo=pseudo, pseudo_var=pseudo_var)
    return _backward(_forward(x, r, q, pseudo=pseudo, pseudo_var=pseudo_var)), q


# ------------------------------------------------------------------------------------------ noise levels
def _check_std(value, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise CRBMError(f"{what}: expected a finite number >= 0, got {value!r}")
    return float(value)


def noise_variances(
    motion: Motion,
    frames: np.ndarray,
    *,
    noise_std: float | None = None,
    position_noise_std: float | None = None,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """The noise variance of each channel of ``motion`` (C,) in the clip's own units: ``noise_std`` (degrees)
    for every rotation channel and ``position_noise_std`` (the file's length unit) for every position
    channel where given, else :func:`estimate_noise` of ``frames`` (T, C), the clip's values with angles
    unwrapped, over the ``observed`` entries. Floored at 1e-6 of a unit."""
    noise_std = _check_std(noise_std, "noise_std")
    position_noise_std = _check_std(position_noise_std, "position_noise_std")
    rotation, period = _channel_units(motion.skeleton)
    std = estimate_noise(frames, observed=observed)
    if noise_std is not None:
        per_degree = np.where(period == 360.0, 1.0, math.pi / 180)
        std = np.where(rotation, noise_std * per_degree, std)
    if position_noise_std is not None:
        std = np.where(rotation, std, position_noise_std)
    return np.maximum(std, _NOISE_FLOOR) ** 2


# ------------------------------------------------------------------------------------------ the model's part
def _sub_clips(motion: Motion, fps: float) -> tuple[int, list[np.ndarray]]:
    """How the clip meets a model at ``fps``: ``(K, [frame indices per sub-clip])``. At a whole multiple K
    of the model's rate, the K interleaved sub-clips ``frames[j::K]`` (each at the model's rate); otherwise
    ``K = 0`` and the whole clip, which the model resamples."""
    from crbm.mocap.resample import rate_ratio

    ratio = rate_ratio(motion.fps, fps)
    n = motion.n_frames
    if ratio >= 1 and ratio == int(ratio):
        k = int(ratio)
        return k, [np.arange(j, n, k) for j in range(k)]
    return 0, [np.arange(n)]


def _temporal_step(model) -> int | None:
    """Index of the model's preprocessing step that depends on earlier frames (it offers ``continue_inverse``:
    frame differences, running centring), or None."""
    return next((i for i, s in enumerate(model.pipeline.steps) if hasattr(s, "continue_inverse")), None)


def _on_clip(model, clip: Motion, z: torch.Tensor, new: torch.Tensor, *, per_frame: bool) -> np.ndarray:
    """Normalised frames ``new`` (T', D) of the sub-clip ``clip`` (whose own normalised frames are ``z``) as
    frames (T', C) on ``clip``'s skeleton at the model's rate.

    ``per_frame=False``: the whole clip is inverted (``MotionModel.to_motion``), so a step that depends on
    earlier frames integrates ``new`` from the clip's start. ``per_frame=True``: every frame of ``new`` is a
    guess at that frame alone, continued from ``clip``'s own frames before it. A step that depends on earlier
    frames (x_t from y_t and x_{<t}, as in y_t = x_t - x_{t-1} or y_t = x_t - mean(x_{<t})) then gives
    x_t = x_t(clip) + (y_t(new) - y_t(z)), the steps after it being per frame."""
    k = _temporal_step(model)
    if not per_frame or k is None:
        return model.to_motion(new, context=clip).frames
    from crbm.mocap.preprocess import Pipeline
    from crbm.mocap.retarget import retarget

    steps = model.pipeline.steps
    head, tail = Pipeline(steps[:k]), Pipeline(steps[k + 1 :])
    rig = model.on_rig(clip).frames
    x = head.transform([rig])[0]
    delta = tail.inverse_transform([new.double().numpy()])[0] - tail.inverse_transform([z.double().numpy()])[0]
    contexts = [model.pipeline.contexts([rig])[0][:k]]
    frames = head.inverse_transform([x + delta], contexts=contexts)[0]
    out = Motion(model.skeleton, np.asarray(frames, dtype=np.float64), model.fps)
    return (out if clip.skeleton == model.skeleton else retarget(out, clip.skeleton)).frames


def _normalised(model, clip: Motion) -> torch.Tensor:
    """The sub-clip in the model's representation, clipped to +-``_Z_CLAMP`` training standard deviations
    (the range the model was fitted on; a channel far outside it would saturate the hidden units)."""
    (z,) = model.transform([clip])
    return z.clamp(-_Z_CLAMP, _Z_CLAMP)


def _back_to_rate(motion: Motion, k: int, idx: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """Model-rate frames of a sub-clip -> (T, C) at the clip's rate: placed at the sub-clip's frames ``idx``
    (K >= 1, NaN elsewhere), or resampled to the clip's own frames (K = 0)."""
    from crbm.mocap.resample import resample

    if k:
        out = np.full(motion.frames.shape, np.nan)
        out[idx] = frames
        return out
    return resample(Motion(motion.skeleton, frames, fps, name=motion.name), motion.fps,
                    n_frames=motion.n_frames).frames


def model_predictions(model, motion: Motion, *, style: str | None = None) -> tuple[np.ndarray, int]:
    """The motion model's one-step prediction of every frame of ``motion`` from the frames before it
    (:func:`crbm.motion.sample.predict_next` in the model's representation and at its rate), on the clip's channels:
    ``(T, C)`` with NaN where there is none (the first ``order`` model frames of each sub-clip), and K (the
    clip's rate over the model's, 1 when it is not a whole number). ``model``: a ``MotionModel``."""
    from crbm.motion.sample import predict_next

    net = model._one_layer()
    k, groups = _sub_clips(motion, model.fps)
    out = np.full(motion.frames.shape, np.nan)
    for idx in groups:
        clip = motion.replace(frames=motion.frames[idx], fps=motion.fps / k) if k else motion
        z = _normalised(model, clip)
        n = net.order
        if z.shape[0] <= n:
            continue
        with torch.no_grad():
            pred = predict_next(net, z, labels=model._labels_for(style, z.shape[0]))
        pred[:n] = z[:n]
        frames = _on_clip(model, clip, z, pred, per_frame=True)
        if k:
            frames[:n] = np.nan
        back = _back_to_rate(motion, k, idx, frames, model.fps)
        if not k:
            back[np.arange(motion.n_frames) / motion.fps < n / model.fps - 1e-9] = np.nan
        out = np.where(np.isnan(back), out, back)
    return out, max(k, 1)


def _near(values: np.ndarray, reference: np.ndarray, period: np.ndarray) -> np.ndarray:
    """``values`` moved by whole periods (angle channels) to lie within half a period of ``reference``."""
    p = np.where(np.isfinite(period), period, 1.0)
    with np.errstate(invalid="ignore"):  # NaN values stay NaN
        moved = reference + (values - reference + p / 2) % p - p / 2
    return np.where(np.isfinite(period), moved, values)


def _model_columns(model, skeleton: Skeleton) -> np.ndarray:
    """Channels of ``skeleton`` that take the model's predictions: rotations of joints other than the root
    that the model's rig has (bool (C,))."""
    rotation, _ = _channel_units(skeleton)
    known = set(model.skeleton.names) - {model.skeleton.joints[0].name}
    joint = np.array([n.rsplit(".", 1)[0] for n in skeleton.channel_names])
    return rotation & np.isin(joint, sorted(known))


def _pseudo_variance(reference: np.ndarray, m: np.ndarray, r: np.ndarray, times: float) -> np.ndarray:
    """p_c = times^2 max(robust var(reference - m), 0.01 r_c) per channel (module docstring)."""
    return times * times * np.maximum(_robust_var(reference - m), 0.01 * r)


def _weighings(x, r, q, pseudo, p) -> list[np.ndarray]:
    """The smoothed series (T, C) with the pseudo-observations at each weight of ``WEIGHTS`` (variance
    p / weight; none at weight 0)."""
    with np.errstate(divide="ignore"):
        return [smooth_series(x, r, q=q, pseudo=pseudo, pseudo_var=p / w)[0] for w in WEIGHTS]


def _held_out_weight(candidates: list[np.ndarray], x: np.ndarray, held: np.ndarray) -> float:
    """The weight of ``WEIGHTS`` whose candidate (T, C) best estimates the held-out recorded values ``x`` at
    ``held`` (T, C), among those that beat the first candidate (weight 0: no model) clearly: the mean over
    held-out frames of the difference in squared error (summed over channels) at least two standard errors
    below zero. Noise makes the held-out values themselves uncertain; a model is used only on evidence."""
    frames = held.any(1)
    if frames.sum() < 3:
        return 0.0
    loss = [np.where(held, (c - x) ** 2, 0.0).sum(1)[frames] for c in candidates]  # per held-out frame
    best, gain = 0, 0.0
    for i in range(1, len(candidates)):
        d = loss[i] - loss[0]
        if d.mean() + 2 * d.std(ddof=1) / math.sqrt(len(d)) < 0 and -d.mean() > gain:
            best, gain = i, -d.mean()
    return WEIGHTS[best]


# ------------------------------------------------------------------------------------------------ denoising
def denoise_motion(
    motion: Motion,
    *,
    model=None,
    noise_std: float | None = None,
    position_noise_std: float | None = None,
    style: str | None = None,
) -> Motion:
    """The offline smoother (module docstring) on a clip: every channel smoothed with its noise level
    (``noise_std`` degrees for rotations and ``position_noise_std`` length units for positions, estimated
    from the clip where not given), the motion model's one-step predictions (``model``, a ``MotionModel``;
    None: the spline prior alone) entering the joints' rotations. A channel whose estimated noise is 0 (most
    of its third differences exactly 0: values held or keyed, not measured) comes back as recorded, as in the
    online filter: there is nothing to remove, and a smoother would take its moves for outliers. Returns a
    clip with ``motion``'s skeleton, rate and frame count; angles stay on the input's branch (the same whole
    turns)."""
    work = _away_from_lock(motion)
    clean = _denoise(work, model=model, noise_std=noise_std, position_noise_std=position_noise_std, style=style)
    clean = _smooth_locked(work, clean, noise_std)
    frames = _reorder(clean.frames, clean.skeleton, motion.skeleton, reference=motion.frames)
    return motion.replace(frames=frames, name=f"{motion.name}_denoised")


def _denoise(motion: Motion, *, model, noise_std: float | None, position_noise_std: float | None,
             style: str | None) -> Motion:
    """:func:`denoise_motion` on a clip whose joints are all in the orders to smooth them in."""
    rotation, period = _channel_units(motion.skeleton)
    observed = np.ones(motion.frames.shape, dtype=bool)
    x, offsets = _unwrap(motion.frames, period, observed)
    r = noise_variances(motion, x, noise_std=noise_std, position_noise_std=position_noise_std)
    noiseless = r <= _NOISE_FLOOR**2  # no noise measured (held or keyed values): recorded values come back
    y, q = smooth_series(x, r)
    if model is None or motion.n_frames < 4 * HELD_OUT:
        return motion.replace(frames=np.where(noiseless, x, y) - offsets)
    cols = _model_columns(model, motion.skeleton)

    def predictions(smoothed):  # the model's one-step predictions of the joints' rotations, and p
        m, k = model_predictions(model, motion.replace(frames=smoothed - offsets), style=style)
        m = np.where(cols, _near(m, smoothed, period), np.nan)
        return m, _pseudo_variance(smoothed, m, r, 2 * k)

    with phases(2, desc="denoise") as advance:
        # the model's weight, one for all its channels, by how well the frames held out are then estimated
        advance("the model's weight on held-out frames")
        held = np.zeros(motion.frames.shape, dtype=bool)
        held[HELD_OUT // 2 :: HELD_OUT] = True
        part = np.where(held, np.nan, x)
        y_part, q_part = smooth_series(part, r)
        m, p = predictions(y_part)
        weight = _held_out_weight(_weighings(part, r, q_part, m, p), x, held & cols)
        if weight > 0:
            advance("smoothing with the model")
            m, p = predictions(y)
            y, _ = smooth_series(x, r, q=q, pseudo=m, pseudo_var=p / weight)
    return motion.replace(frames=np.where(noiseless, x, y) - offsets)


def _smooth_locked(work: Motion, clean: Motion, noise_std: float | None) -> Motion:
    """``clean`` (the smoothed ``work``) with each joint of three rotation channels that comes within 30 degrees
    of gimbal lock even in the order :func:`_away_from_lock` chose (a joint turning through every order's
    lock over the take: an arm circling) smoothed as a rotation instead: its unit quaternions, signs made
    continuous, each component through the smoother with its own noise level (from ``noise_std`` degrees, a
    quaternion component moving by half the angle in radians, or estimated), then normalised and written as
    the Euler angles nearest the recorded ones. The model's predictions do not enter these joints; a component
    without measurable noise comes back as recorded."""
    sk = work.skeleton
    degrees, _ = _angle_unit(sk)
    frames = clean.frames.copy()
    for _, cols, axes in rotation_channels(sk):
        if len(axes) < 3:
            continue
        rotations = euler_to_matrix(work.frames[:, cols], axes, degrees=degrees)
        if np.abs(np.cos(np.deg2rad(matrix_to_euler(rotations, axes)[:, 1]))).min() >= GIMBAL:
            continue
        quat = matrix_to_quaternion(rotations)
        turned = np.cumsum(np.r_[0, np.einsum("ti,ti->t", quat[1:], quat[:-1]) < 0]) % 2 == 1
        quat = np.where(turned[:, None], -quat, quat)
        std = estimate_noise(quat) if noise_std is None else np.full(4, math.radians(noise_std) / 2)
        r = np.maximum(std, _NOISE_FLOOR) ** 2
        smoothed, _ = smooth_series(quat, r)
        smoothed = np.where(r <= _NOISE_FLOOR**2, quat, smoothed)
        angles = matrix_to_euler(quaternion_to_matrix(smoothed), axes, degrees=degrees)
        frames[:, cols] = nearest_euler(angles, work.frames[:, cols], degrees=degrees)
    return clean.replace(frames=frames)


def _away_from_lock(motion: Motion, observed: np.ndarray | None = None) -> Motion:
    """``motion`` with each joint of three rotation channels (a BVH joint, an ASF bone or root with three
    rotation dofs) whose Euler angles come within 30 degrees of gimbal lock in some frame (``|cos(middle
    angle)| < GIMBAL``) re-expressed in the rotation order of ``_ORDERS`` whose smallest ``|cos(middle angle)|``
    over the take is largest, when that is larger than the file order's (frames counted where ``observed``
    (T, C), if given, holds for the joint's three channels): same rotations (an ASF bone's ``M``), the joint's
    rotation channels renamed to the new order in the columns they had, angles unwrapped across frames. Other
    joints and channels are kept bit for bit; the clip itself when none moves."""
    sk = motion.skeleton
    degrees, period = _angle_unit(sk)
    frames, joints = motion.frames.copy(), list(sk.joints)
    for j, cols, axes in rotation_channels(sk):
        if len(axes) < 3:
            continue
        r = euler_to_matrix(frames[:, cols], axes, degrees=degrees)
        seen = np.ones(len(r), dtype=bool) if observed is None else observed[:, cols].all(1)
        if not seen.any():
            continue
        margin = {o: float(np.abs(np.cos(np.deg2rad(matrix_to_euler(r[seen], o)[:, 1]))).min()) for o in _ORDERS}
        best = max(_ORDERS, key=margin.__getitem__)
        if margin[axes] >= GIMBAL or margin[best] <= margin[axes]:
            continue
        frames[:, cols] = np.unwrap(matrix_to_euler(r, best, degrees=degrees), period=period, axis=0)
        joints[j] = replace(joints[j], channels=_in_order(joints[j].channels, best, sk.kind))
    if joints == list(sk.joints):
        return motion
    return motion.replace(skeleton=replace(sk, joints=tuple(joints)), frames=frames)


def _online_orders(first: Motion) -> Skeleton:
    """The rotation orders a stream is filtered in, chosen before its motion is known from its first frame
    ``first`` (one frame) and its rig: a joint near gimbal lock in that frame as :func:`_away_from_lock`
    chooses; and a BVH limb joint (one child, or an End Site) in the order, of the two with the bone's own
    axis in the middle, farther from lock in that frame, where the file's order has a bending axis there.
    The middle angle of an order is the one whose +-90 degrees lock it; a bone's turn about its own axis
    (twist) stays far smaller than its bend, which reaches 90 degrees at a knee or an elbow (a ZXY knee bending
    about X locks in its file order, not in XYZ or ZYX)."""
    near = _away_from_lock(first)
    sk = near.skeleton
    if sk.kind != "bvh":
        return sk
    children = [[c for c, j in enumerate(sk.joints) if j.parent == i] for i in range(len(sk.joints))]
    joints = list(sk.joints)
    for j, cols, axes in rotation_channels(sk):
        if len(axes) < 3 or joints[j] != first.skeleton.joints[j]:
            continue  # not three angles, or already re-expressed away from lock
        if len(children[j]) == 1 and joints[j].end_site is None:
            bone = np.asarray(sk.joints[children[j][0]].offset, dtype=np.float64)
        elif not children[j] and joints[j].end_site is not None:
            bone = np.asarray(joints[j].end_site, dtype=np.float64)
        else:
            continue
        twist = "XYZ"[int(np.argmax(np.abs(bone)))]
        if not np.any(bone) or axes[1] == twist:
            continue
        r = euler_to_matrix(first.frames[:, cols], axes)
        orders = [o for o in _ORDERS if o[1] == twist]
        best = max(orders, key=lambda o: float(np.abs(np.cos(np.deg2rad(matrix_to_euler(r, o)[:, 1]))).min()))
        joints[j] = replace(joints[j], channels=_in_order(joints[j].channels, best, sk.kind))
    return replace(sk, joints=tuple(joints))


def _angle_unit(skeleton: Skeleton) -> tuple[bool, float]:
    """(whether the skeleton's angles are degrees, their period)."""
    degrees = skeleton.kind == "bvh" or _degrees(skeleton)
    return degrees, 360.0 if degrees else 2 * math.pi


def _in_order(channels: tuple[str, ...], order: str, kind: str) -> tuple[str, ...]:
    """A joint's ``channels`` with its three rotation channels renamed so that ``rotation_channels`` reads the
    rotation order ``order`` from the same columns: BVH composes in file order (``Zrotation``...), ASF in
    reverse dof order (``rz``..., in the case the file used)."""
    if kind == "bvh":
        names = iter(f"{a}rotation" for a in order)
    else:
        upper = any(c.isupper() for c in channels)
        names = iter(f"R{a}" if upper else f"r{a.lower()}" for a in order[::-1])
    return tuple(next(names) if channel_kind(c)[0] == "rotation" else c for c in channels)


def _reorder(frames: np.ndarray, source: Skeleton, target: Skeleton, *, reference: np.ndarray | None = None
             ) -> np.ndarray:
    """``frames`` (T, C) of ``source``'s channels in ``target``'s: the same joints and columns, a joint whose
    rotation order differs (:func:`_away_from_lock`) re-expressed, as the Euler triple (either branch, whole
    turns) nearest ``reference`` (T, C) where it is given and recorded, else the principal one. A joint with
    any of its three angles NaN comes out NaN in all three."""
    if source == target:
        return frames
    degrees, _ = _angle_unit(source)
    out = np.array(frames, dtype=np.float64)
    for (_, cols, axes), (_, _, new) in zip(rotation_channels(source), rotation_channels(target)):
        if axes != new:
            angles = matrix_to_euler(euler_to_matrix(out[:, cols], axes, degrees=degrees), new, degrees=degrees)
            if reference is not None:
                near = np.where(np.isnan(reference[:, cols]), angles, reference[:, cols])
                angles = np.where(np.isnan(angles), np.nan,
                                  nearest_euler(np.nan_to_num(angles), near, degrees=degrees))
            out[:, cols] = angles
    return out


# ------------------------------------------------------------------------------------------------- gaps
@dataclass(frozen=True)
class Gap:
    """Joints missing from frame ``start`` up to, not including, frame ``end`` (the clip's own frames)."""

    joints: tuple[str, ...]
    start: int
    end: int


def parse_gap(text: str) -> Gap:
    """``"rfemur,rtibia:100:160"`` -> Gap(("rfemur", "rtibia"), 100, 160). The frames are the last two fields,
    so joint names may hold colons (Mixamo's ``mixamorig:LeftLeg:10:40``)."""
    found = re.fullmatch(r"\s*(.+?)\s*:\s*(-?\d+)\s*:\s*(-?\d+)\s*", text)
    joints = () if found is None else tuple(j.strip() for j in found.group(1).split(",") if j.strip())
    if found is None or not joints:
        raise CRBMError(f"gap {text!r}: expected JOINTS:START:END, e.g. rfemur,rtibia:100:160")
    return Gap(joints, int(found.group(2)), int(found.group(3)))


def _gap_mask(motion: Motion, gaps: Sequence[Gap], model) -> np.ndarray:
    """(T, C) bool, True where a gap makes a channel missing; CRBMError for a gap outside the clip, an empty
    one, or a joint the clip (or the model's rig) does not have."""
    names = motion.skeleton.names
    joint = np.array([n.rsplit(".", 1)[0] for n in motion.channel_names])
    mask = np.zeros(motion.frames.shape, dtype=bool)
    where = f"clip {motion.name!r}" if motion.name else "the clip"
    if not gaps:
        raise CRBMError("no gap to fill: give at least one gap (joints, start frame, end frame)")
    for g in gaps:
        label = f"gap {','.join(g.joints)}:{g.start}:{g.end}"
        if not 0 <= g.start < g.end <= motion.n_frames:
            raise CRBMError(
                f"{label}: expected 0 <= start < end <= {motion.n_frames} (frames of {where}, end exclusive)"
            )
        unknown = sorted(j for j in g.joints if j not in names)
        if unknown:
            raise CRBMError(f"{label}: unknown joints {unknown}; {where} has {names}")
        if model is not None:
            alien = sorted(j for j in g.joints if j not in model.skeleton.names)
            if alien:
                raise CRBMError(f"{label}: unknown joints {alien} for the model, whose rig has {model.skeleton.names}")
        cols = np.isin(joint, list(g.joints))
        if not cols.any():
            raise CRBMError(f"{label}: joints {list(g.joints)} have no channels in {where}")
        mask[g.start : g.end, cols] = True
    return mask


def _linear_fill(xo: np.ndarray) -> np.ndarray:
    """Each column of ``xo`` (NaN where missing) linearly interpolated, held constant beyond its ends."""
    t = np.arange(xo.shape[0])
    out = xo.copy()
    for c in np.flatnonzero(np.isnan(xo).any(0)):
        ok = ~np.isnan(xo[:, c])
        out[:, c] = np.interp(t, t[ok], xo[ok, c]) if ok.any() else 0.0
    return out


def _model_fill(model, motion: Motion, mask: np.ndarray, style: str | None) -> np.ndarray:
    """The model's fill of the masked entries of ``motion`` (its values there are a first guess), (T, C) with
    NaN elsewhere: :func:`crbm.motion.sample.fill_both_sides` on each sub-clip in the model's representation, the
    model channels of every missing joint (and, when a preprocessing step depends on earlier frames, the
    frame after each gap) left free."""
    from crbm.motion.sample import fill_both_sides

    net = model._one_layer()
    k, groups = _sub_clips(motion, model.fps)
    joint_of = [c.rsplit(".", 1)[0] for c in model.channels]
    file_joint = np.array([n.rsplit(".", 1)[0] for n in motion.channel_names])
    missing_joints = sorted(set(file_joint[mask.any(0)]))
    out = np.full(motion.frames.shape, np.nan)
    for idx in groups:
        clip = motion.replace(frames=motion.frames[idx], fps=motion.fps / k) if k else motion
        z = _normalised(model, clip)
        times = np.arange(z.shape[0]) / model.fps  # each model frame's time in the clip
        rows = idx if k else np.minimum(np.round(times * motion.fps).astype(int), motion.n_frames - 1)
        free = torch.zeros(z.shape, dtype=torch.bool)
        for j in missing_joints:
            hit = mask[rows][:, file_joint == j].any(1)
            if _temporal_step(model) is not None:
                hit = hit | np.concatenate([[False], hit[:-1]])
            cols = [i for i, name in enumerate(joint_of) if name == j]
            free[np.ix_(np.flatnonzero(hit), cols)] = True
        if not free.any() or z.shape[0] <= net.order:
            continue
        filled = fill_both_sides(net, z, free, labels=model._labels_for(style, z.shape[0]))
        frames = _on_clip(model, clip, z, filled, per_frame=False)
        back = _back_to_rate(motion, k, idx, frames, model.fps)
        out = np.where(np.isnan(back), out, back)
    return np.where(mask, out, np.nan)


def _blend_edges(y: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``y`` with each masked run [s, e) of each column shifted by the linear blend of the mismatches
    ``x - y`` at the recorded frames s - 1 and e (one side only at the clip's ends), so the fill meets the
    recorded values exactly at both edges."""
    out = y.copy()
    n = y.shape[0]
    for c in np.flatnonzero(mask.any(0)):
        m = np.concatenate([[False], mask[:, c], [False]]).astype(np.int8)
        starts, ends = np.flatnonzero(np.diff(m) == 1), np.flatnonzero(np.diff(m) == -1)
        for s, e in zip(starts, ends):
            left = x[s - 1, c] - y[s - 1, c] if s > 0 else None
            right = x[e, c] - y[e, c] if e < n else None
            if left is None and right is None:
                continue
            w = (np.arange(s, e) - s + 1) / (e - s + 1)
            left = right if left is None else left
            right = left if right is None else right
            out[s:e, c] += (1 - w) * left + w * right
    return out


def _validation_windows(motion: Motion, mask: np.ndarray, gaps: Sequence[Gap], margin: int) -> list[tuple[int, Gap]]:
    """For each gap (by index), up to four windows of its length and joints where those joints were recorded,
    ``margin`` frames clear of every gap, of each other and of the clip's ends (spread over the places that
    fit), to be hidden and filled as a check; where none fits, windows of half, then a quarter of its length
    (at least 5 frames)."""
    n = motion.n_frames
    busy = np.convolve(mask.any(1), np.ones(2 * margin + 1), mode="same") > 0  # gaps and their margins
    out = []
    for i, g in enumerate(gaps):
        for length in sorted({g.end - g.start, max(5, (g.end - g.start) // 2), max(5, (g.end - g.start) // 4)},
                             reverse=True):
            starts = [s for s in range(margin, n - length - margin + 1) if not busy[s : s + length].any()]
            chosen: list[int] = []
            spread = {starts[int(f * (len(starts) - 1))] for f in (0.125, 0.375, 0.625, 0.875)} if starts else set()
            for s in sorted(spread):
                if all(abs(s - c) >= length + margin for c in chosen):
                    chosen.append(s)
                    out.append((i, Gap(g.joints, s, s + length)))
            if chosen:
                break
    return out


def _interpolations(motion: Motion, gaps: Sequence[Gap], reference: np.ndarray, period: np.ndarray) -> list:
    """:func:`interpolate_gaps` of ``gaps`` by each of ``INTERPOLATIONS``, (T, C) each, angles moved by whole
    turns next to ``reference`` (T, C) (the unwrapped clip)."""
    return [_near(interpolate_gaps(motion, gaps, method=m).frames, reference, period) for m in INTERPOLATIONS]


def _fill_candidates(motion: Motion, gaps: Sequence[Gap], mask: np.ndarray, x: np.ndarray, offsets: np.ndarray,
                     r: np.ndarray, model, style: str | None
                     ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The candidate fills of :func:`fill_motion` with a model, on the unwrapped clip ``x`` (T, C) (whole
    turns ``offsets``, :func:`_unwrap`; noise variances ``r`` (C,)) whose ``mask`` (T, C) entries are
    missing: ``(checks, on_windows,
    finals)``. ``checks[i]`` (T, C) bool marks the validation windows of gap i (none where the clip has no
    room); ``on_windows`` are the candidates with every window hidden as well, ``finals`` the same
    candidates with only the gaps missing, in the order: the smoother with the model at each weight of
    ``WEIGHTS``, then each of ``INTERPOLATIONS``."""
    _, period = _channel_units(motion.skeleton)
    xo = np.where(mask, np.nan, x)
    k, _ = _sub_clips(motion, model.fps)
    windows = _validation_windows(motion, mask, gaps, (model.order + 1) * max(k, 1) + 2)
    checks = [_gap_mask(motion, [w for j, w in windows if j == i], None) if any(j == i for j, _ in windows)
              else np.zeros_like(mask) for i in range(len(gaps))]
    hidden = mask | np.any(checks, axis=0)
    xh = np.where(hidden, np.nan, x)
    guess = _linear_fill(xh)
    start = motion.replace(frames=guess - offsets)
    with phases(3, desc="fill") as advance:
        advance("the model's inference in the gaps")
        pseudo = _near(_model_fill(model, start, hidden, style), guess, period)
        m, k = model_predictions(model, start, style=style)
        p = _pseudo_variance(xh, _near(m, guess, period), r, k)
        advance("candidates on the take's own windows")
        on_windows = _weighings(xh, r, smooth_series(xh, r)[1], pseudo, p)
        on_windows += _interpolations(motion, [*gaps, *(w for _, w in windows)], x, period)
        advance("candidates in the gaps")
        in_gaps = np.where(mask, pseudo, np.nan)
        finals = [_blend_edges(y, x, mask) for y in _weighings(xo, r, smooth_series(xo, r)[1], in_gaps, p)]
        finals += _interpolations(motion, gaps, x, period)
    return checks, on_windows, finals


def _window_errors(motion: Motion, x: np.ndarray, offsets: np.ndarray, check: np.ndarray,
                   candidates: Sequence[np.ndarray]) -> np.ndarray:
    """Each candidate's error on a gap's windows (K,): the mean over the windows' frames (``check`` (T, C)
    marks their entries) and the skeleton's joints of the distance between the joint positions (forward
    kinematics, in the clip's length unit) of the recorded clip and of the clip with the candidate (T, C,
    unwrapped like ``x``; ``offsets``: the whole turns) in the windows."""
    from crbm.mocap.kinematics import joint_positions

    rows = check.any(1)
    truth = joint_positions(motion.replace(frames=motion.frames[rows]))
    return np.array([np.linalg.norm(joint_positions(motion.replace(frames=(np.where(check, c, x) - offsets)[rows]))
                                    - truth, axis=-1).mean() for c in candidates])


def _shares(errors: Sequence[float]) -> np.ndarray:
    """The candidates' shares of a gap's blend (K,) from their errors e_k (K,) on the gap's windows:
    w_k = (min_j e_j / e_k)^SHARPNESS / sum_i (min_j e_j / e_i)^SHARPNESS, so the best candidate leads and
    one clearly better than the rest takes nearly all (a candidate with no error takes the whole share;
    e_k <= 1e-300 counts as 1e-300)."""
    e = np.maximum(np.asarray(errors, dtype=np.float64), 1e-300)
    w = (e.min() / e) ** SHARPNESS
    return w / w.sum()


def fill_motion(motion: Motion, gaps: Sequence[Gap], *, model=None, style: str | None = None) -> Motion:
    """Fill the ``gaps`` of a clip from both sides (module docstring): the motion model's inference
    (``model``, a ``MotionModel``; None: the spline alone) as pseudo-observations inside each gap, the
    smoother through the recorded frames, the edges blended. Recorded entries come back exactly; the result
    has ``motion``'s skeleton, rate and frame count. CRBMError (before any work) for a gap that is empty,
    outside the clip or names a joint the clip or the model does not have.

    How much each gap trusts the model is decided on the take itself (stacking): windows of the gap's length
    where its joints were recorded (:func:`_validation_windows`) are hidden too and filled by every
    candidate, the smoother with the model at each weight of ``WEIGHTS`` (multiples of 1 / p_c, 0: the spline
    alone) and each of :func:`interpolate_gaps`' ``INTERPOLATIONS`` (linear, cubic spline, slerp); the gap is
    the candidates' blend with shares (min_j e_j / e_k)^SHARPNESS, normalised, e_k candidate k's mean joint
    position error on the windows (:func:`_window_errors`, :func:`_shares`): the best leads, and one clearly
    better than the rest takes nearly all (the smoother at the model's nominal weight where the clip has no
    room for a window). Every candidate meets the recorded frames at the gap's edges, so the blend does too.
    A joint near gimbal lock is filled in another rotation order, as :func:`denoise_motion` smooths it."""
    mask = _gap_mask(motion, gaps, model)
    work = _away_from_lock(motion, ~mask)
    filled = _fill(work, gaps, mask, model=model, style=style)
    if work is motion:
        return filled
    _, period = _channel_units(motion.skeleton)
    guide = _linear_fill(np.where(mask, np.nan, _unwrap(motion.frames, period, ~mask)[0]))  # branch in the gaps
    frames = _reorder(filled.frames, work.skeleton, motion.skeleton, reference=guide)
    return filled.replace(skeleton=motion.skeleton, frames=np.where(mask, frames, motion.frames))


def _fill(motion: Motion, gaps: Sequence[Gap], mask: np.ndarray, *, model, style: str | None) -> Motion:
    """:func:`fill_motion` on a clip whose joints are all in the orders to fill them in; ``mask``: its gaps."""
    _, period = _channel_units(motion.skeleton)
    x, offsets = _unwrap(motion.frames, period, ~mask)
    xo = np.where(mask, np.nan, x)
    r = noise_variances(motion, x, observed=~mask)
    name = f"{motion.name}_filled"
    if model is None:
        y, _ = smooth_series(xo, r)
        return motion.replace(frames=np.where(mask, _blend_edges(y, x, mask), x) - offsets, name=name)
    checks, on_windows, finals = _fill_candidates(motion, gaps, mask, x, offsets, r, model, style)
    y = x.copy()
    for g, check in zip(gaps, checks, strict=True):
        if check.any():
            share = _shares(_window_errors(motion, x, offsets, check, on_windows))
        else:  # no room for a window: the smoother with the model at its nominal weight
            share = np.array([w == 1.0 for w in WEIGHTS] + [False] * len(INTERPOLATIONS), dtype=float)
        blend = sum(a * f for a, f in zip(share, finals))
        y = np.where(_gap_mask(motion, [g], None), blend, y)
    return motion.replace(frames=np.where(mask, y, x) - offsets, name=name)


# ------------------------------------------------------------------------------------------- the online filter
class OnlineFilter:
    """Clean a stream of frames as they come, with a fixed delay of ``lag`` frames.

    ``push(frame)`` takes the next recorded frame (C,) of ``skeleton``'s channels (NaN: not recorded, e.g.
    an occluded marker's joint) and returns the cleaned frame ``lag`` frames back (None for the first ``lag``
    frames); ``flush()`` returns the last ``lag`` frames at the end of the stream. Per channel this is the
    smoother's forward pass (module docstring) with the last ``lag`` frames smoothed backward: ``lag = 0``
    is the Kalman filter, each extra frame of delay uses one more frame of the future. The default, 16
    frames (133 ms at 120 fps), is the delay from which the filter cleaned walks at 30, 60 and 120 fps
    better than Savitzky-Golay and Butterworth filters tuned for the same noise level, which see the whole
    take (``tools/bench.py cleanup``); a lag of 1 answers at once but leaves about 1.6 times the error.
    Latency: ``lag / fps`` seconds plus the computation: O(channels x (len(Q_RATIOS) + lag)) a frame, and
    now and then a noise estimate over the window (``tools/bench.py cleanup`` times it).

    Parameters are chosen as the frames come: the noise level (unless ``noise_std`` / ``position_noise_std`` give
    it) by :func:`estimate_noise` over the last ``window`` frames (default two seconds and at least 64; at least 11
    if given), first after 11 frames (:func:`estimate_noise` needs 11 frames of a channel), then after 16, 24, 32,
    48 and 64 frames and every 32 frames after that. Up to frame 64 each estimate that moves a noise level filters
    the frames so far again from the first (``_REPLAY``; given levels never move), so the frames still held back are
    cleaned as if the estimate had been known from the start: with ``lag`` >= 10 no output is left uncleaned; the
    replays' cost (at most 64 pushes' worth, at frame 64) falls on the few frames where an estimate is made. Before
    the first estimate, and for a channel whose noise level is 0, each output is its recorded value (no value is
    rejected as an outlier against a noise level not yet known). The smoothing is chosen per channel by running all
    ``Q_RATIOS`` side by side and following, for each channel, the one whose predictive density of the last
    ``window`` frames (exponentially weighted) is highest. Angles are unwrapped as they come and returned on the
    input's branch. Each joint's rotation order is chosen from the rig and the first frame (:func:`_online_orders`):
    a limb joint's with the bone's own axis in the middle, a joint within 30 degrees of gimbal lock in the first
    frame the one farthest from it (a joint with one of its three angles missing is then missing in all three);
    each cleaned frame comes back in the file's orders. The motion model is not in this loop: mapping a frame
    into a model's representation and back costs milliseconds, so the model cleans offline
    (:func:`denoise_motion`, :func:`fill_motion`).
    """

    def __init__(
        self,
        skeleton: Skeleton,
        fps: float,
        *,
        noise_std: float | None = None,
        position_noise_std: float | None = None,
        lag: int = 16,
        window: int | None = None,
    ):
        if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
            raise CRBMError(f"lag must be a whole number of frames >= 0, got {lag!r}")
        self.fps = check_fps(fps, "OnlineFilter fps")
        if window is None:
            window = max(64, round(2 * self.fps))
        if isinstance(window, bool) or not isinstance(window, int) or window < _REFITS[0]:
            raise CRBMError(f"window must be a whole number of frames >= {_REFITS[0]} (the frames a noise estimate "
                            f"needs), got {window!r}")
        self.skeleton, self.lag, self.window = skeleton, lag, window
        self.channels = len(skeleton.channel_names)
        self._rotation, self._period = _channel_units(skeleton)
        self._given = {"noise_std": _check_std(noise_std, "noise_std"),
                       "position_noise_std": _check_std(position_noise_std, "position_noise_std")}
        c = self.channels
        self._refit(np.zeros((0, c)))  # the noise level given, or a floor until frames come
        self._decay = 1 - 1 / window
        self._score = np.zeros(len(Q_RATIOS) * c)
        self._state: _State | None = None
        self._spread = np.full(len(Q_RATIOS) * c, 1e4)
        self._raw: deque = deque(maxlen=window)  # recent unwrapped frames, for the noise level
        self._first: list = []  # the first _REPLAY frames' _step arguments, replayed when the noise level moves
        self._unwrapped = np.full(c, np.nan)  # last recorded value of each channel, unwrapped
        # (mean, cov, pmean, pcov, offsets, passed, recorded) of the last frames; passed: the recorded values that
        # come out as they are (channels without a noise level yet), NaN elsewhere; recorded: the frame as it came
        self._tail: deque = deque(maxlen=lag + 1)
        self._work: Skeleton | None = None  # the rotation orders filtered in (_online_orders of the first frame)
        self.frames_in = 0

    @property
    def latency(self) -> float:
        """Seconds between a frame's arrival and its cleaned output, not counting computation: lag / fps."""
        return self.lag / self.fps

    def _refit(self, recent: np.ndarray) -> None:
        """The noise level (unless given) and the outliers' density from the recent unwrapped frames."""
        m = Motion(self.skeleton, np.zeros((1, self.channels)), self.fps)
        self._r = noise_variances(m, np.nan_to_num(recent), observed=~np.isnan(recent), **self._given)
        self._outlier = np.tile(_outlier_density(recent, self._r), len(Q_RATIOS))

    def _check(self, frame) -> np.ndarray:
        y = np.asarray(frame, dtype=np.float64)
        if y.shape != (self.channels,):
            raise CRBMError(f"OnlineFilter: expected a frame of {self.channels} values, got shape {y.shape}")
        if np.isinf(y).any():
            raise CRBMError(f"OnlineFilter: frame {self.frames_in} holds an infinite value (NaN marks a missing one)")
        return y

    def push(self, frame) -> np.ndarray | None:
        """Take the next frame (C,); return the cleaned frame ``lag`` frames back, or None while fewer than
        ``lag + 1`` frames have come."""
        recorded = self._check(frame)
        if self._work is None:  # the rotation orders to filter in, from the rig and the first frame
            self._work = _online_orders(Motion(self.skeleton, np.nan_to_num(recorded)[None], self.fps))
        y = _reorder(recorded[None], self.skeleton, self._work)[0]
        has = ~np.isnan(y)
        # unwrap each angle next to the channel's previous recorded value
        p = np.where(np.isfinite(self._period), self._period, 1.0)
        ref = np.where(np.isnan(self._unwrapped), y, self._unwrapped)
        turns = np.where(np.isfinite(self._period) & has, np.round((ref - y) / p), 0.0)
        u = y + turns * p
        self._unwrapped = np.where(has, u, self._unwrapped)
        offsets = np.where(has, turns * p, np.nan)
        self._raw.append(u)
        n = self.frames_in = self.frames_in + 1
        if n <= _REPLAY:
            self._first.append((u, offsets, y, recorded))
        if n in _REFITS or (n > _REPLAY and n % 32 == 0):
            before = self._r
            self._refit(np.asarray(self._raw))
            if n <= _REPLAY and not np.array_equal(before, self._r):  # the frames so far, with the new level
                self._state, self._score = None, np.zeros_like(self._score)
                self._tail.clear()
                for frame_so_far in self._first[:-1]:
                    self._step(*frame_so_far)
            if n == _REPLAY:
                self._first.clear()
        self._step(u, offsets, y, recorded)
        return self._output(len(self._tail) - 1 - self.lag) if len(self._tail) > self.lag else None

    def _step(self, u: np.ndarray, offsets: np.ndarray, y: np.ndarray, recorded: np.ndarray) -> None:
        """The forward pass over one frame (``u``: unwrapped, ``offsets``: its whole turns, ``y``: in the
        filtered orders, ``recorded``: as it came), kept in the tail."""
        g = len(Q_RATIOS)
        r, q = np.tile(self._r, g), np.repeat(Q_RATIOS, self.channels) * np.tile(self._r, g)
        obs = np.tile(u, g)
        if self._state is None:
            self._state = _State(np.nan_to_num(obs), r, self._spread)
            self._since = np.full(obs.shape, -1)
        else:
            self._state.predict(q)
        pmean, pcov = self._state.stack()
        known = r > _NOISE_FLOOR**2  # a channel at the floor (no estimate yet, or 0) follows its recorded values
        self._score = self._decay * self._score + self._state.observe(obs, r, self._spread, self._outlier, known)
        mean, cov = self._state.stack()
        self._tail.append((mean, cov, pmean, pcov, self._state.restarted, offsets,
                           np.where(known[: self.channels], np.nan, y), recorded, obs))
        # a jump, taken in again from where it happened (as far back as the tail reaches; scored as before)
        jumped = np.flatnonzero(self._state.restarted & (self._since >= 0))
        began = np.maximum(len(self._tail) - 2 - self._since[jumped], 0)
        self._since = np.where(self._state.rejected == 0, -1, self._since + 1)
        tail = list(self._tail) if jumped.size else []
        for i0 in np.unique(began):
            cols = jumped[began == i0]
            some = self._state.part(cols)
            rows = _refilter(some, np.array([f[8][cols] for f in tail[i0:]]), r[cols], q[cols], self._spread[cols])
            for f, (pm, pc, m, cv, restarted) in zip(tail[i0:], rows):
                if pm is not None:
                    f[2][cols], f[3][cols] = pm, pc
                f[0][cols], f[1][cols], f[4][cols] = m, cv, restarted
            self._state.put(cols, some)

    def _output(self, index: int) -> np.ndarray:
        """The cleaned frame at ``index`` in the kept tail: the chosen series of each channel smoothed back
        from the newest frame, on its recorded frame's branch."""
        c = self.channels
        best = self._score.reshape(len(Q_RATIOS), c).argmax(0) * c + np.arange(c)
        part = list(self._tail)[index:]
        fw = _Forward(*(np.stack([f[i][best] for f in part]) for i in range(5)), np.zeros(c))
        value = _backward(fw)[0]
        offsets, passed, recorded = self._tail[index][5:8]
        back = np.where(np.isnan(offsets), value, value - np.nan_to_num(offsets))
        back = back - np.where(np.isnan(offsets), self._last_turns(index), 0.0)
        back = _reorder(back[None], self._work, self.skeleton, reference=recorded[None])[0]
        return np.where(np.isnan(passed), back, recorded)

    def _last_turns(self, index: int) -> np.ndarray:
        """Whole turns of the last recorded value at or before ``index`` in the tail (0 if none there)."""
        out = np.zeros(self.channels)
        for f in list(self._tail)[: index + 1]:
            out = np.where(np.isnan(f[5]), out, f[5])
        return out

    def flush(self) -> list[np.ndarray]:
        """The cleaned frames still held back (the last ``lag``), oldest first, at the end of the stream."""
        n = len(self._tail)
        return [self._output(i) for i in range(max(0, n - self.lag), n)] if self._tail else []

    def run(self, frames: Iterable) -> np.ndarray:
        """Every frame of ``frames`` (an iterable of (C,) rows) through :meth:`push` and :meth:`flush`:
        the cleaned frames (T, C), frame i being the output for input i."""
        out = [o for f in frames if (o := self.push(f)) is not None]
        return np.asarray(out + self.flush()).reshape(-1, self.channels)


# ----------------------------------------------------------------------------------------------- streams
def read_frames(lines: Iterable[str], channels: int, *, source: str = "standard input") -> Iterable[np.ndarray]:
    """Frames from text, one line per frame of ``channels`` whitespace-separated numbers (``nan`` marks a
    value not recorded), yielded as they come; blank lines are skipped. CRBMError naming ``source`` and the
    line for a line that is not a whole frame (a stream that ends mid-frame, a stray value) or holds
    something other than a number or an infinity."""
    for i, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != channels:
            raise CRBMError(f"{source}, line {i}: {len(parts)} values, expected {channels} (one frame of the "
                            "skeleton's channels per line; a stream must not end mid-frame)")
        try:
            row = np.array([float(p) for p in parts])
        except ValueError:
            bad = next(p for p in parts if not _is_number(p))
            raise CRBMError(f"{source}, line {i}: {bad!r} is not a number") from None
        if np.isinf(row).any():
            raise CRBMError(f"{source}, line {i}: an infinite value (write nan for a value not recorded)")
        yield row


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_frame(frame: np.ndarray) -> str:
    """One frame as a line of whitespace-separated numbers (10 significant digits), the inverse of
    :func:`read_frames` for a line."""
    return " ".join(f"{v:.10g}" for v in frame)


# ------------------------------------------------------------------------------------------------ baselines
INTERPOLATIONS = ("linear", "spline", "slerp")


def interpolate_gaps(motion: Motion, gaps: Sequence[Gap], *, method: str = "linear") -> Motion:
    """The usual ways of bridging gaps, for comparison with :func:`fill_motion`: each missing channel
    ``"linear"``: linearly between the recorded frames on either side (angles unwrapped); ``"spline"``: along
    the not-a-knot cubic spline through every recorded frame of the channel (``scipy.interpolate``);
    ``"slerp"``: per joint, the quaternion slerp between the frames before and after the gap (positions
    linearly; ``crbm.mocap.resample``'s interpolation). Beyond the first or last recorded frame each holds
    the nearest one. A channel with fewer than two recorded frames (spline), or a gap with no recorded frame
    on either side (slerp), is filled linearly; a channel with nothing recorded is 0. Recorded entries come
    back exactly."""
    from scipy.interpolate import CubicSpline

    from crbm.mocap.resample import _interpolate as slerp_frames

    if method not in INTERPOLATIONS:
        raise CRBMError(f"unknown interpolation {method!r}; expected one of {list(INTERPOLATIONS)}")
    mask = _gap_mask(motion, gaps, None)
    _, period = _channel_units(motion.skeleton)
    x, offsets = _unwrap(motion.frames, period, ~mask)
    xo = np.where(mask, np.nan, x)
    out = _linear_fill(xo) - offsets  # also where a spline or a slerp has too little to go on
    if method == "spline":
        t = np.arange(motion.n_frames)
        for c in np.flatnonzero(mask.any(0)):
            ok = ~mask[:, c]
            if ok.sum() >= 2:
                inside = (t >= t[ok][0]) & (t <= t[ok][-1])
                curve = np.where(inside, CubicSpline(t[ok], x[ok, c])(np.clip(t, t[ok][0], t[ok][-1])), np.nan)
                out[:, c] = np.where(np.isnan(curve), _linear_fill(xo[:, [c]])[:, 0], curve) - offsets[:, c]
    elif method == "slerp":
        for g in gaps:
            if g.start == 0 and g.end == motion.n_frames:
                continue  # nothing recorded on either side: the linear fill's values stand
            a = motion.frames[g.start - 1] if g.start > 0 else motion.frames[g.end]
            b = motion.frames[g.end] if g.end < motion.n_frames else a
            f = (np.arange(g.start, g.end) - g.start + 1) / (g.end - g.start + 1)
            rows = len(f)
            between = slerp_frames(motion, np.tile(a, (rows, 1)), np.tile(b, (rows, 1)), f)
            cols = np.isin([c.rsplit(".", 1)[0] for c in motion.channel_names], list(g.joints))
            out[g.start : g.end, cols] = between[:, cols]
    return motion.replace(frames=np.where(mask, out, motion.frames), name=f"{motion.name}_{method}")
