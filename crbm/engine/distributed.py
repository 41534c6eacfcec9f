"""Data-parallel training over ``torch.distributed`` (``torchrun``): joining the process group, this
process's place in it, its slice of a global mini-batch and the all-reduces of the trainer. Every process
draws its random numbers through a ``ShardedGenerator`` (the numbers one process would use on the combined
batch), so that the update equals single-process training with the combined batch (``crbm.fit``)."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from crbm.engine.noise import ShardedGenerator


def place() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) unless ``torch.distributed`` is initialised."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sharded_gradient(model, data, rows: Tensor, config, state, generator, shard: tuple[int, int]):
    """This process's slice of a global batch; directions all-reduced as a row-weighted mean."""
    rank, world = shard
    bounds = [len(rows) * r // world for r in range(world + 1)]
    start, stop = bounds[rank], bounds[rank + 1]
    sharded = ShardedGenerator(generator, start, stop, len(rows))
    directions, figures = model.gradient(data.batch(rows[start:stop]), config, state=state, generator=sharded)
    names = sorted(directions)
    flat = torch.cat([directions[k].reshape(-1) for k in names]) * ((stop - start) / len(rows))
    torch.distributed.all_reduce(flat)
    out, i = {}, 0
    for k in names:
        size = directions[k].numel()
        out[k] = flat[i : i + size].view_as(directions[k])
        i += size
    return out, figures


def mean_over_processes(values: dict[str, Tensor], world: int) -> dict[str, Tensor]:
    """The mean over the ``world`` processes of each scalar tensor in ``values`` (one all-reduce)."""
    names = sorted(values)
    flat = torch.stack([values[k] for k in names])
    torch.distributed.all_reduce(flat)
    return {k: flat[i] / world for i, k in enumerate(names)}


def init_distributed() -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT): NCCL when CUDA is available, else gloo. Returns (rank, world_size); (0, 1)
    and nothing is initialised when the variables are absent. Across nodes, run on every node
    ``torchrun --nnodes=M --nproc_per_node=N --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT -m crbm train ...``.
    """

    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return 0, 1
    dist = torch.distributed
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()
