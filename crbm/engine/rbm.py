"""The engine: a bipartite Boltzmann machine with any pairing of unit families.

    E(v, h) = self_energy(v; b + s_v) - (c + s_h) . h - (v / sigma)^T W h

where ``s_v`` (batch, n_visible) and ``s_h`` (batch, n_hidden) are optional per-example *bias shifts*. A
conditional model (CRBM, label-conditioned or factored models) is this RBM with shifts computed from its
context; nothing else changes. ``sigma`` is 1 except for Gaussian visibles (per unit, fixed by default).

Given the shifts, both conditionals factorise:

    p(h | v) = hidden family at pre  c + s_h + (v / sigma) W        (x N for replicated softmax visibles)
    p(v | h) = visible family at pre  b + s_v + sigma (W h)

and the free energy is ``F(v) = self_energy(v) - hidden.log_partition(hidden_pre(v))``.

Everything that samples runs on one object, ``Conditioned``: the RBM with the biases in force for each
example (b + s_v, c + s_h) and, for factored models, per-example weights W_t = Wv diag(gate_t) Wh^T.
``RBM.conditioned`` gives it for this RBM (its own conditionals, energies, Gibbs and CD chain go through
it); the motion models build it from their context. Its Gibbs step (``gibbs``) and CD negative phase
(``chain``) draw by the unit families' ``sample`` from ``crbm.engine.noise``.

The CD/PCD statistics (``contrastive_divergence``) are matrix products, no autograd: for every parameter the
log-likelihood ascent direction is ``-dF/dtheta`` at the data minus the same at the negative samples.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_int_at_least, check_nonnegative, check_positive_int, value_range
from crbm.engine.errors import CRBMError
from crbm.engine.noise import Generator, torch_generator
from crbm.engine.units import (
    Concat,
    Gaussian,
    ReLU,
    ReplicatedSoftmax,
    Softmax,
    Units,
    resolve_units,
    units_from_json,
    units_to_json,
)

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(x: Tensor, what: str, *, width: int, like: Tensor, ndim: int = 2, finite: bool = True) -> Tensor:
    """Validate a batch: a floating tensor of shape (batch, width) with the model's dtype and device,
    finite values (``finite=False`` skips that check, which reads the values and so synchronises a GPU).
    Raises CRBMError naming ``what``, the expected and the received."""
    if not isinstance(x, Tensor):
        raise CRBMError(f"{what}: expected a torch.Tensor of shape (batch, {width}), got {type(x).__name__}")
    if x.ndim != ndim or x.shape[-1] != width:
        raise CRBMError(f"{what}: expected shape (batch, {width}), got {tuple(x.shape)}")
    if x.dtype != like.dtype:
        if x.dtype not in _FLOATS:
            raise CRBMError(f"{what}: expected a floating dtype ({like.dtype}), got {x.dtype}")
        raise CRBMError(f"{what}: expected dtype {like.dtype} (the model's), got {x.dtype}; use .to({like.dtype})")
    if x.device != like.device:
        raise CRBMError(f"{what}: expected a tensor on {like.device} (the model's device), got {x.device}")
    if finite and not all(math.isfinite(m) for m in value_range(x)):  # one pass, no boolean copy of x
        raise CRBMError(f"{what}: contains NaN or Inf")
    return x


def check_device(device: str | torch.device | None) -> torch.device | None:
    """``device`` as a ``torch.device`` (None stays None); CRBMError for an unknown name or for CUDA on a
    machine without it."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise CRBMError(f"unknown device {device!r}; expected e.g. 'cpu', 'cuda' or 'cuda:0' ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CRBMError(f"device {device!r} was asked for but CUDA is not available; use device='cpu'")
    return dev


def normal_weights(shape: tuple[int, ...], std: float, *, generator: torch.Generator | None, dtype: torch.dtype,
                   device: str | torch.device | None) -> Tensor:
    """Initial weights ``W ~ N(0, std^2)`` of ``shape``: drawn from ``generator`` in float64 on the CPU (the
    same values whatever ``dtype`` and ``device``), then cast; zeros without a draw when ``std`` is 0;
    uninitialised on the meta device (shapes only, for checkpoint validation)."""
    if device is not None and torch.device(device).type == "meta":
        return torch.empty(shape, dtype=dtype, device=device)
    if not std:
        return torch.zeros(shape, dtype=dtype, device=device)
    return (torch.randn(shape, generator=generator, dtype=torch.float64) * std).to(dtype=dtype, device=device)


