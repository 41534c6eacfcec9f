"""Exact log Z, AIS and the evaluation figures against brute force (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from engine_helpers import DT, brute_free_energy, brute_log_z, gaussian_log_z, random_rbm, states_of

from crbm import RBM, ais, base_rate_bias, exact_log_partition, free_energy_gap, log_probability, reconstruction_error
from crbm.engine.errors import CRBMError
from crbm.engine.evaluate import ais_betas
from crbm.engine.units import Concat, Softmax

PAIRS = [
    ("bernoulli", 6, "bernoulli", 4),  # enumerates h
    ("bernoulli", 4, "bernoulli", 6),  # enumerates v
    (Softmax(3), 6, "bernoulli", 5),
    ("bernoulli", 5, Softmax(), 3),
    (Softmax(), 4, Softmax(2), 6),
    (Concat([("bernoulli", 2), (Softmax(), 3)]), 5, "bernoulli", 3),
]


@pytest.mark.parametrize("vis,nv,hid,nh", PAIRS, ids=lambda x: getattr(x, "name", str(x)))
def test_exact_log_partition_equals_the_double_sum(vis, nv, hid, nh):
    model = random_rbm(nv, nh, visible=vis, hidden=hid, seed=1)
    vs, hs = states_of(model.visible, nv), states_of(model.hidden, nh)
    log_z = exact_log_partition(model)
    assert log_z == pytest.approx(brute_log_z(model, vs, hs), abs=1e-10)
    # exp(-F) normalised by the exact Z sums to one
    assert float(torch.exp(-model.free_energy(vs) - log_z).sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(torch.exp(log_probability(model, vs, log_z)).sum()) == pytest.approx(1.0, abs=1e-12)


def test_both_enumeration_directions_agree():
    """A Bernoulli RBM and its transpose (layers swapped, W^T) have the same Z; with 7 visible and 5 hidden
    units one is computed by enumerating h (5 < 7) and the other by enumerating v, so both code paths meet."""
    model = random_rbm(7, 5, seed=2)
    t = RBM(5, 7, dtype=DT)
    with torch.no_grad():
        t.weight.copy_(model.weight.T)
        t.visible_bias.copy_(model.hidden_bias)
        t.hidden_bias.copy_(model.visible_bias)
    assert exact_log_partition(model) == pytest.approx(exact_log_partition(t), abs=1e-11)
    assert exact_log_partition(model, chunk=7) == pytest.approx(exact_log_partition(model), abs=1e-11)


def test_exact_log_partition_with_a_context():
    """A conditional model at one context: shifts enter the biases."""
    model = random_rbm(5, 4, seed=3)
    g = torch.Generator().manual_seed(4)
    sh = {
        "visible_shift": torch.randn(1, 5, generator=g, dtype=DT),
        "hidden_shift": torch.randn(1, 4, generator=g, dtype=DT),
    }
    vs, hs = states_of("bernoulli", 5), states_of("bernoulli", 4)
    n = vs.shape[0]
    brute = float(torch.logsumexp(-brute_free_energy(model, vs, hs, **{k: s.expand(n, -1) for k, s in sh.items()}), 0))
    assert exact_log_partition(model, **sh) == pytest.approx(brute, abs=1e-10)
    wide = random_rbm(4, 6, seed=3)  # enumerates v: the shifts go through the free energy
    sh = {
        "visible_shift": torch.randn(1, 4, generator=g, dtype=DT),
        "hidden_shift": torch.randn(1, 6, generator=g, dtype=DT),
    }
    vs, hs = states_of("bernoulli", 4), states_of("bernoulli", 6)
    brute = float(torch.logsumexp(-brute_free_energy(wide, vs, hs, **{k: s.expand(16, -1) for k, s in sh.items()}), 0))
    assert exact_log_partition(wide, **sh) == pytest.approx(brute, abs=1e-10)
    with pytest.raises(CRBMError, match=r"one context, shape \(1, 5\); got \(2, 5\)"):
        exact_log_partition(model, visible_shift=torch.zeros(2, 5, dtype=DT))


@pytest.mark.parametrize("nv", [1, 2])
def test_gaussian_visible_log_partition_analytic_and_numeric(nv):
    """Z = sum_h int exp(-E(v, h)) dv with non-unit sigma: the engine, the closed form of the test helper
    and a fine-grid integral of exp(-F(v)) agree."""
    sigma = torch.tensor([0.6, 1.7][:nv], dtype=DT)
    model = random_rbm(nv, 3, visible="gaussian", sigma=sigma, w_std=0.8, seed=5)
    hs = states_of("bernoulli", 3)
    analytic = float(gaussian_log_z(model, hs))
    assert exact_log_partition(model) == pytest.approx(analytic, abs=1e-11)
    grid = torch.linspace(-16, 16, 3201 if nv == 1 else 801, dtype=DT)
    v = grid[:, None] if nv == 1 else torch.cartesian_prod(grid, grid)
    cell = float(grid[1] - grid[0]) ** nv
    numeric = float(torch.logsumexp(-model.free_energy(v), 0)) + math.log(cell)
    assert numeric == pytest.approx(analytic, abs=1e-8)


def test_gaussian_visible_with_softmax_hidden():
    model = random_rbm(2, 3, visible="gaussian", hidden=Softmax(), seed=6)
    assert exact_log_partition(model) == pytest.approx(float(gaussian_log_z(model, states_of(Softmax(), 3))), abs=1e-11)


def test_exact_log_partition_refuses_large_or_continuous_models():
    with pytest.raises(
        CRBMError, match="at most 25 units; this model has 30 bernoulli visible and 26 bernoulli hidden"
    ):
        exact_log_partition(RBM(30, 26))
    with pytest.raises(CRBMError, match="use crbm.ais"):
        exact_log_partition(RBM(3, 2, visible="gaussian", hidden="gaussian"))
    with pytest.raises(CRBMError, match="not available for replicated_softmax"):
        exact_log_partition(RBM(3, 2, visible="replicated_softmax"))
    assert math.isfinite(exact_log_partition(RBM(100, 12)))  # one small layer is enough


@pytest.mark.slow
def test_ais_matches_the_exact_log_z_of_a_random_12x10_rbm():
    model = random_rbm(12, 10, w_std=0.8, seed=7)
    exact = exact_log_partition(model)
    data = states_of("bernoulli", 12)[torch.randint(0, 4096, (200,), generator=torch.Generator().manual_seed(8))]
    res = ais(
        model, n_chains=100, n_betas=10000, base_bias=base_rate_bias(data), generator=torch.Generator().manual_seed(9)
    )
    assert res.log_z_std > 0
    assert abs(res.log_z - exact) < 3 * res.log_z_std
    assert abs(res.log_z - exact) < 0.1


@pytest.mark.slow
def test_ais_on_gaussian_visibles():
    model = random_rbm(6, 8, visible="gaussian", w_std=0.5, seed=10)
    exact = exact_log_partition(model)
    res = ais(
        model,
        n_chains=100,
        n_betas=5000,
        base_bias=model.visible_bias.clone(),
        generator=torch.Generator().manual_seed(11),
    )
    assert abs(res.log_z - exact) < max(3 * res.log_z_std, 1e-3)
    assert abs(res.log_z - exact) < 0.1


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian", Softmax(2)])
def test_ais_with_zero_weights_returns_the_exact_base_log_z(visible):
    """W = 0 and the base model's visible biases equal the model's: every importance weight is the same
    number, so AIS is exact (to rounding) and its standard error is zero."""
    model = random_rbm(6, 4, visible=visible, seed=12)
    with torch.no_grad():
        model.weight.zero_()
    res = ais(
        model,
        n_chains=10,
        n_betas=200,
        base_bias=model.visible_bias.clone(),
        generator=torch.Generator().manual_seed(0),
    )
    assert res.log_z == pytest.approx(exact_log_partition(model), abs=1e-10)
    assert res.log_z_std == pytest.approx(0.0, abs=1e-12)


def test_ais_arguments():
    model = RBM(3, 2)
    with pytest.raises(CRBMError, match="n_chains must be at least 2"):
        ais(model, n_chains=1)
    with pytest.raises(CRBMError, match=r"base_bias: expected shape \(3,\), got \(4,\)"):
        ais(model, base_bias=torch.zeros(4))
    with pytest.raises(CRBMError, match="AIS supports"):
        ais(RBM(3, 2, hidden="relu"))
    with pytest.raises(CRBMError, match="n_betas must be at least 3"):
        ais(model, n_betas=2)
    b = ais_betas(1000)
    assert b[0] == 0 and b[-1] == 1 and len(b) == 1001 and bool((b.diff() > 0).all())


def test_base_rate_bias_and_reconstruction_figures():
    data = torch.tensor([[1, 0, 1], [1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=DT)
    p = (data.mean(0) + 0.05) / 1.1
    assert torch.allclose(base_rate_bias(data), torch.log(p / (1 - p)))
    model = random_rbm(3, 2, seed=13)
    recon = model.visible_mean(model.hidden_mean(data))
    assert reconstruction_error(model, data, batch_size=3) == pytest.approx(
        float((data - recon).square().sum(1).mean())
    )
    valid = data[:2]
    gap = float(model.free_energy(valid).mean() - model.free_energy(data).mean())
    assert free_energy_gap(model, data, valid) == pytest.approx(gap)
    docs = torch.tensor([[2, 0, 1], [0, 0, 3]], dtype=DT)
    rs = random_rbm(3, 2, visible="replicated_softmax", seed=14)
    expected = docs.sum(1, keepdim=True) * rs.visible_mean(rs.hidden_mean(docs))
    assert reconstruction_error(rs, docs) == pytest.approx(float((docs - expected).square().sum(1).mean()))
