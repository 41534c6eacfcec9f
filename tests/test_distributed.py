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


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for visible in VISIBLE:
            model = _train(BATCH, visible)
            state = {k: v.clone() for k, v in model.state_dict().items()}
            torch.save(state, os.path.join(out_dir, f"{visible}-rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gloo_two_processes_equal_single_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
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
