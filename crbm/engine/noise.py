"""Random draws for the samplers, with an explicit generator, and the sharded source used in data-parallel
training.

Every stochastic function in crbm takes ``generator=``: a ``torch.Generator`` (or None for torch's global
one) or a ``ShardedGenerator``. A ShardedGenerator makes N processes that each train on a shard use exactly
the random numbers one process would use on the combined batch: data-parallel training then equals
single-process training up to floating-point summation order.

Counter-based uniforms (the default on the CPU)
-----------------------------------------------
torch's CPU generator (a Mersenne Twister) is serial: one number after another on one thread. crbm's CPU
uniforms come instead from counter-based streams, SplitMix64 (Steele, Lea & Flood 2014, the generator of
Java's SplittableRandom). A draw is a stack of matrices, its last two dimensions (the whole draw when it
has fewer than three), and each matrix is one stream of numbers in row-major order: matrix ``r`` takes two
63-bit words ``(s_r, b_r)`` from ``generator`` (matrices in order; the words
``torch.empty(R, 2, dtype=torch.int64).random_(generator=generator)`` gives for ``R`` matrices) and its
word ``i`` is

    x_ri = mix64(s_r + i g_r  mod 2^64),   g_r = b_r | 1,
    mix64(z): z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31

(an increment ``g_r`` with fewer than 24 changes between neighbouring bits is xored with 0xAAAA...AAAA, as
SplittableRandom's ``mixGamma`` does: a Weyl sequence with a near-regular increment mixes poorly). Word
``i`` gives float32 numbers ``2i`` (its bits 0-22) and ``2i + 1`` (bits 32-54) of the stream, or float64
number ``i`` (bits 12-63), each as the mantissa ``m`` of ``1.m - 1``: uniform on [0, 1) in steps of 2^-23
(float32) or 2^-52 (float64).

So a draw of ``(k, B, n)`` equals ``k`` draws of ``(B, n)`` in turn, and a process of a data-parallel run
computes only its own rows of a draw. Every number is a function of its matrix's words and its place in
the matrix, so large draws are split between as many threads as torch uses, with the same numbers on any
thread count. A compiled kernel (``crbm.engine.splitmix``, numba) makes each number in one pass, about
0.25 ns a float32 number on one core of a current x86 CPU (``python tools/bench.py uniforms``).

torch's generator fills the draws that gain nothing: those of matrices of fewer than 2,048 numbers (a
counter draw's fixed cost, about 6 us of calls, is what torch takes for 2,000 numbers; the rule looks at
the matrix, not the draw, so that a draw still equals its matrices drawn in turn), dtypes other than float32
and float64, other devices (torch's CUDA generator is Philox, counter-based already), and all normals
(``torch.randn``'s Box-Muller is vectorised already). ``set_source("torch")`` (or the environment variable
``CRBM_RANDOM_SOURCE=torch``) makes every draw torch's, as crbm drew before; ``source()`` says which is in use.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from crbm.engine.errors import CRBMError

_SOURCES = ("counter", "torch")
_source: str | None = None  # None: $CRBM_RANDOM_SOURCE or "counter", read at the first draw

_S1 = np.uint64(1)
_ALTERNATE = np.uint64(0xAAAAAAAAAAAAAAAA)
COUNTER_MIN = 1 << 11  # matrices of fewer numbers are torch's (module docstring)
_PARALLEL_MIN = 1 << 20  # numbers a thread fills at least (a hand-over costs about what it fills in)
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (process id, its pool)
_pool_lock = threading.Lock()
_compiled = None  # _kernels()


def set_source(name: str) -> None:
    """Draw uniforms from ``"counter"`` (the default: SplitMix64 streams keyed by the generator, see the
    module docstring) or ``"torch"`` (torch's own generator) from now on, in this process. Without a call,
    the environment variable ``CRBM_RANDOM_SOURCE`` chooses (the command line's way), else ``"counter"``."""
    global _source
    if name not in _SOURCES:
        raise CRBMError(f"random source {name!r}: expected one of {', '.join(_SOURCES)}")
    _source = name


def source() -> str:
    """The source of uniforms in use: ``"counter"`` or ``"torch"``."""
    if _source is None:
        name = os.environ.get("CRBM_RANDOM_SOURCE") or "counter"
        if name not in _SOURCES:
            raise CRBMError(f"CRBM_RANDOM_SOURCE={name!r}: expected one of {', '.join(_SOURCES)}")
        set_source(name)
    return _source


class ShardedGenerator:
    """Rows ``[start, stop)`` of draws shaped ``(total, ...)`` from ``generator``."""

    def __init__(self, generator: torch.Generator, start: int, stop: int, total: int):
        self.generator, self.start, self.stop, self.total = generator, start, stop, total


Generator = torch.Generator | ShardedGenerator | None


def uniform(shape: torch.Size, generator: Generator, like: Tensor) -> Tensor:
    """U(0, 1) draws of ``shape`` with ``like``'s dtype and device."""
    shape, first, full, generator = _rows(shape, generator)
    whole = full or shape
    if not _counted(whole, like):
        return _torch_draw(torch.rand, shape, first, full, generator, like)
    out = torch.empty(shape, dtype=like.dtype)
    keys = _keys(generator, math.prod(whole[:-2]))
    if len(shape) > 2:  # a shard's matrices: their own streams
        _fill(out, keys[first : first + shape[0]], 0)
    else:  # a shard's rows: the numbers from its first on, of the one stream
        _fill(out, keys, first * math.prod(shape[1:]))
    return out


def uniform_(out: Tensor, generator: torch.Generator | None) -> Tensor:
    """Fill ``out`` with the U(0, 1) draws ``uniform(out.shape, generator, out)`` gives; returns ``out``."""
    if not _counted(out.shape, out) or not out.is_contiguous():
        return torch.rand(out.shape, generator=generator, dtype=out.dtype, device=out.device, out=out)
    _fill(out, _keys(generator, math.prod(out.shape[:-2])), 0)
    return out


def normal(shape: torch.Size, generator: Generator, like: Tensor) -> Tensor:
    """N(0, 1) draws of ``shape`` with ``like``'s dtype and device (from torch's generator: ``torch.randn``)."""
    shape, first, full, generator = _rows(shape, generator)
    return _torch_draw(torch.randn, shape, first, full, generator, like)


def categorical(probs: Tensor, generator: Generator) -> Tensor:
    """One index per row of ``probs`` (rows sum to 1), by inverting the CDF at a uniform draw: (rows,)."""
    u = uniform(probs.shape[:-1] + (1,), generator, probs)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[..., -1:]).clamp_(max=probs.shape[-1] - 1).squeeze(-1)


def torch_generator(generator: Generator) -> torch.Generator | None:
    """The underlying torch.Generator (for draws whose shape is not per example)."""
    return generator.generator if isinstance(generator, ShardedGenerator) else generator


def _rows(shape, generator: Generator):
    """``(shape, first, full, torch generator)``: from a ShardedGenerator, a per-example draw (``shape[0]``
    is the shard's row count) is rows ``first ..`` of a draw shaped ``full = (total, ...)``; any other draw
    is the same on every rank (``first`` 0, ``full`` None)."""
    shape = torch.Size(shape)
    if not isinstance(generator, ShardedGenerator):
        return shape, 0, None, generator
    if len(shape) and shape[0] == generator.stop - generator.start:
        return shape, generator.start, torch.Size((generator.total, *shape[1:])), generator.generator
    return shape, 0, None, generator.generator


def _torch_draw(fn, shape, first: int, full, generator, like: Tensor) -> Tensor:
    if full is None:
        return fn(shape, generator=generator, dtype=like.dtype, device=like.device)
    return fn(full, generator=generator, dtype=like.dtype, device=like.device)[first : first + shape[0]]


def _counted(shape: torch.Size, like: Tensor) -> bool:
    """Whether a uniform draw of ``shape`` (the whole draw, every rank's rows) like ``like`` is counter-based."""
    return (source() == "counter" and math.prod(shape[-2:]) >= COUNTER_MIN and like.device.type == "cpu"
            and like.dtype in (torch.float32, torch.float64))


def _keys(generator: torch.Generator | None, streams: int) -> np.ndarray:
    """Each stream's start and odd increment, ``(streams, 2)`` uint64, from two words of ``generator`` each."""
    words = torch.empty(streams, 2, dtype=torch.int64).random_(generator=generator).numpy().view(np.uint64)
    if streams == 1:  # the same rule on Python integers: a fifth of the numpy calls' fixed cost
        g = int(words[0, 1]) | 1
        if (g ^ (g >> 1)).bit_count() < 24:
            g ^= int(_ALTERNATE)
        words[0, 1] = g
        return words
    g = words[:, 1]
    np.bitwise_or(g, _S1, out=g)
    weak = np.bitwise_count(g ^ (g >> _S1)) < 24  # few bit changes: SplittableRandom's mixGamma
    np.bitwise_xor(g, _ALTERNATE, out=g, where=weak)
    return words


def _fill(out: Tensor, keys: np.ndarray, first: int) -> None:
    """Numbers ``first ..`` of the streams ``keys`` (one per matrix of ``out``) into contiguous CPU ``out``,
    on up to ``torch.get_num_threads()`` threads: whole streams to each, or parts of streams where there are
    fewer streams than threads."""
    grid = out.numpy().reshape(len(keys), -1)
    kernel = _kernels()[grid.dtype == np.float64]
    threads = min(torch.get_num_threads(), out.numel() // _PARALLEL_MIN + 1)
    if threads < 2:
        kernel(grid, keys, first)
        return
    if len(keys) >= threads:
        bounds = np.linspace(0, len(keys), threads + 1).astype(int)
        parts = [(grid[a:b], keys[a:b], first) for a, b in zip(bounds, bounds[1:])]
    else:
        cuts = np.linspace(0, grid.shape[1], -(-threads // len(keys)) + 1).astype(int)
        parts = [(grid[r : r + 1, a:b], keys[r : r + 1], first + a)
                 for r in range(len(keys)) for a, b in zip(cuts, cuts[1:])]
    others = [_executor().submit(kernel, *part) for part in parts[1:]]
    kernel(*parts[0])
    for f in others:
        f.result()


def _kernels():
    """``(float32 kernel, float64 kernel)``, compiled (or read from numba's cache) at the first counter draw.
    Where neither crbm's folder nor the user's cache folder is writable (a read-only install without a home),
    numba refuses to cache; the kernels are then compiled into a temporary folder of this process."""
    global _compiled
    if _compiled is None:
        try:
            from crbm.engine import splitmix
        except RuntimeError as e:
            if "cannot cache" not in str(e):
                raise
            import tempfile

            import numba

            numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="crbm-numba-")
            from crbm.engine import splitmix
        _compiled = (splitmix.fill_float32, splitmix.fill_float64)
    return _compiled


def _executor() -> ThreadPoolExecutor:
    """The filling threads of this process (a forked child makes its own: the parent's threads are not in it)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="crbm-noise"))
        return _pool[1]