@dataclass
class Statistics:
    """The result of one CD/PCD step on a batch.

    grads: log-likelihood ascent direction per parameter name, averaged over the batch.
    d_visible, d_hidden: per-example ascent directions for the (shifted) visible / hidden biases,
        shapes (batch, n_visible) / (batch, n_hidden); a conditional model maps them through its context.
    negative: the final visible state of the chains (the PCD state), (n_chains, n_visible).
    recon_error: sum over the batch of the squared error between data and the first reconstruction (scalar
        tensor; it stays on the device).
    """

    grads: dict[str, Tensor]
    d_visible: Tensor
    d_hidden: Tensor
    negative: Tensor
    recon_error: Tensor


@dataclass
class Conditioned:
    """The engine's RBM with per-example biases (and, for factored models, per-example weights): what a
    conditional model is at one time step, and what every sampler runs on.

    ``visible_bias`` b (B, D) or (D,) and ``hidden_bias`` c (B, H) or (H,) are the biases in force (a
    conditional model's dynamic biases b_t, c_t). The interaction enters through x = v / sigma with sigma
    folded into the weights: ``weight_in`` = W / sigma (rows scaled) and ``weight_out`` = sigma W, both (D, H).
    Factored models give them as (D, F) visible factors with ``hidden_factors`` (H, F) and a per-row ``gate``
    (B, F), meaning W_t = weight diag(gate_t) hidden_factors^T. ``counts`` (B,) are the document lengths of
    replicated-softmax visibles (their hidden biases arrive already multiplied by them). Conditionals, by the
    unit families:

        p(h | v) = hidden family at  c + (v / sigma) W;     p(v | h) = visible family at  b + sigma (W h)
        F(v) = self_energy(v; b, sigma) - hidden.log_partition(c + (v / sigma) W)
    """

    visible: Units
    hidden: Units
    visible_bias: Tensor
    hidden_bias: Tensor
    weight_in: Tensor
    weight_out: Tensor
    sigma: Tensor | None = None
    hidden_factors: Tensor | None = None
    gate: Tensor | None = None
    counts: Tensor | None = None

    @property
    def shared(self) -> bool:
        """True when every row has the same interaction matrix (no gate)."""
        return self.gate is None

    def hidden_pre(self, v: Tensor, *, out: Tensor | None = None) -> Tensor:
        """c + (v / sigma) W, (B, H) (written into ``out`` when given)."""
        if self.gate is None:
            return torch.addmm(self.hidden_bias, v, self.weight_in, out=out)
        return torch.addmm(self.hidden_bias, (v @ self.weight_in) * self.gate, self.hidden_factors.T, out=out)

    def visible_pre(self, h: Tensor, *, out: Tensor | None = None) -> Tensor:
        """b + sigma (W h): the mean for Gaussian visibles, the logits otherwise; (B, D) (into ``out``)."""
        x = h if self.gate is None else (h @ self.hidden_factors) * self.gate
        return torch.addmm(self.visible_bias, x, self.weight_out.T, out=out)

    def hidden_mean(self, v: Tensor) -> Tensor:
        """E[h | v], (B, H)."""
        return self.hidden.mean(self.hidden_pre(v))

    def visible_mean(self, h: Tensor) -> Tensor:
        """E[v | h], (B, D) (expected word counts for replicated softmax)."""
        m = self.visible.mean(self.visible_pre(h))
        return m if self.counts is None else m * self.counts.unsqueeze(-1)

    def sample_hidden(self, v: Tensor, *, generator: Generator) -> tuple[Tensor, Tensor]:
        """(sample, mean) of p(h | v)."""
        return self.hidden.sample_with_mean(self.hidden_pre(v), generator=generator)

    def sample_visible(self, h: Tensor, *, generator: Generator) -> Tensor:
        """A draw of p(v | h) (``counts`` words per row for replicated softmax)."""
        pre = self.visible_pre(h)
        if self.counts is not None:
            return self.visible.sample(pre, generator=generator, counts=self.counts)
        return self.visible.sample(pre, generator=generator, sigma=self.sigma)

    def visible_step(self, h: Tensor, *, generator: Generator, mean: bool) -> Tensor:
        """The visible half of a Gibbs step: E[v | h] when ``mean``, else a draw of p(v | h)."""
        return self.visible_mean(h) if mean else self.sample_visible(h, generator=generator)

    def gibbs(self, v: Tensor, steps: int, *, generator: Generator, mean_visible: bool = False) -> Tensor:
        """``steps`` rounds of h ~ p(h | v), then v ~ p(v | h) (its mean when ``mean_visible``); the last v."""
        for _ in range(steps):
            h, _ = self.sample_hidden(v, generator=generator)
            v = self.visible_step(h, generator=generator, mean=mean_visible)
        return v

    def chain(self, h: Tensor, k: int, *, generator: Generator, mean_visible: bool) -> tuple[Tensor, Tensor]:
        """The negative phase of CD-k from hidden states ``h``: k visible steps (means when ``mean_visible``)
        with a hidden draw between them. Returns (v_neg, the mean of the first p(v | h): the reconstruction)."""
        recon = None
        for step in range(k):
            v = self.visible_step(h, generator=generator, mean=mean_visible)
            if recon is None:
                recon = v if mean_visible else self.visible_mean(h)
            if step < k - 1:
                h, _ = self.sample_hidden(v, generator=generator)
        return v, recon

    def self_energy(self, v: Tensor) -> Tensor:
        """The energy terms of the visible states alone, (B,)."""
        return self.visible.self_energy(v, self.visible_bias, self.sigma)

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), (B,)."""
        return self.self_energy(v) - self.hidden.log_partition(self.hidden_pre(v))

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) for paired rows, (B,), including the hidden base energy h^2 / 2 of Gaussian hidden units."""
        if isinstance(self.hidden, ReLU):
            raise CRBMError("the joint energy of relu (stepped sigmoid) hidden units is not defined per state")
        e = self.self_energy(v) - (h * self.hidden_pre(v)).sum(-1)
        return e + 0.5 * h.square().sum(-1) if isinstance(self.hidden, Gaussian) else e


