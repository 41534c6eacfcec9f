"""Crash safety: SIGKILL a training process at random moments while it checkpoints after every batch;
every checkpoint left on disk loads and equals the state of a reference run at the step it records."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time

import pytest
import torch

import crbm

KILLS = 50
N_BATCHES = 12  # 240 rows / batch 20


def _data():
    return (torch.rand(240, 30, generator=torch.Generator().manual_seed(0)) < 0.3).double()


def _config(path=None, epochs=1000):
    return crbm.TrainConfig(
        epochs=epochs, batch_size=20, seed=3, device="cpu", verbose=False, progress=False,
        checkpoint=path, checkpoint_every_steps=1 if path else None,
    )  # fmt: skip


def _model():
    return crbm.RBM(30, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _train_forever(path: str, resume: bool, started) -> None:
    torch.set_num_threads(1)
    model, data = _model(), _data()
    started.set()
    crbm.fit(model, data, _config(path), resume=path if resume else None)


@pytest.mark.slow
def test_sigkill_during_checkpointing_leaves_loadable_consistent_checkpoints(tmp_path):
    # reference weights after every step of a deterministic run
    reference = {}
    model = _model()
    gradient = model.gradient
    calls = [0]

    def recording_gradient(*args, **kwargs):
        reference[calls[0]] = model.weight.detach().clone()
        calls[0] += 1
        return gradient(*args, **kwargs)

    model.gradient = recording_gradient
    crbm.fit(model, _data(), _config(epochs=8))
    reference[calls[0]] = model.weight.detach().clone()

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "crbm"])
    path = tmp_path / "run.safetensors"
    rng = random.Random(0)
    seen_steps = set()
    deadline = time.monotonic() + 60
    kills = 0
    while kills < KILLS and time.monotonic() < deadline:
        started = ctx.Event()
        p = ctx.Process(target=_train_forever, args=(str(path), path.exists(), started))
        p.start()
        assert started.wait(30), "the training process did not start"
        time.sleep(rng.uniform(0.0, 0.1))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        kills += 1
        if not path.exists():
            continue
        ck = crbm.load_checkpoint(path)  # must always load
        done = ck.trainer_meta["epoch"] * N_BATCHES + ck.trainer_meta["step"]
        if done in reference:
            torch.testing.assert_close(ck.model.weight, reference[done], rtol=0, atol=0)
            seen_steps.add(done)
        if done >= max(reference) - N_BATCHES:
            path.unlink()  # start a fresh run so we stay inside the reference table
    print(f"{kills} kills, {len(seen_steps)} distinct checkpoints checked")
    assert kills >= 20, f"only {kills} kills fit in the time bound"
    assert len(seen_steps) >= 5, f"checked only {len(seen_steps)} distinct checkpoints"
    # after a normal (complete) run, no temporary file is left behind
    crbm.fit(_model(), _data(), _config(str(path), epochs=2))
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]
