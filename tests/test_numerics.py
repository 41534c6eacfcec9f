"""Numerical robustness: extreme pre-activations stay finite in every unit family and in the RBM's free
energy, conditionals and CD statistics; float32 and float64 agree on small models given the same draws."""

from __future__ import annotations

import math

import pytest
import torch

import crbm.engine.units
from crbm import RBM, Bernoulli, Concat, Gaussian, ReLU, ReplicatedSoftmax, Softmax

EXTREMES = torch.tensor([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, 1e4, 1e4], [1e-30, -1e-30, 80.0, -80.0]])
FAMILIES = {
    "bernoulli": Bernoulli(),
    "gaussian": Gaussian(),
    "softmax": Softmax(),
    "softmax-groups": Softmax(group=2),
    "relu": ReLU(),
    "concat": Concat([(Bernoulli(), 2), (Softmax(), 2)]),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_unit_families_stay_finite_at_extreme_inputs(name, dtype):
    units, pre = FAMILIES[name], EXTREMES.to(dtype)
    gen = torch.Generator().manual_seed(0)
    mean, lp, draw = units.mean(pre), units.log_partition(pre), units.sample(pre, generator=gen)
    for what, x in (("mean", mean), ("log_partition", lp), ("sample", draw)):
        assert bool(torch.isfinite(x).all()), (what, x)
        assert x.dtype == dtype
    if name in ("bernoulli", "softmax", "softmax-groups", "concat"):
        assert bool(((mean >= 0) & (mean <= 1)).all()) and bool(((draw == 0) | (draw == 1)).all())
    if name == "bernoulli":  # log(1 + e^x) is x for large x, 0 for very negative x, log 2 at 0
        torch.testing.assert_close(lp[0], torch.tensor(2e4 + math.log(2), dtype=dtype))
    if name == "relu":  # the stepped sigmoid's mean is about max(0, pre) far from 0; its log-partition is finite
        assert abs(float(mean[0, 0]) - 1e4) < 1.0 and float(mean[0, 1]) < 1e-30


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_replicated_softmax_stays_finite_at_extreme_inputs(dtype):
    units, pre = ReplicatedSoftmax(), EXTREMES.to(dtype)
    mean = units.mean(pre)
    draw = units.sample(pre, generator=torch.Generator().manual_seed(0), counts=torch.tensor([5.0, 3.0, 0.0]))
    assert bool(torch.isfinite(mean).all()) and bool(torch.isfinite(draw).all())
    torch.testing.assert_close(mean.sum(-1), torch.ones(3, dtype=dtype))
    assert draw.sum(-1).tolist() == [5.0, 3.0, 0.0]


PAIRINGS = [("bernoulli", "bernoulli"), ("gaussian", "bernoulli"), ("bernoulli", "relu"), ("bernoulli", "gaussian"),
            (Softmax(group=2), "bernoulli"), ("replicated_softmax", "bernoulli")]


def _extreme_rbm(visible, hidden, dtype) -> RBM:
    """Weights of +-1e3 (pre-activations reach about 1e4 on 0/1 data) and biases of +-1e3."""
    g = torch.Generator().manual_seed(3)
    model = RBM(6, 4, visible=visible, hidden=hidden, dtype=dtype, generator=g)
    with torch.no_grad():
        model.weight.copy_(torch.where(torch.rand(6, 4, generator=g) < 0.5, -1e3, 1e3))
        model.hidden_bias.copy_(torch.tensor([1e3, -1e3, 0.0, 5e2]))
        model.visible_bias.copy_(torch.tensor([1e3, -1e3, 0.0, 5e2, -5e2, 1.0]))
    return model


def _data(visible, dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    if visible == "replicated_softmax":
        return torch.randint(0, 4, (5, 6), generator=g).to(dtype)
    if isinstance(visible, Softmax):
        return torch.nn.functional.one_hot(torch.randint(0, 2, (5, 3), generator=g), 2).reshape(5, 6).to(dtype)
    return (torch.rand(5, 6, generator=g) < 0.5).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("visible, hidden", PAIRINGS, ids=[f"{v}-{h}" for v, h in PAIRINGS])
def test_rbm_free_energy_conditionals_and_cd_stay_finite(visible, hidden, dtype):
    model, v = _extreme_rbm(visible, hidden, dtype), _data(visible, dtype)
    gen = torch.Generator().manual_seed(5)
    h, ph = model.sample_hidden(v, generator=gen)
    stats = model.contrastive_divergence(v, k=2, generator=gen, mean_visible=False)
    values = {
        "free_energy": model.free_energy(v),
        "hidden_mean": ph,
        "hidden_sample": h,
        "visible_mean": model.visible_mean(ph),
        "d_visible": stats.d_visible,
        "d_hidden": stats.d_hidden,
        "recon_error": stats.recon_error,
        **{f"grad {k}": g for k, g in stats.grads.items()},
    }
    if hidden != "relu":
        values["energy"] = model.energy(v, h)
    for what, x in values.items():
        assert bool(torch.isfinite(x).all()), (what, x)


def test_gaussian_sigma_extremes_stay_finite():
    for sigma in (1e-3, 1e3):
        model = RBM(4, 3, visible="gaussian", sigma=sigma, learn_sigma=True, dtype=torch.float32)
        v = torch.randn(6, 4, generator=torch.Generator().manual_seed(0)) * 1e3
        stats = model.contrastive_divergence(v, generator=torch.Generator().manual_seed(1))
        assert bool(torch.isfinite(model.free_energy(v)).all())
        assert all(bool(torch.isfinite(g).all()) for g in stats.grads.values())


# ------------------------------------------------------------------------------------------ float32 vs float64


@pytest.fixture
def shared_draws(monkeypatch):
    """Make every uniform / normal draw in crbm.engine.units come from one float64 stream, cast to the caller's dtype,
    so a float32 and a float64 run see the same random numbers."""

    def install(seed: int):
        gen = torch.Generator().manual_seed(seed)

        def uniform(shape, generator, like):
            return torch.rand(shape, generator=gen, dtype=torch.float64).to(like.dtype)

        def normal(shape, generator, like):
            return torch.randn(shape, generator=gen, dtype=torch.float64).to(like.dtype)

        monkeypatch.setattr(crbm.engine.units, "uniform", uniform)
        monkeypatch.setattr(crbm.engine.units, "normal", normal)

    return install


def _pair(visible, hidden) -> tuple[RBM, RBM]:
    g = torch.Generator().manual_seed(7)
    m64 = RBM(7, 5, visible=visible, hidden=hidden, dtype=torch.float64, generator=g, init_std=0.5)
    with torch.no_grad():
        m64.visible_bias.copy_(torch.randn(7, generator=g, dtype=torch.float64))
        m64.hidden_bias.copy_(torch.randn(5, generator=g, dtype=torch.float64))
    m32 = RBM.from_config(m64.config(), dtype=torch.float32)
    m32.load_state_dict({k: v.float() for k, v in m64.state_dict().items()})
    return m32, m64


F32_PAIRINGS = [("bernoulli", "bernoulli"), ("gaussian", "bernoulli"), ("bernoulli", "relu"),
                ("gaussian", "gaussian"), (Softmax(group=7), "bernoulli")]


def _close(a32: torch.Tensor, b64: torch.Tensor, scale: float = 1.0) -> None:
    """float32 tolerance: a few float32 ulps of the values' scale."""
    torch.testing.assert_close(a32, b64.float(), rtol=2e-6, atol=2e-6 * scale)


@pytest.mark.parametrize("visible, hidden", F32_PAIRINGS, ids=[f"{v}-{h}" for v, h in F32_PAIRINGS])
def test_float32_and_float64_agree(visible, hidden, shared_draws):
    m32, m64 = _pair(visible, hidden)
    g = torch.Generator().manual_seed(8)
    if isinstance(visible, Softmax):
        v64 = torch.nn.functional.one_hot(torch.randint(0, 7, (20,), generator=g), 7).double()
    elif visible == "gaussian":
        v64 = torch.randn(20, 7, generator=g, dtype=torch.float64)
    else:
        v64 = (torch.rand(20, 7, generator=g) < 0.5).double()
    v32 = v64.float()
    fe64 = m64.free_energy(v64)
    _close(m32.free_energy(v32), fe64, scale=float(fe64.abs().max()))
    _close(m32.hidden_mean(v32), m64.hidden_mean(v64))

    stats = {}
    for model, v in ((m32, v32), (m64, v64)):
        shared_draws(9)
        stats[model.weight.dtype] = model.contrastive_divergence(v, k=1, generator=None, mean_visible=True)
    s32, s64 = stats[torch.float32], stats[torch.float64]
    for name in s64.grads:
        _close(s32.grads[name], s64.grads[name], scale=float(s64.grads[name].abs().max()) + 1.0)
    _close(s32.d_hidden, s64.d_hidden)
    _close(s32.d_visible, s64.d_visible, scale=float(s64.d_visible.abs().max()) + 1.0)
    _close(s32.recon_error, s64.recon_error, scale=float(s64.recon_error))
