"""Stacks of RBMs: greedy layer-wise pretraining (Hinton, Osindero & Teh 2006; Hinton & Salakhutdinov 2006).

RBM k is trained on the hidden means E[h_{k-1} | h_{k-2}] of the trained RBM below it (mean-field
activities, as in Hinton & Salakhutdinov's code), so a stack of L RBMs models the data with L layers of
features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from crbm.errors import CRBMError
from crbm.rbm import RBM
from crbm.train import TrainConfig, fit
from crbm.units import Units


@torch.no_grad()
def up_pass(layers: Sequence[RBM], v: Tensor, *, batch_size: int = 10000) -> Tensor:
    """Mean-field activities of the top layer: E[h_L | ... E[h_1 | v]], shape (batch, n_hidden of the top)."""
    for rbm in layers:
        v = torch.cat([rbm.hidden_mean(chunk) for chunk in torch.split(v, batch_size)])
    return v


def greedy_pretrain(
    data: Tensor,
    sizes: Sequence[int],
    *,
    visible: str | Units = "bernoulli",
    hidden: str | Units | Sequence[str | Units] = "bernoulli",
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    generator: torch.Generator | None = None,
) -> list[RBM]:
    """Train RBMs ``data.shape[1] -> sizes[0] -> sizes[1] -> ...`` one after another.

    Args:
        data: (N, n_visible) training data.
        sizes: hidden-layer sizes, bottom first.
        visible: unit family of the first RBM's visible layer (upper RBMs' visibles are Bernoulli).
        hidden: one family for every hidden layer or one per layer (e.g. "gaussian" for linear code units).
        configs: one TrainConfig for all layers or one per layer.
        generator: random source of the initial weights (training draws come from each config's seed).

    Returns the trained RBMs, bottom first."""
    if not isinstance(data, Tensor) or data.ndim != 2 or not data.is_floating_point():
        got = f"{data.dtype} {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
        raise CRBMError(f"data: expected a floating torch.Tensor of shape (N, n_visible), got {got}")
    sizes = list(sizes)
    if not sizes or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise CRBMError(f"sizes must be a non-empty list of positive integers, got {sizes!r}")
    hiddens = list(hidden) if isinstance(hidden, (list, tuple)) else [hidden] * len(sizes)
    cfgs = list(configs) if isinstance(configs, (list, tuple)) else [configs or TrainConfig()] * len(sizes)
    if len(hiddens) != len(sizes) or len(cfgs) != len(sizes):
        raise CRBMError(
            f"got {len(sizes)} layer sizes but {len(hiddens)} hidden unit types and {len(cfgs)} configs; "
            "give one of each per layer (or a single one for all)"
        )
    layers: list[RBM] = []
    x = data
    for i, (n_hidden, hid, cfg) in enumerate(zip(sizes, hiddens, cfgs)):
        rbm = RBM(
            x.shape[1],
            n_hidden,
            visible=visible if i == 0 else "bernoulli",
            hidden=hid,
            dtype=data.dtype,
            generator=generator,
        )
        fit(rbm, x, cfg)
        layers.append(rbm)
        if i + 1 < len(sizes):
            x = up_pass([rbm], x.to(rbm.weight.device))
    return layers
