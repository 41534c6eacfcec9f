"""CRBM structure: windows, equality with the RBM at A = B = 0, history locality, exact enumeration."""

from __future__ import annotations

import itertools

import pytest
import torch

from crbm.engine.checkpoint import load_checkpoint, save_checkpoint
from crbm.engine.errors import CRBMError
from crbm.engine.evaluate import exact_log_partition
from crbm.engine.noise import normal
from crbm.engine.rbm import RBM
from crbm.engine.train import TrainConfig, fit
from crbm.motion.conditional import CRBM, TwoLayerCRBM, Windows, fit_two_layer, history, taylor_config

F64 = torch.float64

pytestmark = pytest.mark.usefixtures("one_thread")


def _clips(gen, lengths=(7, 3, 9), d=2):
    return [torch.randn(t, d, generator=gen, dtype=F64) for t in lengths]


def test_windows_never_cross_clips_and_match_manual_slicing(gen):
    clips = _clips(gen)
    w = Windows(clips, 3)
    # valid ends: t >= 3 in each clip: 4 + 0 + 6 windows
    assert len(w) == 10
    expected = [(c, t) for c, clip in enumerate(clips) for t in range(3, clip.shape[0])]
    v, u = w.batch(torch.arange(len(w)))
    for row, (c, t) in enumerate(expected):
        clip = clips[c]
        assert torch.equal(v[row], clip[t])
        assert torch.equal(u[row], torch.cat([clip[t - 1], clip[t - 2], clip[t - 3]]))
        assert int(w.clip_of[w.ends[row]]) == c
        assert all(int(w.clip_of[w.ends[row] - lag]) == c for lag in range(1, 4))
    idx = torch.tensor([7, 0, 4])
    vb, ub = w.batch(idx)
    assert torch.equal(vb, v[idx]) and torch.equal(ub, u[idx])


def test_windows_labels_and_errors(gen):
    clips = _clips(gen, (5, 6))
    labels = [torch.eye(2, dtype=F64)[[0] * 5], torch.eye(2, dtype=F64)[[1] * 6]]
    w = Windows(clips, 2, labels=labels)
    v, u, y = w.batch(torch.arange(len(w)))
    assert y[:3].tolist() == [[1, 0]] * 3 and y[3:].tolist() == [[0, 1]] * 4
    with pytest.raises(CRBMError, match="no clip has more than"):
        Windows(clips, 6)
    with pytest.raises(CRBMError, match="order"):
        Windows(clips, 0)


def test_history_layout():
    frames = torch.arange(12.0).reshape(4, 3)
    assert history(frames, 2).tolist() == [9.0, 10.0, 11.0, 6.0, 7.0, 8.0]  # u_4 = [v_3, v_2]


def _crbm_and_rbm(visible, gen):
    crbm = CRBM(5, 4, 2, visible=visible, init_std=0.5, dtype=F64, generator=gen)
    with torch.no_grad():
        crbm.rbm.visible_bias.normal_(generator=gen)
        crbm.rbm.hidden_bias.normal_(generator=gen)
        crbm.A.zero_()
        crbm.B.zero_()
    rbm = RBM(5, 4, visible=visible, dtype=F64)
    rbm.load_state_dict(crbm.rbm.state_dict())
    return crbm, rbm


@pytest.mark.parametrize("visible", ["gaussian", "bernoulli"])
def test_zero_autoregressive_weights_equal_the_rbm(visible, gen):
    crbm, rbm = _crbm_and_rbm(visible, gen)
    v = torch.rand(6, 5, generator=gen, dtype=F64).round() if visible == "bernoulli" else torch.randn(6, 5, dtype=F64)
    u = torch.randn(6, 10, generator=gen, dtype=F64)
    h = torch.rand(6, 4, generator=gen, dtype=F64).round()
    assert torch.equal(crbm.free_energy(v, u), rbm.free_energy(v))
    assert torch.equal(crbm.hidden_mean(v, u), rbm.hidden_mean(v))
    assert torch.equal(crbm.visible_mean(h, u), rbm.visible_mean(h))
    cond = crbm.conditioned(u)
    torch.testing.assert_close(cond.hidden_mean(v), rbm.hidden_mean(v), rtol=0, atol=1e-15)
    torch.testing.assert_close(cond.visible_mean(h), rbm.visible_mean(h), rtol=0, atol=1e-15)
    cfg = TrainConfig(k=2)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    d_crbm, _ = crbm.gradient((v, u), cfg, state={}, generator=g1)
    d_rbm, _ = rbm.gradient((v,), cfg, state={}, generator=g2)
    for name, g in d_rbm.items():
        assert torch.equal(d_crbm[f"rbm.{name}"], g)


