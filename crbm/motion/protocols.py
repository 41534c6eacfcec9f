"""Published evaluation protocols of the motion models, with their baselines.

* Denoising baselines: Savitzky-Golay and zero-phase Butterworth low-pass filters (scipy), their settings
  tuned on noisy copies of the training clips, and their causal forms that output each frame ``lag`` frames
  after it arrives (the online filter's latency); ``tune_filter_factor`` tunes the model filters of
  ``crbm.motion.sample`` the same way.
* The CMU-35 missing-data protocol (Taylor et al. 2006 as recreated in GPmat; the data folder's
  ``mocap/MISSING_DATA_PROTOCOL.md``): both error formulas and the nearest-neighbour baselines.

The CMU motion-prediction benchmark's protocol reads its own file format: ``crbm.mocap.cmubench``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


# ---------------------------------------------------------------------------------------------- denoising
def savgol_denoise(clip: np.ndarray, *, window: int, polyorder: int) -> np.ndarray:
    """Savitzky-Golay smoothing of each channel of (T, D) (scipy.signal.savgol_filter, mode 'interp')."""
    from scipy.signal import savgol_filter

    window = min(window, clip.shape[0] - (1 - clip.shape[0] % 2))
    if window <= polyorder:
        return clip.copy()
    return savgol_filter(clip, window, polyorder, axis=0)


def butter_denoise(clip: np.ndarray, *, cutoff: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass of each channel of (T, D) (scipy.signal.butter + sosfiltfilt);
    ``cutoff`` is a fraction of the Nyquist frequency."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, cutoff, output="sos")
    return sosfiltfilt(sos, clip, axis=0, padlen=min(3 * (2 * len(sos) + 1), clip.shape[0] - 1))


def savgol_causal(clip: np.ndarray, *, window: int, polyorder: int, lag: int) -> np.ndarray:
    """Savitzky-Golay smoothing of each channel of (T, D) that sees ``lag`` frames ahead and no further:
    frame t is the value at t of the degree-``polyorder`` least-squares polynomial through frames
    t + lag - window + 1 .. t + lag (``scipy.signal.savgol_coeffs`` at that position). Frames before the
    first and after the last are the first and the last frame repeated, so frame t never depends on a frame
    after t + lag (the stream's end is flushed with shorter reach, as an online filter does)."""
    from scipy.signal import savgol_coeffs

    if not 0 <= lag < window or polyorder >= window:
        raise ValueError(f"savgol_causal: need 0 <= lag < window and polyorder < window, got lag {lag}, "
                         f"window {window}, polyorder {polyorder}")
    taps = savgol_coeffs(window, polyorder, pos=window - 1 - lag, use="dot")  # taps[j] weighs frame t+lag-window+1+j
    padded = np.concatenate([np.repeat(clip[:1], window - 1 - lag, 0), clip, np.repeat(clip[-1:], lag, 0)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (T, D, window)
    return frames @ taps


def butter_causal(clip: np.ndarray, *, cutoff: float, order: int, lag: int) -> np.ndarray:
    """A causal Butterworth low-pass of each channel of (T, D) (``scipy.signal.sosfilt``, started at rest on
    the first frame) read ``lag`` frames late: frame t is the filter's output after frame t + lag, which
    offsets part of the filter's group delay (the last frame repeated past the end). ``cutoff`` is a
    fraction of the Nyquist frequency."""
    from scipy.signal import butter, sosfilt, sosfilt_zi

    sos = butter(order, cutoff, output="sos")
    padded = np.concatenate([clip, np.repeat(clip[-1:], lag, 0)])
    zi = sosfilt_zi(sos)[:, :, None] * padded[0]  # (sections, 2, D): at rest on the first frame
    return sosfilt(sos, padded, axis=0, zi=zi)[0][lag:]


def _tune(filter_fn, grid: list[dict], clips: Sequence[np.ndarray], noise_std: float, rng: np.random.Generator):
    noisy = [c + noise_std * rng.standard_normal(c.shape) for c in clips]
    best = None
    for params in grid:
        err = np.mean([np.mean((filter_fn(n, **params) - c) ** 2) for n, c in zip(noisy, clips)])
        if best is None or err < best[0]:
            best = (err, params)
    return best[1]


def tune_savgol(clips: Sequence[np.ndarray], noise_std: float, *, rng: np.random.Generator) -> dict:
    """The Savitzky-Golay (window, polyorder) with the lowest mean squared error on noisy copies of ``clips``."""
    grid = [{"window": w, "polyorder": p} for w in range(5, 32, 2) for p in (1, 2, 3, 4) if p < w]
    return _tune(savgol_denoise, grid, clips, noise_std, rng)


def tune_butter(clips: Sequence[np.ndarray], noise_std: float, *, rng: np.random.Generator) -> dict:
    """The Butterworth (cutoff, order) with the lowest mean squared error on noisy copies of ``clips``."""
    grid = [{"cutoff": c, "order": o} for c in np.geomspace(0.03, 0.9, 24).round(4).tolist() for o in (1, 2, 3, 4)]
    return _tune(butter_denoise, grid, clips, noise_std, rng)


# ------------------------------------------------------------------------------- missing-data protocol
#: the 50 joint-angle channels used by the protocol (GPmat generalInd, 0-based AMC columns)
GENERAL_IND = np.array([*range(6, 38), *range(40, 47), 48, 49, *range(52, 59), 60, 61])
#: the missing sets (0-based AMC columns): right leg (7) and upper body (30)
MISSING_SETS = {"leg": GENERAL_IND[7:14], "body": GENERAL_IND[20:50]}
#: first missing frame (0-based, within 35_29) under GPmat's formula (frames 64..125 1-based) and under the
#: Taylor pair formula (frame 63 is hidden inside pair 63)
FIRST_MISSING = {"gpmat": 63, "pair": 62}
#: GPmat's training rows (2644 frames of 31 sequences, paired) and its N - 1 / N normalisation quirk
GPMAT_TRAIN_ROWS = 2613
_GPMAT_SCALE_QUIRK = float(np.sqrt((GPMAT_TRAIN_ROWS - 1) / GPMAT_TRAIN_ROWS))


def _wrap_deg(x: np.ndarray) -> np.ndarray:
    """asind(sind(x)): the protocol's angle representation in [-90, 90] degrees."""
    return np.rad2deg(np.arcsin(np.sin(np.deg2rad(x))))


def gpmat_errors(truth: np.ndarray, pred: np.ndarray, which: str, taylor_scale: np.ndarray) -> tuple[float, float]:
    """GPmat's fgplvmTaylorAngleErrors on representation B (cumulative scaled error, RMS degrees).

    ``truth``, ``pred``: the 125 AMC frames (125, 62) of 35_29; only the missing channels of frames
    64..125 (1-based) are compared, as wrapped angles. ``taylor_scale``: ``scale`` of cmu35TaylorScaleBias
    (59,), whose column 9 + j scales generalInd angle j.
        err_deg = wrap(truth) - wrap(pred);  rms = sqrt(mean err_deg^2);
        cumulative = sum (err_deg * scale)^2 / |M|

    GPmat normalises with the N - 1 variance of its 2613 training rows and un-normalises with the N one
    (its model file overwrites ``origScale``), so every error it prints is scaled by sqrt((N - 1) / N);
    that factor is applied here, which reproduces its published numbers exactly."""
    cols = MISSING_SETS[which]
    idx = np.searchsorted(GENERAL_IND, cols)
    rows = slice(FIRST_MISSING["gpmat"], 125)
    err = (_wrap_deg(truth[rows][:, cols]) - _wrap_deg(pred[rows][:, cols])) * _GPMAT_SCALE_QUIRK
    scaled = err * taylor_scale[9 + idx]
    return float((scaled**2).sum() / len(cols)), float(np.sqrt(np.mean(err**2)))


def taylor_pair_error(truth: np.ndarray, pred: np.ndarray, which: str, taylor_scale: np.ndarray) -> float:
    """The Taylor-NN script's error for one prediction per frame (frames 63..125, 1-based, missing):

    (|e_63|^2 + 2 sum_{f=64..124} |e_f|^2 + |e_125|^2) / (2 |M|),  e in Taylor-scaled wrapped angles."""
    cols = MISSING_SETS[which]
    idx = np.searchsorted(GENERAL_IND, cols)
    rows = slice(FIRST_MISSING["pair"], 125)
    e2 = (((_wrap_deg(truth[rows][:, cols]) - _wrap_deg(pred[rows][:, cols])) * taylor_scale[9 + idx]) ** 2).sum(1)
    weights = np.full(len(e2), 2.0)
    weights[[0, -1]] = 1.0
    return float((weights * e2).sum() / (2 * len(cols)))


def _representation_b(clip: np.ndarray) -> np.ndarray:
    """GPmat cmu35gplvm rows of one sequence: (T - 1, 59), row r = frame r + 1 (see the protocol §4)."""
    a, b = clip[:-1], clip[1:]
    rad = np.deg2rad
    return np.concatenate(
        [
            np.arcsin(np.sin(rad(b[:, GENERAL_IND]))),
            a[:, [0, 2]] - b[:, [0, 2]],
            b[:, [1]],
            np.sin(rad(b[:, [3, 5]])),
            np.sin(rad(a[:, [4]])) - np.sin(rad(b[:, [4]])),
            np.cos(rad(b[:, [3, 5]])),
            np.cos(rad(a[:, [4]])) - np.cos(rad(b[:, [4]])),
        ],
        1,
    )


def nearest_neighbour_baselines(
    train: Sequence[np.ndarray], test_walk: np.ndarray, taylor_scale: np.ndarray
) -> dict[str, tuple[float, float]]:
    """GPmat's two nearest-neighbour fill-ins (representation B) for both missing sets, scored by
    ``gpmat_errors``. Keys ``"{leg,body}/unit"`` (distance in unit-variance space; README "Scaled NN") and
    ``"{leg,body}/raw"`` (distance in raw units; README "Nearest Neighbour"); values (cumulative, RMS deg)."""
    yb = np.concatenate([_representation_b(c) for c in train])
    bias, scale = yb.mean(0), 1 / yb.std(0, ddof=1)
    tb = _representation_b(test_walk)
    out = {}
    for which, cols in MISSING_SETS.items():
        m = 7 + np.arange(len(cols)) if which == "leg" else 20 + np.arange(len(cols))
        present = np.setdiff1d(np.arange(59), m)
        rows = np.arange(FIRST_MISSING["gpmat"] - 1, 124)  # test rows of frames 64..125
        for space, f in (("unit", scale), ("raw", np.ones(59))):
            train_p = (yb[:, present] - bias[present]) * f[present]
            test_p = (tb[rows][:, present] - bias[present]) * f[present]
            best = ((test_p[:, None, :] - train_p[None]) ** 2).sum(-1).argmin(1)
            filled = test_walk.astype(np.float64).copy()
            filled[np.ix_(rows + 1, cols)] = np.rad2deg(yb[best][:, m])
            out[f"{which}/{space}"] = gpmat_errors(test_walk, filled, which, taylor_scale)
    return out


def taylor_nearest_neighbour(
    train: Sequence[np.ndarray], test_walk: np.ndarray, taylor_scale: np.ndarray, taylor_bias: np.ndarray
) -> dict[str, float]:
    """demCmu35TaylorNearestNeighbour (representation A, pairs of frames, Taylor scale/bias): errLeg, errBody."""

    def rep_a(clip):
        x = np.concatenate(
            [
                clip[:, :3],
                np.sin(np.deg2rad(clip[:, 3:6])),
                np.cos(np.deg2rad(clip[:, 3:6])),
                _wrap_deg(clip[:, GENERAL_IND]),
            ],
            1,
        )
        return np.concatenate([x[:-1], x[1:]], 1)

    sb, ss = np.concatenate([taylor_bias, taylor_bias]), np.concatenate([taylor_scale, taylor_scale])
    yn = (np.concatenate([rep_a(c) for c in train]) - sb) * ss
    tn = (rep_a(test_walk) - sb) * ss
    rows = np.arange(FIRST_MISSING["pair"], 124)
    out = {}
    for which, first, n in (("leg", 16, 7), ("body", 29, 30)):
        miss = np.concatenate([np.arange(first, first + n), 59 + np.arange(first, first + n)])
        present = np.setdiff1d(np.arange(118), miss)
        best = ((tn[rows][:, None, present] - yn[None, :, present]) ** 2).sum(-1).argmin(1)
        out[which] = float(((tn[rows][:, miss] - yn[best][:, miss]) ** 2).sum() / len(miss))
    return out


def tune_filter_factor(
    filter_fn: Callable[[Tensor, float], Tensor],
    clips: Sequence[Tensor],
    noise_std: float,
    *,
    generator: torch.Generator | None,
    factors: Sequence[float] = (0.75, 1.0, 1.5, 2.0, 3.0, 4.0),
) -> float:
    """The factor f (from ``factors``) for which ``filter_fn(noisy_clip, f)`` has the lowest mean squared
    error on noisy copies of ``clips`` (Gaussian noise of ``noise_std``). The model filters of
    ``crbm.motion.sample`` (``denoise`` with ``prediction_std=f * s``, ``smooth``) are tuned on training data this
    way, as the scipy filters are: a filtered history makes the real prediction error larger than s."""
    noisy = [c + noise_std * torch.randn(c.shape, generator=generator, dtype=c.dtype) for c in clips]
    best = None
    for f in factors:
        err = sum(float((filter_fn(n, f) - c).square().sum()) for n, c in zip(noisy, clips))
        if best is None or err < best[0]:
            best = (err, f)
    return best[1]
