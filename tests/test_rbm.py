"""The engine's maths, proved on tiny float64 models with every state enumerated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from engine_helpers import (
    DT,
    brute_free_energy,
    gaussian_log_z,
    random_rbm,
    states_of,
)
from scipy import stats

from crbm import RBM
from crbm.engine.errors import CRBMError
from crbm.engine.units import Concat, Softmax

DISCRETE_VISIBLE = [
    ("bernoulli", 5),
    (Softmax(), 4),
    (Softmax(group=3), 6),
    (Concat([("bernoulli", 3), (Softmax(), 3)]), 6),
]
DISCRETE_HIDDEN = [("bernoulli", 4), (Softmax(), 3), (Softmax(group=2), 4)]


def _data(model: RBM, n: int, seed: int) -> torch.Tensor:
    """n rows drawn uniformly from the visible layer's states (Gaussian: N(0, 2^2))."""
    g = torch.Generator().manual_seed(seed)
    if model.visible.name == "gaussian":
        return 2 * torch.randn(n, model.n_visible, generator=g, dtype=DT)
    vs = states_of(model.visible, model.n_visible)
    return vs[torch.randint(0, vs.shape[0], (n,), generator=g)]


def _shifts(model: RBM, n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "visible_shift": torch.randn(n, model.n_visible, generator=g, dtype=DT),
        "hidden_shift": torch.randn(n, model.n_hidden, generator=g, dtype=DT),
    }


# ---------------------------------------------------------------------------------------------- free energy
@pytest.mark.parametrize("vis", DISCRETE_VISIBLE, ids=lambda x: repr(x[0]))
@pytest.mark.parametrize("hid", DISCRETE_HIDDEN, ids=lambda x: repr(x[0]))
@pytest.mark.parametrize("shifted", [False, True])
def test_free_energy_equals_minus_log_sum_over_hidden_states(vis, hid, shifted):
    model = random_rbm(vis[1], hid[1], visible=vis[0], hidden=hid[0], seed=1)
    v = states_of(model.visible, model.n_visible)
    hs = states_of(model.hidden, model.n_hidden)
    sh = _shifts(model, v.shape[0], 2) if shifted else {}
    assert torch.allclose(model.free_energy(v, **sh), brute_free_energy(model, v, hs, **sh), atol=1e-11)


@pytest.mark.parametrize("hid", DISCRETE_HIDDEN, ids=lambda x: repr(x[0]))
@pytest.mark.parametrize("shifted", [False, True])
def test_gaussian_visible_free_energy_and_energy_convention(hid, shifted):
    """E = sum (v - b)^2 / (2 sigma^2) - c.h - sum (v / sigma) W h with non-unit sigma, and F by enumerating h."""
    model = random_rbm(3, hid[1], visible="gaussian", hidden=hid[0], seed=3)
    assert not torch.allclose(model.sigma, torch.ones(3, dtype=DT))
    v = _data(model, 7, 4)
    hs = states_of(model.hidden, model.n_hidden)
    sh = _shifts(model, 7, 5) if shifted else {}
    assert torch.allclose(model.free_energy(v, **sh), brute_free_energy(model, v, hs, **sh), atol=1e-11)
    h = hs[torch.arange(7) % hs.shape[0]]
    b = model.visible_bias + sh.get("visible_shift", 0)
    c = model.hidden_bias + sh.get("hidden_shift", 0)
    s = model.sigma
    by_hand = ((v - b) ** 2 / (2 * s**2)).sum(1) - (c * h).sum(1) - ((v / s) @ model.weight * h).sum(1)
    assert torch.allclose(model.energy(v, h, **sh), by_hand, atol=1e-12)


def test_gaussian_hidden_free_energy_is_the_integral_over_h():
    """Linear (unit-variance Gaussian) hidden units: F(v) = -log int exp(-E(v, h)) dh on a 2-D grid."""
    model = random_rbm(4, 2, hidden="gaussian", w_std=0.7, seed=6)
    v = _data(model, 3, 7)
    grid = torch.linspace(-14, 14, 1401, dtype=DT)
    hh = torch.cartesian_prod(grid, grid)
    step = float(grid[1] - grid[0]) ** 2
    for row in v:
        e = model.energy(row.expand(hh.shape[0], -1), hh)
        brute = -(torch.logsumexp(-e, 0) + math.log(step))
        assert model.free_energy(row[None]).item() == pytest.approx(brute.item(), abs=1e-8)


