"""The implicit mixture of CRBMs (crbm.motion.mixture): its responsibilities and components against the joint
distribution enumerated state by state, the expected CD-1 direction against its definition summed over
every component and hidden state, and training, checkpoints and generation through the public API."""

from __future__ import annotations

import itertools

import pytest
import torch

import crbm
from crbm.engine.checkpoint import load_checkpoint, save_checkpoint
from crbm.engine.errors import CRBMError
from crbm.motion.mixture import MixtureCRBM

DT = torch.float64


def _mixture(visible: str = "bernoulli", seed: int = 0) -> MixtureCRBM:
    """D = 3, H = 2 per component, K = 2, order 1, with parameters large enough to matter."""
    g = torch.Generator().manual_seed(seed)
    m = MixtureCRBM(3, 2, 1, 2, visible=visible, dtype=DT)
    for p in m.parameters():
        p.copy_(torch.randn(p.shape, generator=g, dtype=DT))
    return m


def _blocks(m: MixtureCRBM, k: int):
    """Component k's W (D, H), b (D), c (H), A (D, nD), B (H, nD)."""
    s = slice(k * m.n_hidden, (k + 1) * m.n_hidden)
    return m.weight[:, s], m.visible_bias[k], m.hidden_bias[s], m.A[k], m.B[s]


def _energy(m: MixtureCRBM, v, h, k, u):
    w, b, c, a, bb = _blocks(m, k)
    bv, ch = b + a @ u, c + bb @ u
    visible = 0.5 * (v - bv).square().sum() if m.visible.name == "gaussian" else -(v * bv).sum()
    return visible - h @ ch - v @ w @ h


