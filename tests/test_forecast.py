"""Prediction errors and baselines, denoising baselines, and the CMU-35 missing-data protocol."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from crbm.motion.forecast import (
    LinearAR,
    butter_denoise,
    gpmat_errors,
    holding,
    nearest_neighbour_baselines,
    prediction_errors,
    prediction_starts,
    savgol_denoise,
    taylor_nearest_neighbour,
    taylor_pair_error,
    tune_savgol,
    unpredictable_channels,
    zero_velocity,
)

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def _ar2_clip(n=80, seed=0):
    rng = np.random.default_rng(seed)
    m1, m2 = np.array([[1.6, 0.1], [0.0, 1.5]]), np.array([[-0.8, 0.0], [0.05, -0.7]])
    x = [rng.standard_normal(2), rng.standard_normal(2)]
    for _ in range(n - 2):
        x.append(m1 @ x[-1] + m2 @ x[-2] + np.array([0.1, -0.2]))
    return torch.tensor(np.array(x)), m1, m2


def test_linear_ar_recovers_an_exact_ar_process():
    clip, m1, m2 = _ar2_clip()
    ar = LinearAR.fit([clip], 2, ridge=0.0)
    torch.testing.assert_close(ar.weight, torch.tensor(np.concatenate([m1, m2], 1)), atol=1e-8, rtol=0)
    torch.testing.assert_close(ar.bias, torch.tensor([0.1, -0.2], dtype=F64), atol=1e-8, rtol=0)
    errors = prediction_errors(ar, [clip], order=2, horizons=(1, 4, 16))
    assert all(e < 1e-6 for e in errors.values())


def test_prediction_errors_use_the_same_starts_and_scale():
    clip = torch.arange(20, dtype=F64).reshape(10, 2)  # constant velocity of 2 per frame
    assert prediction_starts([clip], 2, 4) == [(0, t) for t in range(2, 7)]
    errors = prediction_errors(zero_velocity, [clip], order=2, horizons=(1, 4))
    assert errors == {1: 2.0, 4: 8.0}
    scaled = prediction_errors(zero_velocity, [clip], order=2, horizons=(1,), scale=torch.tensor([3.0, 0.0]))
    assert scaled[1] == pytest.approx(6.0 / np.sqrt(2))


def test_unpredictable_channels_are_those_where_holding_still_wins():
    g = torch.Generator().manual_seed(0)
    walk = torch.randn(400, generator=g, dtype=F64).cumsum(0)  # a random walk: the last value is the best guess
    noise = torch.randn(400, generator=g, dtype=F64)  # white noise about 0: its mean is the best guess
    clip = torch.stack([walk, noise], 1)

    def mean(seeds, horizon, labels):  # always predicts 0
        return seeds.new_zeros(seeds.shape[0], horizon, seeds.shape[2])

    held = unpredictable_channels(mean, [clip], order=2, still=lambda seeds: seeds[:, -1])
    assert held.tolist() == [True, False]


def test_holding_keeps_the_held_channels_still_and_rolls_the_others():
    clip, _, _ = _ar2_clip()
    ar = LinearAR.fit([clip], 2, ridge=0.0)
    seeds = clip[None, 10:12]
    free = holding(ar, torch.tensor([False, False]), lambda s: s[:, -1])(seeds, 5, None)
    torch.testing.assert_close(free, ar(seeds, 5))  # nothing held: the predictor's own rollout
    held = holding(ar, torch.tensor([True, False]), lambda s: s[:, -1])(seeds, 5, None)
    assert torch.equal(held[0, :, 0], clip[11, 0].expand(5))
    # channel 1 follows the AR given channel 0 held: one step at a time by hand
    window = seeds.clone()
    for t in range(5):
        step = ar(window, 1)[:, 0]
        step[:, 0] = clip[11, 0]
        torch.testing.assert_close(held[:, t], step)
        window = torch.cat([window[:, 1:], step[:, None]], 1)



def test_scipy_filters_and_tuning_reduce_noise():
    t = np.linspace(0, 6, 200)
    clip = np.stack([np.sin(t), np.cos(2 * t)], 1)
    rng = np.random.default_rng(0)
    noisy = clip + 0.2 * rng.standard_normal(clip.shape)
    best = tune_savgol([clip], 0.2, rng=np.random.default_rng(1))
    for out in (savgol_denoise(noisy, **best), butter_denoise(noisy, cutoff=0.1, order=2)):
        assert np.sqrt(np.mean((out - clip) ** 2)) < 0.5 * np.sqrt(np.mean((noisy - clip) ** 2))


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