def test_relu_hidden_free_energy_is_the_sum_over_stepped_copies():
    model = random_rbm(5, 3, hidden="relu", w_std=3.0, seed=8)
    v = _data(model, 6, 9)
    pre = model.visible_bias.new_zeros(6, 3) + model.hidden_bias + v @ model.weight
    k = torch.arange(1, 2001, dtype=DT)
    lp = torch.nn.functional.softplus(pre.unsqueeze(-1) - k + 0.5).sum((-1, -2))
    brute = -(v @ model.visible_bias) - lp
    assert torch.allclose(model.free_energy(v), brute, rtol=1e-10)
    with pytest.raises(CRBMError, match="relu"):
        model.energy(v, torch.zeros(6, 3, dtype=DT))


def test_replicated_softmax_scales_hidden_biases_by_document_length():
    """Salakhutdinov & Hinton (2009): E(v, h) = -b.v - N c.h - v W h with N = sum_k v_k (word counts)."""
    model = random_rbm(4, 3, visible="replicated_softmax", seed=10)
    v = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [2, 1, 0, 3], [0, 5, 5, 0]], dtype=DT)
    n = v.sum(1, keepdim=True)
    assert torch.allclose(model.hidden_pre(v), n * model.hidden_bias + v @ model.weight, atol=1e-12)
    hs = states_of("bernoulli", 3)
    assert torch.allclose(model.free_energy(v), brute_free_energy(model, v, hs), atol=1e-11)
    h = hs[[1, 2, 5, 7]]
    by_hand = -(v @ model.visible_bias) - n[:, 0] * (h @ model.hidden_bias) - ((v @ model.weight) * h).sum(1)
    assert torch.allclose(model.energy(v, h), by_hand, atol=1e-12)
    shift = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=DT)
    assert torch.allclose(model.hidden_pre(v, shift), n * (model.hidden_bias + shift) + v @ model.weight)


# ---------------------------------------------------------------------------------------------- conditionals
@pytest.mark.parametrize("vis", DISCRETE_VISIBLE, ids=lambda x: repr(x[0]))
@pytest.mark.parametrize("hid", DISCRETE_HIDDEN, ids=lambda x: repr(x[0]))
def test_conditionals_equal_the_enumerated_ones(vis, hid):
    """p(h | v) and p(v | h) from exp(-E) over all states equal the factorised conditionals: the full
    conditional distribution (not only its mean) is the product of the unit families' distributions."""
    model = random_rbm(vis[1], hid[1], visible=vis[0], hidden=hid[0], seed=11)
    vs = states_of(model.visible, model.n_visible)
    hs = states_of(model.hidden, model.n_hidden)
    sh = _shifts(model, 1, 12)
    e = torch.stack([model.energy(v.expand(hs.shape[0], -1), hs, **sh) for v in vs])  # (nv_states, nh_states)
    p_h_given_v = torch.softmax(-e, 1)
    p_v_given_h = torch.softmax(-e, 0)
    mh = model.hidden_mean(vs, sh["hidden_shift"])
    mv = model.visible_mean(hs, sh["visible_shift"])
    assert torch.allclose(p_h_given_v @ hs, mh, atol=1e-12)
    assert torch.allclose(p_v_given_h.T @ vs, mv, atol=1e-12)
    # the probability of each state is the product of the per-unit / per-group probabilities it selects
    assert torch.allclose(p_h_given_v, _product_prob(mh, hs, model.hidden), atol=1e-12)
    assert torch.allclose(p_v_given_h.T, _product_prob(mv, vs, model.visible), atol=1e-12)


def _product_prob(mean: torch.Tensor, states: torch.Tensor, units) -> torch.Tensor:
    """prod over units of the probability of each state under independent Bernoulli units / one-hot groups
    with the given means; (rows of mean, states)."""
    if units.name == "concat":
        out, start = 1.0, 0
        for u, k in units.blocks:
            out = out * _product_prob(mean[:, start : start + k], states[:, start : start + k], u)
            start += k
        return out
    if units.name == "bernoulli":
        return torch.exp(states @ torch.log(mean).T + (1 - states) @ torch.log1p(-mean).T).T
    return torch.exp(states @ torch.log(mean).T).T  # one-hot groups: sum of the chosen log-probabilities


