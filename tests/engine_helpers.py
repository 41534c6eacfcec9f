"""Brute-force references for the engine tests: every state enumerated, Gaussian integrals done by hand.

Nothing here calls the engine's own partition-function code; the references use only ``RBM.energy`` (the
definition of the model) or formulas derived independently in the docstrings below.
"""

from __future__ import annotations

import itertools
import math

import torch

from crbm import RBM
from crbm.engine.units import Units

DT = torch.float64


def binary_states(n: int) -> torch.Tensor:
    """All 2^n binary rows, (2^n, n)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=DT)


def one_hot_states(n: int, group: int) -> torch.Tensor:
    """All rows of n // group one-hot groups, (group^(n/group), n)."""
    eye = torch.eye(group, dtype=DT)
    return torch.stack([torch.cat(c) for c in itertools.product(eye, repeat=n // group)])


def states_of(units: Units | str, n: int) -> torch.Tensor:
    """Every state of a layer, built here without the engine's ``states`` (Concat: product of blocks)."""
    name = units if isinstance(units, str) else units.name
    if name == "bernoulli":
        return binary_states(n)
    if name == "softmax":
        group = getattr(units, "group", None) or n
        return one_hot_states(n, group)
    if name == "concat":
        parts = [states_of(u, k) for u, k in units.blocks]
        return torch.stack([torch.cat(c) for c in itertools.product(*parts)])
    raise ValueError(name)


def random_rbm(
    nv: int,
    nh: int,
    *,
    visible="bernoulli",
    hidden="bernoulli",
    w_std: float = 1.0,
    seed: int = 0,
    sigma: torch.Tensor | float | None = None,
    learn_sigma: bool = False,
) -> RBM:
    """A float64 RBM with weights ~ N(0, w_std^2), biases ~ N(0, 1) and, for Gaussian visibles, per-unit
    sigma in [0.5, 2] (non-unit on purpose) unless given."""
    g = torch.Generator().manual_seed(seed)
    is_gauss = getattr(visible, "name", visible) == "gaussian"
    if is_gauss and sigma is None:
        sigma = 0.5 + 1.5 * torch.rand(nv, generator=g, dtype=DT)
    m = RBM(
        nv,
        nh,
        visible=visible,
        hidden=hidden,
        dtype=DT,
        init_std=w_std,
        generator=g,
        sigma=1.0 if sigma is None else sigma,
        learn_sigma=learn_sigma,
    )
    with torch.no_grad():
        m.visible_bias.normal_(0, 1, generator=g)
        m.hidden_bias.normal_(0, 1, generator=g)
    return m


def brute_free_energy(model: RBM, v: torch.Tensor, hs: torch.Tensor, **shifts) -> torch.Tensor:
    """-log sum_h exp(-E(v, h)) for each row of v, h over the rows of ``hs``; (batch,)."""
    b, n = v.shape[0], hs.shape[0]
    vv = v.repeat_interleave(n, 0)
    hh = hs.repeat(b, 1)
    sh = {k: s.repeat_interleave(n, 0) for k, s in shifts.items()}
    e = model.energy(vv, hh, **sh).reshape(b, n)
    return -torch.logsumexp(-e, 1)


def brute_log_z(model: RBM, vs: torch.Tensor, hs: torch.Tensor) -> float:
    """log sum_{v, h} exp(-E(v, h)) over both enumerated layers."""
    return float(torch.logsumexp(-brute_free_energy(model, vs, hs), 0))


def gaussian_log_z(model: RBM, hs: torch.Tensor) -> torch.Tensor:
    """log Z of Gaussian visibles by enumerating h and integrating v in closed form (differentiable).

    For fixed h, -E(v, h) = c.h - sum_i (v_i - b_i)^2 / (2 s_i^2) + sum_i v_i a_i / s_i with a = W h;
    completing the square, v_i ~ N(b_i + s_i a_i, s_i^2) and the integral is
    prod_i s_i sqrt(2 pi) exp(((b_i + s_i a_i)^2 - b_i^2) / (2 s_i^2))."""
    s = model.log_sigma.exp()
    b = model.visible_bias
    a = hs @ model.weight.T
    mu = b + s * a
    per_h = hs @ model.hidden_bias + (((mu.square() - b.square()) / (2 * s.square())) + torch.log(s)).sum(-1)
    return torch.logsumexp(per_h + model.n_visible * 0.5 * math.log(2 * math.pi), 0)


def noisy_prototypes(n: int = 200, width: int = 64, seed: int = 3) -> torch.Tensor:
    """(n, width) float32 binary rows: 4 random prototypes in turn, 5% of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, width, generator=g) < 0.5).float()
    data = protos[torch.arange(n) % 4]
    return torch.where(torch.rand(data.shape, generator=g) < 0.05, 1 - data, data)
