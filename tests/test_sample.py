"""Generation, filtering and filling: shapes, determinism, the fast Gibbs route, clamping, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from crbm.engine import noise
from crbm.engine.errors import CRBMError
from crbm.engine.train import fit
from crbm.engine.units import Bernoulli
from crbm.motion.conditional import CRBM, TwoLayerCRBM, Windows, history, taylor_config
from crbm.motion.factored import FCRBM, LabelCRBM
from crbm.motion.sample import (
    _Settler,
    denoise,
    fill_both_sides,
    fill_missing,
    generate,
    predict_next,
    smooth,
    style_schedule,
)

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def _crbm(gen, d=4, h=6, order=2, dtype=torch.float32):
    return CRBM(d, h, order, init_std=0.3, dtype=dtype, generator=gen)


def test_generate_shapes_and_seeded_determinism(gen):
    model = _crbm(gen)
    seed = torch.randn(5, 4, generator=gen)
    a = generate(model, seed, 7, n_chains=3, generator=torch.Generator().manual_seed(1))
    b = generate(model, seed, 7, n_chains=3, generator=torch.Generator().manual_seed(1))
    c = generate(model, seed, 7, n_chains=3, generator=torch.Generator().manual_seed(2))
    assert a.shape == (3, 7, 4) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # chains draw their own samples
    with pytest.raises(CRBMError, match="seed frames"):
        generate(model, seed[:1], 3, generator=gen)


def test_first_generated_frame_is_the_documented_update(gen):
    model = _crbm(gen, dtype=F64)
    seed = torch.randn(4, 4, generator=gen, dtype=F64)
    out = generate(model, seed, 1, k=1, generator=None)  # k = 1: the mean-field update only
    u = history(seed, 2).unsqueeze(0)
    ph = model.hidden_mean(seed[-1:], u)
    torch.testing.assert_close(out[0, 0], model.visible_mean(ph, u)[0])


def test_final_samples_average_hidden_draws_and_approach_the_mean_field_update(gen):
    """k = 1, final_samples = n: E[v | mean of n draws of p(h | v, u)]. One draw lies far from the mean-field
    update, 4096 lie within the 1 / sqrt(n) law of it; the draws come from the generator, seeded."""
    model = _crbm(gen, dtype=F64)
    seed = torch.randn(4, 4, generator=gen, dtype=F64)
    exact = generate(model, seed, 1, k=1, generator=None)[:, 0]
    errors = {}
    for n in (1, 4096):
        out = generate(model, seed, 1, k=1, n_chains=8, final_samples=n, generator=torch.Generator().manual_seed(n))
        again = generate(model, seed, 1, k=1, n_chains=8, final_samples=n, generator=torch.Generator().manual_seed(n))
        assert torch.equal(out, again)
        errors[n] = (out[:, 0] - exact).abs().mean().item()
    assert errors[1] > 0.01 and errors[4096] < errors[1] / 16
    mean_field = generate(model, seed, 2, k=3, final_samples=5, mean_field=True, generator=None)
    torch.testing.assert_close(mean_field, generate(model, seed, 2, k=3, mean_field=True, generator=None))
    with pytest.raises(CRBMError, match="final_samples"):
        generate(model, seed, 1, final_samples=-1, generator=None)

@pytest.mark.parametrize("mean_field", [True, False])
def test_gram_route_equals_the_two_product_route(mean_field, gen):
    model = _crbm(gen, d=5, h=8, dtype=F64)  # H <= 2 D: the W^T W route
    u = torch.randn(3, 10, generator=gen, dtype=F64)
    v = torch.randn(3, 5, generator=gen, dtype=F64)
    cond = model.conditioned(u)
    fast = _Settler(6, mean_field, torch.Generator().manual_seed(9)).settle(cond, v)
    slow = _Settler(6, mean_field, torch.Generator().manual_seed(9))
    slow._gram_route = lambda cond, batch: None
    torch.testing.assert_close(fast, slow.settle(cond, v), rtol=1e-10, atol=1e-10)


def test_style_schedule_and_label_models_generate(gen):
    sched = style_schedule([(0, 3), (1, 4)], 2, blend=2)
    assert sched.shape == (7, 2)
    assert sched[:3].tolist() == [[1, 0]] * 3
    torch.testing.assert_close(sched[3], torch.tensor([2 / 3, 1 / 3]))  # fading from walk to run
    torch.testing.assert_close(sched[4], torch.tensor([1 / 3, 2 / 3]))
    torch.testing.assert_close(sched.sum(1), torch.ones(7))
    seed = torch.randn(3, 4, generator=gen)
    for model in (LabelCRBM(4, 6, 2, 2, generator=gen), FCRBM(4, 6, 2, 2, n_features=3, n_factors=5, generator=gen)):
        out = generate(model, seed, 7, n_chains=2, labels=sched, generator=gen)
        assert out.shape == (2, 7, 4) and bool(torch.isfinite(out).all())
        with pytest.raises(CRBMError, match="labels"):
            generate(model, seed, 7, generator=gen)


def test_guide_pulls_settled_frames_toward_their_targets(gen):
    model = LabelCRBM(4, 6, 2, 2, init_std=0.3, generator=gen)
    seed = torch.randn(3, 4, generator=gen)
    labels = style_schedule([(0, 3), (1, 4)], 2)
    target = torch.randn(2, 7, 4, generator=gen)
    weight = torch.zeros(2, 7)

    def run(w):
        return generate(model, seed, 7, n_chains=2, labels=labels, guide=(target, w),
                        generator=torch.Generator().manual_seed(4))

    free = generate(model, seed, 7, n_chains=2, labels=labels, generator=torch.Generator().manual_seed(4))
    assert torch.equal(run(weight), free)  # zero weights change nothing, not even the draws
    weight[0, 2:4] = 1.0  # chain 0 is replaced on frames 2 and 3, then runs free from there
    out = run(weight)
    assert torch.equal(out[0, 2:4], target[0, 2:4]) and torch.equal(out[0, :2], free[0, :2])
    assert torch.equal(out[1], free[1])
    assert not torch.allclose(out[0, 4:], free[0, 4:])  # the later frames follow the replaced history
    half = run(weight * 0.5)  # w = 1/2 on frame 2: halfway between the settled frame and its target
    torch.testing.assert_close(half[0, 2], (free[0, 2] + target[0, 2]) / 2)
    with pytest.raises(CRBMError, match="guide"):
        generate(model, seed, 7, labels=labels, guide=(target, weight), generator=gen)  # one chain, guides for two
    with pytest.raises(CRBMError, match="no guide"):
        generate(TwoLayerCRBM(4, (6, 5), (2, 3), generator=gen), torch.randn(5, 4), 7, n_chains=2,
                 guide=(target, weight), generator=gen)


def test_two_layer_generation(gen):
    model = TwoLayerCRBM(4, (6, 5), (2, 3), generator=gen)
    seed = torch.randn(5, 4, generator=gen)
    out = generate(model, seed, 6, n_chains=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 6, 4) and bool(torch.isfinite(out).all())
    with pytest.raises(CRBMError, match="needs at least 5"):
        generate(model, seed[:4], 3, generator=gen)


def test_a_few_chains_draw_their_frame_as_one_stream():
    """Chains whose steps are too small for a counter-based draw of their own take the frame's noise as one
    counter-based stream (two generator words a frame); below ``_ONE_STREAM_MIN`` numbers, and with torch's
    source, each step's matrix is torch's, as it was."""
    saved = noise.source()
    try:
        noise.set_source("counter")
        for chains, one_stream in ((12, True), (1, False)):
            pre, g, ref = torch.zeros(chains, 150), torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
            drawn = _Settler(30, False, g)._noise(Bernoulli(), pre)
            shape = (1, 29 * chains * 150) if one_stream else (29, chains, 150)
            assert torch.equal(drawn, noise.uniform(shape, ref, pre).view(29, chains, 150))
            assert torch.equal(g.get_state(), ref.get_state())
            torchs = torch.rand(29, chains, 150, generator=torch.Generator().manual_seed(2))
            assert torch.equal(drawn, torchs) is not one_stream
    finally:
        noise.set_source(saved)


@pytest.mark.parametrize("kind, final_samples", [("crbm", 0), ("crbm", 3), ("label", 0), ("label", 3),
                                                  ("two-layer", 0)])
def test_drawing_each_steps_noise_in_turn_changes_no_sample(kind, final_samples, gen, monkeypatch):
    """Many chains draw each Gibbs step's noise just before using it instead of the frame's at once: the same
    frames, with the same generator state after."""
    seed = torch.randn(6, 4, generator=gen)
    model, labels = {"crbm": (_crbm(gen), None),
                     "label": (LabelCRBM(4, 6, 2, 2, generator=gen), style_schedule([(0, 4), (1, 5)], 2)),
                     "two-layer": (TwoLayerCRBM(4, (6, 5), (2, 3), generator=gen), None)}[kind]
    runs = []
    for least in (1 << 62, 1):  # the frame's noise at once / every step's in turn
        monkeypatch.setattr("crbm.motion.sample._PER_STEP_MIN", least)
        monkeypatch.setattr("crbm.motion.sample._THRESHOLDS_MAX", 0)
        g = torch.Generator().manual_seed(4)
        out = generate(model, seed, 9, k=5, n_chains=3, labels=labels, final_samples=final_samples, generator=g)
        runs.append((out, g.get_state()))
    (a, state_a), (b, state_b) = runs
    assert torch.equal(a, b) and torch.equal(state_a, state_b)


@pytest.mark.parametrize("final_samples", [0, 3])
@pytest.mark.parametrize("kind", ["crbm", "label"])
def test_thresholds_for_a_few_chains_change_no_sample(kind, final_samples, gen, monkeypatch):
    """A few chains draw their hidden units by comparing with logit(u) (one call a step): the same frames as
    the sigmoid-and-compare draw of many chains, with the same generator state after."""
    seed = torch.randn(6, 4, generator=gen)
    model, labels = {"crbm": (_crbm(gen), None),
                     "label": (LabelCRBM(4, 6, 2, 2, generator=gen), style_schedule([(0, 4), (1, 5)], 2))}[kind]
    runs = []
    for limit in (1 << 20, 0):  # every frame by thresholds / none
        monkeypatch.setattr("crbm.motion.sample._THRESHOLDS_MAX", limit)
        g = torch.Generator().manual_seed(4)
        out = generate(model, seed, 9, k=5, n_chains=3, labels=labels, final_samples=final_samples, generator=g)
        runs.append((out, g.get_state()))
    (a, state_a), (b, state_b) = runs
    assert torch.equal(a, b) and torch.equal(state_a, state_b) and a.dtype == torch.float32


def test_fill_missing_leaves_observed_entries_untouched(gen):
    model = _crbm(gen)
    frames = torch.randn(12, 4, generator=gen)
    missing = torch.zeros(12, 4, dtype=torch.bool)
    missing[5:, 1] = True
    missing[8:, 3] = True
    out = fill_missing(model, frames, missing, n_samples=4, k=5, generator=gen)
    assert torch.equal(out[~missing], frames[~missing])
    assert not torch.equal(out[missing], frames[missing]) and bool(torch.isfinite(out).all())
    bad = missing.clone()
    bad[0, 0] = True
    with pytest.raises(CRBMError, match="fully observed"):
        fill_missing(model, frames, bad, generator=gen)


def test_denoise_is_causal_and_keeps_the_first_frames(gen):
    model = _crbm(gen)
    noisy = torch.randn(10, 4, generator=gen)
    out = denoise(model, noisy, iterations=2)
    assert torch.equal(out[:2], noisy[:2])
    later = noisy.clone()
    later[7:] += 5.0
    assert torch.equal(denoise(model, later, iterations=2)[:7], out[:7])  # no frame looks ahead


@pytest.mark.slow
def test_generation_stays_stable_on_a_learned_oscillation(gen):
    t = torch.arange(600, dtype=torch.float32) * 0.3
    clip = torch.stack([torch.sin(t), torch.cos(t), torch.sin(t + 1.0)], 1)
    model = CRBM(3, 24, 3, generator=gen)
    fit(model, Windows([clip], 3), taylor_config(epochs=150, learning_rate=1e-2))
    out = generate(model, clip[:3], 1000, n_chains=4, generator=torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(out).all())
    ratio = out[:, 200:].std(1) / clip.std(0)
    assert bool((ratio > 0.5).all() and (ratio < 1.5).all()), ratio


def test_smoother_fuses_both_predictions_with_the_observation(gen):
    fwd, bwd = _crbm(gen, dtype=F64), _crbm(gen, dtype=F64)
    noisy = torch.randn(9, 4, generator=gen, dtype=F64)
    sf, sb = torch.full((4,), 0.5, dtype=F64), torch.full((4,), 0.8, dtype=F64)
    out = smooth(fwd, bwd, noisy, noise_std=0.3, forward_std=sf, backward_std=sb)
    assert out.shape == noisy.shape
    # huge prediction errors: the smoother trusts the observation
    big = torch.full((4,), 1e8, dtype=F64)
    torch.testing.assert_close(smooth(fwd, bwd, noisy, noise_std=0.3, forward_std=big, backward_std=big), noisy)
    # frame 0 has no forward prediction: observation and backward prediction only
    filtered = denoise(bwd, noisy.flip(0), noise_std=0.3, prediction_std=sb).flip(0)
    u = history(filtered[1:3].flip(0), 2).unsqueeze(0)
    cond = bwd.conditioned(u)
    pb = cond.visible_mean(cond.hidden_mean(filtered[1:2]))[0]
    expected = (noisy[0] / 0.09 + pb / 0.64) / (1 / 0.09 + 1 / 0.64)
    torch.testing.assert_close(out[0], expected)


def test_predict_next_is_the_one_step_mean_field_rollout(gen):
    model = _crbm(gen, dtype=F64)
    frames = torch.randn(9, 4, generator=gen, dtype=F64)
    pred = predict_next(model, frames)
    assert torch.isnan(pred[:2]).all() and not torch.isnan(pred[2:]).any()
    for t in range(2, 9):  # generate's first frame with k = 1, mean field, from the frames before t
        torch.testing.assert_close(pred[t], generate(model, frames[:t], 1, k=1, mean_field=True, generator=None)[0, 0])


def test_fill_both_sides_is_the_least_squares_fill_of_a_linear_model(gen):
    """With W = 0 the CRBM's prediction is the linear autoregression b + A u, so the fill minimises a
    quadratic: its exact minimiser comes from least squares over the missing entries."""
    model = _crbm(gen, dtype=F64)
    with torch.no_grad():
        model.rbm.weight.zero_()
        model.A.normal_(0, 0.3, generator=gen)
    frames = torch.randn(14, 4, generator=gen, dtype=F64)
    missing = torch.zeros(14, 4, dtype=torch.bool)
    missing[5:9, 1] = True
    missing[6:8, 3] = True
    missing[0, 2] = True  # before the first prediction: shaped by the frames after it alone
    s = torch.tensor([0.5, 1.0, 2.0, 0.7], dtype=F64)
    guess = frames.masked_fill(missing, 0.0)
    out = fill_both_sides(model, guess, missing, residual_var=s)

    def residuals(values):  # the weighted one-step residuals, linear in the missing values
        v = guess.masked_scatter(missing, values)
        return ((v[2:] - predict_next(model, v)[2:]) / s.sqrt()).flatten()

    x0 = torch.zeros(int(missing.sum()), dtype=F64)
    jac = torch.autograd.functional.jacobian(residuals, x0)
    best = torch.linalg.lstsq(jac, -residuals(x0).unsqueeze(1)).solution.squeeze(1)
    torch.testing.assert_close(out[missing], best, atol=1e-6, rtol=0)
    assert torch.equal(out[~missing], guess[~missing])  # recorded entries exactly


def test_fill_both_sides_uses_the_frames_after_the_gap(gen):
    model = _crbm(gen)
    frames = torch.randn(12, 4, generator=gen)
    missing = torch.zeros(12, 4, dtype=torch.bool)
    missing[5:7, 0] = True
    later = frames.clone()
    later[8, 2] += 3.0  # a frame whose history holds the gap
    far = frames.clone()
    far[10, 2] += 3.0  # beyond the model's order after the gap: no influence
    s = torch.ones(4)  # the same residual variances for all three (by default they come from the clip)
    a, b, c = (fill_both_sides(model, f, missing, residual_var=s) for f in (frames, later, far))
    assert not torch.allclose(a[missing], b[missing], atol=1e-4)
    torch.testing.assert_close(a[missing], c[missing])
    with pytest.raises(CRBMError, match="must match"):
        fill_both_sides(model, frames, missing[:, :3])
    assert torch.equal(fill_both_sides(model, frames, torch.zeros_like(missing)), frames)


# ---------------------------------------------------------------------- exact distributions of the samplers
# A conditional model at one history u (and labels y) is an RBM with biases b_t, c_t and weight W_t. The
# references below build b_t, c_t and W_t from each model's parameters by its equations (not through the
# model's own conditionals) and enumerate the 2^3 hidden states.
#
# generate() settles a frame by k updates from v_{t-1}: h_s ~ p(h | v), v <- E[v | h_s] for s < k, then
# v <- E[v | p(h | v)]. Its visible updates are means, so the hidden draws form a Markov chain with
# T(h, h') = p(h' | E[v | h]) and the frame is g(h_{k-1}) = E[v | p(h | E[v | h_{k-1}])]: it takes one of
# 2^3 values, with probabilities p(h_1 | v_{t-1}) T^(k-2), exactly.

H3 = torch.tensor([[i >> j & 1 for j in range(3)] for i in range(8)], dtype=F64)  # (8, 3) hidden states


def _bernoulli_rows(p: torch.Tensor) -> torch.Tensor:
    """p(h | ...) of every state in H3 for per-unit probabilities p (..., 3) -> (..., 8)."""
    return (H3 * p.unsqueeze(-2).log() + (1 - H3) * (1 - p).unsqueeze(-2).log()).sum(-1).exp()


def _biases_and_weight(model, u: torch.Tensor, y: torch.Tensor | None):
    """(b_t (D,), c_t (H,), W_t (D, H), sigma (D,) or None) of a CRBM, LabelCRBM or FCRBM at u (nD,), y (L,)."""
    if isinstance(model, FCRBM):
        z = y @ model.R
        b = model.visible_bias + ((u @ model.Au) * (z @ model.Az)) @ model.Av.T
        c = model.hidden_bias + ((u @ model.Bu) * (z @ model.Bz)) @ model.Bh.T
        w = model.Wv @ torch.diag(z @ model.Wz) @ model.Wh.T
        gaussian = model.visible.name == "gaussian"
        return b, c, w, torch.full_like(b, model.sigma_value) if gaussian else None
    b = model.rbm.visible_bias + model.A @ u
    c = model.rbm.hidden_bias + model.B @ u
    if isinstance(model, LabelCRBM):
        b, c = b + model.P @ y, c + model.Q @ y
    return b, c, model.rbm.weight, model.rbm.sigma


def _conditionals(b, c, w, sigma):
    """p(h = 1 | v) and E[v | h] of the RBM with biases b, c, weight w and Gaussian sigma (None: Bernoulli)."""

    def p_h(v):
        return torch.sigmoid(c + (v if sigma is None else v / sigma) @ w)

    def mean_v(h):
        return torch.sigmoid(b + h @ w.T) if sigma is None else b + sigma * (h @ w.T)

    return p_h, mean_v


def _settled_frames(p_h, mean_v, v0: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8 values g(h) a frame settled by k >= 2 updates from v0 can take, (8, D), and their exact
    probabilities (8,)."""
    p = _bernoulli_rows(p_h(v0))
    transition = _bernoulli_rows(p_h(mean_v(H3)))  # (8, 8): row h, column h'
    for _ in range(k - 2):
        p = p @ transition
    return mean_v(p_h(mean_v(H3))), p


