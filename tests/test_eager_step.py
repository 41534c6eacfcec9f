"""The speed benchmarks' eager floor (tools/eager_step.py) computes what crbm.fit computes: from the same
initial parameters and seed, its CD-1 epochs end at the trainer's parameters (the same batches and random
numbers; only the rounding of differently ordered operations may differ)."""

import sys
from pathlib import Path

import pytest
import torch

import crbm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from eager_step import EagerCD1  # noqa: E402


def _run(eager, config):
    g = torch.Generator().manual_seed(config.seed)
    for e in range(config.epochs):
        eager.epoch(g, config.momentum_at(e))


def _check(model, eager, names):
    ours = dict(model.named_parameters())
    for key, name in names.items():
        torch.testing.assert_close(eager.named_parameters()[key], ours[name].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_frames", [606, 437])  # 600 windows: whole batches; 431: a last batch of 31
def test_eager_crbm_epochs_end_at_the_trainers_parameters(n_frames):
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n_frames, dtype=torch.float32)[:, None] * 0.1
    frames = torch.sin(t + torch.rand(1, 6, generator=g) * 6) + 0.1 * torch.randn(n_frames, 6, generator=g)
    data = crbm.Windows([frames[:303], frames[303:]], 3)
    model = crbm.CRBM(6, 40, 3, generator=torch.Generator().manual_seed(1))
    names = {"W": "rbm.weight", "b": "rbm.visible_bias", "c": "rbm.hidden_bias", "A": "A", "B": "B"}
    config = crbm.taylor_config(epochs=7, learning_rate=0.01, verbose=False, progress=False)
    eager = EagerCD1(model, config, data.v, data.u)
    start = {k: p.clone() for k, p in eager.named_parameters().items()}
    _run(eager, config)
    crbm.fit(model, data, config)
    _check(model, eager, names)
    assert not torch.equal(start["A"], eager.named_parameters()["A"])  # it trained: A moved (at lr scale 0.1)


def test_eager_rbm_epochs_end_at_the_trainers_parameters():
    g = torch.Generator().manual_seed(0)
    v = (torch.rand(1000, 30, generator=g) < 0.3).float()
    model = crbm.RBM(30, 20, generator=torch.Generator().manual_seed(1))
    names = {"W": "weight", "b": "visible_bias", "c": "hidden_bias"}
    config = crbm.TrainConfig(epochs=7, batch_size=100, learning_rate=0.1, verbose=False, progress=False)
    eager = EagerCD1(model, config, v)
    _run(eager, config)
    crbm.fit(model, v, config)
    _check(model, eager, names)
