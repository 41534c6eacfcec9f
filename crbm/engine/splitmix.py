"""Compiled kernels of the counter-based uniforms (``crbm.engine.noise``): SplitMix64 streams turned into
float32 or float64 numbers on [0, 1), one pass over the output with no scratch memory.

Stream ``r`` (row ``r`` of ``out``) has the key ``(s_r, g_r)`` (row ``r`` of ``keys``); its word ``i`` is
``mix64(s_r + i g_r mod 2^64)``. Word ``i`` gives float32 numbers ``2i`` (bits 0-22 of the word, m) and
``2i + 1`` (bits 32-54) as ``m 2^-23``, or float64 number ``i`` (bits 12-63) as ``m 2^-52``: the same values
as the mantissa read as ``1.m - 1``. Column ``j`` of ``out`` holds number ``first + j`` of its row's stream.

Compiled by numba on first use (cached on disk next to this file, or in numba's user cache where that is
not writable); the functions release the GIL, so several threads fill parts of one draw at once.
"""

from __future__ import annotations

import numba
from numba import float32, float64, int32, uint64

_M1, _M2 = uint64(0xBF58476D1CE4E5B9), uint64(0x94D049BB133111EB)
_LOW23, _SCALE32, _SCALE64 = uint64(0x7FFFFF), float32(2.0**-23), float64(2.0**-52)


@numba.njit("float32(uint64)", inline="always", nogil=True, cache=True)
def _low23(z):
    """Bits 0-22 of ``z`` times 2^-23 (through int32, which converts to float faster than uint64)."""
    return float32(int32(z & _LOW23)) * _SCALE32


@numba.njit("uint64(uint64)", inline="always", nogil=True, cache=True)
def mix64(z):
    """SplitMix64's finaliser (Steele, Lea & Flood 2014)."""
    z = (z ^ (z >> uint64(30))) * _M1
    z = (z ^ (z >> uint64(27))) * _M2
    return z ^ (z >> uint64(31))


@numba.njit("void(float32[:, ::1], uint64[:, ::1], int64)", nogil=True, cache=True)
def fill_float32(out, keys, first):
    """Numbers ``first .. first + m - 1`` of each stream into ``out`` (rows, m); ``keys`` (rows, 2)."""
    rows, m = out.shape
    for r in range(rows):
        s, g = keys[r, 0], keys[r, 1]
        j = 0
        if first % 2 == 1 and m > 0:  # the stream starts at a word's second number
            out[r, 0] = _low23(mix64(s + uint64(first // 2) * g) >> uint64(32))
            j = 1
        word, pairs = (first + j) // 2, (m - j) // 2
        for k in range(pairs):
            z = mix64(s + uint64(word + k) * g)
            out[r, j + 2 * k] = _low23(z)
            out[r, j + 2 * k + 1] = _low23(z >> uint64(32))
        if j + 2 * pairs < m:  # ends at a word's first number
            out[r, m - 1] = _low23(mix64(s + uint64(word + pairs) * g))


@numba.njit("void(float64[:, ::1], uint64[:, ::1], int64)", nogil=True, cache=True)
def fill_float64(out, keys, first):
    """Numbers ``first .. first + m - 1`` of each stream into ``out`` (rows, m); ``keys`` (rows, 2)."""
    rows, m = out.shape
    for r in range(rows):
        s, g = keys[r, 0], keys[r, 1]
        for j in range(m):
            out[r, j] = float64(mix64(s + uint64(first + j) * g) >> uint64(12)) * _SCALE64
