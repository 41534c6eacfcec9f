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
the matrix, so a draw is filled in blocks of 32,768 words on as many threads as torch uses, with the same
numbers on any thread count and any block size or order.

torch's generator fills the draws that gain nothing: those of matrices of fewer than 16,384 numbers (a
counter draw's fixed cost, about 20 us of numpy calls, eats what it saves there; the rule looks at the
matrix, not the draw, so that a draw still equals its matrices drawn in turn), dtypes other than float32
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

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S1, _S27, _S30, _S31 = (np.uint64(k) for k in (1, 27, 30, 31))
_ALTERNATE = np.uint64(0xAAAAAAAAAAAAAAAA)
_BLOCK = 1 << 15  # words per block: a block's two scratch arrays (512 kB) stay in a core's L2 cache
_SMALL = 1 << 14  # matrices of fewer numbers are torch's (module docstring)
_PARALLEL_MIN = 1 << 18  # numbers below which one thread fills the draw (thread hand-offs cost more)
_FLOAT = {  # per dtype: numbers per word, a right shift and a mask that keep the mantissa bits, 1.0's bits
    np.dtype(np.float32): (2, None, np.uint64(0x007FFFFF007FFFFF), np.uint64(0x3F8000003F800000)),
    np.dtype(np.float64): (1, np.uint64(12), np.uint64((1 << 64) - 1), np.uint64(0x3FF0000000000000)),
}
_local = threading.local()  # per-thread scratch words
_pool: tuple[int, ThreadPoolExecutor] | None = None  # (process id, its pool)
_pool_lock = threading.Lock()


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
    return (source() == "counter" and math.prod(shape[-2:]) >= _SMALL and like.device.type == "cpu"
            and like.dtype in (torch.float32, torch.float64))


def _mix(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """mix64 of every word of ``z`` in place (``t``: scratch of the same shape); returns ``z``."""
    np.right_shift(z, _S30, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _M1, out=z)
    np.right_shift(z, _S27, out=t)
    np.bitwise_xor(z, t, out=z)
    np.multiply(z, _M2, out=z)
    np.right_shift(z, _S31, out=t)
    return np.bitwise_xor(z, t, out=z)


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


def _fill_block(out: np.ndarray, keys: np.ndarray, first: int) -> None:
    """Numbers ``first .. first + m - 1`` of the streams ``keys`` (rows, 2) into ``out`` (rows, m)."""
    per, shift, mask, one = _FLOAT[out.dtype]
    lead, rows = first % per, out.shape[0]
    words = (lead + out.shape[1] + per - 1) // per
    x = _local.x[: rows * words].reshape(rows, words)
    t = _local.t[: rows * words].reshape(rows, words)
    np.multiply(_local.index[first // per : first // per + words], keys[:, 1:], out=x)  # i g_r
    np.add(x, keys[:, :1], out=x)  # + s_r
    _mix(x, t)
    if shift is not None:
        np.right_shift(x, shift, out=x)
    else:
        np.bitwise_and(x, mask, out=x)
    np.bitwise_or(x, one, out=x)
    np.subtract(x.view(out.dtype)[:, lead : lead + out.shape[1]], out.dtype.type(1), out=out)


def _fill(out: Tensor, keys: np.ndarray, first: int) -> None:
    """Numbers ``first ..`` of the streams ``keys`` (one per matrix of ``out``) into contiguous CPU ``out``,
    in blocks of at most ``_BLOCK`` words, on up to ``torch.get_num_threads()`` threads."""
    grid = out.numpy().reshape(len(keys), -1)
    per = _FLOAT[grid.dtype][0]
    if len(keys) == 1 and grid.shape[1] <= per * (_BLOCK - 1):  # one block, on this thread
        _scratch((first + grid.shape[1]) // per + 1)
        _fill_block(grid, keys, first)
        return
    span = per * (_BLOCK - 1) if grid.shape[1] > per * (_BLOCK - 1) else grid.shape[1]  # numbers of a stream
    rows = max(1, (_BLOCK - 1) // (span // per + 1))  # streams per block (a block may start mid-word: + 1)
    blocks = [(r, c) for r in range(0, len(keys), rows) for c in range(0, grid.shape[1], span)]
    last_word = (first + grid.shape[1]) // per + 1

    def run(part) -> None:
        _scratch(last_word)
        for r, c in part:
            _fill_block(grid[r : r + rows, c : c + span], keys[r : r + rows], first + c)

    threads = min(torch.get_num_threads(), len(blocks))
    if threads < 2 or out.numel() < _PARALLEL_MIN:
        run(blocks)
        return
    others = [_executor().submit(run, blocks[i::threads]) for i in range(1, threads)]
    run(blocks[::threads])
    for f in others:
        f.result()


def _scratch(words: int) -> None:
    """Make sure this thread has its two scratch blocks and the word indices 0 .. at least ``words`` - 1."""
    if getattr(_local, "index", np.empty(0)).size < words or _local.x.size != _BLOCK:
        _local.x, _local.t = np.empty(_BLOCK, np.uint64), np.empty(_BLOCK, np.uint64)
        _local.index = np.arange(max(words, _BLOCK), dtype=np.uint64)


def _executor() -> ThreadPoolExecutor:
    """The filling threads of this process (a forked child makes its own: the parent's threads are not in it)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="crbm-noise"))
        return _pool[1]
