"""Semantic hashing: addresses, Hamming balls against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crbm.engine.errors import CRBMError
from crbm.static.hashing import (
    HashTable,
    ball_masks,
    binary_codes,
    hamming_distances,
    hamming_then_cosine,
    negative_hamming,
    pack_bits,
)


def test_pack_bits_and_distances_by_hand():
    bits = binary_codes(np.array([[0.9, 0.1, 0.6], [0.2, 0.4, 0.5], [0.7, 0.8, 0.51]]))
    addresses = pack_bits(bits)
    assert addresses.tolist() == [0b101, 0b000, 0b111]  # bit i = column i; 0.5 itself is 0
    assert hamming_distances(0b101, addresses).tolist() == [0, 2, 1]


@pytest.mark.parametrize("n_bits, radius", [(3, 0), (3, 3), (20, 2), (20, 3)])
def test_ball_masks_are_every_address_within_the_radius(n_bits, radius):
    masks = ball_masks(n_bits, radius)
    assert len(masks) == sum(math.comb(n_bits, i) for i in range(radius + 1)) == len(set(masks.tolist()))
    assert int(np.bitwise_count(masks).max()) == radius


@pytest.mark.parametrize("n_bits", [8, 20, 32])
def test_hamming_ball_lookup_equals_brute_force(n_bits):
    rng = np.random.default_rng(7)
    # clustered codes, so balls of small radius are not empty
    centres = rng.random((5, n_bits)) < 0.5
    bits = centres[rng.integers(0, 5, 3000)] ^ (rng.random((3000, n_bits)) < 0.08)
    addresses = pack_bits(bits)
    table = HashTable(addresses, n_bits)
    assert len(table) == 3000
    for q in range(0, 3000, 97):
        dist = hamming_distances(addresses[q], addresses)
        for radius in (0, 1, 2, 3):
            found = table.lookup(addresses[q], radius)
            assert sorted(found.tolist()) == np.flatnonzero(dist <= radius).tolist()
            assert np.all(np.diff(dist[found]) >= 0)  # nearer buckets first


def test_bad_codes_are_refused():
    with pytest.raises(CRBMError, match="n_bits"):
        pack_bits(np.zeros((2, 64), dtype=bool))
    with pytest.raises(CRBMError, match="does not fit in 4 bits"):
        HashTable(np.array([16], dtype=np.uint64), 4)
    with pytest.raises(CRBMError, match="radius"):
        ball_masks(4, 5)


def test_ranking_similarities():
    bits = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=bool)
    t = torch.as_tensor(bits, dtype=torch.float32)
    expected = np.stack([hamming_distances(a, pack_bits(bits)) for a in pack_bits(bits)])
    assert (-negative_hamming(t, t)).long().numpy().tolist() == expected.tolist()
    weights = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = hamming_then_cosine(3)(torch.cat([t, weights], 1)[:1], torch.cat([t, weights], 1))
    # query 0: distances 0, 2, 1, 1; docs 2 and 3 tie at distance 1 and the TF-IDF cosine orders them (3 first)
    assert torch.argsort(s[0], descending=True).tolist() == [0, 3, 2, 1]
