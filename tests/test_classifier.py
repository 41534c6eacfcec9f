"""Backprop-fine-tuned DBN classifier: initialisation from the stack, gradients, the trainer's schedule."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import crbm
from crbm.engine.errors import CRBMError
from crbm.static.classifier import DBNClassifier, dbm_inputs, fine_tune_backprop

D = torch.float64


def _stack(seed=0):
    g = torch.Generator().manual_seed(seed)
    rbms = [crbm.RBM(7, 5, init_std=1.0, dtype=D, generator=g), crbm.RBM(5, 4, init_std=1.0, dtype=D, generator=g)]
    with torch.no_grad():
        for r in rbms:
            r.hidden_bias.copy_(torch.randn(r.n_hidden, generator=g, dtype=D))
    return rbms, g


def test_untrained_hidden_layers_equal_the_stack_up_pass():
    rbms, g = _stack()
    clf = DBNClassifier.from_rbms(rbms, 3, generator=g)
    x = torch.rand(6, 7, generator=g, dtype=D)
    torch.testing.assert_close(clf.hidden(x), crbm.up_pass(rbms, x))
    assert clf.sizes == [7, 5, 4] and clf(x).shape == (6, 3)


def test_hidden_layers_from_an_autoencoder_equal_its_encoder():
    g = torch.Generator().manual_seed(3)
    layers = [(7, 5, "bernoulli", "bernoulli"), (5, 4, "bernoulli", "bernoulli")]
    ae = crbm.DeepAutoencoder(layers, init_std=1.0, dtype=D, generator=g)
    with torch.no_grad():
        ae.encoder_bias_1.normal_(generator=g)
    clf = DBNClassifier.from_autoencoder(ae, 3, generator=g)
    x = torch.rand(6, 7, generator=g, dtype=D)
    torch.testing.assert_close(clf.hidden(x), ae.codes(x))
    assert clf.sizes == [7, 5, 4]
    linear = crbm.DeepAutoencoder([(7, 5, "bernoulli", "bernoulli"), (5, 2, "bernoulli", "gaussian")])
    with pytest.raises(CRBMError, match="encoder layer 1: expected logistic"):
        DBNClassifier.from_autoencoder(linear)


def _dbm(seed=5):
    g = torch.Generator().manual_seed(seed)
    dbm = crbm.DBM(7, 5, 4, init_std=1.0, dtype=D, generator=g)
    with torch.no_grad():
        rbm = dbm.joint_rbm
        rbm.visible_bias.copy_(torch.randn(rbm.visible_bias.shape, generator=g, dtype=D))
        rbm.hidden_bias.copy_(torch.randn(rbm.hidden_bias.shape, generator=g, dtype=D))
    return dbm, g


@pytest.mark.parametrize("k", [0, 1, 4])
def test_hidden_layers_from_a_dbm_are_one_more_mean_field_round(k):
    """On [v, q(h2 | v)] after k mean-field updates, the untrained network's h1 and h2 are the DBM's mean-field
    marginals after k + 1 updates (Salakhutdinov & Hinton 2009, figure 3)."""
    dbm, g = _dbm()
    v = torch.rand(9, 7, generator=g, dtype=D)
    x = dbm_inputs(dbm, v, steps=k, batch_size=4)  # three chunks
    # each chunk exactly [v, q(h2 | v)] of its own rows; a product's rows may round differently with the number of
    # rows beside them (BLAS blocking), so against one batch of all nine the chunks agree to float64 rounding
    chunks = torch.cat([torch.cat([c, dbm.mean_field(c, steps=k)[1]], 1) for c in torch.split(v, 4)])
    torch.testing.assert_close(x, chunks, rtol=0, atol=0)
    torch.testing.assert_close(x, torch.cat([v, dbm.mean_field(v, steps=k)[1]], 1), rtol=0, atol=1e-14)
    clf = DBNClassifier.from_dbm(dbm, 3, generator=g)
    assert clf.sizes == [11, 5, 4] and clf(x).shape == (9, 3)
    mu1, mu2 = dbm.mean_field(v, steps=k + 1)
    torch.testing.assert_close(torch.sigmoid(x @ clf.weights[0] + clf.biases[0]), mu1)
    torch.testing.assert_close(clf.hidden(x), mu2)
    torch.testing.assert_close(dbm_inputs(dbm, v), torch.cat([v, dbm.mean_field(v)[1]], 1))  # default steps


def test_fine_tuning_a_dbm_network_moves_both_input_blocks_and_leaves_the_dbm_alone():
    dbm, g = _dbm()
    before = dbm.joint_rbm.weight.detach().clone()
    v = torch.rand(40, 7, generator=g, dtype=D)
    y = (v[:, 0] > v[:, 1]).long()
    clf = DBNClassifier.from_dbm(dbm, 2, generator=g)
    w0 = clf.weights[0].detach().clone()
    cfg = crbm.TrainConfig(epochs=3, batch_size=10, learning_rate=0.5, device="cpu", verbose=False)
    fine_tune_backprop(clf, dbm_inputs(dbm, v), y, cfg, top_only_epochs=1)
    moved = (clf.weights[0] - w0).abs().sum(1)
    assert (moved[:7] > 0).all() and (moved[7:] > 0).all()  # rows of W1 and of W2^T both learn
    assert torch.equal(dbm.joint_rbm.weight, before)
    with pytest.raises(CRBMError, match="dbm: expected a crbm.DBM, got RBM"):
        DBNClassifier.from_dbm(crbm.RBM(7, 5))
    with pytest.raises(CRBMError, match=r"images: expected shape \(batch, 7\), got \(2, 11\)"):
        dbm_inputs(dbm, torch.rand(2, 11, dtype=D))


def test_output_layer_direction_is_the_closed_form_cross_entropy_gradient():
    rbms, g = _stack()
    clf = DBNClassifier.from_rbms(rbms, 3, generator=g)
    x = torch.rand(8, 7, generator=g, dtype=D)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1])
    directions, figures = clf.gradient((x, y), crbm.TrainConfig(), state={}, generator=None)
    h = crbm.up_pass(rbms, x)
    p = torch.softmax(h @ clf.out_weight + clf.out_bias, 1)
    err = p - F.one_hot(y, 3).to(D)
    torch.testing.assert_close(directions["out_weight"], -(h.T @ err) / 8)
    torch.testing.assert_close(directions["out_bias"], -err.mean(0))
    torch.testing.assert_close(figures["loss"], -torch.log(p[torch.arange(8), y]).mean())
    # the last hidden layer's bias: backpropagated error through the sigmoid
    delta = (err @ clf.out_weight.T) * h * (1 - h)
    torch.testing.assert_close(directions["biases.1"], -delta.mean(0))


def test_fine_tuning_freezes_hidden_layers_first_then_learns():
    g = torch.Generator().manual_seed(3)
    rbms, _ = _stack()
    clf = DBNClassifier.from_rbms(rbms, 2, generator=g)
    x = torch.rand(64, 7, generator=g, dtype=D)
    y = (x[:, 0] + x[:, 1] > 1.0).long()
    hidden_before = [w.detach().clone() for w in clf.weights]
    cfg = crbm.TrainConfig(epochs=1, batch_size=16, learning_rate=0.5, device="cpu", verbose=False)
    fine_tune_backprop(clf, x, y, cfg, top_only_epochs=1)
    assert all(torch.equal(a, b) for a, b in zip(hidden_before, clf.weights))
    with torch.no_grad():
        loss0 = float(F.cross_entropy(clf(x), y))
    history = fine_tune_backprop(clf, x, y, crbm.TrainConfig(**{**cfg.to_json(), "epochs": 60}), top_only_epochs=0)
    assert not torch.equal(hidden_before[0], clf.weights[0])
    with torch.no_grad():
        loss1 = float(F.cross_entropy(clf(x), y))
    assert loss1 < 0.7 * loss0 and history[-1]["train_error"] < 0.15


def test_fine_tuning_callbacks_count_epochs_across_phases_and_a_prefix_equals_a_shorter_run():
    """Epochs are numbered 1..N through the output-only phase and the full one; True stops both; and (constant
    schedule) the first 3 epochs of a 6-epoch run with dropout equal a 3-epoch run, so a long run's curve
    holds the result of every shorter one."""
    x = torch.rand(48, 7, generator=torch.Generator().manual_seed(4), dtype=D)
    y = (x[:, 0] > 0.5).long()

    def make():
        rbms, g = _stack()
        return DBNClassifier.from_rbms(rbms, 2, generator=g, input_dropout=0.2, hidden_dropout=0.5)

    cfg = crbm.TrainConfig(epochs=6, batch_size=16, learning_rate=0.3, seed=5, device="cpu", verbose=False)
    seen, at_3 = [], {}

    def record(epoch, figures, model):
        seen.append(epoch)
        if epoch == 3:
            at_3.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    long = make()
    history = fine_tune_backprop(long, x, y, cfg, top_only_epochs=2, callbacks=[record])
    assert seen == [1, 2, 3, 4, 5, 6] and len(history) == 6
    short = make()
    fine_tune_backprop(short, x, y, dataclasses.replace(cfg, epochs=3), top_only_epochs=2)
    for k, v in short.state_dict().items():
        torch.testing.assert_close(v, at_3[k], rtol=0, atol=0)
    seen.clear()

    def stop_at_1(epoch, figures, model):
        seen.append(epoch)
        return epoch == 1

    stopped = fine_tune_backprop(make(), x, y, cfg, top_only_epochs=2, callbacks=[stop_at_1])
    assert seen == [1] and len(stopped) == 1


def test_the_learning_rate_schedule_runs_over_the_all_layer_phase():
    """Output-only epochs at the starting rate; the schedule then decays from it over the remaining epochs, as
    ``fit`` would over a run of that length."""
    rbms, g = _stack()
    clf = DBNClassifier.from_rbms(rbms, 2, generator=g)
    x = torch.rand(32, 7, generator=g, dtype=D)
    y = (x[:, 0] > 0.5).long()
    cfg = crbm.TrainConfig(
        epochs=7,
        batch_size=16,
        learning_rate=0.2,
        lr_schedule="exponential",
        lr_final=0.01,
        device="cpu",
        verbose=False,
    )
    history = fine_tune_backprop(clf, x, y, cfg, top_only_epochs=3)
    rates = [h["lr"] for h in history]
    assert rates[:3] == [0.2] * 3
    assert rates[3:] == pytest.approx([0.2 * 0.01 ** (e / 4) for e in range(4)])


def test_bad_input(tmp_path):
    rbms, g = _stack()
    with pytest.raises(CRBMError, match=r"layer 1: expected 5 visible units .* got 6"):
        DBNClassifier.from_rbms([rbms[0], crbm.RBM(6, 4)])
    clf = DBNClassifier.from_rbms(rbms, 3, generator=g)
    with pytest.raises(CRBMError, match=r"images: expected shape \(batch, 7\), got \(2, 9\)"):
        clf.predict(torch.rand(2, 9, dtype=D))
    with pytest.raises(CRBMError, match=r"labels: expected integers in \[0, 3\), got values from 0 to 3"):
        clf.error_rate(torch.rand(2, 7, dtype=D), torch.tensor([0, 3]))
    crbm.save_checkpoint(tmp_path / "clf.safetensors", clf)
    back = crbm.load_model(tmp_path / "clf.safetensors")
    x = torch.rand(3, 7, dtype=D)
    torch.testing.assert_close(back(x), clf(x))


def test_dropout_masks_are_bernoulli_and_keep_the_expectation():
    from scipy.stats import binomtest

    from crbm.static.classifier import dropout

    x = torch.rand(200, 50, generator=torch.Generator().manual_seed(0), dtype=D) + 0.5
    out = dropout(x, 0.2, torch.Generator().manual_seed(1))
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.8)  # kept entries scaled by 1 / (1 - q)
    assert binomtest(int((~kept).sum()), x.numel(), 0.2).pvalue > 1e-3
    assert dropout(x, 0.0, None) is x


def test_dropout_training_pass_is_seeded_and_prediction_never_drops(tmp_path):
    rbms, g = _stack()
    clf = DBNClassifier.from_rbms(rbms, 3, generator=g, input_dropout=0.2, hidden_dropout=0.5)
    x = torch.rand(8, 7, generator=g, dtype=D)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1])
    grads = [
        clf.gradient((x, y), crbm.TrainConfig(), state={}, generator=torch.Generator().manual_seed(s))[0]
        for s in (5, 5, 6)
    ]
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])  # same seed, same masks
    assert not torch.equal(grads[0]["weights.0"], grads[2]["weights.0"])
    # the training pass with all masks drawn by hand equals the model's
    gen = torch.Generator().manual_seed(5)
    h = x * (torch.rand(x.shape, generator=gen, dtype=D) >= 0.2) / 0.8
    for w, b in zip(clf.weights, clf.biases):
        h = torch.sigmoid(h @ w + b)
        h = h * (torch.rand(h.shape, generator=gen, dtype=D) >= 0.5) / 0.5
    with torch.no_grad():
        torch.testing.assert_close(
            clf(x, generator=torch.Generator().manual_seed(5)), h @ clf.out_weight + clf.out_bias
        )
        torch.testing.assert_close(clf.hidden(x), crbm.up_pass(rbms, x))
    with pytest.raises(CRBMError, match=r"generator: dropout needs a generator"):
        clf.gradient((x, y), crbm.TrainConfig(), state={}, generator=None)
    crbm.save_checkpoint(tmp_path / "clf.safetensors", clf)
    back = crbm.load_model(tmp_path / "clf.safetensors")
    assert (back.input_dropout, back.hidden_dropout) == (0.2, 0.5)
    for bad in (1.0, -0.1, float("nan"), True):
        with pytest.raises(CRBMError, match=r"hidden_dropout: expected a probability in \[0, 1\)"):
            DBNClassifier([7, 5], 3, hidden_dropout=bad)
