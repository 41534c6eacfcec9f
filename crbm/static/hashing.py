"""Semantic hashing (Salakhutdinov & Hinton 2009): binary codes as memory addresses.

An autoencoder fine-tuned with noise on its logistic code units gives codes near 0 or 1; thresholded at
0.5 and packed into an integer, a code of up to 63 bits is an address. A hash table maps each address to
the documents stored there, so the documents within Hamming distance r of a query are found by visiting
the sum_{i<=r} C(bits, i) addresses of the Hamming ball around the query's address, a cost that does not
grow with the size of the corpus. ``hamming_distances`` is the brute-force scan it is compared with.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from crbm.engine.errors import CRBMError

MAX_BITS = 63


def binary_codes(activities: torch.Tensor | np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """(n_docs, n_bits) code activities -> (n_docs, n_bits) bool, True where above ``threshold``."""
    a = activities.detach().cpu().numpy() if isinstance(activities, torch.Tensor) else np.asarray(activities)
    if a.ndim != 2:
        raise CRBMError(f"activities: expected a (n_docs, n_bits) array, got shape {a.shape}")
    return a > threshold


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, n_bits) bool -> (n,) uint64 addresses; bit i of the address is column i."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim != 2 or not 1 <= bits.shape[1] <= MAX_BITS:
        raise CRBMError(f"bits: expected (n, n_bits) with 1 <= n_bits <= {MAX_BITS}, got shape {bits.shape}")
    weights = np.left_shift(np.uint64(1), np.arange(bits.shape[1], dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(1, dtype=np.uint64)


def hamming_distances(query: np.ndarray | int, addresses: np.ndarray) -> np.ndarray:
    """Brute force: popcount(query XOR address) for every stored address, (n,) int."""
    return np.bitwise_count(np.bitwise_xor(np.uint64(query), addresses)).astype(np.int64)


def ball_masks(n_bits: int, radius: int) -> np.ndarray:
    """Every XOR mask of at most ``radius`` set bits among ``n_bits``: sum_{i<=radius} C(n_bits, i) uint64."""
    if not 0 <= radius <= n_bits:
        raise CRBMError(f"radius must lie in [0, {n_bits}], got {radius}")
    count = sum(math.comb(n_bits, i) for i in range(radius + 1))
    if count > 10**7:
        raise CRBMError(f"a Hamming ball of radius {radius} in {n_bits} bits has {count} addresses; too many")
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in combo) for combo in itertools.combinations(range(n_bits), r)]
    return np.array(masks, dtype=np.uint64)


class HashTable:
    """Documents stored at their binary addresses.

    Args:
        addresses: (n_docs,) uint64 addresses (``pack_bits`` of the binary codes).
        n_bits: code length.
    """

    def __init__(self, addresses: np.ndarray, n_bits: int):
        addresses = np.asarray(addresses, dtype=np.uint64)
        if addresses.ndim != 1:
            raise CRBMError(f"addresses: expected a 1-D array, got shape {addresses.shape}")
        if not 1 <= n_bits <= MAX_BITS:
            raise CRBMError(f"n_bits must lie in [1, {MAX_BITS}], got {n_bits}")
        if addresses.size and int(addresses.max()) >> n_bits:
            raise CRBMError(f"addresses: a value does not fit in {n_bits} bits")
        self.n_bits = n_bits
        order = np.argsort(addresses, kind="stable")
        keys, starts = np.unique(addresses[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        self.buckets: dict[int, np.ndarray] = {int(k): order[s:e] for k, s, e in zip(keys, starts, ends)}
        self._masks: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return sum(len(b) for b in self.buckets.values())

    def lookup(self, address: int, radius: int) -> np.ndarray:
        """Indices of the stored documents within Hamming distance ``radius`` of ``address``, sorted by
        distance (then by index within a bucket). Visits every address of the ball; never scans the table."""
        if radius not in self._masks:
            self._masks[radius] = [int(m) for m in ball_masks(self.n_bits, radius)]
        address = int(address)
        found = [b for m in self._masks[radius] if (b := self.buckets.get(address ^ m)) is not None]
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def negative_hamming(queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
    """Similarity of 0/1 codes for ranking: -Hamming distance = -(|q| + |d| - 2 q.d), (n_queries, n_docs)."""
    q, d = queries.float(), docs.float()
    return 2 * q @ d.T - q.sum(1, keepdim=True) - d.sum(1)


def hamming_then_cosine(n_bits: int):
    """A similarity for ``crbm.static.retrieval.retrieval_curve`` on rows ``[code bits | TF-IDF vector]``: documents
    ranked by Hamming distance of the first ``n_bits`` columns, ties re-ranked by the cosine of the rest
    (the short list of a Hamming ball re-ranked by TF-IDF). TF-IDF cosines lie in [0, 1]; scaled by 0.999
    they never reorder two distances."""

    def similarity(queries: torch.Tensor, docs: torch.Tensor) -> torch.Tensor:
        from crbm.static.retrieval import cosine_similarity

        hamming = negative_hamming(queries[:, :n_bits], docs[:, :n_bits])
        return hamming + 0.999 * cosine_similarity(queries[:, n_bits:], docs[:, n_bits:])

    return similarity
