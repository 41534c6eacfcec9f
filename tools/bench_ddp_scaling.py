"""ddp-scaling: data-parallel CD-1 throughput with 1, 2 and 4 processes (gloo on CPU, NCCL on CUDA).

Each process trains a 784x500 Bernoulli RBM with a per-process batch of 100 on MNIST-shaped random binary
data through ``crbm.fit``; the global batch grows with the process count. The floor is ideal linear
scaling: efficiency = throughput(N) / (N * throughput(1)). On CPU every process gets one thread, so the
figures say how the all-reduce and sharding overheads scale, not how fast one process can go.
``allreduce_ms``: one all-reduce of a batch's directions (the model's parameter count, one flat tensor as
``fit`` sends it) timed alone after training, the communication part of every step.
"""

from __future__ import annotations

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from benchkit import Stopwatch, row

import crbm


def _worker(rank: int, world: int, init_file: str, device: str, n_rows: int, epochs: int, out: str) -> None:
    torch.set_num_threads(1)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dev = f"cuda:{rank}" if device.startswith("cuda") else "cpu"
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        data = (torch.rand(n_rows, 784, generator=torch.Generator().manual_seed(0)) < 0.13).float()
        model = crbm.RBM(784, 500, generator=torch.Generator().manual_seed(1))
        cfg = crbm.TrainConfig(epochs=1, batch_size=100, device=dev, verbose=False, progress=False)
        crbm.fit(model, data, cfg)  # warm-up
        dist.barrier()
        with Stopwatch() as watch:
            crbm.fit(
                model, data, crbm.TrainConfig(epochs=epochs, batch_size=100, device=dev, verbose=False, progress=False)
            )
            if dev.startswith("cuda"):
                torch.cuda.synchronize()
            dist.barrier()
        seconds = watch.seconds
        # the all-reduce of one batch's directions alone (one flat tensor, as fit sends it)
        flat = torch.zeros(sum(p.numel() for p in model.parameters()), device=dev)
        dist.barrier()
        with Stopwatch(dev) as watch:
            for _ in range(50):
                dist.all_reduce(flat)
        allreduce_ms = watch.seconds / 50 * 1e3
        if rank == 0:
            with open(out, "w") as f:
                f.write(f"{seconds} {allreduce_ms}")
    finally:
        dist.destroy_process_group()


def _run(world: int, device: str, n_rows: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "seconds")
        mp.spawn(_worker, args=(world, os.path.join(tmp, "init"), device, n_rows, epochs, out), nprocs=world)
        with open(out) as f:
            seconds, allreduce_ms = map(float, f.read().split())
    return n_rows * epochs / seconds, allreduce_ms  # examples per second over all processes


def run(*, quick: bool, device: str) -> dict:
    n_rows, epochs = (4000, 1) if quick else (20000, 3)
    counts = [1, 2] if quick else [1, 2, 4]
    if device.startswith("cuda"):
        counts = [c for c in counts if c <= torch.cuda.device_count()]
    rows = []
    base = None
    for world in counts:
        thr, allreduce_ms = _run(world, device, n_rows, epochs)
        base = base or thr
        rows.append(
            # published: ideal linear scaling from the 1-process run
            row(f"examples_per_s_{world}proc", round(thr, 1), round(base * world, 1), "higher",
                efficiency=round(thr / (base * world), 3), allreduce_ms=round(allreduce_ms, 3))
        )
    return {"rows": rows, "cpu_count": os.cpu_count()}