def weight_statistics(x_pos: Tensor, h_pos: Tensor, x_neg: Tensor, h_neg: Tensor) -> Tensor:
    """The CD / PCD direction of a weight matrix: x_pos^T h_pos / n_pos - x_neg^T h_neg / n_neg, (D, H)
    (x: the visible statistic v / sigma, h: E[h | v]); the scalings ride on the GEMM (no extra passes)."""
    return torch.mm(x_neg.T, h_neg).addmm_(x_pos.T, h_pos, beta=-1.0 / x_neg.shape[0], alpha=1.0 / x_pos.shape[0])


@register_model
class RBM(nn.Module):
    """A restricted Boltzmann machine.

    Args:
        n_visible, n_hidden: layer sizes.
        visible, hidden: unit family names ("bernoulli", "gaussian", "softmax", "replicated_softmax",
            "relu") or ``crbm.engine.units`` instances (e.g. ``Softmax(group=10)``, ``Concat(...)``).
        sigma: initial standard deviation of Gaussian visibles (scalar or (n_visible,)).
        learn_sigma: make ``log_sigma`` a trained parameter (Gaussian visibles only).
        init_std: weights start ~ N(0, init_std^2); biases at zero.
        generator: the random source of the initial weights.

    Parameters: ``weight`` (n_visible, n_hidden), ``visible_bias`` (n_visible,), ``hidden_bias``
    (n_hidden,), and ``log_sigma`` (n_visible,) for Gaussian visibles.
    """

    kind = "RBM"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        visible: str | Units = "bernoulli",
        hidden: str | Units = "bernoulli",
        sigma: float | Tensor = 1.0,
        learn_sigma: bool = False,
        init_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, n in (("n_visible", n_visible), ("n_hidden", n_hidden)):
            check_positive_int(n, name)
        if dtype not in _FLOATS:
            raise CRBMError(f"dtype must be a floating dtype, got {dtype}")
        check_nonnegative(init_std, "init_std")
        self.visible = resolve_units(visible)
        self.hidden = resolve_units(hidden)
        if isinstance(self.hidden, ReplicatedSoftmax):
            raise CRBMError("replicated softmax units can only be visible")
        for what, units, n in (("visible", self.visible, n_visible), ("hidden", self.hidden, n_hidden)):
            if isinstance(units, Concat) and units.size != n:
                raise CRBMError(f"{what}: the Concat blocks hold {units.size} units but the layer has {n}")
            if isinstance(units, Softmax) and units.group and n % units.group:
                raise CRBMError(f"{what}: a softmax layer of {n} units does not split into groups of {units.group}")
        if learn_sigma and not self.visible.has_sigma:
            raise CRBMError("learn_sigma needs Gaussian visible units")
        device = check_device(device)
        self.n_visible, self.n_hidden = n_visible, n_hidden
        self.learn_sigma = learn_sigma
        self.init_std = init_std
        w = normal_weights((n_visible, n_hidden), init_std, generator=generator, dtype=dtype, device=device)
        self.weight = nn.Parameter(w, requires_grad=False)
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=dtype, device=device), requires_grad=False)
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype, device=device), requires_grad=False)
        if self.visible.has_sigma:
            s = torch.as_tensor(sigma, dtype=torch.float64).expand(n_visible).clone()
            if not bool((s > 0).all()):
                raise CRBMError(f"sigma must be positive, got {sigma!r}")
            log_sigma = s.log().to(dtype=dtype, device=device)
            if learn_sigma:
                self.log_sigma = nn.Parameter(log_sigma, requires_grad=False)
            else:
                self.register_buffer("log_sigma", log_sigma)
        else:
            self.log_sigma = None
        self._unit_sigma_seen: tuple | None = None  # (log_sigma, its version, sigma == 1): see _scale

    # ------------------------------------------------------------------ description
    def config(self) -> dict:
        """JSON-able constructor arguments (the checkpoint stores them to rebuild the model)."""
        return {
            "n_visible": self.n_visible,
            "n_hidden": self.n_hidden,
            "visible": units_to_json(self.visible),
            "hidden": units_to_json(self.hidden),
            "learn_sigma": self.learn_sigma,
            "init_std": self.init_std,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> RBM:
        c = dict(config)
        c["visible"], c["hidden"] = units_from_json(c["visible"]), units_from_json(c["hidden"])
        return cls(**c, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"{self.n_visible} {self.visible.name} -> {self.n_hidden} {self.hidden.name}"

    @property
    def sigma(self) -> Tensor | None:
        """Per-unit standard deviation of Gaussian visibles (n_visible,), else None."""
        return None if self.log_sigma is None else self.log_sigma.exp()

    def _scale(self) -> Tensor | None:
        """``sigma`` where it changes a number: None for other visibles and for a fixed sigma of exactly 1,
        where v / sigma = v and sigma W = W exactly and those passes are skipped. The buffer's values are read
        once, and again after it is replaced or changed in place (its version counter; a write through
        ``log_sigma.data``, which torch does not count, is not seen)."""
        ls = self.log_sigma
        if ls is None or self.learn_sigma:
            return self.sigma
        seen = getattr(self, "_unit_sigma_seen", None)
        if seen is None or seen[0] is not ls or seen[1] != ls._version:
            seen = self._unit_sigma_seen = (ls, ls._version, not bool(ls.any()))
        return None if seen[2] else ls.exp()

    def decayed_parameters(self) -> tuple[str, ...]:
        """Names of the parameters that weight decay applies to (weights, never biases)."""
        return ("weight",)

    # ------------------------------------------------------------------ validation
    def check_visible(self, v: Tensor, what: str = "v") -> Tensor:
        check_tensor(v, what, width=self.n_visible, like=self.weight)
        self.visible.validate(v, what)
        return v

    def check_hidden(self, h: Tensor, what: str = "h") -> Tensor:
        check_tensor(h, what, width=self.n_hidden, like=self.weight)
        self.hidden.validate(h, what)
        return h

    def _shift(self, shift: Tensor | None, width: int, what: str, batch: int, *, finite: bool = True) -> None:
        if shift is not None:
            check_tensor(shift, what, width=width, like=self.weight, finite=finite)
            if shift.shape[0] not in (1, batch):
                raise CRBMError(f"{what}: expected {batch} rows (one per example), got {shift.shape[0]}")

    # ------------------------------------------------------------------ conditionals
    def conditioned(
        self, visible_bias: Tensor | None = None, hidden_bias: Tensor | None = None, *, counts: Tensor | None = None
    ) -> Conditioned:
        """The model as the engine's view (``Conditioned``) with per-example biases ``visible_bias`` (B, D) and
        ``hidden_bias`` (B, H) in place of its own (None: its own). ``counts`` (B,): document lengths of
        replicated-softmax visibles (they multiply the hidden biases)."""
        w, s = self.weight, self._scale()
        c = self.hidden_bias if hidden_bias is None else hidden_bias
        return Conditioned(
            visible=self.visible,
            hidden=self.hidden,
            visible_bias=self.visible_bias if visible_bias is None else visible_bias,
            hidden_bias=c if counts is None else c * counts.unsqueeze(-1),
            weight_in=w if s is None else w / s.unsqueeze(1),
            weight_out=w if s is None else w * s.unsqueeze(1),
            sigma=s,
            counts=counts,
        )

    def _at(self, v: Tensor | None, visible_shift: Tensor | None = None, hidden_shift: Tensor | None = None):
        """The view at bias shifts b + s_v, c + s_h, with the document lengths of ``v`` (replicated softmax)."""
        b = None if visible_shift is None else self.visible_bias + visible_shift
        c = None if hidden_shift is None else self.hidden_bias + hidden_shift
        return self.conditioned(b, c, counts=None if v is None else self._lengths(v))

    def hidden_pre(self, v: Tensor, hidden_shift: Tensor | None = None) -> Tensor:
        """c + s_h + (v / sigma) W, times the document length for replicated-softmax visibles: (batch, n_hidden)."""
        check_tensor(v, "v", width=self.n_visible, like=self.weight, finite=False)
        return self._at(v, hidden_shift=hidden_shift).hidden_pre(v)

    def visible_pre(self, h: Tensor, visible_shift: Tensor | None = None) -> Tensor:
        """b + s_v + sigma (W h): the mean for Gaussian visibles, the logits otherwise. (batch, n_visible)."""
        return self._at(None, visible_shift).visible_pre(h)

    def hidden_mean(self, v: Tensor, hidden_shift: Tensor | None = None) -> Tensor:
        """E[h | v], (batch, n_hidden)."""
        return self.hidden.mean(self.hidden_pre(v, hidden_shift))

    def visible_mean(self, h: Tensor, visible_shift: Tensor | None = None) -> Tensor:
        """E[v | h], (batch, n_visible) (word probabilities for replicated softmax)."""
        check_tensor(h, "h", width=self.n_hidden, like=self.weight, finite=False)
        return self._at(None, visible_shift).visible_mean(h)

    def sample_hidden(self, v: Tensor, *, generator: Generator, hidden_shift: Tensor | None = None):
        """Returns (sample, mean) of p(h | v)."""
        check_tensor(v, "v", width=self.n_visible, like=self.weight, finite=False)
        return self._at(v, hidden_shift=hidden_shift).sample_hidden(v, generator=generator)

    def sample_visible(
        self,
        h: Tensor,
        *,
        generator: Generator,
        visible_shift: Tensor | None = None,
        lengths: Tensor | None = None,
    ) -> Tensor:
        """A draw of p(v | h); ``lengths`` (batch,) gives the word counts for replicated softmax."""
        check_tensor(h, "h", width=self.n_hidden, like=self.weight, finite=False)
        b = None if visible_shift is None else self.visible_bias + visible_shift
        return self.conditioned(b, counts=lengths).sample_visible(h, generator=generator)

    # ------------------------------------------------------------------ energies
    def energy(
        self, v: Tensor, h: Tensor, *, visible_shift: Tensor | None = None, hidden_shift: Tensor | None = None
    ) -> Tensor:
        """E(v, h) for paired rows, shape (batch,). (Hidden base energies, e.g. h^2/2 for Gaussian hidden
        units, are included.)"""
        check_tensor(h, "h", width=self.n_hidden, like=self.weight, finite=False)
        check_tensor(v, "v", width=self.n_visible, like=self.weight, finite=False)
        if h.shape[0] != v.shape[0]:
            raise CRBMError(f"h: expected {v.shape[0]} rows (one per row of v), got {h.shape[0]}")
        return self._at(v, visible_shift, hidden_shift).energy(v, h)

    def free_energy(
        self, v: Tensor, *, visible_shift: Tensor | None = None, hidden_shift: Tensor | None = None
    ) -> Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), shape (batch,)."""
        self.check_visible(v)
        self._shift(visible_shift, self.n_visible, "visible_shift", v.shape[0])
        self._shift(hidden_shift, self.n_hidden, "hidden_shift", v.shape[0])
        return self._free_energy(v, visible_shift, hidden_shift)

    def _free_energy(self, v, visible_shift=None, hidden_shift=None):
        return self._at(v, visible_shift, hidden_shift).free_energy(v)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def gibbs(
        self,
        v: Tensor,
        steps: int = 1,
        *,
        generator: Generator,
        visible_shift: Tensor | None = None,
        hidden_shift: Tensor | None = None,
        mean_visible: bool = False,
    ) -> Tensor:
        """``steps`` rounds of h ~ p(h | v), v ~ p(v | h) from ``v``; returns the last v (batch, n_visible).
        ``mean_visible`` replaces each visible draw by its mean."""
        check_int_at_least(steps, "steps", 0)
        check_tensor(v, "v", width=self.n_visible, like=self.weight, finite=False)
        return self._at(v, visible_shift, hidden_shift).gibbs(v, steps, generator=generator, mean_visible=mean_visible)

    def _lengths(self, v: Tensor) -> Tensor | None:
        scale = self.visible.hidden_bias_scale(v)
        return None if scale is None else scale.squeeze(-1)

    @torch.no_grad()
    def sample(self, n: int, *, steps: int = 1000, generator: Generator, init: Tensor | None = None):
        """``n`` visible samples after ``steps`` Gibbs rounds from ``init`` (default: a draw of p(v | h=0))."""
        if init is None:
            h0 = self.weight.new_zeros(n, self.n_hidden)
            if isinstance(self.visible, ReplicatedSoftmax):
                raise CRBMError("sampling replicated softmax visibles needs init= documents (their lengths)")
            init = self.sample_visible(h0, generator=generator)
        return self.gibbs(init, steps, generator=generator)

    # ------------------------------------------------------------------ learning statistics
    def _ascent(
        self, v: Tensor, ph: Tensor, b_eff: Tensor | None, s: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """-dF/d(visible bias), -dF/d(hidden bias) per example, and -dF/d(log sigma) per example (``s``: sigma,
        None where it is 1: ``_scale``)."""
        scale = self.visible.hidden_bias_scale(v)
        d_hidden = ph if scale is None else ph * scale
        if self.log_sigma is None:
            return v, d_hidden, None
        d_visible = v - b_eff if s is None else (v - b_eff) / s.square()
        if not self.learn_sigma:
            return d_visible, d_hidden, None
        # F = sum (v - b)^2 / (2 s^2) - LP(c + (v / s) W): -dF/dlog s = (v - b)^2 / s^2 - (v / s)(W E[h|v])
        d_log_sigma = (v - b_eff).square() / s.square() - (v / s) * (ph @ self.weight.T)
        return d_visible, d_hidden, d_log_sigma

    @torch.no_grad()
    def contrastive_divergence(
        self,
        v: Tensor,
        *,
        k: int = 1,
        generator: torch.Generator | None,
        chain: Tensor | None = None,
        visible_shift: Tensor | None = None,
        hidden_shift: Tensor | None = None,
        mean_visible: bool = True,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
    ) -> Statistics:
        """CD-k (``chain=None``: chains start at the data) or PCD (``chain``: the persistent visible states).

        Statistics use E[h | v] at both ends (not samples); the chains sample h at every step and v
        unless ``mean_visible`` (Hinton's and Taylor's practice for CD: the reconstruction is the mean).
        PCD chains always sample v (the chain must be a Markov chain of the model). With a
        ``sparsity_target`` p, ``sparsity_cost * (p - q)`` (q: the batch's mean hidden activation) is
        added to the hidden-bias direction and ``sparsity_cost * mean(v/sigma) (p - q)`` to the weights'.
        """
        check_positive_int(k, "k (Gibbs steps of CD-k)")
        check_tensor(v, "v", width=self.n_visible, like=self.weight, finite=False)
        if chain is not None:
            check_tensor(chain, "chain", width=self.n_visible, like=self.weight, finite=False)
        self._shift(visible_shift, self.n_visible, "visible_shift", v.shape[0], finite=False)
        self._shift(hidden_shift, self.n_hidden, "hidden_shift", v.shape[0], finite=False)
        if chain is not None and (visible_shift is not None or hidden_shift is not None):
            raise CRBMError("persistent chains cannot be used with per-example bias shifts (conditional models)")
        sampler = types.SimpleNamespace(k=k, mean_visible=mean_visible, sparsity_target=sparsity_target,
                                        sparsity_cost=sparsity_cost)
        return self.cd_statistics(v, sampler, generator=generator, chain=chain, visible_shift=visible_shift,
                                  hidden_shift=hidden_shift)

    def cd_statistics(
        self,
        v: Tensor,
        sampler,
        *,
        generator: Generator,
        chain: Tensor | None = None,
        visible_shift: Tensor | None = None,
        hidden_shift: Tensor | None = None,
    ) -> Statistics:
        """``contrastive_divergence`` with the sampler's settings read from ``sampler`` (a ``TrainConfig`` or
        ``SamplerConfig``: ``k``, ``mean_visible``, ``sparsity_target``, ``sparsity_cost``) and without the checks
        of the arguments: the trainer's path (its batches were checked once, with the data); the caller runs it
        under ``torch.no_grad``."""
        k, mean_visible = sampler.k, sampler.mean_visible
        sparsity_target, sparsity_cost = sampler.sparsity_target, sampler.sparsity_cost
        data = self._at(v, visible_shift, hidden_shift)
        h_pos, ph_pos = data.sample_hidden(v, generator=generator)
        if chain is None:
            v_neg, recon = data.chain(h_pos, k, generator=generator, mean_visible=mean_visible)
            negative = data
        else:
            negative = self._at(chain)
            h, _ = negative.sample_hidden(chain, generator=generator)
            v_neg, _ = negative.chain(h, k, generator=generator, mean_visible=False)
            recon = data.visible_mean(h_pos)  # PCD: report the one-step reconstruction of the data
        ph_neg = negative.hidden_mean(v_neg)

        s = data.sigma  # None where sigma is 1 (_scale): x = v / sigma = v
        x_pos = v if s is None else v / s
        x_neg = v_neg if s is None else v_neg / s
        grad_w = weight_statistics(x_pos, ph_pos, x_neg, ph_neg)
        dv_pos, dh_pos, ds_pos = self._ascent(v, ph_pos, data.visible_bias, s)
        dv_neg, dh_neg, ds_neg = self._ascent(v_neg, ph_neg, negative.visible_bias, s)
        if chain is None:
            d_visible, d_hidden = dv_pos - dv_neg, dh_pos - dh_neg
        else:  # different numbers of rows: only the means are meaningful
            d_visible = dv_pos - dv_neg.mean(0)
            d_hidden = dh_pos - dh_neg.mean(0)
        if sparsity_target is not None and sparsity_cost:
            push = sparsity_cost * (sparsity_target - ph_pos.mean(0))
            d_hidden = d_hidden + push
            grad_w = grad_w + torch.outer(x_pos.mean(0), push)
        grads = {"weight": grad_w, "visible_bias": d_visible.mean(0), "hidden_bias": d_hidden.mean(0)}
        if self.learn_sigma:
            grads["log_sigma"] = ds_pos.mean(0) - ds_neg.mean(0)
        err = torch.sub(v, recon).square_().sum()
        return Statistics(grads, d_visible, d_hidden, v_neg, err)

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config, *, state: dict, generator: torch.Generator | None):
        """Trainer hook: ascent directions and figures for one mini-batch ``(v,)``.

        ``state["chain"]`` holds the PCD chains between calls when ``config.persistent``."""
        (v,) = batch[:1]
        chain = None
        if config.persistent:
            chain = state.get("chain")
            if chain is None:
                n = config.n_chains or v.shape[0]
                idx = torch.randint(0, v.shape[0], (n,), generator=torch_generator(generator), device=v.device)
                chain = v[idx]
            else:  # (it may come from a checkpoint)
                check_tensor(chain, "chain", width=self.n_visible, like=self.weight, finite=False)
        stats = self.cd_statistics(v, config, generator=generator, chain=chain)
        if config.persistent:
            state["chain"] = stats.negative
        return stats.grads, {"recon_error": stats.recon_error / v.shape[0]}

    def monitor(self, v: Tensor) -> Tensor:
        """Mean free energy of a batch (for the train/validation free-energy gap)."""
        return self._free_energy(v).mean()


def logmeanexp(x: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(x))) computed stably."""
    return torch.logsumexp(x, dim) - math.log(x.shape[dim])
