"""Data-parallel training (gloo, 2 CPU processes) equals single-process training on the combined batch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import crbm

BATCH = 25  # per process


def _data() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return (torch.rand(230, 12, generator=g, dtype=torch.float64) < 0.3).to(torch.float64)


def _train(batch_size: int, visible: str = "bernoulli") -> crbm.RBM:
    x = _data()
    if visible == "gaussian":
        x = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    model = crbm.RBM(
        12, 8, visible=visible, dtype=torch.float64, init_std=0.1, generator=torch.Generator().manual_seed(1)
    )
    cfg = crbm.TrainConfig(
        epochs=3,
        batch_size=batch_size,
        learning_rate=0.05,
        seed=5,
        device="cpu",
        verbose=False,
        mean_visible=False,
        k=2,
    )
    crbm.fit(model, x, cfg)
    return model


VISIBLE = ("bernoulli", "gaussian")


def _train_fcrbm(batch_size: int) -> crbm.FCRBM:
    """An FCRBM through fit: sampled hidden and visible states (CD-2), noise on the histories, all drawn
    from the trainer's (sharded) generator."""
    g = torch.Generator().manual_seed(11)
    t = torch.arange(120, dtype=torch.float64)[:, None] * 0.3
    clips = [torch.sin(t + torch.rand(1, 3, generator=g, dtype=torch.float64) * 6) for _ in range(2)]
    labels = [torch.eye(2, dtype=torch.float64)[i].expand(120, -1) for i in range(2)]
    data = crbm.Windows(clips, 2, labels=labels)
    model = crbm.FCRBM(
        3, 5, 2, 2, n_features=2, n_factors=4, history_noise=0.5, dtype=torch.float64,
        generator=torch.Generator().manual_seed(1),
    )
    cfg = crbm.fcrbm_config(
        epochs=2, batch_size=batch_size, seed=5, device="cpu", verbose=False, progress=False, k=2, mean_visible=False
    )
    crbm.fit(model, data, cfg)
    return model


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for visible in VISIBLE:
            model = _train(BATCH, visible)
            state = {k: v.clone() for k, v in model.state_dict().items()}
            torch.save(state, os.path.join(out_dir, f"{visible}-rank{rank}.pt"))
        torch.save(_train_fcrbm(BATCH).state_dict(), os.path.join(out_dir, f"fcrbm-rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """The folder of the models trained by 2 gloo processes (one spawn for every test here)."""
    out = tmp_path_factory.mktemp("gloo")
    mp.spawn(_worker, args=(2, str(out / "init"), str(out)), nprocs=2, join=True)
    return out


@pytest.mark.slow
def test_gloo_two_processes_equal_single_process(two_process_run):
    tmp_path = two_process_run
    for visible in VISIBLE:
        single = _train(2 * BATCH, visible).state_dict()
        for rank in range(2):
            got = torch.load(tmp_path / f"{visible}-rank{rank}.pt", weights_only=True)
            for name, value in single.items():
                torch.testing.assert_close(
                    got[name], value, rtol=1e-10, atol=1e-12, msg=f"{visible} rank {rank}: {name}"
                )
        # the comparison can fail: a different batch size gives different weights
        other = _train(BATCH, visible).state_dict()
        assert not torch.allclose(other["weight"], single["weight"])


@pytest.mark.slow
def test_fcrbm_under_two_processes_equals_one_process_with_the_doubled_batch(two_process_run):
    """The FCRBM draws its hidden and visible states and its history noise through the sharded generator."""
    single = _train_fcrbm(2 * BATCH).state_dict()
    for rank in range(2):
        got = torch.load(two_process_run / f"fcrbm-rank{rank}.pt", weights_only=True)
        for name, value in single.items():
            torch.testing.assert_close(got[name], value, rtol=1e-10, atol=1e-12, msg=f"fcrbm rank {rank}: {name}")
    other = _train_fcrbm(BATCH).state_dict()  # the comparison can fail: another batch size, other weights
    assert not torch.allclose(other["Wv"], single["Wv"])
