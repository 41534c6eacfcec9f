"""Precision at recall levels, computed by hand on toy rankings; TF-IDF and LSA against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from crbm.engine.errors import CRBMError
from crbm.static.retrieval import (
    fit_lsa,
    inverse_document_frequency,
    lsa_codes,
    precision_at_recall,
    retrieval_curve,
    tfidf,
)


def test_precision_at_recall_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]])
    relevant = torch.tensor([[True, False, True, False, True], [False] * 5])
    p, has = precision_at_recall(scores, relevant, levels=(0.1, 0.34, 0.5, 1.0))
    # R = 3: k = ceil(r R) = 1, 2, 2, 3 relevant found at ranks 1, 3, 3, 5
    assert p[0].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3, 3 / 5])
    assert has.tolist() == [True, False] and bool(torch.isnan(p[1]).all())


def test_removed_documents_and_ties():
    scores = torch.tensor([[1.0, 1.0, -math.inf, 0.5]])
    relevant = torch.tensor([[False, True, True, False]])  # the removed document never counts
    p, _ = precision_at_recall(scores, relevant, levels=(1.0,))
    assert p.tolist() == [[0.5]]  # R = 1 (not 2); the tie keeps the documents' order: found at rank 2
    ranks = set()
    for seed in range(20):  # random tie-breaking finds it at rank 1 or 2
        q, _ = precision_at_recall(scores, relevant, levels=(1.0,), generator=torch.Generator().manual_seed(seed))
        ranks.add(round(1 / float(q)))
    assert ranks == {1, 2}


def test_retrieval_curve_by_hand():
    codes = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.8, 0.6]])
    classes = np.array([0, 1, 1, 0, 0])
    # rankings by cosine (worked out by hand): q0: 1 4 3 2 -> R=2, k=1 at rank 2, k=2 at rank 3;
    # q1: 0 4 3 2 -> R=1 at rank 4; q2: 3 4 1 0 -> rank 3; q3: 2 4 1 0 -> ranks 2, 4; q4: 1 0 3 2 -> ranks 2, 3
    curve = retrieval_curve(codes, np.eye(2, dtype=bool)[classes], levels=(0.5, 1.0), chunk=2)
    expected_half = (1 / 2 + 1 / 4 + 1 / 3 + 1 / 2 + 1 / 2) / 5
    expected_all = (2 / 3 + 1 / 4 + 1 / 3 + 2 / 4 + 2 / 3) / 5
    assert curve.tolist() == pytest.approx([expected_half, expected_all])


def test_shared_topics_and_queries_without_topics():
    codes = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
    topics = np.array([[1, 1], [0, 1], [0, 0]], dtype=bool)  # doc 2 has no topic: never relevant, no query
    assert retrieval_curve(codes, topics, levels=(1.0,)).tolist() == pytest.approx([0.5])
    with pytest.raises(CRBMError, match="topics: no query"):
        retrieval_curve(codes, np.zeros((3, 2), dtype=bool))


def test_tfidf_and_lsa_match_direct_formulas():
    counts = sp.csr_matrix(np.array([[2, 0, 1, 0], [0, 3, 0, 1], [1, 1, 0, 0], [0, 0, 4, 2], [5, 0, 0, 1]]))
    idf = inverse_document_frequency(counts)
    df = np.array([3, 2, 2, 3])
    np.testing.assert_allclose(idf, np.log(5 / (1 + df)) + 1)
    np.testing.assert_allclose(tfidf(counts, idf).numpy(), counts.toarray() * idf, rtol=1e-6)
    comps = fit_lsa(counts, 2)
    _, s, vt = np.linalg.svd(np.log1p(counts.toarray()))
    np.testing.assert_allclose(np.abs(comps.numpy()), np.abs(vt[:2].T), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(lsa_codes(counts, comps).numpy(), axis=0), s[:2], rtol=1e-5)
    with pytest.raises(CRBMError, match="counts: word counts must be non-negative"):
        fit_lsa(-counts, 2)
