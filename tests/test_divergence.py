"""Divergence: training stops in the epoch a figure or a parameter turns NaN/Inf or the reconstruction error
explodes, the checkpoint on disk is the last good state (loadable, equal to an uninterrupted run's state at
that point), and the message says what to change."""

from __future__ import annotations

import pytest
import torch

import crbm
from crbm import DivergenceError, TrainConfig

QUIET = dict(device="cpu", verbose=False, progress=False, seed=5)


class Stop(Exception):
    pass


def _bernoulli_data() -> torch.Tensor:
    return (torch.rand(40, 6, generator=torch.Generator().manual_seed(0)) < 0.4).double()


def _gaussian_data() -> torch.Tensor:
    return torch.randn(60, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _rbm(visible: str = "bernoulli", **kw) -> crbm.RBM:
    return crbm.RBM(6, 5, visible=visible, dtype=torch.float64, generator=torch.Generator().manual_seed(1), **kw)


def _wrap_gradient(model: crbm.RBM, *, at_call: int, action: str) -> list[int]:
    """From call ``at_call`` on: 'nan-figure' reports recon_error NaN, 'nan-parameter' returns an Inf weight
    direction, 'stop' raises Stop (a killed run). Returns the call counter."""
    calls = [0]
    gradient = model.gradient

    def wrapped(*args, **kwargs):
        calls[0] += 1
        if calls[0] >= at_call and action == "stop":
            raise Stop
        directions, figures = gradient(*args, **kwargs)
        if calls[0] == at_call and action == "nan-figure":
            figures = {**figures, "recon_error": torch.tensor(float("nan"), dtype=torch.float64)}
        if calls[0] == at_call and action == "nan-parameter":
            directions = {**directions, "weight": torch.full_like(directions["weight"], float("inf"))}
        return directions, figures

    model.gradient = wrapped
    return calls


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), name


@pytest.mark.parametrize("action, what", [("nan-figure", "recon_error"), ("nan-parameter", "parameter weight")])
def test_nan_stops_in_that_epoch_and_keeps_the_previous_epoch(tmp_path, action, what):
    path = tmp_path / "run.safetensors"
    cfg = TrainConfig(epochs=10, batch_size=10, checkpoint=str(path), **QUIET)  # 4 batches an epoch
    model = _rbm()
    calls = _wrap_gradient(model, at_call=10, action=action)  # batch 2 of epoch 3
    with pytest.raises(DivergenceError) as info:
        crbm.fit(model, _bernoulli_data(), cfg)
    assert calls[0] == 12  # epoch 3 finished, epoch 4 never started
    message = str(info.value)
    assert message.startswith("training diverged at epoch 3: ") and what in message and "became NaN/Inf" in message
    assert "lower the learning rate (TrainConfig.learning_rate 0.1)" in message
    assert f"the last good checkpoint is {path}" in message

    kept = crbm.load_checkpoint(path)
    assert kept.trainer_meta["epoch"] == 2 and kept.trainer_meta["step"] == 0
    reference = _rbm()  # an uninterrupted run of the same config, stopped after epoch 2 by a callback
    crbm.fit(reference, _bernoulli_data(), TrainConfig(epochs=10, batch_size=10, **QUIET),
             callbacks=[lambda epoch, figures, m: epoch == 2])
    _assert_same_state(reference, kept.model)


def test_nan_parameters_mid_epoch_are_never_checkpointed(tmp_path):
    """With per-batch checkpoints the run stops at the first checkpoint after the NaN, keeping the one before."""
    path = tmp_path / "run.safetensors"
    cfg = TrainConfig(epochs=10, batch_size=10, checkpoint=str(path), checkpoint_every_steps=1, **QUIET)
    model = _rbm()
    calls = _wrap_gradient(model, at_call=10, action="nan-parameter")
    with pytest.raises(DivergenceError, match="at epoch 3: parameter weight became NaN/Inf"):
        crbm.fit(model, _bernoulli_data(), cfg)
    assert calls[0] == 10  # stopped right after the poisoned batch

    kept = crbm.load_checkpoint(path)
    assert (kept.trainer_meta["epoch"], kept.trainer_meta["step"]) == (2, 1)  # after batch 1 of epoch 3
    killed = _rbm()  # the same run killed after 9 batches: its last checkpoint is the same state
    _wrap_gradient(killed, at_call=10, action="stop")
    with pytest.raises(Stop):
        crbm.fit(killed, _bernoulli_data(), TrainConfig(epochs=10, batch_size=10, checkpoint=str(tmp_path / "k"),
                                                         checkpoint_every_steps=1, **QUIET))
    _assert_same_state(killed, kept.model)
    _assert_same_state(crbm.load_model(tmp_path / "k"), kept.model)


