"""The published protocols' pieces: the scipy denoising baselines and their tuning, the CMU-35 missing-data
error formulas by hand, and the nearest-neighbour baselines against the published table."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from crbm.motion.protocols import (
    butter_causal,
    butter_denoise,
    gpmat_errors,
    nearest_neighbour_baselines,
    savgol_causal,
    savgol_denoise,
    taylor_nearest_neighbour,
    taylor_pair_error,
    tune_savgol,
)


def test_scipy_filters_and_tuning_reduce_noise():
    t = np.linspace(0, 6, 200)
    clip = np.stack([np.sin(t), np.cos(2 * t)], 1)
    rng = np.random.default_rng(0)
    noisy = clip + 0.2 * rng.standard_normal(clip.shape)
    best = tune_savgol([clip], 0.2, rng=np.random.default_rng(1))
    for out in (savgol_denoise(noisy, **best), butter_denoise(noisy, cutoff=0.1, order=2)):
        assert np.sqrt(np.mean((out - clip) ** 2)) < 0.5 * np.sqrt(np.mean((noisy - clip) ** 2))


@pytest.mark.parametrize("lag", [0, 1, 7])
def test_causal_filters_see_lag_frames_ahead_and_no_further(lag):
    rng = np.random.default_rng(2)
    clip = rng.standard_normal((120, 3))
    later = clip.copy()
    later[60:] += rng.standard_normal((60, 3))  # frames from 60 on differ
    for fn, kw in ((savgol_causal, {"window": 15, "polyorder": 2}), (butter_causal, {"cutoff": 0.2, "order": 3})):
        a, b = fn(clip, **kw, lag=lag), fn(later, **kw, lag=lag)
        assert a.shape == clip.shape
        np.testing.assert_array_equal(a[: 60 - lag], b[: 60 - lag])  # frame t reads frames up to t + lag
        assert not np.allclose(a[60 - lag], b[60 - lag])  # and frame t + lag itself


def test_causal_savgol_is_exact_on_polynomials_and_butterworth_starts_at_rest():
    t = np.arange(80.0)[:, None]
    clip = np.hstack([3 - 0.2 * t + 0.01 * t**2, 0.5 * t])
    for lag in (0, 1, 5):
        out = savgol_causal(clip, window=11, polyorder=2, lag=lag)
        # away from the padded ends the window holds real frames only, and a quadratic is its own fit
        np.testing.assert_allclose(out[10 : 80 - lag], clip[10 : 80 - lag], atol=1e-9)
    steady = np.full((50, 2), 7.0)
    np.testing.assert_allclose(butter_causal(steady, cutoff=0.1, order=4, lag=3), steady)  # no start-up transient
    with pytest.raises(ValueError, match="lag"):
        savgol_causal(clip, window=5, polyorder=2, lag=5)


def test_error_formulas_on_synthetic_predictions():
    truth = np.zeros((125, 62))
    scale = np.ones(59)
    assert gpmat_errors(truth, truth, "leg", scale) == (0.0, 0.0)
    pred = truth.copy()
    pred[:, 13] = 1.0  # 1 degree off on rfemur.rx everywhere
    cum, rms = gpmat_errors(truth, pred, "leg", scale)
    quirk = 2612 / 2613
    assert cum == pytest.approx(62 / 7 * quirk) and rms == pytest.approx(np.sqrt(quirk / 7))
    # frames 63 and 125 count once, 64..124 twice: (1 + 2 * 61 + 1) / (2 * 7)
    assert taylor_pair_error(truth, pred, "leg", scale) == pytest.approx(124 / 14)
    pred[:62, 13] = 50.0  # frames before the missing range are not scored
    assert taylor_pair_error(truth, pred, "leg", scale) == pytest.approx(124 / 14)


@pytest.fixture(scope="module")
def gpmat(data_root):
    d = scipy.io.loadmat(data_root / "mocap" / "gpmat" / "cmu35WalkJog.mat")
    sb = scipy.io.loadmat(data_root / "mocap" / "gpmat" / "cmu35TaylorScaleBias.mat")
    ids = d["lbls"].argmax(1)
    train = [d["Y"][ids == i] for i in range(ids.max() + 1)]
    return train, d["Ytest"][44:], sb["scale"].ravel(), sb["bias"].ravel()


def test_nearest_neighbour_baselines_reproduce_the_published_table(gpmat):
    train, walk, scale, _ = gpmat
    nn = nearest_neighbour_baselines(train, walk, scale)
    # GPmat fgplvm README: "Scaled NN" 13.5 / 4.44 and 20.8 / 2.62; "Nearest Neighbour" 14.0 / 4.11, 30.9 / 3.20
    published = {"leg/unit": (13.5, 4.44), "body/unit": (20.8, 2.62), "leg/raw": (14.0, 4.11), "body/raw": (30.9, 3.20)}
    for key, (cum, rms) in published.items():
        assert round(nn[key][0], 1) == cum and round(nn[key][1], 2) == rms, (key, nn[key])


def test_taylor_nearest_neighbour_script(gpmat):
    train, walk, scale, bias = gpmat
    out = taylor_nearest_neighbour(train, walk, scale, bias)
    # the protocol file's re-run of demCmu35TaylorNearestNeighbour: errLeg 11.680, errBody 22.200
    assert round(out["leg"], 2) == 11.68 and round(out["body"], 1) == 22.2