def test_gaussian_conditionals_are_exact():
    """-E(v, h) + log N(v; mean, sigma^2) is constant in v (so p(v | h) = N(b + sigma W h, sigma^2)), and the
    same for linear hidden units with p(h | v) = N(c + (v / sigma) W, 1)."""
    model = random_rbm(3, 4, visible="gaussian", seed=13)
    g = torch.Generator().manual_seed(14)
    h = states_of("bernoulli", 4)[[3, 9]]
    for row in h:
        v = 3 * torch.randn(50, 3, generator=g, dtype=DT)
        hh = row.expand(50, -1)
        mean = model.visible_mean(hh)
        assert torch.allclose(mean[0], model.visible_bias + model.sigma * (model.weight @ row))
        log_n = torch.distributions.Normal(mean, model.sigma).log_prob(v).sum(1)
        const = -model.energy(v, hh) - log_n
        assert torch.allclose(const, const[0].expand(50), atol=1e-10)
    lin = random_rbm(3, 2, visible="gaussian", hidden="gaussian", w_std=0.3, seed=15)
    v = torch.randn(1, 3, generator=g, dtype=DT)
    hh = 4 * torch.randn(40, 2, generator=g, dtype=DT)
    mean = lin.hidden_mean(v)
    assert torch.allclose(mean, lin.hidden_bias + (v / lin.sigma) @ lin.weight)
    const = -lin.energy(v.expand(40, -1), hh) - torch.distributions.Normal(mean, 1.0).log_prob(hh).sum(1)
    assert torch.allclose(const, const[0].expand(40), atol=1e-10)


# ---------------------------------------------------------------------------------------------- gradients
def _exact_stats(model: RBM, v_data: torch.Tensor) -> dict[str, torch.Tensor]:
    """Data statistics minus exact model statistics, by enumerating the visible states (discrete visibles)
    or the hidden states with E[v | h] in closed form (Gaussian visibles)."""
    ph = model.hidden_mean(v_data)
    if model.visible.name != "gaussian":
        vs = states_of(model.visible, model.n_visible)
        p = torch.softmax(-model.free_energy(vs), 0)
        phm = model.hidden_mean(vs)
        return {
            "weight": v_data.T @ ph / len(v_data) - (vs * p[:, None]).T @ phm,
            "visible_bias": v_data.mean(0) - p @ vs,
            "hidden_bias": ph.mean(0) - p @ phm,
        }
    hs = states_of(model.hidden, model.n_hidden)
    s, b = model.sigma, model.visible_bias
    mu = b + s * (hs @ model.weight.T)  # E[v | h] for each h
    # p(h) from the closed-form marginal (per-h term of gaussian_log_z)
    log_ph = hs @ model.hidden_bias + ((mu.square() - b.square()) / (2 * s.square())).sum(1)
    p = torch.softmax(log_ph, 0)
    # E[(v - b)^2 | h] = s^2 + (mu - b)^2
    ev2 = s.square() + (mu - b).square()
    return {
        "weight": (v_data / s).T @ ph / len(v_data) - ((mu / s) * p[:, None]).T @ hs,
        "visible_bias": ((v_data - b) / s.square()).mean(0) - p @ ((mu - b) / s.square()),
        "hidden_bias": ph.mean(0) - p @ hs,
        "log_sigma": ((v_data - b).square() / s.square() - (v_data / s) * (ph @ model.weight.T)).mean(0)
        - p @ (ev2 / s.square() - (mu / s) * (hs @ model.weight.T)),
    }


def _autograd_ml_gradient(model: RBM, v_data: torch.Tensor) -> dict[str, torch.Tensor]:
    """d/dtheta [mean log p(v_data)] with log Z by differentiable enumeration."""
    names = ["weight", "visible_bias", "hidden_bias"] + (["log_sigma"] if model.learn_sigma else [])
    params = [getattr(model, k) for k in names]
    for p in params:
        p.requires_grad_(True)
    try:
        if model.visible.name == "gaussian":
            log_z = gaussian_log_z(model, states_of(model.hidden, model.n_hidden))
        else:
            log_z = torch.logsumexp(-model.free_energy(states_of(model.visible, model.n_visible)), 0)
        loglik = -model.free_energy(v_data).mean() - log_z
        grads = torch.autograd.grad(loglik, params)
    finally:
        for p in params:
            p.requires_grad_(False)
    return dict(zip(names, grads))


