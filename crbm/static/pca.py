"""Principal component analysis, the linear baseline of the deep autoencoders (Hinton & Salakhutdinov 2006).

Components are the top eigenvectors of the training data's covariance, computed exactly in float64 with
``torch.linalg.eigh`` (deterministic: no random projections); each is given a fixed sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from crbm.engine.errors import CRBMError


@dataclass(frozen=True)
class PCA:
    """mean (d,) and components (d, k), orthonormal columns, largest variance first."""

    mean: Tensor
    components: Tensor

    def transform(self, x: Tensor) -> Tensor:
        """(n, d) -> (n, k) coordinates."""
        return (x - self.mean) @ self.components

    def inverse_transform(self, codes: Tensor) -> Tensor:
        """(n, k) -> (n, d) reconstruction."""
        return codes @ self.components.T + self.mean

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.inverse_transform(self.transform(x))


def fit_pca(data: Tensor, n_components: int) -> PCA:
    """PCA of ``data`` (n, d) with ``n_components`` components; results in the data's dtype and device."""
    if data.dim() != 2:
        raise CRBMError(f"data: expected a (n, d) tensor, got shape {tuple(data.shape)}")
    if not 1 <= n_components <= data.shape[1]:
        raise CRBMError(f"n_components must lie in [1, {data.shape[1]}], got {n_components}")
    x = data.double()
    mean = x.mean(0)
    centred = x - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    v = vectors[:, -n_components:].flip(1)
    v = v * torch.sign(v[v.abs().argmax(0), torch.arange(n_components, device=v.device)])
    return PCA(mean.to(data.dtype), v.to(data.dtype))