def test_cd_directions_of_a_and_b_follow_the_bias_directions(gen):
    crbm = CRBM(3, 4, 2, init_std=0.3, dtype=F64, generator=gen)
    v, u = torch.randn(8, 3, generator=gen, dtype=F64), torch.randn(8, 6, generator=gen, dtype=F64)
    d, _ = crbm.gradient((v, u), TrainConfig(k=1), state={}, generator=torch.Generator().manual_seed(1))
    # with the same draws the engine's per-example directions reproduce dA, dB
    vs, hs = crbm.shifts(u)
    stats = crbm.rbm.contrastive_divergence(
        v, k=1, generator=torch.Generator().manual_seed(1), visible_shift=vs, hidden_shift=hs
    )
    torch.testing.assert_close(d["A"], stats.d_visible.T @ u / 8)
    torch.testing.assert_close(d["B"], stats.d_hidden.T @ u / 8)
    torch.testing.assert_close(d["rbm.visible_bias"], stats.d_visible.mean(0))


def test_no_frame_outside_the_window_affects_a_prediction(gen):
    order, t = 3, 6
    crbm = CRBM(4, 5, order, init_std=0.5, dtype=F64, generator=gen)
    frames = torch.randn(10, 4, generator=gen, dtype=F64, requires_grad=True)
    u = history(frames[:t], order).unsqueeze(0)
    cond = crbm.conditioned(u)
    prediction = cond.visible_mean(cond.hidden_mean(frames[t - 1 : t]))
    free_energy = crbm.free_energy(frames[t : t + 1], u)
    for out, inside in ((prediction, range(t - order, t)), (free_energy, range(t - order, t + 1))):
        (g,) = torch.autograd.grad(out.sum(), frames, retain_graph=True)
        touched = {i for i in range(frames.shape[0]) if bool(g[i].abs().sum() > 0)}
        assert touched == set(inside)


def test_training_loss_of_a_window_depends_only_on_its_clip_frames(gen):
    clips = [torch.randn(6, 2, generator=gen, dtype=F64) for _ in range(2)]
    frames = torch.cat(clips).requires_grad_(True)
    w = Windows([frames[:6], frames[6:]], 2)
    crbm = CRBM(2, 3, 2, init_std=0.5, dtype=F64, generator=gen)
    v, u = w.batch(torch.tensor([4]))  # clip 0, t = 6? ends are t = 2..5 of clip 0, 2..5 of clip 1
    (g,) = torch.autograd.grad(crbm.free_energy(v, u).sum(), frames)
    end = int(w.ends[4])
    touched = {i for i in range(12) if bool(g[i].abs().sum() > 0)}
    assert touched == {end, end - 1, end - 2} and all(i >= 6 for i in touched)


def _enumerate_log_p(crbm: CRBM, u: Tensor) -> tuple[Tensor, Tensor]:  # noqa: F821
    states = torch.tensor(list(itertools.product([0.0, 1.0], repeat=crbm.n_visible)), dtype=F64)
    neg_f = -crbm.free_energy(states, u.expand(len(states), -1))
    return states, neg_f - torch.logsumexp(neg_f, 0)


def test_tiny_crbm_exact_enumeration_at_a_fixed_history(gen):
    crbm = CRBM(4, 3, 2, visible="bernoulli", init_std=0.7, dtype=F64, generator=gen)
    u = torch.randn(1, 8, generator=gen, dtype=F64)
    vs, hs = crbm.shifts(u)
    states, log_p = _enumerate_log_p(crbm, u)
    log_z = exact_log_partition(crbm.rbm, visible_shift=vs, hidden_shift=hs)
    # exact log Z from enumerating the hidden layer equals the visible enumeration
    neg_f = -crbm.free_energy(states, u.expand(len(states), -1))
    assert abs(log_z - float(torch.logsumexp(neg_f, 0))) < 1e-12
    assert abs(float(log_p.exp().sum()) - 1) < 1e-12
    # p(h_j = 1 | v, u) by enumerating the joint energy
    hs_all = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=F64)
    v = states[5:6]
    energies = torch.stack([crbm.rbm.energy(v, h.unsqueeze(0), visible_shift=vs, hidden_shift=hs)[0] for h in hs_all])
    p_h = torch.softmax(-energies, 0)
    torch.testing.assert_close((p_h.unsqueeze(1) * hs_all).sum(0), crbm.hidden_mean(v, u)[0])
    # the exact log-likelihood gradient wrt A is (v - E[v | u]) u^T: the shape of the CD direction for A
    a = crbm.A.detach().clone().requires_grad_(True)
    crbm.A = torch.nn.Parameter(a)
    _, log_p = _enumerate_log_p(crbm, u)
    (grad,) = torch.autograd.grad(log_p[5], crbm.A)
    mean_v = (log_p.exp().unsqueeze(1) * states).sum(0)
    torch.testing.assert_close(grad, torch.outer(states[5] - mean_v, u[0]).detach())


