"""DBN with label units: exact free-energy classification, up-down updates, stacking, bad input, MNIST."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
import torch.nn.functional as F

import crbm
from crbm.engine.errors import CRBMError
from crbm.engine.units import Concat
from crbm.static.dbn import DBN, balanced_order, check_labels, fine_tune_up_down, save_label_samples, train_dbn

D = torch.float64


def _random_dbn(sizes=(6, 4, 3, 5), n_labels=3, *, untied=False, seed=0) -> DBN:
    g = torch.Generator().manual_seed(seed)
    dbn = DBN(list(sizes), n_labels=n_labels, init_std=1.0, dtype=D, generator=g)
    with torch.no_grad():
        for rbm in dbn.rbms:
            rbm.visible_bias.copy_(torch.randn(rbm.n_visible, generator=g, dtype=D))
            rbm.hidden_bias.copy_(torch.randn(rbm.n_hidden, generator=g, dtype=D))
    if untied:
        dbn.untie()
        with torch.no_grad():
            for r in dbn.recognition:
                r.add_(torch.randn(r.shape, generator=g, dtype=D))
    return dbn


def _brute_free_energy(x, weight, b, c):
    """-log sum_h exp(b.x + c.h + x W h) over every binary h, for one visible vector x."""
    hs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=c.shape[0])), dtype=D)
    neg_energy = x @ b + hs @ c + hs @ (weight.T @ x)
    return -torch.logsumexp(neg_energy, 0)


def test_label_free_energies_equal_enumeration_and_classification_is_exact_argmin():
    dbn = _random_dbn()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(9, 6, generator=g, dtype=D)
    pen = dbn.up(x)
    # the mean-field up-pass through the lower layers
    expected_pen = torch.sigmoid(
        dbn.rbms[1].hidden_bias + torch.sigmoid(dbn.rbms[0].hidden_bias + x @ dbn.rbms[0].weight) @ dbn.rbms[1].weight
    )
    torch.testing.assert_close(pen, expected_pen)
    top = dbn.top
    fe = dbn.label_free_energies(pen)
    brute = torch.tensor(
        [
            [
                _brute_free_energy(
                    torch.cat([p, F.one_hot(torch.tensor(y), 3).to(D)]), top.weight, top.visible_bias, top.hidden_bias
                )
                for y in range(3)
            ]
            for p in pen
        ],
        dtype=D,
    )
    torch.testing.assert_close(fe, brute)
    # the exact posterior p(y | pen) of the top RBM, by enumerating labels and top states jointly
    joint = torch.stack([-brute[:, y] for y in range(3)], 1)
    torch.testing.assert_close(dbn.label_log_probs(x), torch.log_softmax(joint, 1))
    assert torch.equal(dbn.predict(x), brute.argmin(1))
    # the engine's own free energy of the concatenated layer agrees
    onehots = torch.eye(3, dtype=D)
    for y in range(3):
        torch.testing.assert_close(fe[:, y], top.free_energy(torch.cat([pen, onehots[y].expand(9, -1)], 1)))


def test_up_down_directions_match_the_learning_rules():
    """Each update is the gradient of the log-probability the paper's delta rule climbs, given the states."""
    dbn = _random_dbn(untied=True)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(7, 6, generator=g, dtype=D)
    targets = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2, 1]), 3).to(D)
    s = dbn.wake_sleep_states(x, targets, k=3, generator=g)
    d = dbn.up_down_directions(targets, s)
    wake, sleep = s["wake"], s["sleep"]
    for states in wake[1:] + sleep[1:] + [s["top_pos"], s["top_neg"], s["pen_neg"]]:
        assert set(states.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(sleep[-1], s["pen_neg"])
    torch.testing.assert_close(s["lab_neg"].sum(1), torch.ones(7, dtype=D))

    def bernoulli_loglik(target, pre):
        return (target * F.logsigmoid(pre) + (1 - target) * F.logsigmoid(-pre)).sum()

    n = x.shape[0]
    for i in range(2):
        rbm = dbn.rbms[i]
        w = rbm.weight.detach().clone().requires_grad_()
        b = rbm.visible_bias.detach().clone().requires_grad_()
        ll = bernoulli_loglik(wake[i], b + wake[i + 1] @ w.T)  # log p(s_below | s_above), generative
        gw, gb = torch.autograd.grad(ll, [w, b])
        torch.testing.assert_close(d[f"rbms.{i}.weight"], gw / n)
        torch.testing.assert_close(d[f"rbms.{i}.visible_bias"], gb / n)
        r = dbn.recognition[i].detach().clone().requires_grad_()
        c = rbm.hidden_bias.detach().clone().requires_grad_()
        ll = bernoulli_loglik(sleep[i + 1], c + sleep[i] @ r)  # log q(s_above | s_below), recognition
        gr, gc = torch.autograd.grad(ll, [r, c])
        torch.testing.assert_close(d[f"recognition.{i}"], gr / n)
        torch.testing.assert_close(d[f"rbms.{i}.hidden_bias"], gc / n)
    top = dbn.top
    w = top.weight.detach().clone().requires_grad_()
    b = top.visible_bias.detach().clone().requires_grad_()
    c = top.hidden_bias.detach().clone().requires_grad_()

    def energy(xv, h):
        return -(xv @ b) - (h @ c) - ((xv @ w) * h).sum(1)

    x_pos = torch.cat([wake[-1], targets], 1)
    x_neg = torch.cat([s["pen_neg"], s["lab_neg"]], 1)
    objective = (energy(x_neg, s["top_neg"]) - energy(x_pos, s["top_pos"])).sum() / n
    gw, gb, gc = torch.autograd.grad(objective, [w, b, c])
    torch.testing.assert_close(d["rbms.2.weight"], gw)
    torch.testing.assert_close(d["rbms.2.visible_bias"], gb)
    torch.testing.assert_close(d["rbms.2.hidden_bias"], gc)
    assert set(d) == {name for name, _ in dbn.named_parameters()}


def test_trainer_applies_the_up_down_step():
    """One full-batch epoch through crbm.fit moves every parameter by lr * direction (no momentum/decay)."""
    dbn = _random_dbn(untied=True)
    before = {k: v.clone() for k, v in dbn.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    x = torch.rand(6, 6, generator=g, dtype=D)
    targets = F.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).to(D)
    cfg = crbm.TrainConfig(
        epochs=1,
        batch_size=6,
        learning_rate=0.05,
        momentum=0.0,
        weight_decay=0.0,
        k=2,
        shuffle=False,
        seed=7,
        device="cpu",
        verbose=False,
    )
    crbm.fit(dbn, crbm.TensorData(x, targets), cfg)
    replay = _random_dbn(untied=True)
    s = replay.wake_sleep_states(x, targets, k=2, generator=torch.Generator().manual_seed(7))
    d = replay.up_down_directions(targets, s)
    for name, p in dbn.named_parameters():
        torch.testing.assert_close(p, before[name] + 0.05 * d[name])


def test_greedy_training_chains_sizes_and_from_rbms_checks_them():
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(40, 12, generator=g) < 0.3).float()
    y = torch.arange(40) % 3
    cfg = crbm.TrainConfig(epochs=1, batch_size=10, device="cpu", verbose=False)
    dbn = train_dbn(x, y, [12, 8, 6, 10], n_labels=3, configs=cfg, generator=g)
    assert [(r.n_visible, r.n_hidden) for r in dbn.rbms] == [(12, 8), (8, 6), (9, 10)]
    assert isinstance(dbn.top.visible, Concat) and dbn.top.visible.size == 9
    assert dbn.config() == {"sizes": [12, 8, 6, 10], "n_labels": 3, "untied": False, "init_std": 0.01}
    bad = [crbm.RBM(12, 8), crbm.RBM(7, 6), crbm.RBM(9, 10, visible=dbn.top.visible)]
    with pytest.raises(CRBMError, match=r"layer 1: expected 8 visible units .* got 7"):
        DBN.from_rbms(bad, n_labels=3)
    bad_top = [crbm.RBM(12, 8), crbm.RBM(8, 6), crbm.RBM(6, 10)]
    with pytest.raises(CRBMError, match=r"layer 2: expected 6 \+ 3 label units"):
        DBN.from_rbms(bad_top, n_labels=3)


