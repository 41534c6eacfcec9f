"""The unrolled autoencoder: exact agreement with the RBM stack, gradients, training, checkpoints."""

from __future__ import annotations

import pytest
import torch

from crbm import RBM, CRBMError, DeepAutoencoder, TensorData, TrainConfig, fit, load_model, save_checkpoint, up_pass
from crbm.static.autoencoder import greedy_autoencoders


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread avoids oversubscribing a shared machine (10x faster here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _stack(gen, sizes, *, visible="bernoulli", code="gaussian", sigma=1.0):
    """RBMs with random weights and biases (float64); the unrolling must hold for any parameters."""
    rbms = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        r = RBM(
            a,
            b,
            visible=visible if i == 0 else "bernoulli",
            hidden=code if i == len(sizes) - 2 else "bernoulli",
            sigma=sigma if i == 0 else 1.0,
            init_std=0.5,
            dtype=torch.float64,
            generator=gen,
        )
        with torch.no_grad():
            r.visible_bias.copy_(torch.randn(a, generator=gen, dtype=torch.float64))
            r.hidden_bias.copy_(torch.randn(b, generator=gen, dtype=torch.float64) * 0.3)
        rbms.append(r)
    return rbms


def _down_pass(rbms, h):
    for r in reversed(rbms):
        h = r.visible_mean(h)
    return h


@pytest.mark.parametrize(
    "visible, sigma",
    [("bernoulli", 1.0), ("gaussian", torch.tensor([0.5, 1.0, 2.0, 1.5, 0.7, 1.2])), ("replicated_softmax", 1.0)],
)
def test_unrolled_passes_equal_the_stack(gen, visible, sigma):
    rbms = _stack(gen, [6, 5, 4, 3], visible=visible, sigma=sigma)
    ae = DeepAutoencoder.from_rbms(rbms)
    if visible == "bernoulli":
        v = (torch.rand(7, 6, generator=gen, dtype=torch.float64) < 0.5).double()
    elif visible == "gaussian":
        v = torch.randn(7, 6, generator=gen, dtype=torch.float64)
    else:
        v = torch.randint(0, 5, (7, 6), generator=gen).double()
    code = ae.codes(v)
    torch.testing.assert_close(code, up_pass(rbms, v), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ae.decode(code), _down_pass(rbms, code), rtol=1e-12, atol=1e-12)
    if visible == "replicated_softmax":  # the first layer's hidden biases are scaled by document length
        torch.testing.assert_close(ae.reconstruct(v), _down_pass(rbms, code) * v.sum(1, keepdim=True))
    # untied after unrolling: changing a decoder weight leaves the encoder alone
    with torch.no_grad():
        ae.decoder_weight_0.add_(1.0)
    torch.testing.assert_close(ae.codes(v), code, rtol=0, atol=0)


def test_gradient_is_minus_the_loss_gradient(gen):
    """Central differences on float64 check the sign and scale of every parameter's direction."""
    ae = DeepAutoencoder.from_rbms(_stack(gen, [5, 4, 2]))
    v = (torch.rand(6, 5, generator=gen, dtype=torch.float64) < 0.5).double()
    noise = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    directions, figures = ae.gradient((v, noise), TrainConfig(), state={}, generator=None)
    assert set(directions) == {k for k, _ in ae.named_parameters()}
    eps = 1e-6
    for name, p in ae.named_parameters():
        for idx in [(0,) * p.dim(), tuple(s - 1 for s in p.shape)]:
            with torch.no_grad():
                p[idx] += eps
                up = float(ae.loss(v, noise=noise).mean())
                p[idx] -= 2 * eps
                down = float(ae.loss(v, noise=noise).mean())
                p[idx] += eps
            assert float(directions[name][idx]) == pytest.approx(-(up - down) / (2 * eps), rel=1e-6, abs=1e-9)
    assert float(figures["loss"]) == pytest.approx(float(ae.loss(v, noise=noise).mean().detach()))


def test_bernoulli_loss_is_cross_entropy(gen):
    ae = DeepAutoencoder.from_rbms(_stack(gen, [4, 3, 2]))
    v = torch.tensor([[1.0, 0.0, 0.3, 1.0]], dtype=torch.float64)
    x = ae.forward(v)
    expected = -(v * x.log() + (1 - v) * (1 - x).log()).sum()
    assert float(ae.loss(v).detach()) == pytest.approx(float(expected.detach()), rel=1e-12)


def test_fit_decreases_the_loss(gen):
    data = (torch.rand(200, 8, generator=gen) < torch.linspace(0.1, 0.9, 8)).float()
    ae = DeepAutoencoder.from_rbms([RBM(8, 6, generator=gen), RBM(6, 3, generator=gen)])
    before = float(ae.loss(data).mean().detach())
    cfg = TrainConfig(epochs=30, batch_size=20, learning_rate=0.05, weight_decay=0.0, verbose=False, device="cpu")
    history = fit(ae, data, cfg)
    assert float(ae.loss(data).mean().detach()) < 0.9 * before
    assert history[-1]["loss"] < history[0]["loss"]


def test_code_noise_makes_logistic_codes_binary(gen):
    """Semantic hashing: large deterministic noise on the code inputs drives the codes to 0 or 1."""
    proto = (torch.rand(4, 8, generator=gen) < 0.5).float()
    data = proto[torch.randint(0, 4, (200,), generator=gen)]
    data = torch.where(torch.rand(200, 8, generator=gen) < 0.05, 1 - data, data)
    rbms = [RBM(8, 6, generator=gen, init_std=0.1), RBM(6, 3, generator=gen, init_std=0.1)]
    cfg = TrainConfig(epochs=100, batch_size=50, learning_rate=0.5, weight_decay=0.0, verbose=False, device="cpu")
    binary_fraction = []
    for std in (0.0, 4.0):
        ae = DeepAutoencoder.from_rbms(rbms)
        fit(ae, TensorData(data, torch.randn(200, 3, generator=gen) * std), cfg)
        binary_fraction.append(float(((ae.codes(data) - 0.5).abs() > 0.4).float().mean()))
    assert binary_fraction[1] > 0.9 and binary_fraction[1] > binary_fraction[0] + 0.2


def test_checkpoint_round_trip(tmp_path, gen):
    ae = DeepAutoencoder.from_rbms(_stack(gen, [6, 5, 3], visible="replicated_softmax"))
    path = save_checkpoint(tmp_path / "ae.safetensors", ae)
    back = load_model(path)
    assert isinstance(back, DeepAutoencoder) and back.config() == ae.config()
    v = torch.randint(0, 4, (5, 6), generator=gen).double()
    torch.testing.assert_close(back.codes(v), ae.codes(v), rtol=0, atol=0)


def test_bad_stacks_and_data_are_refused(gen):
    with pytest.raises(CRBMError, match="does not chain"):
        DeepAutoencoder.from_rbms([RBM(6, 5), RBM(4, 3)])
    with pytest.raises(CRBMError, match=r"layers\[1\]: n_in 4"):
        DeepAutoencoder([(6, 5, "bernoulli", "bernoulli"), (4, 3, "bernoulli", "gaussian")])
    ae = DeepAutoencoder([(6, 5, "bernoulli", "gaussian")])
    with pytest.raises(CRBMError, match=r"data: expected a \(batch, 6\)"):
        fit(ae, torch.zeros(10, 7), TrainConfig(epochs=1, batch_size=5, verbose=False, device="cpu"))
    with pytest.raises(CRBMError, match="Bernoulli units take values in"):
        ae.check_visible(torch.full((2, 6), 2.0), "data")


def test_fine_tuning_resumes_from_a_trainer_checkpoint(tmp_path, gen):
    data = (torch.rand(60, 6, generator=gen) < 0.4).float()
    rbms = [RBM(6, 4, generator=gen, init_std=0.1), RBM(4, 2, hidden="gaussian", generator=gen, init_std=0.1)]
    base = dict(batch_size=20, learning_rate=0.05, verbose=False, device="cpu", checkpoint=str(tmp_path / "ae.ck"))
    straight = DeepAutoencoder.from_rbms(rbms)
    fit(straight, data, TrainConfig(epochs=3, **base))
    first = DeepAutoencoder.from_rbms(rbms)
    fit(first, data, TrainConfig(epochs=1, **{**base, "checkpoint": str(tmp_path / "one.ck")}))
    resumed = DeepAutoencoder.from_config(first.config())  # all zeros: everything must come from the checkpoint
    fit(
        resumed,
        data,
        TrainConfig(epochs=3, **{**base, "checkpoint": str(tmp_path / "one.ck")}),
        resume=tmp_path / "one.ck",
    )
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


# ------------------------------------------------------------------------------------------ sparse autoencoders
def test_sparsity_penalty_is_the_kl_to_the_target_and_its_gradient_is_followed(gen):
    ae = DeepAutoencoder([(5, 4, "bernoulli", "bernoulli"), (4, 2, "bernoulli", "gaussian")], init_std=0.5,
                         dtype=torch.float64, generator=gen)
    v = (torch.rand(6, 5, generator=gen, dtype=torch.float64) < 0.5).double()
    acts = ae.activities(v)
    q = acts[0].mean(0)  # the Gaussian code layer has no penalty
    kl = (0.1 * torch.log(0.1 / q) + 0.9 * torch.log(0.9 / (1 - q))).sum()
    torch.testing.assert_close(ae.sparsity_penalty(acts, 0.1), kl)
    cfg = TrainConfig(sparsity_target=0.1, sparsity_cost=2.0)
    directions, figures = ae.gradient((v,), cfg, state={}, generator=None)
    torch.testing.assert_close(figures["sparsity"], kl.detach())

    def objective() -> float:
        return float(ae.loss(v).mean() + 2.0 * ae.sparsity_penalty(ae.activities(v), 0.1))

    eps = 1e-6
    for name, p in ae.named_parameters():
        idx = (0,) * p.dim()
        with torch.no_grad():
            p[idx] += eps
            up = objective()
            p[idx] -= 2 * eps
            down = objective()
            p[idx] += eps
        assert float(directions[name][idx]) == pytest.approx(-(up - down) / (2 * eps), rel=1e-6, abs=1e-9)


def test_the_sparsity_target_sets_the_mean_activity(gen):
    data = (torch.rand(400, 12, generator=gen) < torch.linspace(0.1, 0.6, 12)).float()
    base = dict(epochs=40, batch_size=40, learning_rate=0.1, weight_decay=0.0, verbose=False, device="cpu")
    means = {}
    for target in (None, 0.05):
        cfg = TrainConfig(**base, sparsity_target=target, sparsity_cost=10.0 if target else 0.0)
        (ae,) = greedy_autoencoders(data, [20], configs=cfg, generator=torch.Generator().manual_seed(0))
        means[target] = ae.codes(data).mean(0)  # each hidden unit's mean activity
    assert float(means[0.05].min()) > 0.04 and float(means[0.05].max()) < 0.07
    assert float(means[None].min()) > 0.3


def test_greedy_layers_stack_into_one_deep_autoencoder(gen):
    data = (torch.rand(60, 8, generator=gen) < 0.4).float()
    cfg = TrainConfig(epochs=2, batch_size=20, verbose=False, device="cpu")
    aes = greedy_autoencoders(data, [6, 3], hidden=["bernoulli", "gaussian"], configs=cfg, generator=gen)
    assert [ae.spec[0][:2] for ae in aes] == [(8, 6), (6, 3)] and aes[1].spec[0][2].name == "bernoulli"
    deep = DeepAutoencoder.stack(aes)
    torch.testing.assert_close(deep.codes(data), aes[1].codes(aes[0].codes(data)))
    codes = aes[1].codes(aes[0].codes(data))
    torch.testing.assert_close(deep.decode(codes), aes[0].decode(aes[1].decode(codes)))
    f = deep.filters()
    assert f.shape == (6, 8) and float(f.min()) == 0.0 and float(f.max()) == 1.0
    with pytest.raises(CRBMError, match=r"autoencoders\[1\] takes 6 inputs but autoencoders\[0\] makes 3-unit codes"):
        DeepAutoencoder.stack([aes[1], aes[1]])
    with pytest.raises(CRBMError, match="sizes must be a non-empty list of positive integers"):
        greedy_autoencoders(data, [], configs=cfg)