def test_history_noise_trains_on_the_histories_plus_scaled_normal_draws(tmp_path, gen):
    noisy = CRBM(3, 4, 2, init_std=0.3, history_noise=0.5, dtype=F64, generator=gen)
    plain = CRBM(3, 4, 2, dtype=F64)
    plain.load_state_dict(noisy.state_dict())
    v, u = torch.randn(8, 3, generator=gen, dtype=F64), torch.randn(8, 6, generator=gen, dtype=F64)
    d, _ = noisy.gradient((v, u), TrainConfig(k=1), state={}, generator=torch.Generator().manual_seed(1))
    draws = torch.Generator().manual_seed(1)
    shaken = u + 0.5 * normal(u.shape, draws, u)  # the same first draws, then CD on the shaken histories
    expected, _ = plain.gradient((v, shaken), TrainConfig(k=1), state={}, generator=draws)
    clean, _ = plain.gradient((v, u), TrainConfig(k=1), state={}, generator=torch.Generator().manual_seed(1))
    for name, g in expected.items():
        torch.testing.assert_close(d[name], g)
    assert not torch.allclose(d["A"], clean["A"])
    assert load_checkpoint(save_checkpoint(tmp_path / "n.safetensors", noisy)).model.history_noise == 0.5
    with pytest.raises(CRBMError, match="history_noise must be a finite number >= 0"):
        CRBM(3, 4, 2, history_noise=-0.1)


def test_checkpoint_round_trip(tmp_path, gen):
    for model in (
        CRBM(3, 4, 2, generator=gen),
        TwoLayerCRBM(3, (4, 5), (2, 1), generator=gen),
    ):
        path = save_checkpoint(tmp_path / f"{model.kind}.safetensors", model)
        back = load_checkpoint(path).model
        assert back.config() == model.config()
        for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
            assert torch.equal(a, b), k
        type(model).from_config(model.config(), device="meta")


def test_crbm_learns_a_sine_and_two_layers_train(gen):
    t = torch.arange(400, dtype=torch.float32) * 0.2
    clip = torch.stack([torch.sin(t), torch.cos(t), torch.sin(2 * t)], 1)
    clips = [clip[:200], clip[200:]]
    model = TwoLayerCRBM(3, (20, 10), (2, 2), generator=gen)
    cfg = taylor_config(epochs=60, learning_rate=1e-2)
    h1, h2 = fit_two_layer(model, clips, cfg, cfg)
    assert h1[-1]["recon_error"] < 0.5 * h1[0]["recon_error"]
    assert len(h2) == 60 and all(torch.isfinite(torch.tensor(h["recon_error"])) for h in h2)
    single = CRBM(3, 20, 2, generator=gen)
    hist = fit(single, Windows(clips, 2), cfg)
    assert hist[-1]["recon_error"] < 0.2 * hist[0]["recon_error"]


def test_autoregressive_warm_start_reproduces_the_ridge_ar(gen):
    from crbm.motion.forecast import LinearAR, model_predictor

    clips = _clips(gen, (30, 25), d=3)
    crbm = CRBM(3, 4, 2, init_std=0.0, dtype=F64)  # W = B = 0: the CRBM is its autoregressive part
    crbm.initialise_autoregressive(Windows(clips, 2), ridge=1e-2)
    ar = LinearAR.fit(clips, 2, ridge=1e-2)
    assert torch.equal(crbm.A, ar.weight) and torch.equal(crbm.rbm.visible_bias, ar.bias)
    seeds = torch.stack([clips[0][:2], clips[1][5:7]])
    torch.testing.assert_close(model_predictor(crbm, k=3)(seeds, 4, None), ar(seeds, 4))
