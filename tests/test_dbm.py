"""The two-layer DBM against brute force: every state (v, h1, h2) of tiny models enumerated in float64.

The references use only the DBM's energy written out here from the paper,
E = -v W1 h1 - h1 W2 h2 - b.v - c1.h1 - c2.h2, with W1, W2, b, c1, c2 drawn in the test and written into the
model by the documented layout (joint weight [[W1]; [W2^T]], visible bias [b; c2], hidden bias c1).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from engine_helpers import binary_states
from scipy import stats

import crbm
from crbm import DBM, CRBMError, TrainConfig
from crbm.static.dbm import _DoubledInput, _DoubledTopDown

DT = torch.float64


def make_dbm(nv: int, n1: int, n2: int, *, w_std: float, seed: int, w2_zero: bool = False):
    """A DBM with random parameters, and the parameters (W1, W2, b, c1, c2) themselves."""
    g = torch.Generator().manual_seed(seed)
    W1 = torch.randn(nv, n1, generator=g, dtype=DT) * w_std
    W2 = torch.randn(n1, n2, generator=g, dtype=DT) * w_std * (0.0 if w2_zero else 1.0)
    b, c1, c2 = (torch.randn(n, generator=g, dtype=DT) * 0.5 for n in (nv, n1, n2))
    dbm = DBM(nv, n1, n2, dtype=DT)
    with torch.no_grad():
        dbm.joint_rbm.weight.copy_(torch.cat([W1, W2.T]))
        dbm.joint_rbm.visible_bias.copy_(torch.cat([b, c2]))
        dbm.joint_rbm.hidden_bias.copy_(c1)
    return dbm, (W1, W2, b, c1, c2)


def energy(params, v, h1, h2):
    """E(v, h1, h2) for paired rows, (n,)."""
    W1, W2, b, c1, c2 = params
    return -((v @ W1) * h1).sum(-1) - ((h1 @ W2) * h2).sum(-1) - v @ b - h1 @ c1 - h2 @ c2


def brute_log_joint(params) -> torch.Tensor:
    """log of the unnormalised p(v, h1, h2) on the grid: (2^nv, 2^n1 * 2^n2)."""
    W1, W2 = params[0], params[1]
    vs, h1s, h2s = binary_states(W1.shape[0]), binary_states(W1.shape[1]), binary_states(W2.shape[1])
    h1 = h1s.repeat_interleave(len(h2s), 0)
    h2 = h2s.repeat(len(h1s), 1)
    rows = [-energy(params, v.expand(len(h1), -1), h1, h2) for v in vs]
    return torch.stack(rows)


def brute_log_p_v(params) -> torch.Tensor:
    """Exact log p(v) for every v (rows of binary_states(nv)), (2^nv,)."""
    table = brute_log_joint(params)
    return torch.logsumexp(table, 1) - torch.logsumexp(table.reshape(-1), 0)


def test_parameters_are_views_of_the_joint_rbm_and_exact_log_z_is_brute_force():
    dbm, params = make_dbm(6, 4, 3, w_std=1.0, seed=1)
    W1, W2, b, c1, c2 = params
    for got, want in zip((dbm.W1, dbm.W2, dbm.b, dbm.c1, dbm.c2), params):
        assert torch.equal(got, want)
    assert dbm.W1.data_ptr() == dbm.joint_rbm.weight.data_ptr()  # views, no copies
    assert [n for n, _ in dbm.named_parameters()] == [
        "joint_rbm.weight",
        "joint_rbm.visible_bias",
        "joint_rbm.hidden_bias",
    ]
    assert dbm.decayed_parameters() == ("joint_rbm.weight",)
    exact = crbm.exact_log_partition(dbm.joint_rbm)
    brute = float(torch.logsumexp(brute_log_joint(params).reshape(-1), 0))
    assert exact == pytest.approx(brute, abs=1e-10)


def test_block_gibbs_samples_pass_chi_square_against_exact_p_v():
    """20000 independent chains of 40 block-Gibbs rounds on a 5-3-2 DBM; p(v) from brute force. A DBM
    whose W2 is zeroed (the negative control) must fail the same test; the weights are large enough
    (std 1.5) for h2 to matter (with std 1.0 and this seed, zeroing W2 moved p(v) too little to detect)."""
    dbm, params = make_dbm(5, 3, 2, w_std=1.5, seed=2)
    p = brute_log_p_v(params).exp()
    n = 20000
    assert float(p.min()) * n >= 5, "chi-square needs at least 5 expected counts per state"
    vs = binary_states(5)

    def p_value(model) -> float:
        samples = model.sample(n, steps=40, generator=torch.Generator().manual_seed(3))
        codes = (samples[:, None, :] == vs[None]).all(-1)
        assert bool((codes.sum(1) == 1).all())
        return stats.chisquare(codes.sum(0).numpy(), p.numpy() * n).pvalue

    assert p_value(dbm) > 1e-3
    wrong, _ = make_dbm(5, 3, 2, w_std=1.5, seed=2, w2_zero=True)
    assert p_value(wrong) < 1e-6


def test_mean_field_converges_to_the_fixed_point_equations():
    dbm, (W1, W2, b, c1, c2) = make_dbm(6, 4, 3, w_std=1.0, seed=4)
    v = binary_states(6)
    mu1, mu2 = dbm.mean_field(v, steps=200)
    assert mu1.shape == (64, 4) and mu2.shape == (64, 3)
    assert torch.allclose(mu1, torch.sigmoid(v @ W1 + mu2 @ W2.T + c1), atol=1e-12, rtol=0)
    assert torch.allclose(mu2, torch.sigmoid(mu1 @ W2 + c2), atol=1e-12, rtol=0)
    # zero steps: the bottom-up pass with doubled input
    m1, m2 = dbm.mean_field(v, steps=0)
    assert torch.allclose(m1, torch.sigmoid(2 * v @ W1 + c1))
    assert torch.allclose(m2, torch.sigmoid(m1 @ W2 + c2))


def test_elbo_is_log_p_minus_the_kl_of_q_to_the_exact_posterior():
    """For every v: ELBO = log p(v) - KL(q || p(h1, h2 | v)), all by enumeration; so ELBO <= log p(v)."""
    dbm, params = make_dbm(6, 4, 3, w_std=1.0, seed=5)
    log_z = crbm.exact_log_partition(dbm.joint_rbm)
    v = binary_states(6)
    elbo = dbm.elbo(v, log_z, steps=30)
    log_p = brute_log_p_v(params)
    assert elbo.shape == (64,)
    assert bool((elbo <= log_p + 1e-12).all())
    assert float((log_p - elbo).max()) > 1e-3  # with W2 != 0 the bound is not tight
    # KL by enumeration: q(h1, h2) = prod of Bernoulli(mu) on the same grid as brute_log_joint
    mu1, mu2 = dbm.mean_field(v, steps=30)
    h1s, h2s = binary_states(4), binary_states(3)
    h1, h2 = h1s.repeat_interleave(len(h2s), 0), h2s.repeat(len(h1s), 1)
    log_q = (h1[None] * mu1[:, None].log() + (1 - h1[None]) * (1 - mu1[:, None]).log()).sum(-1) + (
        h2[None] * mu2[:, None].log() + (1 - h2[None]) * (1 - mu2[:, None]).log()
    ).sum(-1)
    table = brute_log_joint(params)
    log_post = table - torch.logsumexp(table, 1, keepdim=True)
    kl = (log_q.exp() * (log_q - log_post)).sum(1)
    assert torch.allclose(elbo, log_p - kl, atol=1e-10, rtol=0)


def test_elbo_is_exact_when_w2_is_zero():
    """With W2 = 0, p(h1, h2 | v) = prod_j p(h1_j | v) prod_k p(h2_k): mean field finds it after one update."""
    dbm, params = make_dbm(6, 4, 3, w_std=1.0, seed=6, w2_zero=True)
    log_z = crbm.exact_log_partition(dbm.joint_rbm)
    v = binary_states(6)
    assert torch.allclose(dbm.elbo(v, log_z, steps=1), brute_log_p_v(params), atol=1e-10, rtol=0)


def test_ais_on_the_joint_rbm_matches_the_exact_log_z():
    """AIS over x = [v, h2] with h1 summed out, on a random 10-12-6 DBM (log Z exact by enumerating h1)."""
    dbm, _ = make_dbm(10, 12, 6, w_std=0.5, seed=7)
    exact = crbm.exact_log_partition(dbm.joint_rbm)
    est = crbm.ais(dbm.joint_rbm, n_chains=100, n_betas=2000, generator=torch.Generator().manual_seed(8))
    assert abs(est.log_z - exact) < 3 * est.log_z_std + 1e-12
    assert abs(est.log_z - exact) < 0.1


def test_ais_base_bias_is_the_data_and_mean_field_log_odds():
    dbm, _ = make_dbm(6, 4, 3, w_std=1.0, seed=9)
    data = binary_states(6)
    _, mu2 = dbm.mean_field(data)
    base = dbm.ais_base_bias(data)
    assert torch.allclose(base, torch.cat([crbm.base_rate_bias(data), crbm.base_rate_bias(mu2)]))


def training_data(n: int = 300) -> torch.Tensor:
    """Noisy copies (10% flips) of three 6-bit prototypes."""
    g = torch.Generator().manual_seed(10)
    protos = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 0], [1, 0, 0, 0, 1, 1]], dtype=DT)
    rows = protos[torch.randint(0, 3, (n,), generator=g)]
    flips = (torch.rand(n, 6, generator=g, dtype=DT) < 0.1).to(DT)
    return (rows + flips) % 2


def mean_log_likelihood(dbm: DBM, data: torch.Tensor) -> float:
    params = (dbm.W1, dbm.W2, dbm.b, dbm.c1, dbm.c2)
    log_p = brute_log_p_v(params)
    codes = (data * 2 ** torch.arange(5, -1, -1, dtype=DT)).sum(1).long()  # binary_states' row order
    return float(log_p[codes].mean())


CFG = TrainConfig(
    epochs=15, batch_size=20, learning_rate=0.05, k=1, n_chains=50, seed=0, device="cpu", verbose=False, progress=False
)


def test_fit_raises_the_exact_log_likelihood_and_is_reproducible():
    data = training_data()
    models = []
    for _ in range(2):
        dbm = DBM(6, 4, 3, dtype=DT, generator=torch.Generator().manual_seed(11))
        before = mean_log_likelihood(dbm, data)
        history = crbm.fit(dbm, data, CFG)
        models.append(dbm)
    after = mean_log_likelihood(models[0], data)
    assert before == pytest.approx(-6 * torch.log(torch.tensor(2.0)).item(), abs=0.01)
    assert after > before + 0.5, (before, after)
    assert history[-1]["recon_error"] < history[0]["recon_error"]
    assert torch.equal(models[0].joint_rbm.weight, models[1].joint_rbm.weight)


def test_gradient_is_the_mean_field_statistics_minus_the_chains():
    """Positive part: the autograd gradient of -E_q[E] (q fixed at the mean field); negative part: that of
    -E(x, E[h1 | x]) over the advanced chains, reproduced with a clone of the generator."""
    dbm, params = make_dbm(6, 4, 3, w_std=1.0, seed=12)
    v = training_data(8)
    chain = binary_states(9)[torch.randperm(512, generator=torch.Generator().manual_seed(13))[:5]]
    g = torch.Generator().manual_seed(14)
    g_copy = torch.Generator().manual_seed(14)
    state = {"chain": chain.clone()}
    directions, figures = dbm.gradient((v,), dataclasses.replace(CFG, k=2), state=state, generator=g)

    mu1, mu2 = dbm.mean_field(v)
    new_chain = dbm.joint_rbm.gibbs(chain, 2, generator=g_copy)
    assert torch.equal(state["chain"], new_chain)
    ph = dbm.joint_rbm.hidden_mean(new_chain)
    leaves = [p.clone().requires_grad_(True) for p in params]
    objective = -energy(leaves, v, mu1, mu2).mean() + energy(leaves, new_chain[:, :6], ph, new_chain[:, 6:]).mean()
    W1, W2, b, c1, c2 = torch.autograd.grad(objective, leaves)
    assert torch.allclose(directions["joint_rbm.weight"], torch.cat([W1, W2.T]), atol=1e-12)
    assert torch.allclose(directions["joint_rbm.visible_bias"], torch.cat([b, c2]), atol=1e-12)
    assert torch.allclose(directions["joint_rbm.hidden_bias"], c1, atol=1e-12)
    recon = torch.sigmoid(mu1 @ params[0].T + params[2])
    assert float(figures["recon_error"]) == pytest.approx(float((v - recon).square().sum(1).mean()))


def test_pretraining_rbms_double_the_right_input_and_compose():
    g = torch.Generator().manual_seed(15)
    lower, upper = (
        _DoubledInput(6, 4, dtype=DT, init_std=1.0, generator=g),
        _DoubledTopDown(4, 3, dtype=DT, generator=g),
    )
    v, h = training_data(5), binary_states(4)[:5]
    assert torch.allclose(lower.hidden_mean(v), torch.sigmoid(2 * v @ lower.weight + lower.hidden_bias))
    assert torch.allclose(lower.visible_mean(h), torch.sigmoid(h @ lower.weight.T + lower.visible_bias))
    h2 = binary_states(3)[:5]
    assert torch.allclose(upper.visible_mean(h2), torch.sigmoid(2 * h2 @ upper.weight.T + upper.visible_bias))
    assert torch.allclose(upper.hidden_mean(h), torch.sigmoid(h @ upper.weight + upper.hidden_bias))

    data = training_data()
    dbm = crbm.pretrain_dbm(data, 4, 3, dataclasses.replace(CFG, learning_rate=0.1))
    assert (dbm.n_visible, dbm.n_h1, dbm.n_h2) == (6, 4, 3)
    assert mean_log_likelihood(dbm, data) > -6 * 0.6931 + 0.5


def test_checkpoint_round_trip(tmp_path):
    dbm, _ = make_dbm(6, 4, 3, w_std=1.0, seed=16)
    dbm.mean_field_steps = 7
    path = crbm.save_checkpoint(tmp_path / "dbm.safetensors", dbm)
    back = crbm.load_model(path)
    assert isinstance(back, DBM) and back.config() == dbm.config()
    for (name, p), (_, q) in zip(dbm.state_dict().items(), back.state_dict().items()):
        assert torch.equal(p, q) and p.dtype == q.dtype, name
    v = binary_states(6)
    assert torch.equal(back.elbo(v, 1.0), dbm.elbo(v, 1.0))
    skeleton = DBM.from_config(dbm.config(), dtype=DT, device="meta")
    assert skeleton.joint_rbm.weight.shape == (9, 4)


def one_line_error(fn) -> str:
    with pytest.raises(CRBMError) as err:
        fn()
    message = str(err.value)
    assert "\n" not in message
    return message


def test_bad_input_raises_one_line_errors():
    dbm, _ = make_dbm(6, 4, 3, w_std=1.0, seed=17)
    assert "expected shape (batch, 6), got (2, 5)" in one_line_error(
        lambda: dbm.mean_field(torch.zeros(2, 5, dtype=DT))
    )
    assert "[0, 1]" in one_line_error(lambda: dbm.elbo(torch.full((2, 6), 2.0, dtype=DT), 0.0))
    assert "n_h1 must be an integer >= 1" in one_line_error(lambda: DBM(6, 0, 3))
    assert "steps must be an integer >= 0" in one_line_error(
        lambda: dbm.mean_field(torch.zeros(2, 6, dtype=DT), steps=-1)
    )
    big = DBM(30, 30, 4, dtype=DT)
    assert "at most 25" in one_line_error(lambda: crbm.exact_log_partition(big.joint_rbm))
    assert "configs" in one_line_error(lambda: crbm.pretrain_dbm(training_data(), 4, 3, [CFG] * 3))


def test_resume_continues_the_chains_bit_identically(tmp_path):
    """The persistent chains go into fit's checkpoint: 2 epochs + resume to 4 equals 4 epochs straight."""
    data = training_data(100)
    cfg = dataclasses.replace(CFG, epochs=4)
    straight = DBM(6, 4, 3, dtype=DT, generator=torch.Generator().manual_seed(18))
    crbm.fit(straight, data, cfg)
    ck = str(tmp_path / "run.safetensors")
    first = DBM(6, 4, 3, dtype=DT, generator=torch.Generator().manual_seed(18))
    crbm.fit(first, data, dataclasses.replace(cfg, epochs=2, checkpoint=ck))
    resumed = DBM(6, 4, 3, dtype=DT)
    crbm.fit(resumed, data, dataclasses.replace(cfg, checkpoint=ck), resume=ck)
    assert torch.equal(resumed.joint_rbm.weight, straight.joint_rbm.weight)