def test_gaussian_explosion_in_the_first_epoch_says_lower_the_rate_and_normalise(tmp_path):
    path = tmp_path / "run.safetensors"
    with pytest.raises(DivergenceError) as info:
        crbm.fit(_rbm("gaussian"), _gaussian_data(), TrainConfig(epochs=10, batch_size=20, learning_rate=20.0,
                                                                  checkpoint=str(path), **QUIET))
    message = str(info.value)
    assert message.startswith("training diverged at epoch 1: recon_error rose from")
    assert "lower the learning rate (TrainConfig.learning_rate 20)" in message
    assert "check that the data are normalised (z-scored channels, sigma near 1)" in message
    assert "checkpoint" not in message and not path.exists()  # none was written: none is named


def test_gaussian_scheduled_explosion_keeps_the_last_good_epoch(tmp_path):
    """An exponential schedule raises the rate 10^4-fold over 10 epochs: the run explodes at epoch 6."""
    path = tmp_path / "run.safetensors"
    cfg = dict(epochs=10, batch_size=20, learning_rate=0.05, lr_schedule="exponential", lr_final=1e4, **QUIET)
    seen = []
    with pytest.raises(DivergenceError) as info:
        crbm.fit(_rbm("gaussian"), _gaussian_data(), TrainConfig(**cfg, checkpoint=str(path)),
                 callbacks=[lambda epoch, figures, m: seen.append(epoch)])
    message = str(info.value)
    assert message.startswith("training diverged at epoch 6: recon_error rose from")
    assert "(TrainConfig.learning_rate 0.05, 5 in this epoch by the schedule)" in message
    assert "check that the data are normalised" in message
    assert seen == [1, 2, 3, 4, 5]

    kept = crbm.load_checkpoint(path)
    assert kept.trainer_meta["epoch"] == 5
    assert all(bool(torch.isfinite(p).all()) for p in kept.model.state_dict().values())
    reference = _rbm("gaussian")
    crbm.fit(reference, _gaussian_data(), TrainConfig(**cfg), callbacks=[lambda epoch, figures, m: epoch == 5])
    _assert_same_state(reference, kept.model)


def test_learned_sigma_blowing_up_is_caught_in_the_first_epoch():
    with pytest.raises(DivergenceError) as info:
        crbm.fit(_rbm("gaussian", learn_sigma=True), _gaussian_data(),
                 TrainConfig(epochs=5, batch_size=20, learning_rate=3.0, **QUIET))
    message = str(info.value)
    assert message.startswith("training diverged at epoch 1: ")
    assert "lower the learning rate (TrainConfig.learning_rate 3) and check that the data are normalised" in message


def test_a_checkpoint_is_written_only_when_everything_is_finite(tmp_path):
    """A learned sigma whose log is finite but whose exp overflows (and a recon error that explodes within an
    epoch) stops the run before the next per-batch checkpoint: the one kept is finite, sigma included, so the
    'last good checkpoint' the message names is good."""
    from crbm.engine.train import _nonfinite

    data = torch.randn(60, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20
    for rate in (0.03, 0.1):  # the recon error explodes mid-epoch; sigma overflows
        path = tmp_path / f"run{rate}.safetensors"
        cfg = TrainConfig(epochs=5, batch_size=10, learning_rate=rate, checkpoint=str(path), checkpoint_every_steps=1,
                          **QUIET)
        with pytest.raises(DivergenceError, match=f"the last good checkpoint is {path}$"):
            crbm.fit(_rbm("gaussian", learn_sigma=True), data, cfg)
        kept = crbm.load_checkpoint(path)
        velocity = {k.partition("/")[2]: v for k, v in kept.trainer.items() if k.startswith("velocity/")}
        assert _nonfinite(kept.model, {"velocity": velocity}) == []
        assert bool(kept.model.sigma.isfinite().all()) and float(kept.model.sigma.max()) < 1e30
