"""The random source (crbm.engine.noise): the counter-based uniforms' definition, their statistics (uniformity,
independence of neighbouring numbers, of rows and of streams) and their reproducibility across thread counts,
calls and shards. Every test uses fixed seeds, so its outcome is fixed; each bound is one a sound
generator meets except with a probability of about 1e-6 (chi-square and normal tails)."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest
import torch
from scipy import stats

from crbm.engine import noise
from crbm.engine.errors import CRBMError
from crbm.engine.noise import ShardedGenerator, uniform

F32 = torch.empty(0)
F64 = torch.empty(0, dtype=torch.float64)
N = 1 << 20  # numbers per statistical test
MIN_P, MAX_Z = 1e-6, 5.0


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True)
def counter_source():
    """The counter-based source in every test here, whatever the process's setting; restored afterwards."""
    saved = noise.source()
    noise.set_source("counter")
    yield
    noise.set_source(saved)


def _reference(seed: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A draw of ``shape`` computed number by number with Python integers from the module docstring's
    equations (independent of the vectorised code)."""
    mask = (1 << 64) - 1

    def mix(z):
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & mask
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & mask
        return z ^ (z >> 31)

    n = math.prod(shape[-2:])
    streams = []
    for s, b in torch.empty(math.prod(shape[:-2]), 2, dtype=torch.int64).random_(generator=_gen(seed)).tolist():
        g = b | 1
        if bin(g ^ (g >> 1)).count("1") < 24:
            g ^= 0xAAAAAAAAAAAAAAAA
        stream = []
        for i in range((n + 1) // 2 if dtype == torch.float32 else n):
            x = mix((s + i * g) & mask)
            if dtype == torch.float32:
                stream += [(x & 0x7FFFFF) / 2**23, ((x >> 32) & 0x7FFFFF) / 2**23]
            else:
                stream.append((x >> 12) / 2**52)
        streams.append(stream[:n])
    return torch.tensor(streams, dtype=dtype).reshape(shape)


@pytest.mark.parametrize("like", [F32, F64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(140, 121), (3, 83, 201)])
def test_counter_draw_follows_its_equations(like, shape):
    """One stream per matrix, odd lengths included (a float32 stream ends mid-word)."""
    assert torch.equal(uniform(shape, _gen(5), like), _reference(5, shape, like.dtype))


def test_golden_values():
    """Seed 0's first numbers (a regression check: a change here changes every sample crbm draws)."""
    u32, u64 = (uniform((128, 128), _gen(0), like)[0, :3].tolist() for like in (F32, F64))
    assert u32 == [0.9235110282897949, 0.3276851177215576, 0.9031176567077637]
    assert u64 == [0.8346243850182524, 0.21818909639928408, 0.4451803438157911]


def test_torchs_draws():
    """Draws of small matrices, half precision and ``set_source("torch")`` give torch.rand's numbers."""
    for shape, dtype in (((10, 150), torch.float32), ((100, 10, 150), torch.float32), ((300, 150), torch.float16)):
        like = torch.empty(0, dtype=dtype)
        assert torch.equal(uniform(shape, _gen(1), like), torch.rand(shape, generator=_gen(1), dtype=dtype))
    noise.set_source("torch")
    assert noise.source() == "torch"
    assert torch.equal(uniform((300, 150), _gen(1), F32), torch.rand(300, 150, generator=_gen(1)))
    with pytest.raises(CRBMError, match="random source 'philox': expected one of counter, torch"):
        noise.set_source("philox")
    noise.set_source("counter")
    assert not torch.equal(uniform((300, 150), _gen(1), F32), torch.rand(300, 150, generator=_gen(1)))


def test_environment_variable_chooses_the_source(monkeypatch):
    for value, expected in (("torch", "torch"), ("counter", "counter"), ("", "counter")):
        monkeypatch.setattr(noise, "_source", None)
        monkeypatch.setenv("CRBM_RANDOM_SOURCE", value)
        assert noise.source() == expected
    monkeypatch.setattr(noise, "_source", None)
    monkeypatch.setenv("CRBM_RANDOM_SOURCE", "mt")
    with pytest.raises(CRBMError, match="CRBM_RANDOM_SOURCE='mt': expected one of counter, torch"):
        uniform((300, 150), _gen(1), F32)


# ------------------------------------------------------------------------------------------ reproducibility


@pytest.mark.parametrize("like", [F32, F64], ids=["float32", "float64"])
def test_same_numbers_on_any_thread_count(like, monkeypatch):
    """One long stream, a long row, two streams and many streams: the same numbers on 1, 2, 3 and 5 threads,
    also where every part is small (streams split between threads, parts that start mid-word)."""
    saved = torch.get_num_threads()
    for shape in ((4096, 150), (1, 300_001), (2, 3, 50_001), (29, 128, 150)):
        draws = []
        for threads, least in ((1, None), (2, None), (3, None), (3, 1000), (5, 1000)):
            with monkeypatch.context() as m:
                if least:
                    m.setattr(noise, "_PARALLEL_MIN", least)
                try:
                    torch.set_num_threads(threads)
                    draws.append(uniform(shape, _gen(3), like))
                finally:
                    torch.set_num_threads(saved)
        assert all(torch.equal(draws[0], d) for d in draws[1:]), shape


def test_a_draw_equals_its_matrices_drawn_in_turn():
    """(k, B, n) at once = k draws of (B, n) in turn = ``uniform_`` in place, and the generator ends in the
    same state (two words a matrix); with matrices below the counter's size too (torch's numbers then)."""
    for shape in ((29, 2, 150), (29, 4, 150)):
        turns = torch.stack([uniform(shape[1:], g, F32) for g in [_gen(7)] for _ in range(29)])
        assert torch.equal(uniform(shape, _gen(7), F32), turns), shape
    g_once, g_turns, g_place = _gen(6), _gen(6), _gen(6)
    once = uniform((29, 128, 150), g_once, F32)
    turns = torch.stack([uniform((128, 150), g_turns, F32) for _ in range(29)])
    out = torch.empty(29, 128, 150)
    assert noise.uniform_(out, g_place) is out
    assert torch.equal(once, turns) and torch.equal(once, out)
    words = _gen(6)
    torch.empty(29, 2, dtype=torch.int64).random_(generator=words)
    assert all(torch.equal(g.get_state(), words.get_state()) for g in (g_once, g_turns, g_place))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_fills_on_its_own_threads():
    """After the parent filled on several threads, a forked child (a data loader's worker) draws the same
    numbers instead of waiting on the parent's threads, which the child does not have."""
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        parent = uniform((4096, 150), _gen(8), F32)
        pid = os.fork()
        if pid == 0:  # the child: exit 0 when its draw matches; killed by the alarm if it waits for ever
            signal.alarm(30)
            os._exit(0 if torch.equal(uniform((4096, 150), _gen(8), F32), parent) else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("like", [F32, F64], ids=["float32", "float64"])
def test_shards_are_rows_of_the_whole_draw(like):
    """Data-parallel: each rank's per-example draw is its rows of the draw one process makes on the combined
    batch (numbers of one stream, from mid-word on where a float32 row is odd, or whole matrices); a draw
    that is not per example is the same on every rank."""
    for shape, bounds in (((301, 77), [0, 100, 101, 250, 301]), ((31, 150, 121), [0, 10, 11, 25, 31]),
                          ((301 * 77,), [0, 7700, 7777, 19250, 301 * 77])):
        whole = uniform(shape, _gen(4), like)
        parts = [uniform((b - a, *shape[1:]), ShardedGenerator(_gen(4), a, b, bounds[-1]), like)
                 for a, b in zip(bounds, bounds[1:])]
        assert torch.equal(torch.cat(parts), whole), shape
    shared = uniform((200, 150), ShardedGenerator(_gen(4), 0, 100, 301), like)
    assert torch.equal(shared, uniform((200, 150), _gen(4), like))


# ------------------------------------------------------------------------------------------ statistics


def _chi2_p(counts: np.ndarray) -> float:
    """Upper tail probability of Pearson's chi-square for equiprobable cells."""
    expected = counts.sum() / counts.size
    return float(stats.chi2.sf(((counts - expected) ** 2 / expected).sum(), counts.size - 1))


def _pairs_p(a: np.ndarray, b: np.ndarray, cells: int = 32) -> float:
    """Chi-square p of the pairs (a_i, b_i) on a cells x cells grid (independent uniforms: equiprobable)."""
    return _chi2_p(np.bincount((a * cells).astype(int) * cells + (b * cells).astype(int), minlength=cells**2))


def _correlation_z(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation times sqrt(n): about N(0, 1) for independent draws."""
    return float(np.corrcoef(a, b)[0, 1] * math.sqrt(a.size))


def _draws(like: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """N numbers as one stream (a (B, n) draw) and as streams of 19,200 (a (k, 128, 150) draw)."""
    return {
        "one stream": uniform((N // 150, 150), _gen(seed), like).reshape(-1).double().numpy(),
        "streams of 19,200": uniform((N // 19200, 128, 150), _gen(seed), like).reshape(-1).double().numpy(),
    }


@pytest.mark.parametrize("like", [F32, F64], ids=["float32", "float64"])
def test_uniformity(like):
    bits = 23 if like.dtype == torch.float32 else 52
    for name, u in _draws(like, 10).items():
        assert u.min() >= 0 and u.max() < 1
        assert stats.kstest(u, "uniform").pvalue > MIN_P, name
        assert _chi2_p(np.bincount((u * 1000).astype(int), minlength=1000)) > MIN_P, name
        low = (u * 2.0**bits).astype(np.int64) & 255  # the mantissa's lowest 8 bits, where weak mixing shows
        assert _chi2_p(np.bincount(low, minlength=256)) > MIN_P, name


@pytest.mark.parametrize("like", [F32, F64], ids=["float32", "float64"])
def test_neighbouring_numbers_are_independent(like):
    for name, u in _draws(like, 11).items():
        for lag in (1, 2, 3, 150):  # float32: lag 1 within a word and across words; 150: the next row
            assert abs(_correlation_z(u[:-lag], u[lag:])) < MAX_Z, (name, lag)
        assert _pairs_p(u[0::2], u[1::2]) > MIN_P, name  # the two halves of a word (float32)
        assert _pairs_p(u[1:-1:2], u[2::2]) > MIN_P, name  # a word's second half and the next word's first
        triples = (u[0:-2:3] * 8).astype(int) * 64 + (u[1:-1:3] * 8).astype(int) * 8 + (u[2::3] * 8).astype(int)
        assert _chi2_p(np.bincount(triples, minlength=512)) > MIN_P, name


def test_streams_are_independent(monkeypatch):
    """The first numbers of consecutive streams (of 64 numbers: the stream's definition does not depend on the
    size from which crbm uses it), consecutive draws from one generator, the same draw from neighbouring
    seeds, and two ranks' rows of a data-parallel draw: no correlation and equiprobable pairs."""
    with monkeypatch.context() as m:
        m.setattr(noise, "COUNTER_MIN", 64)
        starts = uniform((1 << 16, 1, 64), _gen(12), F32)[:, 0, 0].double().numpy()
    assert starts[0] != torch.rand(1, generator=_gen(12)).item()  # counter-based, not torch's
    assert _chi2_p(np.bincount((starts * 100).astype(int), minlength=100)) > MIN_P
    assert abs(_correlation_z(starts[:-1], starts[1:])) < MAX_Z
    assert _pairs_p(starts[:-1], starts[1:], cells=16) > MIN_P
    rows = N // 150
    g = _gen(13)
    first, second = (uniform((rows, 150), g, F32).reshape(-1).double().numpy() for _ in range(2))
    seed_a, seed_b = (uniform((rows, 150), _gen(s), F32).reshape(-1).double().numpy() for s in (14, 15))
    rank0, rank1 = (uniform((rows, 150), ShardedGenerator(_gen(16), r * rows, (r + 1) * rows, 2 * rows), F32)
                    .reshape(-1).double().numpy() for r in (0, 1))
    for a, b in ((first, second), (seed_a, seed_b), (rank0, rank1)):
        assert abs(_correlation_z(a, b)) < MAX_Z
        assert _pairs_p(a, b) > MIN_P


def test_bernoulli_frequencies():
    """u < p has probability p, for p from 0.001 to 0.999 (256 x 1024 draws at each)."""
    p = torch.tensor([1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999]).repeat_interleave(1024)
    hits = (uniform((256, p.numel()), _gen(17), F32) < p).double().mean(0).view(8, 1024).mean(1)
    expected = p.view(8, 1024)[:, 0].double()
    z = (hits - expected) / (expected * (1 - expected) / (256 * 1024)).sqrt()
    assert z.abs().max() < MAX_Z, z


def test_kernels_compile_where_no_cache_folder_is_writable(monkeypatch, tmp_path):
    """A read-only install without a writable home: numba finds no cache folder and refuses to cache; the
    kernels then compile into a temporary folder and draw the same numbers."""
    import sys
    import tempfile

    import numba
    import numba.core.caching

    expected = uniform((128, 128), _gen(0), F32)

    def unwritable(self):
        if not numba.config.CACHE_DIR:
            raise OSError("read-only")
        return original(self)

    original = numba.core.caching._CacheLocator.ensure_cache_path
    monkeypatch.setattr(numba.core.caching._CacheLocator, "ensure_cache_path", unwritable)
    for locator in (numba.core.caching.InTreeCacheLocator, numba.core.caching.UserWideCacheLocator):
        monkeypatch.setattr(locator, "ensure_cache_path", unwritable, raising=False)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    monkeypatch.setattr(noise, "_compiled", None)
    monkeypatch.delitem(sys.modules, "crbm.engine.splitmix")
    monkeypatch.delattr(sys.modules["crbm.engine"], "splitmix")
    assert torch.equal(uniform((128, 128), _gen(0), F32), expected)
    assert numba.config.CACHE_DIR == str(tmp_path) and any(tmp_path.rglob("*.nbi"))  # compiled and cached there

