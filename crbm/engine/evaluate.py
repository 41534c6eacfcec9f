"""Evaluation: exact log Z by enumeration, annealed importance sampling, log-probabilities, errors.

exact_log_partition enumerates the smaller enumerable layer (at most 2^25 states):

    enumerate h:  log Z = logsumexp_h [ c.h + log sum_v exp(-self_energy(v) + (v / sigma)^T W h) ]
    enumerate v:  log Z = logsumexp_v [ -F(v) ]

AIS follows Salakhutdinov & Murray (2008): a base-rate model A (W = 0, visible biases b_A, the same
hidden layer), intermediate distributions p_k(v) ~ exp(-(1 - beta_k) E_A(v) - beta_k F_B(v)), one Gibbs
transition per beta that leaves p_k invariant, and log Z_B = log Z_A + logmeanexp(log w).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from crbm.engine.errors import CRBMError
from crbm.engine.rbm import RBM, check_tensor, logmeanexp
from crbm.engine.units import ReplicatedSoftmax

MAX_ENUMERATED_UNITS = 25


class AISResult(NamedTuple):
    """log Z estimate and its standard error (delta method on the importance weights)."""

    log_z: float
    log_z_std: float


@torch.no_grad()
def exact_log_partition(
    model: RBM, *, visible_shift: Tensor | None = None, hidden_shift: Tensor | None = None, chunk: int = 65536
) -> float:
    """log Z of a small model, exactly, by enumerating its smaller enumerable layer.

    ``visible_shift`` (1, n_visible) / ``hidden_shift`` (1, n_hidden) evaluate a conditional model at one
    context. Raises CRBMError when neither layer has at most 25 enumerable units."""
    hid_ok = model.hidden.enumerable and model.n_hidden <= MAX_ENUMERATED_UNITS
    vis_ok = model.visible.enumerable and model.n_visible <= MAX_ENUMERATED_UNITS
    for shift, n, what in (
        (visible_shift, model.n_visible, "visible_shift"),
        (hidden_shift, model.n_hidden, "hidden_shift"),
    ):
        if shift is not None:
            check_tensor(shift, what, width=n, like=model.weight)
            if shift.shape[0] != 1:
                raise CRBMError(f"{what}: exact log Z takes one context, shape (1, {n}); got {tuple(shift.shape)}")
    if not (hid_ok or vis_ok):
        raise CRBMError(
            f"exact log Z enumerates a binary layer of at most {MAX_ENUMERATED_UNITS} units; this model has "
            f"{model.n_visible} {model.visible.name} visible and {model.n_hidden} {model.hidden.name} hidden units "
            "(use crbm.ais instead)"
        )
    kw = {"dtype": model.weight.dtype, "device": model.weight.device}
    parts = []
    if hid_ok and (not vis_ok or model.n_hidden <= model.n_visible):
        states = model.hidden.states(model.n_hidden, **kw)
        b = model.visible_bias if visible_shift is None else model.visible_bias + visible_shift
        c = model.hidden_bias if hidden_shift is None else model.hidden_bias + hidden_shift[0]
        for h in torch.split(states, chunk):
            parts.append(h @ c + model.visible.visible_log_partition(b, h @ model.weight.T, model.sigma))
    else:
        states = model.visible.states(model.n_visible, **kw)
        for v in torch.split(states, chunk):
            parts.append(-model._free_energy(v, visible_shift, hidden_shift))
    return float(torch.logsumexp(torch.cat(parts), 0))


def ais_betas(n_betas: int, *, dtype=torch.float64, device=None) -> Tensor:
    """The inverse temperatures of Salakhutdinov & Murray (2008) scaled to ``n_betas`` steps: uniform
    spacing to 0.5 for 500/14500 of the steps, to 0.9 for 4000/14500, to 1.0 for the rest."""
    if n_betas < 3:
        raise CRBMError(f"n_betas must be at least 3, got {n_betas}")
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = max(1, n_betas - n1 - n2)
    return torch.cat(
        [
            torch.linspace(0, 0.5, n1 + 1, dtype=dtype, device=device)[:-1],
            torch.linspace(0.5, 0.9, n2 + 1, dtype=dtype, device=device)[:-1],
            torch.linspace(0.9, 1.0, n3 + 1, dtype=dtype, device=device),
        ]
    )


def base_rate_bias(data: Tensor, *, eps: float = 0.05) -> Tensor:
    """Visible biases of the base-rate model for Bernoulli data: log(p / (1 - p)) of the smoothed
    marginals p = (mean + eps) / (1 + 2 eps)."""
    p = (data.mean(0) + eps) / (1 + 2 * eps)
    return torch.log(p) - torch.log1p(-p)


@torch.no_grad()
def ais(
    model: RBM,
    *,
    n_chains: int = 100,
    n_betas: int = 10000,
    base_bias: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> AISResult:
    """Estimate log Z by annealed importance sampling (Salakhutdinov & Murray 2008).

    Args:
        n_chains: independent AIS runs.
        n_betas: number of intermediate distributions (schedule: ``ais_betas``).
        base_bias: visible biases b_A of the base model (default zeros; ``base_rate_bias(data)`` is better).
        generator: random source.

    Returns ``AISResult(log_z, log_z_std)``. Supported: Bernoulli, softmax and Gaussian visibles with
    Bernoulli or softmax hiddens."""
    if model.hidden.name not in ("bernoulli", "softmax", "concat") or isinstance(model.visible, ReplicatedSoftmax):
        raise CRBMError(
            f"AIS supports bernoulli/softmax hidden and bernoulli/softmax/gaussian visible units, "
            f"not {model.visible.name} -> {model.hidden.name}"
        )
    if n_chains < 2:
        raise CRBMError(f"n_chains must be at least 2 to estimate a standard error, got {n_chains}")
    dtype, device = model.weight.dtype, model.weight.device
    b_a = (
        model.visible_bias.new_zeros(model.n_visible) if base_bias is None else base_bias.to(dtype=dtype, device=device)
    )
    if b_a.shape != (model.n_visible,):
        raise CRBMError(f"base_bias: expected shape ({model.n_visible},), got {tuple(b_a.shape)}")
    sigma = model.sigma
    betas = ais_betas(n_betas, dtype=dtype, device=device)
    vis, hid = model.visible, model.hidden
    zero_h = model.weight.new_zeros(1, model.n_hidden)
    log_z_a = vis.base_log_partition(b_a, sigma) + hid.log_partition(zero_h)[0]

    def log_p(v: Tensor, pre_b: Tensor, beta: Tensor) -> Tensor:
        """log p*_beta(v) = -(1 - beta) E_A(v) - beta self_energy_B(v) + LP_hidden(beta * pre_B(v))."""
        return (
            -(1 - beta) * vis.self_energy(v, b_a, sigma)
            - beta * vis.self_energy(v, model.visible_bias, sigma)
            + hid.log_partition(beta * pre_b)
        )

    v = vis.sample(b_a.expand(n_chains, -1), generator=generator, sigma=sigma)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)  # summed in float64 whatever the model's dtype
    for beta_prev, beta in zip(betas[:-1], betas[1:]):
        pre_b = model.hidden_pre(v)  # shared by both weights and the hidden draw
        log_w += (log_p(v, pre_b, beta) - log_p(v, pre_b, beta_prev)).double()
        h = hid.sample(beta * pre_b, generator=generator)
        pre = (1 - beta) * b_a + beta * model.visible_pre(h)
        v = vis.sample(pre, generator=generator, sigma=sigma)
    log_z = log_z_a + logmeanexp(log_w)
    # standard error of log(mean w) by the delta method: std(w) / (sqrt(n) mean(w))
    w = torch.exp(log_w - log_w.max())
    std = float(w.std() / (math.sqrt(n_chains) * w.mean()))
    return AISResult(float(log_z), std)


@torch.no_grad()
def log_probability(model: RBM, v: Tensor, log_z: float) -> Tensor:
    """log p(v) = -F(v) - log Z, shape (batch,)."""
    return -model.free_energy(v) - log_z


@torch.no_grad()
def reconstruction_error(model: RBM, v: Tensor, *, batch_size: int = 10000) -> float:
    """Mean over rows of sum_i (v_i - E[v_i | E[h | v]])^2 (one deterministic up-down pass)."""
    model.check_visible(v)
    total = 0.0
    for chunk in torch.split(v, batch_size):
        view = model._at(chunk)  # E[v | h] in expected counts for replicated softmax
        r = view.visible_mean(view.hidden_mean(chunk))
        total += float((chunk - r).square().sum())
    return total / v.shape[0]


@torch.no_grad()
def free_energy_gap(model: RBM, train: Tensor, valid: Tensor) -> float:
    """mean F(valid) - mean F(train): grows when the model overfits (Hinton's practical guide, sec. 6)."""
    return float(model.free_energy(valid).mean() - model.free_energy(train).mean())
