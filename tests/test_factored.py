"""Label-conditioned CRBM and FCRBM: reduction to the CRBM, exact enumeration, CD directions vs hand-derived."""

from __future__ import annotations

import itertools

import pytest
import torch

from crbm.engine.checkpoint import load_checkpoint, save_checkpoint
from crbm.engine.train import TrainConfig, fit
from crbm.motion.conditional import CRBM, Windows
from crbm.motion.factored import FCRBM, LabelCRBM, fcrbm_config

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def test_label_crbm_with_zero_label_weights_equals_the_crbm(gen):
    lab = LabelCRBM(4, 3, 2, 2, init_std=0.5, dtype=F64, generator=gen)
    crbm = CRBM(4, 3, 2, dtype=F64)
    crbm.load_state_dict({k: v for k, v in lab.state_dict().items() if k not in ("P", "Q")})
    v, u = torch.randn(5, 4, generator=gen, dtype=F64), torch.randn(5, 8, generator=gen, dtype=F64)
    y = torch.eye(2, dtype=F64)[[0, 1, 1, 0, 1]]
    assert torch.equal(lab.free_energy(v, u, y), crbm.free_energy(v, u))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    d_lab, _ = lab.gradient((v, u, y), TrainConfig(), state={}, generator=g1)
    d_crbm, _ = crbm.gradient((v, u), TrainConfig(), state={}, generator=g2)
    for k, g in d_crbm.items():
        torch.testing.assert_close(d_lab[k], g, rtol=0, atol=1e-14)
    # labels shift the biases by P y and Q y exactly
    with torch.no_grad():
        lab.P.normal_(generator=gen)
        lab.Q.normal_(generator=gen)
    cond, base = lab.conditioned(u, y), crbm.conditioned(u)
    torch.testing.assert_close(cond.visible_bias, base.visible_bias + y @ lab.P.T)
    torch.testing.assert_close(cond.hidden_bias, base.hidden_bias + y @ lab.Q.T)


def _tiny_fcrbm(gen, visible="gaussian"):
    return FCRBM(
        3,
        4,
        2,
        2,
        n_features=3,
        n_factors=5,
        n_factors_ar=4,
        n_factors_past=2,
        visible=visible,
        sigma=0.7 if visible == "gaussian" else 1.0,
        init_std=0.6,
        dtype=F64,
        generator=gen,
    )


def test_fcrbm_free_energy_and_conditionals_by_enumeration(gen):
    model = _tiny_fcrbm(gen)
    v, u = torch.randn(2, 3, generator=gen, dtype=F64), torch.randn(2, 6, generator=gen, dtype=F64)
    y = torch.tensor([[1.0, 0.0], [0.3, 0.7]], dtype=F64)
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=F64)
    for row in range(2):
        vv, uu, yy = v[row : row + 1], u[row : row + 1], y[row : row + 1]
        rep = len(hs)
        energies = model.energy(vv.expand(rep, -1), hs, uu.expand(rep, -1), yy.expand(rep, -1))
        # F(v) = -log sum_h exp(-E(v, h))
        torch.testing.assert_close(model.free_energy(vv, uu, yy)[0], -torch.logsumexp(-energies, 0))
        # p(h | v) is factorial with p(h_j = 1 | v) = sigmoid(hidden_pre)
        p = torch.softmax(-energies, 0)
        cond = model.conditioned(uu, yy)
        torch.testing.assert_close((p.unsqueeze(1) * hs).sum(0), cond.hidden_mean(vv)[0])
        for j, k in itertools.combinations(range(4), 2):
            both = float((p * hs[:, j] * hs[:, k]).sum())
            assert abs(both - float((p * hs[:, j]).sum() * (p * hs[:, k]).sum())) < 1e-12
    # E[v | h] is the Gaussian mean b_t + sigma W_t h: the energy is quadratic in v with that minimum
    h = hs[5:6]
    vv = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    e = model.energy(vv, h, u[:1], y[:1])
    (g,) = torch.autograd.grad(e.sum(), vv)
    mean = model.conditioned(u[:1], y[:1]).visible_mean(h)
    torch.testing.assert_close(-g * 0.7**2, mean - vv.detach())


def test_fcrbm_cd_directions_match_the_hand_derived_statistics(gen):
    model = _tiny_fcrbm(gen)
    v, v_neg = torch.randn(6, 3, generator=gen, dtype=F64), torch.randn(6, 3, generator=gen, dtype=F64)
    u = torch.randn(6, 6, generator=gen, dtype=F64)
    y = torch.eye(2, dtype=F64)[[0, 1, 0, 1, 1, 0]]
    d = model.cd_directions(v, v_neg, u, y)
    cond = model.conditioned(u, y)
    s = 0.7
    z = y @ model.R
    gate = z @ model.Wz

    def stats(x):
        ph = cond.hidden_mean(x)
        xs = x / s
        return {
            "Wv": xs.T @ ((ph @ model.Wh) * gate),
            "Wh": ph.T @ ((xs @ model.Wv) * gate),
            "hidden_bias": ph.sum(0),
            "visible_bias": ((x - cond.visible_bias) / s**2).sum(0),
            "Bh": ph.T @ ((u @ model.Bu) * (z @ model.Bz)),
            "Av": ((x - cond.visible_bias) / s**2).T @ ((u @ model.Au) * (z @ model.Az)),
        }

    pos, neg = stats(v), stats(v_neg)
    for name in pos:
        torch.testing.assert_close(d[name], (pos[name] - neg[name]).detach() / 6, msg=name)
    assert set(d) == {n for n, _ in model.named_parameters()}


def test_fcrbm_trains_and_round_trips(tmp_path, gen):
    t = torch.arange(300, dtype=torch.float32) * 0.25
    walk = torch.stack([torch.sin(t), torch.cos(t)], 1)
    run = torch.stack([torch.sin(2 * t), 0.5 * torch.cos(2 * t)], 1)
    labels = [torch.eye(2)[[0] * 300], torch.eye(2)[[1] * 300]]
    model = FCRBM(2, 16, 2, 2, n_features=4, n_factors=12, init_std=0.3, generator=gen)
    hist = fit(model, Windows([walk, run], 2, labels=labels), fcrbm_config(epochs=40))
    assert hist[-1]["recon_error"] < 0.5 * hist[0]["recon_error"]
    path = save_checkpoint(tmp_path / "f.safetensors", model)
    back = load_checkpoint(path).model
    assert back.config() == model.config()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    lab = LabelCRBM(2, 8, 2, 2, generator=gen)
    assert load_checkpoint(save_checkpoint(tmp_path / "l.safetensors", lab)).model.config() == lab.config()
