"""Prediction errors and baselines, denoising baselines, and the CMU-35 missing-data protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crbm.motion.forecast import (
    LinearAR,
    holding,
    prediction_errors,
    prediction_starts,
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