@pytest.mark.parametrize(
    "kind", ["bernoulli", "softmax", "gaussian"], ids=["bernoulli", "softmax-visible", "gaussian-learn-sigma"]
)
def test_ml_gradient_is_data_minus_exact_model_statistics(kind):
    if kind == "gaussian":
        model = random_rbm(3, 4, visible="gaussian", learn_sigma=True, w_std=0.5, seed=16)
    elif kind == "softmax":
        model = random_rbm(6, 4, visible=Softmax(3), seed=16)
    else:
        model = random_rbm(5, 4, seed=16)
    v = _data(model, 9, 17)
    auto = _autograd_ml_gradient(model, v)
    exact = _exact_stats(model, v)
    assert auto.keys() == exact.keys()
    for k in auto:
        assert torch.allclose(auto[k], exact[k], atol=1e-10), k


@pytest.mark.parametrize(
    "case",
    ["bernoulli", "gaussian-learn-sigma", "softmax-softmax", "replicated-softmax", "relu", "linear-hidden", "concat"],
)
@pytest.mark.parametrize("mean_visible", [True, False])
def test_cd_statistics_are_the_free_energy_gradient_difference(case, mean_visible):
    """Statistics.grads = -d/dtheta [mean F(v_data) - mean F(v_neg)] for the negatives CD returned, and
    d_visible / d_hidden = -d/d(shift) [F(v_data; s) - F(v_neg; s)] per example (autograd)."""
    models = {
        "bernoulli": lambda: random_rbm(5, 4, seed=18),
        "gaussian-learn-sigma": lambda: random_rbm(3, 4, visible="gaussian", learn_sigma=True, seed=18),
        "softmax-softmax": lambda: random_rbm(6, 4, visible=Softmax(3), hidden=Softmax(2), seed=18),
        "replicated-softmax": lambda: random_rbm(4, 3, visible="replicated_softmax", seed=18),
        "relu": lambda: random_rbm(5, 4, hidden="relu", seed=18),
        "linear-hidden": lambda: random_rbm(5, 2, hidden="gaussian", w_std=0.3, seed=18),
        "concat": lambda: random_rbm(6, 3, visible=Concat([("bernoulli", 3), (Softmax(), 3)]), seed=18),
    }
    model = models[case]()
    if case == "replicated-softmax":
        v = torch.tensor([[0, 2, 1, 0], [3, 0, 0, 1], [1, 1, 1, 1], [0, 0, 4, 0], [2, 0, 0, 0]], dtype=DT)
    else:
        v = _data(model, 5, 19)
    sh = _shifts(model, 5, 20)
    for shifts in ({}, sh):
        stats_ = model.contrastive_divergence(
            v, k=2, generator=torch.Generator().manual_seed(21), mean_visible=mean_visible, **shifts
        )
        neg = stats_.negative
        assert neg.shape == v.shape
        names = list(stats_.grads)
        assert set(names) == {"weight", "visible_bias", "hidden_bias"} | ({"log_sigma"} if model.learn_sigma else set())
        leaves = [getattr(model, k) for k in names]
        sv = {k: t.clone().requires_grad_(True) for k, t in shifts.items()}
        for p in leaves:
            p.requires_grad_(True)
        try:
            # the negatives may be expected counts / means, which the public free_energy would refuse as data
            loss = model.free_energy(v, **sv).mean() - model._free_energy(neg, *sv.values()).mean()
            grads = torch.autograd.grad(loss, leaves + list(sv.values()))
        finally:
            for p in leaves:
                p.requires_grad_(False)
        for k, g in zip(names, grads):
            assert torch.allclose(stats_.grads[k], -g, atol=1e-10), (case, k)
        if shifts:
            d_vis, d_hid = grads[len(names) :]
            assert torch.allclose(stats_.d_visible, -d_vis * len(v), atol=1e-10)
            assert torch.allclose(stats_.d_hidden, -d_hid * len(v), atol=1e-10)


