"""PCA against numpy's SVD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crbm.engine.errors import CRBMError
from crbm.static.pca import fit_pca


def test_pca_matches_svd(gen):
    x = torch.randn(50, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen, dtype=torch.float64)
    pca = fit_pca(x, 3)
    _, s, vt = np.linalg.svd((x - x.mean(0)).numpy(), full_matrices=False)
    np.testing.assert_allclose(np.abs(pca.components.numpy()), np.abs(vt[:3].T), atol=1e-10)
    err = float((x - pca.reconstruct(x)).square().sum())
    assert err == pytest.approx(float((s[3:] ** 2).sum()), rel=1e-10)  # Eckart-Young
    torch.testing.assert_close(fit_pca(x, 6).reconstruct(x), x)
    with pytest.raises(CRBMError, match="n_components"):
        fit_pca(x, 7)