def test_bad_input_names_argument_and_expectation():
    dbn = _random_dbn()
    with pytest.raises(CRBMError, match=r"images: expected shape \(batch, 6\), got \(2, 5\)"):
        dbn.predict(torch.rand(2, 5, dtype=D))
    with pytest.raises(CRBMError, match=r"images: Bernoulli units take values in \[0, 1\]"):
        dbn.predict(torch.full((2, 6), 3.0, dtype=D))
    with pytest.raises(CRBMError, match=r"labels: expected integers in \[0, 3\), got values from 0 to 5"):
        dbn.error_rate(torch.rand(2, 6, dtype=D), torch.tensor([0, 5]))
    with pytest.raises(CRBMError, match=r"labels: expected 2 labels \(one per image\), got 3"):
        dbn.error_rate(torch.rand(2, 6, dtype=D), torch.tensor([0, 1, 2]))
    with pytest.raises(CRBMError, match=r"labels: expected a 1-D integer tensor"):
        check_labels(torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(CRBMError, match=r"sizes: expected at least 2"):
        DBN([784])
    with pytest.raises(CRBMError, match=r"n_labels: expected 0 \(no labels\) or an integer >= 2"):
        DBN([4, 3], n_labels=1)
    with pytest.raises(CRBMError, match=r"configs: expected 3 TrainConfigs"):
        train_dbn(torch.rand(4, 6), torch.tensor([0, 1, 2, 0]), [6, 4, 3, 5], n_labels=3, configs=[crbm.TrainConfig()])
    with pytest.raises(CRBMError, match="no label units"):
        DBN([4, 3], n_labels=0).predict(torch.rand(1, 4))
    with pytest.raises(CRBMError, match="untie"):
        dbn.gradient(
            (torch.rand(2, 6, dtype=D), torch.eye(3, dtype=D)[:2]), crbm.TrainConfig(), state={}, generator=None
        )


def test_checkpoint_round_trip_of_an_untied_dbn(tmp_path):
    dbn = _random_dbn(untied=True)
    crbm.save_checkpoint(tmp_path / "dbn.safetensors", dbn)
    back = crbm.load_model(tmp_path / "dbn.safetensors")
    assert isinstance(back, DBN) and back.untied and back.config() == dbn.config()
    for (k, a), (k2, b) in zip(dbn.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.rand(5, 6, dtype=D)
    torch.testing.assert_close(back.label_log_probs(x), dbn.label_log_probs(x))


def test_generation_clamps_labels_and_writes_a_png(tmp_path):
    dbn = _random_dbn((9, 4, 6), n_labels=3)
    g = torch.Generator().manual_seed(5)
    images = save_label_samples(dbn, tmp_path / "samples.png", per_label=4, steps=20, generator=g)
    assert images.shape == (12, 9) and bool(((images > 0) & (images < 1)).all())
    assert (tmp_path / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["samples.png"]  # no temporary file left behind
    # with a strongly label-driven top RBM, label-clamped chains settle on that label's pen pattern
    strong = DBN([4, 8], n_labels=2, dtype=D)
    with torch.no_grad():
        strong.top.weight[:4, :] = 0
        strong.top.weight[:4, 0] = torch.tensor([6.0, 6.0, -6.0, -6.0])
        strong.top.weight[4:, 0] = torch.tensor([8.0, -8.0])
        strong.top.hidden_bias[0] = -4.0
        strong.top.visible_bias[:4] = -3.0
    out = strong.generate(torch.tensor([0, 0, 1, 1]), steps=30, generator=g)
    assert bool((out[:2, :2] > 0.9).all()) and bool((out[2:, :2] < 0.1).all())


def test_balanced_order_gives_one_of_each_class_per_block():
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 4)
    order = balanced_order(labels, generator=torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(12))
    blocks = labels[order[:9]].reshape(3, 3)
    assert all(sorted(b.tolist()) == [0, 1, 2] for b in blocks)


def test_up_down_stages_run_in_order_with_epochs_numbered_across_them():
    """Callbacks count epochs 1..N over all stages; returning True stops the stage and skips the rest."""
    g = torch.Generator().manual_seed(2)
    x = torch.bernoulli(torch.full((12, 6), 0.4, dtype=D), generator=g)
    y = torch.arange(12) % 3
    cfg = crbm.TrainConfig(batch_size=3, learning_rate=0.01, device="cpu", verbose=False)
    seen = []
    history = fine_tune_up_down(
        _random_dbn(), x, y, cfg, stages=((2, 1), (3, 4)), callbacks=[lambda e, f, m: seen.append(e)]
    )
    assert seen == [1, 2, 3, 4, 5] and len(history) == 5
    seen.clear()
    stopped = fine_tune_up_down(
        _random_dbn(), x, y, cfg, stages=((2, 1), (3, 4)), callbacks=[lambda e, f, m: seen.append(e) or e == 3]
    )
    assert seen == [1, 2, 3] and len(stopped) == 3


@pytest.mark.slow
def test_mnist_subset_end_to_end(data_root):
    from crbm.data.mnist import load_mnist

    x, y = load_mnist(data_root / "mnist", split="test")
    train_x, train_y, test_x, test_y = x[:1000], y[:1000], x[8000:9000], y[8000:9000]
    g = torch.Generator().manual_seed(0)
    cfg = crbm.TrainConfig(epochs=8, batch_size=10, learning_rate=0.1, device="cpu", verbose=False)
    dbn = train_dbn(train_x, train_y, [784, 64, 64, 128], configs=cfg, generator=g)
    greedy_error = dbn.error_rate(test_x, test_y)
    assert greedy_error < 0.2, greedy_error  # chance is 0.9; 0.149 when written
    tune = dataclasses.replace(cfg, epochs=1, learning_rate=0.01)
    history = fine_tune_up_down(dbn, train_x, train_y, tune, stages=((1, 3),))
    assert len(history) == 1 and dbn.untied
    assert dbn.error_rate(test_x, test_y) < 0.2  # 0.131 when written


def test_cli_dbn_samples(tmp_path, capsys):
    from crbm.cli import main

    crbm.save_checkpoint(tmp_path / "dbn.safetensors", _random_dbn((9, 4, 6), n_labels=3))
    png = tmp_path / "s.png"
    assert main(["dbn-samples", str(tmp_path / "dbn.safetensors"), "--out", str(png), "--steps", "3"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    crbm.save_checkpoint(tmp_path / "rbm.safetensors", crbm.RBM(4, 3))
    assert main(["dbn-samples", str(tmp_path / "rbm.safetensors")]) == 2
    assert "expected a DBN checkpoint, got a RBM" in capsys.readouterr().err