def test_pcd_statistics_use_the_chain_and_keep_its_size():
    model = random_rbm(5, 4, seed=22)
    v = _data(model, 6, 23)
    chain = _data(model, 11, 24)
    st = model.contrastive_divergence(v, k=1, generator=torch.Generator().manual_seed(0), chain=chain)
    assert st.negative.shape == (11, 5)
    assert set(st.negative.unique().tolist()) <= {0.0, 1.0}  # PCD chains sample v (a Markov chain of the model)
    for p in (model.weight, model.visible_bias, model.hidden_bias):
        p.requires_grad_(True)
    loss = model.free_energy(v).mean() - model.free_energy(st.negative).mean()
    grads = torch.autograd.grad(loss, [model.weight, model.visible_bias, model.hidden_bias])
    for k, g in zip(["weight", "visible_bias", "hidden_bias"], grads):
        assert torch.allclose(st.grads[k], -g, atol=1e-12)
    with pytest.raises(CRBMError, match="persistent chains cannot be used with per-example bias shifts"):
        model.contrastive_divergence(v, k=1, generator=None, chain=chain, hidden_shift=torch.zeros(6, 4, dtype=DT))


@pytest.mark.slow
def test_pcd_and_long_cd_converge_to_the_exact_gradient():
    """Averaged over many steps, PCD-1 with 2000 chains and CD-50 (sampled visibles) from 4000 copies of the
    data give the exact ML gradient within 5 batch-means standard errors (and 0.02 absolute)."""
    model = random_rbm(5, 4, w_std=0.8, seed=25)
    v = _data(model, 8, 26)
    exact = _exact_stats(model, v)
    g = torch.Generator().manual_seed(27)

    def check(samples: list[dict]):
        for k in exact:
            x = torch.stack([s[k] for s in samples])
            blocks = x.reshape(20, -1, *x.shape[1:]).mean(1)  # batch means absorb the chain's autocorrelation
            se = blocks.std(0) / math.sqrt(20)
            err = (x.mean(0) - exact[k]).abs()
            assert (err < 5 * se + 1e-4).all() and (err < 0.02).all(), (k, float(err.max()), float(se.max()))

    chain = _data(model, 2000, 28)
    for _ in range(50):  # burn-in
        chain = model.contrastive_divergence(v, k=1, generator=g, chain=chain).negative
    pcd = []
    for _ in range(200):
        st = model.contrastive_divergence(v, k=1, generator=g, chain=chain)
        chain = st.negative
        pcd.append(st.grads)
    check(pcd)
    big = v.repeat(500, 1)
    cd = [model.contrastive_divergence(big, k=50, generator=g, mean_visible=False).grads for _ in range(20)]
    check(cd)


# ---------------------------------------------------------------------------------------------- sampling
def _exact_p_v(model: RBM) -> tuple[torch.Tensor, torch.Tensor]:
    vs = states_of(model.visible, model.n_visible)
    return vs, torch.softmax(-model.free_energy(vs), 0)


def _chi_square_of_samples(samples: torch.Tensor, vs: torch.Tensor, p: torch.Tensor) -> float:
    codes = (samples[:, None, :] == vs[None]).all(-1)
    assert bool((codes.sum(1) == 1).all()), "a sample is not one of the enumerated states"
    counts = codes.sum(0).numpy()
    expected = p.numpy() * len(samples)
    assert expected.min() >= 5, "chi-square needs at least 5 expected counts per state"
    return stats.chisquare(counts, expected).pvalue