def _hidden_states(m):
    return [torch.tensor(s, dtype=DT) for s in itertools.product((0.0, 1.0), repeat=m.n_hidden)]


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_responsibilities_and_free_energies_match_the_enumerated_joint(visible):
    m = _mixture(visible)
    g = torch.Generator().manual_seed(1)
    v, u = torch.randn(5, 3, generator=g, dtype=DT), torch.randn(5, 3, generator=g, dtype=DT)
    if visible == "bernoulli":
        v = (v > 0).to(DT)
    f = m.free_energies(v, u)
    q = m.responsibilities(v, u)
    for i in range(5):
        weights = torch.stack([torch.stack([torch.exp(-_energy(m, v[i], h, k, u[i])) for h in _hidden_states(m)]).sum()
                               for k in range(2)])
        torch.testing.assert_close(f[i], -weights.log(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(q[i], weights / weights.sum(), rtol=1e-12, atol=1e-12)


def test_a_component_is_that_components_crbm():
    """Given z = k, the engine's view is component k's CRBM: the same conditionals and free energy, and the
    other components' hidden units are off."""
    m = _mixture("gaussian")
    g = torch.Generator().manual_seed(2)
    v, u = torch.randn(4, 3, generator=g, dtype=DT), torch.randn(4, 3, generator=g, dtype=DT)
    for k in range(2):
        single = crbm.CRBM(3, 2, 1, dtype=DT)
        w, b, c, a, bb = _blocks(m, k)
        for p, value in ((single.rbm.weight, w), (single.rbm.visible_bias, b), (single.rbm.hidden_bias, c),
                         (single.A, a), (single.B, bb)):
            p.copy_(value)
        view = m.component(u, torch.full((4,), k))
        ph = view.hidden_mean(v)
        s = slice(k * 2, (k + 1) * 2)
        torch.testing.assert_close(ph[:, s], single.hidden_mean(v, u), rtol=1e-12, atol=1e-12)
        assert torch.equal(ph.sum(1), ph[:, s].sum(1))  # the other block is exactly 0
        torch.testing.assert_close(view.visible_mean(ph), single.visible_mean(ph[:, s], u), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(m.free_energies(v, u)[:, k], single.free_energy(v, u), rtol=1e-12, atol=1e-12)
    with pytest.raises(CRBMError, match="component indices"):
        m.component(u, torch.full((4,), 2))


def _expected_direction(m: MixtureCRBM, v, u):
    """E[CD-1 direction] for one (v, u) with the mean-field reconstruction: the sum over z, h and z' of their
    probabilities times the direction the module docstring defines."""
    out = {name: torch.zeros_like(p) for name, p in m.named_parameters()}
    q = m.responsibilities(v[None], u[None])[0]
    for z in range(m.components):
        w, b, c, a, bb = _blocks(m, z)
        ph_pos_block = torch.sigmoid(c + bb @ u + v @ w)
        for h in _hidden_states(m):
            p_h = torch.prod(torch.where(h > 0, ph_pos_block, 1 - ph_pos_block))
            mean = b + a @ u + w @ h
            recon = mean if m.visible.name == "gaussian" else torch.sigmoid(mean)
            q_neg = m.responsibilities(recon[None], u[None])[0]
            for z_neg in range(m.components):
                wn, bn, cn, an, bbn = _blocks(m, z_neg)
                weight = q[z] * p_h * q_neg[z_neg]
                ph_pos, ph_neg = torch.zeros(m.weight.shape[1], dtype=DT), torch.zeros(m.weight.shape[1], dtype=DT)
                ph_pos[z * 2 : z * 2 + 2] = ph_pos_block
                ph_neg[z_neg * 2 : z_neg * 2 + 2] = torch.sigmoid(cn + bbn @ u + recon @ wn)
                gaussian = m.visible.name == "gaussian"
                d_pos = v - (b + a @ u) if gaussian else v
                d_neg = recon - (bn + an @ u) if gaussian else recon
                out["weight"] += weight * (torch.outer(v, ph_pos) - torch.outer(recon, ph_neg))
                out["visible_bias"][z] += weight * d_pos
                out["visible_bias"][z_neg] -= weight * d_neg
                out["A"][z] += weight * torch.outer(d_pos, u)
                out["A"][z_neg] -= weight * torch.outer(d_neg, u)
                out["hidden_bias"] += weight * (ph_pos - ph_neg)
                out["B"] += weight * torch.outer(ph_pos - ph_neg, u)
    return out


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_the_cd_direction_averages_to_its_definition(visible):
    """The batch mean of 200,000 copies of one (v, u) against the exact expectation over z, h and z'
    (each entry's sampling error is below 0.005: a bound of 0.03 is six of them)."""
    m = _mixture(visible, seed=3)
    v = torch.tensor([1.0, 0.0, 1.0], dtype=DT) if visible == "bernoulli" else torch.tensor([0.3, -0.5, 0.8], dtype=DT)
    u = torch.tensor([0.2, -0.4, 0.6], dtype=DT)
    n = 200_000
    config = crbm.taylor_config(epochs=1)
    grads, figures = m.gradient((v.expand(n, 3), u.expand(n, 3)), config, state={},
                                generator=torch.Generator().manual_seed(4))
    expected = _expected_direction(m, v, u)
    for name, g in grads.items():
        torch.testing.assert_close(g, expected[name], rtol=0, atol=0.03, msg=name)
    assert float(figures["recon_error"]) > 0


def test_training_a_mixture_through_fit_checkpoints_and_generation(tmp_path):
    """Two regimes (slow and fast oscillations): fit lowers the reconstruction error and uses both components,
    the checkpoint reloads to the same model, and generation runs and is reproducible; the cleaning functions
    refuse the mixture with a one-line error."""
    g = torch.Generator().manual_seed(5)
    t = torch.arange(400, dtype=torch.float32)[:, None]
    slow = torch.sin(0.05 * t + torch.arange(4) * 0.7)
    fast = torch.sin(0.6 * t + torch.arange(4) * 0.7)
    clips = [slow + 0.01 * torch.randn(400, 4, generator=g), fast + 0.01 * torch.randn(400, 4, generator=g)]
    windows = crbm.Windows(clips, 2)
    m = MixtureCRBM(4, 8, 2, 2, generator=torch.Generator().manual_seed(6))
    hist = crbm.fit(m, windows, crbm.taylor_config(epochs=60, batch_size=50, learning_rate=1e-2, seed=7))
    assert hist[-1]["recon_error"] < 0.5 * hist[0]["recon_error"]
    v, u = windows.batch(torch.arange(len(windows)))[:2]
    owner = m.responsibilities(v, u).argmax(1)
    assert owner.bincount(minlength=2).min() > 0.05 * len(windows)  # neither component left unused
    path = tmp_path / "mix.safetensors"
    save_checkpoint(path, m)
    back = load_checkpoint(path).model
    assert isinstance(back, MixtureCRBM) and back.config() == m.config()
    assert torch.equal(back.responsibilities(v, u), m.responsibilities(v, u))
    seed = clips[0][:2]
    a = crbm.generate(m, seed, 20, k=5, n_chains=3, generator=torch.Generator().manual_seed(8))
    b = crbm.generate(m, seed, 20, k=5, n_chains=3, generator=torch.Generator().manual_seed(8))
    assert a.shape == (3, 20, 4) and torch.equal(a, b) and bool(torch.isfinite(a).all())
    mf = crbm.generate(m, seed, 20, k=5, mean_field=True, generator=None)
    assert torch.equal(mf, crbm.generate(m, seed, 20, k=5, mean_field=True, generator=None))
    with pytest.raises(CRBMError, match="MixtureCRBM takes no labels"):
        crbm.generate(m, seed, 3, labels=torch.ones(3, 1), generator=None)
    with pytest.raises(CRBMError, match="CD-1"):
        crbm.fit(m, windows, crbm.taylor_config(epochs=1, k=2))
    missing = torch.zeros(30, 4, dtype=torch.bool)
    missing[10:20, 0] = True
    for clean in (lambda: crbm.denoise(m, clips[0][:30]),
                  lambda: crbm.fill_missing(m, clips[0][:30], missing, generator=None)):
        with pytest.raises(CRBMError, match="one CRBM only given its component"):
            clean()