def _distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Euclidean distances of the rows, without the |x|^2 + |y|^2 - 2 x.y shortcut (its cancellation)."""
    return torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def _chi_square_of_frames(frames: torch.Tensor, values: torch.Tensor, p: torch.Tensor) -> float:
    """Chi-square p-value of frames (N, D) that must each be one of ``values`` (8, D) (to 1e-9), against p."""
    assert float(_distances(values, values).add(torch.eye(8, dtype=F64)).min()) > 1e-4, "values must differ"
    dist = _distances(frames, values)
    assert float(dist.min(1).values.max()) < 1e-9, "a frame is none of the enumerated values"
    counts = torch.bincount(dist.argmin(1), minlength=8).numpy()
    expected = p.numpy() * len(frames)
    assert expected.min() >= 5, "chi-square needs at least 5 expected counts per state"
    return stats.chisquare(counts, expected).pvalue


def _tiny(kind: str, gen: torch.Generator, visible: str = "gaussian"):
    """A float64 model of 2 frame channels, 3 hidden units, order 2, with weights of order 1."""
    if kind == "crbm":
        model = CRBM(2, 3, 2, visible=visible, sigma=0.8, dtype=F64, generator=gen)
    elif kind == "label":
        model = LabelCRBM(2, 3, 2, 2, visible=visible, sigma=0.8, dtype=F64, generator=gen)
    else:
        model = FCRBM(2, 3, 2, 2, n_features=2, n_factors=3, visible=visible, sigma=0.8, dtype=F64, generator=gen)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.8, generator=gen)
    return model


N_CHAINS = 20000


@pytest.mark.parametrize("visible", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("kind", ["crbm", "label", "fcrbm"])
def test_generated_frame_has_the_exact_distribution_of_the_settling_chain(kind, visible, gen):
    """20000 chains from one seed, k = 4: the frame's distribution against the enumeration (chi-square); the
    enumeration for hidden biases off by 0.3 in one unit (negative control) must be rejected."""
    model = _tiny(kind, gen, visible)
    seed = torch.rand(3, 2, generator=gen, dtype=F64)
    y = torch.tensor([0.3, 0.7], dtype=F64) if kind != "crbm" else None
    out = generate(model, seed, 1, k=4, n_chains=N_CHAINS, labels=None if y is None else y.unsqueeze(0),
                   generator=torch.Generator().manual_seed(5))[:, 0]
    b, c, w, sigma = _biases_and_weight(model, history(seed, 2), y)
    values, p = _settled_frames(*_conditionals(b, c, w, sigma), seed[-1], 4)
    assert _chi_square_of_frames(out, values, p) > 1e-3
    _, p_off = _settled_frames(*_conditionals(b, c + torch.tensor([0.3, 0, 0], dtype=F64), w, sigma), seed[-1], 4)
    counts = torch.bincount(_distances(out, values).argmin(1), minlength=8).numpy()
    assert stats.chisquare(counts, p_off.numpy() * N_CHAINS).pvalue < 1e-6


def test_two_layer_frame_has_the_exact_distribution_of_the_top_chain(gen):
    """Layer 2 settles h1_t from its history of layer-1 hidden means (k = 5); the frame is
    E[v | h1_t, u_t] of layer 1, a function of the last top-layer draw (chi-square against the enumeration)."""
    model = TwoLayerCRBM(2, (4, 3), (2, 2), dtype=F64, generator=gen)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.8, generator=gen)
    seed = torch.rand(4, 2, generator=gen, dtype=F64)
    out = generate(model, seed, 1, k=5, n_chains=N_CHAINS, generator=torch.Generator().manual_seed(6))[:, 0]
    l1, l2 = model.layer1, model.layer2
    # layer-1 hidden means of seed frames 2 and 3: layer 2's history, most recent first
    top = [torch.sigmoid(l1.rbm.hidden_bias + l1.B @ history(seed[:t], 2) + seed[t] @ l1.rbm.weight) for t in (2, 3)]
    b2, c2, w2, _ = _biases_and_weight(l2, torch.cat([top[1], top[0]]), None)
    h1_values, p = _settled_frames(*_conditionals(b2, c2, w2, None), top[1], 5)
    b1 = l1.rbm.visible_bias + l1.A @ history(seed, 2)
    values = b1 + l1.rbm.sigma * (h1_values @ l1.rbm.weight.T)
    assert _chi_square_of_frames(out, values, p) > 1e-3


def test_relu_hidden_generation_is_one_exact_transition(gen):
    """k = 2 with ReLU hidden units: h = max(0, pre + n sqrt(sigmoid(pre))) for the normals n the generator
    gives, then the mean-field update with the stepped-sigmoid mean E[h] = sum_k sigmoid(pre - k + 1/2)."""
    model = CRBM(2, 3, 2, hidden="relu", sigma=0.8, dtype=F64, generator=gen)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.8, generator=gen)
    seed = torch.rand(3, 2, generator=gen, dtype=F64)
    out = generate(model, seed, 1, k=2, n_chains=4, generator=torch.Generator().manual_seed(7))[:, 0]
    b, c, w, sigma = _biases_and_weight(model, history(seed, 2), None)
    n = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(7), dtype=F64)[0]
    pre = c + (seed[-1] / sigma) @ w
    v = b + sigma * (torch.clamp(pre + n * torch.sigmoid(pre).sqrt(), min=0) @ w.T)
    pre = c + (v / sigma) @ w
    steps_ = torch.arange(1, 200, dtype=F64)
    mean_h = torch.sigmoid(pre.unsqueeze(-1) - steps_ + 0.5).sum(-1)
    assert torch.allclose(out, b + sigma * (mean_h @ w.T), rtol=1e-10, atol=1e-10)
    assert model.config()["hidden"] == "relu"


@pytest.mark.parametrize("kind", ["crbm", "label", "fcrbm"])
def test_gibbs_with_sampled_visibles_reaches_the_exact_conditional(kind, gen):
    """The engine's Gibbs chain on a conditional model's view (sampled visibles, as in CD with
    mean_visible=False) from a fixed state: 40 steps, 20000 chains, against p(v_t | u_t, y_t) by enumerating
    v and h (chi-square; the exact transition's second eigenvalue bounds the distance after 40 steps)."""
    model = _tiny(kind, gen, "bernoulli")
    u = torch.rand(4, generator=gen, dtype=F64)
    y = torch.tensor([0.6, 0.4], dtype=F64) if kind != "crbm" else None
    b, c, w, _ = _biases_and_weight(model, u, y)
    vs = H3[:4, :2]  # the 4 states of 2 binary channels
    energy = -(vs @ b)[:, None] - (H3 @ c)[None] - vs @ w @ H3.T  # (4, 8)
    p_v = torch.softmax(torch.logsumexp(-energy, 1), 0)
    p_h_v, p_v_h = torch.softmax(-energy, 1), torch.softmax(-energy, 0).T
    lam = sorted(np.abs(np.linalg.eigvals((p_h_v @ p_v_h).numpy())))[-2]
    assert lam**40 < 1e-6
    cond = model.conditioned(u.expand(N_CHAINS, -1), None if y is None else y.expand(N_CHAINS, -1))
    samples = cond.gibbs(vs[0].expand(N_CHAINS, -1), 40, generator=torch.Generator().manual_seed(8))
    codes = (samples[:, None, :] == vs[None]).all(-1)
    assert bool((codes.sum(1) == 1).all())
    assert stats.chisquare(codes.sum(0).numpy(), p_v.numpy() * N_CHAINS).pvalue > 1e-3
    assert stats.chisquare(codes.sum(0).numpy(), torch.full((4,), N_CHAINS / 4.0).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("kind", ["crbm", "fcrbm"])
def test_gaussian_visible_gibbs_matches_the_exact_mixture(kind, gen):
    """Gaussian visibles: v_1 after 40 steps against p(v_1 | u) = sum_h p(h | u) N(b_1 + sigma (W h)_1,
    sigma^2), p(h | u) ~ exp(c.h + sum_i ((b_i + sigma (W h)_i)^2 - b_i^2) / (2 sigma^2)) (KS); a shift of
    0.05 must be detected."""
    model = _tiny(kind, gen, "gaussian")
    u = torch.rand(4, generator=gen, dtype=F64)
    y = torch.tensor([0.6, 0.4], dtype=F64) if kind != "crbm" else None
    b, c, w, sigma = _biases_and_weight(model, u, y)
    mu = b + sigma * (H3 @ w.T)  # (8, 2)
    p = torch.softmax(H3 @ c + ((mu.square() - b.square()) / (2 * sigma.square())).sum(1), 0)
    cond = model.conditioned(u.expand(N_CHAINS, -1), None if y is None else y.expand(N_CHAINS, -1))
    samples = cond.gibbs(torch.zeros(N_CHAINS, 2, dtype=F64), 40, generator=torch.Generator().manual_seed(9))
    s = float(sigma[0])

    def cdf(x):
        return sum(float(pk) * stats.norm.cdf(x, loc=float(m), scale=s) for pk, m in zip(p, mu[:, 0]))

    assert stats.kstest(samples[:, 0].numpy(), cdf).pvalue > 1e-3
    assert stats.kstest(samples[:, 0].numpy() + 0.05, cdf).pvalue < 1e-3


def test_filled_gap_is_the_exact_mean_of_the_clamped_chain(gen):
    """fill_missing at one frame with channel 1 missing, k = 4, 20000 chains: the observed channel is clamped,
    so the chain is T(h, h') = p(h' | v(h)) with v(h) = [x_0, E[v_1 | h]], and the fill is the chains' average
    of g(h_3) = E[v_1 | p(h | v(h_3))]; it must lie within 4.5 standard errors of the exact mean (and not
    within them of the mean for hidden biases off by 0.3 in one unit)."""
    model = _tiny("crbm", gen, "gaussian")
    frames = torch.rand(3, 2, generator=gen, dtype=F64)
    missing = torch.tensor([[False, False], [False, False], [False, True]])
    out = fill_missing(model, frames, missing, n_samples=N_CHAINS, k=4, generator=torch.Generator().manual_seed(10))
    assert torch.equal(out[~missing], frames[~missing])
    b, c, w, sigma = _biases_and_weight(model, history(frames[:2], 2), None)

    def exact_mean_and_se(c):
        p_h, mean_v = _conditionals(b, c, w, sigma)

        def clamped(h):
            return torch.stack([frames[2, 0].expand(h.shape[0]), mean_v(h)[:, 1]], 1)

        p = _bernoulli_rows(p_h(torch.stack([frames[2, 0], frames[1, 1]])))
        transition = _bernoulli_rows(p_h(clamped(H3)))
        for _ in range(2):
            p = p @ transition
        g = mean_v(p_h(clamped(H3)))[:, 1]
        mean = float(p @ g)
        return mean, math.sqrt(float(p @ g.square()) - mean**2) / math.sqrt(N_CHAINS)

    mean, se = exact_mean_and_se(c)
    assert abs(float(out[2, 1]) - mean) < 4.5 * se
    off_mean, _ = exact_mean_and_se(c + torch.tensor([0.3, 0, 0], dtype=F64))
    assert abs(float(out[2, 1]) - off_mean) > 4.5 * se
