"""Exact resume: a run interrupted mid-epoch and resumed from its checkpoint ends bit-identical (CPU)."""

from __future__ import annotations

import pytest
import torch

import crbm


class Interrupt(Exception):
    pass


def _data():
    return (torch.rand(230, 12, generator=torch.Generator().manual_seed(0)) < 0.3).double()


def _model():
    return crbm.RBM(12, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("stop_after", [3, 17, 24])  # inside epoch 1, inside epoch 2 (after a save), at an epoch end
def test_interrupted_run_resumes_bit_identical(tmp_path, persistent, stop_after):
    cfg = dict(epochs=3, batch_size=20, seed=3, device="cpu", verbose=False, mean_visible=False, persistent=persistent)
    reference = _model()
    crbm.fit(reference, _data(), crbm.TrainConfig(**cfg))

    path = tmp_path / "run.safetensors"
    resumable = crbm.TrainConfig(**cfg, checkpoint=str(path), checkpoint_every_steps=5)
    first = _model()
    calls = [0]
    gradient = first.gradient

    def dying_gradient(*args, **kwargs):
        calls[0] += 1
        if calls[0] > stop_after:
            raise Interrupt
        return gradient(*args, **kwargs)

    first.gradient = dying_gradient
    with pytest.raises(Interrupt):
        crbm.fit(first, _data(), resumable)
    if stop_after < 5:  # no checkpoint yet: start over
        assert not path.exists()
        resumed = _model()
        crbm.fit(resumed, _data(), resumable)
    else:
        resumed = _model()
        history = crbm.fit(resumed, _data(), resumable, resume=path)
        assert [h["epoch"] for h in history] == [1, 2, 3]
    for name, value in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert not list(tmp_path.glob("*.tmp"))


def test_resume_refuses_another_model(tmp_path):
    path = tmp_path / "run.safetensors"
    crbm.fit(
        _model(), _data(), crbm.TrainConfig(epochs=1, batch_size=50, device="cpu", verbose=False, checkpoint=str(path))
    )
    with pytest.raises(crbm.CRBMError, match="different model"):
        crbm.fit(crbm.RBM(12, 9), _data().float(), crbm.TrainConfig(epochs=2, device="cpu", verbose=False), resume=path)