@pytest.mark.slow
@pytest.mark.parametrize("visible", ["bernoulli", "softmax"])
def test_gibbs_sampler_passes_chi_square_against_exact_p_v(visible):
    """20000 independent chains, 40 Gibbs steps each (the 4x3 model mixes in a few steps: its second
    eigenvalue is checked below). With 20000 draws a state of probability 0.1 has a standard error of 0.0021,
    so a sampler biased by 0.01 there fails at about 4.7 sigma; a model with weights off by 0.1 (negative
    control) must fail."""
    if visible == "bernoulli":
        model = random_rbm(4, 3, seed=29)
    else:
        model = random_rbm(6, 3, visible=Softmax(3), w_std=0.7, seed=29)
    vs, p = _exact_p_v(model)
    n = 20000
    g = torch.Generator().manual_seed(30)
    init = vs[torch.randint(0, len(vs), (n,), generator=g)]
    samples = model.gibbs(init, 40, generator=g)
    assert _chi_square_of_samples(samples, vs, p) > 1e-3
    wrong = random_rbm(model.n_visible, 3, visible=model.visible, seed=29, w_std=1.0 if visible == "bernoulli" else 0.7)
    with torch.no_grad():
        wrong.weight[0] += 0.25  # one visible unit's weights (a shift of a whole softmax group would be invisible)
    assert _chi_square_of_samples(wrong.gibbs(init, 40, generator=g), vs, p) < 1e-6
    # the transition matrix's second eigenvalue bounds the distance to p(v) after 40 steps
    hs = states_of(model.hidden, 3)
    p_h_v = torch.softmax(-torch.stack([model.energy(x.expand(len(hs), -1), hs) for x in vs]), 1)
    p_v_h = torch.softmax(-torch.stack([model.energy(x.expand(len(hs), -1), hs) for x in vs]), 0).T
    lam = sorted(np.abs(np.linalg.eigvals((p_h_v @ p_v_h).numpy())))[-2]
    assert lam**40 < 1e-6


@pytest.mark.slow
def test_gaussian_visible_sampler_matches_the_exact_mixture():
    """1-D Gaussian visible, 3 hidden units: p(v) = sum_h p(h) N(v; b + sigma W h, sigma^2); KS test."""
    model = random_rbm(1, 3, visible="gaussian", sigma=torch.tensor([0.7], dtype=DT), w_std=1.5, seed=31)
    hs = states_of("bernoulli", 3)
    mu = (model.visible_bias + model.sigma * (hs @ model.weight.T))[:, 0]
    b = model.visible_bias[0]
    s = float(model.sigma[0])
    p = torch.softmax(hs @ model.hidden_bias + (mu.square() - b.square()) / (2 * s**2), 0)
    g = torch.Generator().manual_seed(32)
    samples = model.gibbs(torch.zeros(20000, 1, dtype=DT), 40, generator=g)[:, 0].numpy()

    def cdf(x):
        return sum(float(pk) * stats.norm.cdf(x, loc=float(m), scale=s) for pk, m in zip(p, mu))

    assert stats.kstest(samples, cdf).pvalue > 1e-3
    shifted = stats.kstest(samples + 0.05, cdf).pvalue  # negative control: a 0.05 shift is detected
    assert shifted < 1e-3


def test_sample_and_gibbs_shapes_and_reproducibility():
    model = random_rbm(5, 4, seed=33)
    a = model.sample(7, steps=5, generator=torch.Generator().manual_seed(1))
    b = model.sample(7, steps=5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (7, 5) and torch.equal(a, b)
    m = model.gibbs(a, 1, generator=torch.Generator().manual_seed(2), mean_visible=True)
    assert ((m > 0) & (m < 1)).all()
    rs = random_rbm(4, 3, visible="replicated_softmax", seed=33)
    docs = torch.tensor([[1, 0, 2, 0], [0, 0, 0, 7]], dtype=DT)
    out = rs.gibbs(docs, 3, generator=torch.Generator().manual_seed(3))
    assert out.sum(1).tolist() == [3.0, 7.0]
    with pytest.raises(CRBMError, match="init="):
        rs.sample(2, generator=None)


# ---------------------------------------------------------------------------------------------- numerics
PAIRINGS = [
    ("bernoulli", "bernoulli"),
    ("bernoulli", "softmax"),
    ("bernoulli", "relu"),
    ("bernoulli", "gaussian"),
    ("gaussian", "bernoulli"),
    ("gaussian", "relu"),
    ("softmax", "bernoulli"),
    ("replicated_softmax", "bernoulli"),
    (Concat([("bernoulli", 2), (Softmax(), 2)]), Softmax(2)),
]


@pytest.mark.parametrize("vis,hid", PAIRINGS, ids=lambda x: getattr(x, "name", x))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huge_activations_give_finite_free_energies_and_conditionals(vis, hid, dtype):
    model = RBM(4, 4, visible=vis, hidden=hid, dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1, -1, 1, -1], [-1, 1, 1, 1], [1, 1, -1, 1], [1, -1, -1, -1]]) * 2500.0)
        model.hidden_bias.fill_(-1e4)
        model.visible_bias.fill_(1e4)
    name = model.visible.name
    if name == "gaussian":
        v = torch.tensor([[1e4, -1e4, 3.0, 0.0], [2.0, 2.0, -1e4, 1e4]], dtype=dtype)
    elif name == "replicated_softmax":
        v = torch.tensor([[100, 0, 3, 0], [0, 0, 0, 1]], dtype=dtype)
    elif name == "softmax":
        v = torch.tensor([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=dtype)
    else:
        v = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=dtype)
    assert model.hidden_pre(v).abs().max() >= 1e4
    assert torch.isfinite(model.free_energy(v)).all()
    h = model.hidden_mean(v)
    assert torch.isfinite(h).all()
    assert torch.isfinite(model.visible_mean(h)).all()
    g = torch.Generator().manual_seed(0)
    assert torch.isfinite(model.gibbs(v, 2, generator=g)).all()
    st = model.contrastive_divergence(v, generator=g)
    assert all(torch.isfinite(t).all() for t in st.grads.values())


