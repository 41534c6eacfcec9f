"""Unit families against brute-force sums and integrals (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from engine_helpers import DT, binary_states, one_hot_states
from scipy import stats

from crbm.engine.errors import CRBMError
from crbm.engine.units import (
    Bernoulli,
    Concat,
    Gaussian,
    ReLU,
    ReplicatedSoftmax,
    Softmax,
    resolve_units,
    units_from_json,
    units_to_json,
)


def _pre(shape, seed=0, scale=3.0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=DT) * scale


def _brute_lp(states: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """log sum_x exp(x . pre) over the rows of ``states``, per row of pre."""
    return torch.logsumexp(pre @ states.T, 1)


def test_bernoulli_log_partition_and_mean_by_enumeration():
    pre = _pre((7, 5))
    xs = binary_states(5)
    assert torch.allclose(Bernoulli().log_partition(pre), _brute_lp(xs, pre), atol=1e-12)
    p = torch.softmax(pre @ xs.T, 1)
    assert torch.allclose(Bernoulli().mean(pre), p @ xs, atol=1e-12)


@pytest.mark.parametrize("group", [None, 2, 3])
def test_softmax_log_partition_and_mean_by_enumeration(group):
    n = 6
    pre = _pre((4, n), seed=1)
    xs = one_hot_states(n, group or n)
    u = Softmax(group)
    assert torch.allclose(u.log_partition(pre), _brute_lp(xs, pre), atol=1e-12)
    p = torch.softmax(pre @ xs.T, 1)
    assert torch.allclose(u.mean(pre), p @ xs, atol=1e-12)
    engine_states = u.states(n, dtype=DT, device=torch.device("cpu"))
    assert engine_states.shape == xs.shape
    assert torch.equal(torch.unique(engine_states, dim=0), torch.unique(xs, dim=0))


def test_gaussian_hidden_log_partition_is_the_integral():
    """log int exp(h pre - h^2 / 2) dh, by a fine grid (trapezoid) per unit."""
    pre = torch.tensor([[-3.0, 0.0, 0.7, 2.5]], dtype=DT)
    h = torch.linspace(-20, 20, 400001, dtype=DT)
    per_unit = [math.log(torch.trapezoid(torch.exp(h * p - h.square() / 2), h)) for p in pre[0]]
    assert Gaussian().log_partition(pre).item() == pytest.approx(sum(per_unit), abs=1e-9)


def test_relu_log_partition_is_the_sum_over_stepped_copies():
    """Nair & Hinton: sum_{k >= 1} log(1 + exp(pre - k + 1/2)), summed exactly (math.fsum) to k = 3000
    (the remaining terms are below e^-1000)."""
    values = [-40.0, -3.2, -0.5, 0.0, 0.49, 0.51, 1.7, 12.3, 39.9, 41.2, 95.5, 400.25, 1234.5]

    def softplus(y):
        return y + math.log1p(math.exp(-y)) if y > 0 else math.log1p(math.exp(y))

    brute = torch.tensor([math.fsum(softplus(p - k + 0.5) for k in range(1, 3001)) for p in values], dtype=DT)
    pre = torch.tensor([values], dtype=DT)
    got = torch.stack([ReLU().log_partition(pre[:, i : i + 1])[0] for i in range(pre.shape[1])])
    assert torch.allclose(got, brute, rtol=1e-14, atol=1e-15)
    assert ReLU().log_partition(pre).item() == pytest.approx(math.fsum(brute.tolist()), rel=1e-14)


@pytest.mark.parametrize(
    "units", [Bernoulli(), Softmax(), Softmax(3), Gaussian(), ReLU(), Concat([("bernoulli", 2), (Softmax(), 4)])]
)
def test_mean_is_the_gradient_of_the_log_partition(units):
    """E[x | pre] = d log_partition / d pre for every family (exponential-family identity)."""
    pre = _pre((5, 6), seed=2, scale=4.0)
    if isinstance(units, ReLU):
        pre = pre * 10  # also exercise activations beyond the 40-term window
    pre.requires_grad_(True)
    (grad,) = torch.autograd.grad(units.log_partition(pre).sum(), pre)
    assert torch.allclose(units.mean(pre.detach()), grad, atol=1e-12)


def test_base_log_partitions():
    b = _pre((6,), seed=3)
    assert Bernoulli().base_log_partition(b).item() == pytest.approx(float(_brute_lp(binary_states(6), b[None])[0]))
    for g in (None, 3):
        brute = float(_brute_lp(one_hot_states(6, g or 6), b[None])[0])
        assert Softmax(g).base_log_partition(b).item() == pytest.approx(brute, abs=1e-12)
    sigma = torch.tensor([0.5, 2.0], dtype=DT)
    v = torch.linspace(-30, 30, 600001, dtype=DT)
    brute = sum(math.log(torch.trapezoid(torch.exp(-((v - b[i]) ** 2) / (2 * sigma[i] ** 2)), v)) for i in range(2))
    assert Gaussian().base_log_partition(b[:2], sigma).item() == pytest.approx(brute, abs=1e-9)


def test_visible_log_partition_sums_the_visible_layer_out():
    """log sum_v exp(-self_energy(v; b) + (v / sigma) . wh): enumeration for discrete families, the integral
    (trapezoid on a fine grid) for Gaussian visibles; wh = 0 gives the base log-partition."""
    b, wh = _pre((4,), seed=5, scale=1.0), _pre((3, 4), seed=6, scale=1.0)
    for units, states in ((Bernoulli(), binary_states(4)), (Softmax(2), one_hot_states(4, 2))):
        brute = torch.logsumexp(states @ (b + wh).T, 0)
        assert torch.allclose(units.visible_log_partition(b, wh), brute, rtol=0, atol=1e-12)
    sigma = torch.tensor([0.5, 2.0], dtype=DT)
    v = torch.linspace(-40, 40, 100001, dtype=DT)
    for row in wh[:, :2]:
        brute = sum(
            math.log(torch.trapezoid(torch.exp(-((v - b[i]) ** 2) / (2 * sigma[i] ** 2) + v * row[i] / sigma[i]), v))
            for i in range(2)
        )
        assert float(Gaussian().visible_log_partition(b[:2], row[None], sigma)[0]) == pytest.approx(brute, abs=1e-8)
    zero = torch.zeros(1, 2, dtype=DT)
    assert float(Gaussian().visible_log_partition(b[:2], zero, sigma)[0]) == pytest.approx(
        float(Gaussian().base_log_partition(b[:2], sigma)), abs=1e-12
    )
    with pytest.raises(CRBMError, match="exact log Z is not available for replicated_softmax"):
        ReplicatedSoftmax().visible_log_partition(b, wh)


@pytest.mark.parametrize("units", [Bernoulli(), Gaussian(), ReLU()])
def test_a_draw_is_the_family_transform_of_the_noise_it_consumes(units):
    """sample(pre) == sample_from(pre, noise(pre.shape)) from the same generator state; a (k, B, n) noise
    draw is k (B, n) draws in turn for the uniform families (the generation settler draws a frame's noise at
    once); sample_from writes into ``out``."""
    pre = _pre((40, 300), seed=7)
    sigma = torch.full((300,), 0.5, dtype=DT) if isinstance(units, Gaussian) else None
    a = units.sample(pre, generator=torch.Generator().manual_seed(3), sigma=sigma)
    noise = units.noise(pre.shape, torch.Generator().manual_seed(3), pre)
    assert torch.equal(a, units.sample_from(pre, noise, sigma=sigma))
    out = torch.empty_like(pre)
    assert units.sample_from(pre, noise, sigma=sigma, out=out) is out and torch.equal(out, a)
    if isinstance(units, Bernoulli):
        g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
        whole = units.noise((3, *pre.shape), g1, pre)
        assert torch.equal(whole, torch.stack([units.noise(pre.shape, g2, pre) for _ in range(3)]))
        buffer = torch.empty(3, *pre.shape, dtype=DT)
        again = units.noise(buffer.shape, torch.Generator().manual_seed(4), pre, out=buffer)
        assert again is buffer and torch.equal(buffer, whole)
    with pytest.raises(CRBMError, match="per-unit noise"):
        Softmax().sample_from(pre, noise)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_thresholds_make_the_same_draws_by_one_comparison(dtype):
    """u < sigmoid(pre) exactly when logit(u) < pre: the thresholds give the very draws of sample_from, on
    a million inputs from deep in both tails to zero; families that are not a step of the input give None."""
    g = torch.Generator().manual_seed(5)
    pre = (torch.randn(1000, 1000, generator=g, dtype=torch.float64) * 6).to(dtype)
    noise = torch.rand(1000, 1000, generator=g, dtype=dtype)
    drawn = Bernoulli().sample_from(pre, noise)
    step = Bernoulli().thresholds(noise.clone())
    assert torch.equal(torch.lt(step, pre).to(dtype), drawn) and 0.3 < drawn.mean() < 0.7
    kept = noise.clone()
    assert Gaussian().thresholds(kept) is None and ReLU().thresholds(kept) is None and torch.equal(kept, noise)


def test_states_are_every_distinct_state():
    cpu = torch.device("cpu")
    xs = Bernoulli().states(5, dtype=DT, device=cpu)
    assert xs.shape == (32, 5) and torch.unique(xs, dim=0).shape[0] == 32
    c = Concat([("bernoulli", 2), (Softmax(), 3)])
    xs = c.states(5, dtype=DT, device=cpu)
    assert xs.shape == (12, 5) and torch.unique(xs, dim=0).shape[0] == 12
    assert torch.all(xs[:, 2:].sum(1) == 1)


def test_enumeration_refuses_more_than_25_units():
    with pytest.raises(CRBMError, match="at most 25"):
        Bernoulli().states(26, dtype=DT, device=torch.device("cpu"))
    with pytest.raises(CRBMError, match="2\\^25"):
        Softmax(2).states(52, dtype=DT, device=torch.device("cpu"))


def test_samplers_match_their_means():
    """Bernoulli / softmax / Gaussian draws: chi-square and moment checks against the exact conditionals."""
    gen = torch.Generator().manual_seed(5)
    n = 20000
    pre = torch.tensor([[-1.0, 0.3, 2.0]], dtype=DT).expand(n, -1)
    x = Bernoulli().sample(pre, generator=gen)
    p = torch.sigmoid(pre[0])
    z = (x.mean(0) - p) / torch.sqrt(p * (1 - p) / n)
    assert z.abs().max() < 4
    counts = Softmax().sample(pre, generator=gen).sum(0).numpy()
    assert stats.chisquare(counts, torch.softmax(pre[0], 0).numpy() * n).pvalue > 1e-3
    sigma = torch.tensor([0.5, 1.0, 3.0], dtype=DT)
    y = Gaussian().sample(pre, generator=gen, sigma=sigma)
    for i in range(3):
        assert stats.kstest(y[:, i].numpy(), stats.norm(pre[0, i].item(), sigma[i].item()).cdf).pvalue > 1e-3
    r = ReLU().sample(pre * 3, generator=gen)
    assert (r >= 0).all() and r.dtype == DT


def test_replicated_softmax_sample_is_multinomial():
    """N words from softmax(pre): counts keep each document's length; the joint counts of 2-word documents
    over 3 words pass chi-square against the multinomial probabilities."""
    gen = torch.Generator().manual_seed(6)
    n = 20000
    logits = torch.tensor([0.2, -0.4, 1.0], dtype=DT)
    counts = torch.full((n,), 2.0, dtype=DT)
    x = ReplicatedSoftmax().sample(logits.expand(n, -1), generator=gen, counts=counts)
    assert torch.all(x.sum(1) == 2)
    p = torch.softmax(logits, 0).numpy()
    outcomes = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    probs = [stats.multinomial.pmf(o, 2, p) for o in outcomes]
    obs = [int((x == torch.tensor(o, dtype=DT)).all(1).sum()) for o in outcomes]
    assert sum(obs) == n
    assert stats.chisquare(obs, np.array(probs) * n).pvalue > 1e-3
    varied = ReplicatedSoftmax().sample(logits.expand(3, -1), generator=gen, counts=torch.tensor([0.0, 1.0, 5.0]))
    assert varied.sum(1).tolist() == [0.0, 1.0, 5.0]
    with pytest.raises(CRBMError, match="counts="):
        ReplicatedSoftmax().sample(logits[None], generator=gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("units", [Bernoulli(), Softmax(), Softmax(2), Gaussian(), ReLU(), ReplicatedSoftmax()])
def test_huge_activations_stay_finite(units, dtype):
    pre = torch.tensor([[1e4, -1e4, 3.0, -1e4], [-1e4, 1e4, 1e4, 0.0]], dtype=dtype)
    assert torch.isfinite(units.mean(pre)).all()
    if not isinstance(units, ReplicatedSoftmax):
        assert torch.isfinite(units.log_partition(pre)).all()
    if isinstance(units, (Bernoulli, Softmax)):
        assert units.mean(pre)[0, 0].item() == 1.0


def test_names_and_json_round_trip():
    for name in ("bernoulli", "gaussian", "softmax", "replicated_softmax", "relu", "Replicated-Softmax"):
        u = resolve_units(name)
        assert units_from_json(units_to_json(u)).name == u.name
    c = Concat([(Bernoulli(), 3), (Softmax(group=2), 4)])
    back = units_from_json(units_to_json(c))
    assert [(b.name, getattr(b, "group", None), k) for b, k in back.blocks] == [
        ("bernoulli", None, 3),
        ("softmax", 2, 4),
    ]


def test_bad_unit_specifications():
    with pytest.raises(CRBMError, match=r"unknown unit type 'bernouli'.*expected one of"):
        resolve_units("bernouli")
    with pytest.raises(ValueError, match="group size must be an integer >= 2, got 1"):
        Softmax(group=1)
    with pytest.raises(CRBMError, match="does not split into groups of 4"):
        Softmax(4).mean(torch.zeros(2, 6))
    with pytest.raises(CRBMError, match="Concat blocks"):
        Concat([("gaussian", 2)])
    with pytest.raises(CRBMError, match="Concat layer has 5 units, got a tensor with 4"):
        Concat([("bernoulli", 2), ("softmax", 3)]).mean(torch.zeros(1, 4))
    with pytest.raises(CRBMError, match="visible-only"):
        ReplicatedSoftmax().log_partition(torch.zeros(1, 3))


def test_validation_of_states():
    with pytest.raises(CRBMError, match=r"Bernoulli units take values in \[0, 1\]"):
        Bernoulli().validate(torch.tensor([[0.0, 2.0]]), "v")
    with pytest.raises(CRBMError, match="summing to 1 in each group"):
        Softmax(2).validate(torch.tensor([[1.0, 1.0, 0.0, 1.0]]), "v")
    with pytest.raises(CRBMError, match="word counts"):
        ReplicatedSoftmax().validate(torch.tensor([[0.5, 1.0]]), "v")
    Bernoulli().validate(torch.tensor([[0.0, 1.0, 0.25]]), "v")  # probabilities are accepted (Hinton's practice)
    Softmax(2).validate(torch.tensor([[0.0, 1.0, 0.3, 0.7]]), "v")


@pytest.mark.parametrize("units", [Bernoulli(), Gaussian(), ReLU(), Softmax(group=3)], ids=lambda u: u.name)
def test_sample_with_mean_gives_the_numbers_of_sample_and_mean_in_turn(units):
    pre = _pre((40, 6), seed=3)
    sample, mean = units.sample_with_mean(pre, generator=torch.Generator().manual_seed(9))
    assert torch.equal(sample, units.sample(pre, generator=torch.Generator().manual_seed(9)))
    assert torch.equal(mean, units.mean(pre))
