"""Document retrieval and its evaluation: precision at recall levels, cosine ranking, TF-IDF and LSA.

The protocol of Hinton & Salakhutdinov (2006): every test document is a query against the other test
documents, ranked by the cosine of their codes; a document is relevant when it shares the query's class
(20 Newsgroups) or one of its topics (Reuters). For recall level r and a query with R relevant documents,
the precision is k / n where k = ceil(r R) (at least 1) and n is the rank at which the k-th relevant
document is retrieved; the curve is the mean over queries that have at least one relevant document.
Ties in the score are broken in a random order drawn from ``generator`` (Hamming distances tie often).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from crbm.data.documents import check_counts
from crbm.engine.errors import CRBMError

#: the recall levels of the published precision-recall curves
RECALL_LEVELS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0)


def precision_at_recall(
    scores: Tensor,
    relevant: Tensor,
    *,
    levels: Sequence[float] = RECALL_LEVELS,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-query precision at each recall level.

    Args:
        scores: (n_queries, n_docs) similarity, higher first; ``-inf`` removes a document (e.g. the query).
        relevant: (n_queries, n_docs) bool.
        generator: random order among tied scores (None: ties keep the documents' order).

    Returns (precision (n_queries, n_levels), has_relevant (n_queries,) bool); rows without a relevant
    document hold NaN."""
    if scores.shape != relevant.shape or scores.dim() != 2:
        raise CRBMError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} must be equal 2-D shapes")
    if any(not 0 < r <= 1 for r in levels):
        raise CRBMError(f"levels: recall levels must lie in (0, 1], got {list(levels)}")
    relevant = relevant & torch.isfinite(scores)
    if generator is not None:
        perm = torch.randperm(scores.shape[1], generator=generator).to(scores.device)
        scores, relevant = scores[:, perm], relevant[:, perm]
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    hits = torch.gather(relevant, 1, order).to(torch.int64).cumsum(1)  # relevant found in the top n
    total = hits[:, -1]
    lv = torch.tensor(levels, dtype=torch.float64, device=scores.device)
    k = torch.ceil(lv.unsqueeze(0) * total.unsqueeze(1).double()).clamp(min=1).to(torch.int64)  # (Q, L)
    rank = torch.searchsorted(hits, k) + 1  # first n with hits[n-1] >= k
    precision = k.double() / rank.double()
    has = total > 0
    precision[~has] = math.nan
    return precision, has


def cosine_similarity(queries: Tensor, docs: Tensor) -> Tensor:
    """(n_queries, d) x (n_docs, d) -> (n_queries, n_docs) cosines; zero vectors have cosine 0 with all."""
    q = queries / queries.norm(dim=1, keepdim=True).clamp(min=1e-12)
    d = docs / docs.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return q @ d.T


def retrieval_curve(
    codes: Tensor,
    topics: Tensor | np.ndarray,
    *,
    similarity=cosine_similarity,
    levels: Sequence[float] = RECALL_LEVELS,
    generator: torch.Generator | None = None,
    chunk: int = 1000,
) -> Tensor:
    """Mean precision at ``levels`` when every row of ``codes`` (n_docs, d) is a query against the others.

    ``topics`` (n_docs, n_classes) bool: relevance = sharing a class. ``similarity(q, d)`` gives the
    (n_q, n_docs) scores (default: cosine). Returns (n_levels,) float64."""
    topics = torch.as_tensor(np.asarray(topics), dtype=torch.float32, device=codes.device)
    if topics.dim() != 2 or topics.shape[0] != codes.shape[0]:
        raise CRBMError(f"topics: expected ({codes.shape[0]}, n_classes), got {tuple(topics.shape)}")
    total = torch.zeros(len(levels), dtype=torch.float64)
    n_queries = 0
    for start in range(0, codes.shape[0], chunk):
        rows = torch.arange(start, min(start + chunk, codes.shape[0]), device=codes.device)
        scores = similarity(codes[rows], codes).float()
        scores[torch.arange(len(rows)), rows] = -math.inf  # a query does not retrieve itself
        relevant = (topics[rows] @ topics.T) > 0
        p, has = precision_at_recall(scores, relevant, levels=levels, generator=generator)
        total += p[has].sum(0).cpu()
        n_queries += int(has.sum())
    if n_queries == 0:
        raise CRBMError("topics: no query has a relevant document")
    return total / n_queries


def _csr(counts) -> sp.csr_matrix:
    check_counts(counts, "counts")
    return sp.csr_matrix(counts, dtype=np.float64)


def inverse_document_frequency(counts) -> np.ndarray:
    """idf_k = log(n_docs / (1 + df_k)) + 1 over a (n_docs, n_words) count matrix (the training set)."""
    m = _csr(counts)
    df = np.bincount(m.indices, minlength=m.shape[1])
    return np.log(m.shape[0] / (1.0 + df)) + 1.0


def tfidf(counts, idf: np.ndarray) -> Tensor:
    """TF-IDF vectors (raw counts times idf), dense float32 (n_docs, n_words)."""
    m = _csr(counts)
    if idf.shape != (m.shape[1],):
        raise CRBMError(f"idf: expected shape ({m.shape[1]},), got {idf.shape}")
    return torch.as_tensor((m.multiply(idf[None, :])).toarray(), dtype=torch.float32)


def fit_lsa(counts, n_components: int) -> Tensor:
    """Latent semantic analysis: the top ``n_components`` right singular vectors of log(1 + counts)
    (n_words, n_components), from the exact eigendecomposition of X^T X in float64 (deterministic)."""
    m = _csr(counts).log1p()
    if not 1 <= n_components <= m.shape[1]:
        raise CRBMError(f"n_components must lie in [1, {m.shape[1]}], got {n_components}")
    gram = torch.as_tensor((m.T @ m).toarray())
    _, vectors = torch.linalg.eigh(gram)
    v = vectors[:, -n_components:].flip(1)
    sign = torch.sign(v[v.abs().argmax(0), torch.arange(n_components)])  # a fixed sign per component
    return (v * sign).float()


def lsa_codes(counts, components: Tensor) -> Tensor:
    """log(1 + counts) projected on the LSA components: (n_docs, n_components)."""
    return torch.as_tensor(_csr(counts).log1p().toarray(), dtype=torch.float32) @ components