@pytest.mark.parametrize("vis,hid", PAIRINGS, ids=lambda x: getattr(x, "name", x))
def test_float32_agrees_with_float64(vis, hid):
    m64 = random_rbm(4, 4, visible=vis, hidden=hid, w_std=0.5, seed=34)
    m32 = RBM(4, 4, visible=vis, hidden=hid, dtype=torch.float32)
    m32.load_state_dict({k: t.float() for k, t in m64.state_dict().items()})
    v = _data(m64, 6, 35) if m64.visible.name != "replicated_softmax" else torch.tensor([[1, 2, 0, 0]] * 6, dtype=DT)
    assert torch.allclose(m32.free_energy(v.float()).double(), m64.free_energy(v), rtol=1e-5, atol=1e-4)
    assert torch.allclose(m32.hidden_mean(v.float()).double(), m64.hidden_mean(v), atol=1e-5)
    h = m64.hidden_mean(v)
    assert torch.allclose(m32.visible_mean(h.float()).double(), m64.visible_mean(h), atol=1e-5)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input_names_what_was_expected_and_what_came():
    model = RBM(5, 3)
    with pytest.raises(ValueError, match=r"expected shape \(batch, 5\), got \(2, 4\)"):
        model.free_energy(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"expected shape \(batch, 5\), got \(5,\)"):
        model.free_energy(torch.zeros(5))
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.free_energy(torch.tensor([[0.0, 1.0, float("nan"), 0.0, 1.0]]))
    with pytest.raises(ValueError, match="expected dtype torch.float32 .*got torch.float64"):
        model.free_energy(torch.zeros(2, 5, dtype=DT))
    with pytest.raises(ValueError, match="expected a floating dtype .*got torch.int64"):
        model.free_energy(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected a torch.Tensor .*got ndarray"):
        model.free_energy(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"Bernoulli units take values in \[0, 1\]"):
        model.free_energy(torch.tensor([[0.0, 1.0, 2.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match="expected 2 rows .*got 3"):
        model.free_energy(torch.zeros(2, 5), hidden_shift=torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"hidden_shift: expected shape \(batch, 3\), got \(2, 4\)"):
        model.free_energy(torch.zeros(2, 5), hidden_shift=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown unit type 'binary'"):
        RBM(5, 3, visible="binary")
    with pytest.raises(ValueError, match="n_hidden must be a positive integer, got 0"):
        RBM(5, 0)
    with pytest.raises(ValueError, match="n_visible must be a positive integer, got 2.5"):
        RBM(2.5, 3)
    with pytest.raises(ValueError, match="dtype must be a floating dtype, got torch.int32"):
        RBM(5, 3, dtype=torch.int32)
    with pytest.raises(ValueError, match="learn_sigma needs Gaussian visible units"):
        RBM(5, 3, learn_sigma=True)
    with pytest.raises(ValueError, match="sigma must be positive"):
        RBM(5, 3, visible="gaussian", sigma=-1.0)
    with pytest.raises(ValueError, match="replicated softmax units can only be visible"):
        RBM(5, 3, hidden="replicated_softmax")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        RBM(5, 3, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            RBM(5, 3, device="cuda")


def test_decayed_parameters_are_the_weights_only():
    assert RBM(3, 2, visible="gaussian", learn_sigma=True).decayed_parameters() == ("weight",)
    names = {k for k, _ in RBM(3, 2, visible="gaussian", learn_sigma=True).named_parameters()}
    assert names == {"weight", "visible_bias", "hidden_bias", "log_sigma"}
    assert {k for k, _ in RBM(3, 2, visible="gaussian").named_parameters()} == {"weight", "visible_bias", "hidden_bias"}


def test_sparsity_target_adds_its_push_to_the_hidden_directions():
    """With the same draws, the sparsity term adds cost * (p - q) to the hidden-bias direction (q: the batch's
    mean E[h | v]) and outer(mean of v, cost * (p - q)) to the weights' direction."""
    model = random_rbm(5, 4, seed=36)
    v = _data(model, 8, 37)
    plain = model.contrastive_divergence(v, k=1, generator=torch.Generator().manual_seed(5))
    sparse = model.contrastive_divergence(
        v, k=1, generator=torch.Generator().manual_seed(5), sparsity_target=0.1, sparsity_cost=0.3
    )
    push = 0.3 * (0.1 - model.hidden_mean(v).mean(0))
    assert torch.allclose(sparse.grads["hidden_bias"] - plain.grads["hidden_bias"], push, atol=1e-14)
    assert torch.allclose(sparse.grads["weight"] - plain.grads["weight"], torch.outer(v.mean(0), push), atol=1e-14)
    assert torch.equal(sparse.grads["visible_bias"], plain.grads["visible_bias"])


def test_initial_weights_are_the_same_draws_whatever_the_dtype():
    from crbm.engine.rbm import normal_weights

    w32, w64 = (normal_weights((4, 3), 0.1, generator=torch.Generator().manual_seed(5), dtype=dt, device=None)
                for dt in (torch.float32, torch.float64))
    expected = torch.randn((4, 3), generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 0.1
    assert w32.dtype == torch.float32 and torch.equal(w64, expected) and torch.equal(w32, expected.float())
    g = torch.Generator().manual_seed(5)
    assert torch.equal(normal_weights((2, 2), 0.0, generator=g, dtype=torch.float32, device=None), torch.zeros(2, 2))
    assert torch.equal(g.get_state(), torch.Generator().manual_seed(5).get_state())  # std 0: nothing drawn
    assert normal_weights((2, 2), 0.1, generator=g, dtype=torch.float32, device="meta").is_meta
    rbm = RBM(4, 3, init_std=0.1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert torch.equal(rbm.weight, expected)


def test_a_unit_sigma_gives_the_numbers_of_dividing_by_one_and_a_changed_sigma_is_seen():
    """A fixed sigma of exactly 1 skips the divisions (x / 1 = x): the CD statistics equal those of the same
    model with sigma learned (which always divides); a sigma changed in place or replaced is used at once."""
    g = torch.Generator().manual_seed(4)
    fixed = RBM(3, 4, visible="gaussian", dtype=DT, init_std=0.5, generator=torch.Generator().manual_seed(1))
    learned = RBM(3, 4, visible="gaussian", learn_sigma=True, dtype=DT, init_std=0.5,
                  generator=torch.Generator().manual_seed(1))
    v = torch.randn(6, 3, generator=g, dtype=DT)
    a = fixed.contrastive_divergence(v, generator=torch.Generator().manual_seed(2))
    b = learned.contrastive_divergence(v, generator=torch.Generator().manual_seed(2))
    for k in ("weight", "visible_bias", "hidden_bias"):
        assert torch.equal(a.grads[k], b.grads[k]), k
    assert torch.equal(a.recon_error, b.recon_error)
    with torch.no_grad():
        fixed.log_sigma.fill_(math.log(2.0))  # in place
    assert torch.allclose(fixed.hidden_pre(v), fixed.hidden_bias + (v / 2) @ fixed.weight)
    fixed.log_sigma = torch.full((3,), math.log(0.5), dtype=DT)  # replaced
    assert torch.allclose(fixed.hidden_pre(v), fixed.hidden_bias + (v / 0.5) @ fixed.weight)
    assert torch.allclose(fixed.visible_mean(torch.ones(2, 4, dtype=DT)),
                          fixed.visible_bias + 0.5 * fixed.weight.sum(1))
