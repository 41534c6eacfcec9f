"""Backprop-fine-tuned DBN classifier: initialisation from the stack, gradients, the trainer's schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import crbm
from crbm.classifier import DBNClassifier, fine_tune_backprop
from crbm.errors import CRBMError

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
