"""Random draws for the samplers, with an explicit generator, and the sharded source used in data-parallel
training.

Every stochastic function in crbm takes ``generator=``: a ``torch.Generator`` (or None for torch's global
one) or a ``ShardedGenerator``. A ShardedGenerator draws the noise of the whole global batch on every
process and keeps this process's rows, so N processes that each train on a shard consume and use exactly
the random numbers one process would use on the combined batch: data-parallel training then equals
single-process training up to floating-point summation order.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ShardedGenerator:
    """Rows ``[start, stop)`` of draws shaped ``(total, ...)`` from ``generator``."""

    def __init__(self, generator: torch.Generator, start: int, stop: int, total: int):
        self.generator, self.start, self.stop, self.total = generator, start, stop, total

    def draw(self, fn, shape: torch.Size, like: Tensor) -> Tensor:
        if len(shape) == 0 or shape[0] != self.stop - self.start:  # not a per-example draw: same on every rank
            return fn(shape, generator=self.generator, dtype=like.dtype, device=like.device)
        full = fn((self.total, *shape[1:]), generator=self.generator, dtype=like.dtype, device=like.device)
        return full[self.start : self.stop]


Generator = torch.Generator | ShardedGenerator | None


def uniform(shape: torch.Size, generator: Generator, like: Tensor) -> Tensor:
    """U(0, 1) draws of ``shape`` with ``like``'s dtype and device."""
    if isinstance(generator, ShardedGenerator):
        return generator.draw(torch.rand, shape, like)
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)


def normal(shape: torch.Size, generator: Generator, like: Tensor) -> Tensor:
    """N(0, 1) draws of ``shape`` with ``like``'s dtype and device."""
    if isinstance(generator, ShardedGenerator):
        return generator.draw(torch.randn, shape, like)
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=like.device)


def categorical(probs: Tensor, generator: Generator) -> Tensor:
    """One index per row of ``probs`` (rows sum to 1), by inverting the CDF at a uniform draw: (rows,)."""
    u = uniform(probs.shape[:-1] + (1,), generator, probs)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[..., -1:]).clamp_(max=probs.shape[-1] - 1).squeeze(-1)


def torch_generator(generator: Generator) -> torch.Generator | None:
    """The underlying torch.Generator (for draws whose shape is not per example)."""
    return generator.generator if isinstance(generator, ShardedGenerator) else generator
