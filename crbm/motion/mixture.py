"""The implicit mixture of CRBMs (imCRBM; Taylor, Sigal, Fleet & Hinton, CVPR 2010, after Nair & Hinton's
implicit mixtures of RBMs, NIPS 2008).

K component CRBMs of the same order share nothing but the data. A discrete latent z in {1..K} picks the
component that explains frame v_t given its history u_t; the joint is one Boltzmann machine,

    E(v, h, z | u) = E_z(v, h | u),   E_k: a CRBM with its own W_k, A_k, B_k, b_k, c_k,

so p(z = k | v, u) is proportional to exp(-F_k(v | u)), F_k being component k's free energy (the mixing
proportions are implicit: no per-component partition function is needed). Given z, the model is component
z's CRBM. In the engine's terms that is one RBM of K H hidden units whose hidden biases are -inf outside
component z's block (those units are off) and whose visible bias is b_z + A_z u:
``MixtureCRBM.component(u, z)`` returns that ``crbm.engine.rbm.Conditioned``.

Training is CD-1 over (z, h, v): z ~ p(z | v, u), h ~ p(h | v, u, z), the reconstruction
v' = E[v | h, u, z] (Taylor's mean-field reconstruction), then z' ~ p(z | v', u) and the statistics of v'
under component z'. Each component's parameters move with the examples assigned to it in either phase:

    dW = v^T p(h | v, z) - v'^T p(h | v', z')          (zero outside each example's block)
    db_k = sum over z_i = k of d(v_i) - sum over z'_i = k of d(v'_i),   d(v) = v - b_k (Gaussian), v (binary)
    dA_k likewise with d(v) u^T;  dc, dB: from the hidden probabilities, as for the CRBM

all divided by the batch size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.noise import categorical
from crbm.engine.rbm import Conditioned, check_tensor, normal_weights, weight_statistics
from crbm.engine.train import TrainConfig
from crbm.engine.units import Bernoulli, Gaussian, resolve_units


@register_model
class MixtureCRBM(nn.Module):
    """An implicit mixture of ``components`` CRBMs of ``n_hidden`` binary hidden units and order ``order``
    each, over ``n_visible`` Gaussian (unit variance) or binary visibles.

    Parameters: ``weight`` (D, K H) (component k: columns k H .. (k + 1) H - 1), ``visible_bias`` (K, D),
    ``hidden_bias`` (K H,), ``A`` (K, D, n D), ``B`` (K H, n D). Training batches are ``(v, u)``
    (``crbm.Windows``), through ``crbm.fit``."""

    kind = "MixtureCRBM"

    def __init__(self, n_visible: int, n_hidden: int, order: int, components: int, *,
                 visible: str = "gaussian", init_std: float = 0.01, dtype: torch.dtype = torch.float32,
                 device: str | torch.device | None = None, generator: torch.Generator | None = None):
        super().__init__()
        for value, name in ((n_visible, "n_visible"), (n_hidden, "n_hidden"), (order, "order"),
                            (components, "components")):
            check_positive_int(value, name)
        self.visible = resolve_units(visible)
        if not isinstance(self.visible, (Gaussian, Bernoulli)):
            raise CRBMError(f"MixtureCRBM visible units must be gaussian or bernoulli, got {self.visible.name}")
        self.hidden = Bernoulli()
        self.order, self.components, self.init_std = order, components, float(init_std)
        d, kh, nd = n_visible, components * n_hidden, order * n_visible
        kw = {"generator": generator, "dtype": dtype, "device": device}
        self.weight = nn.Parameter(normal_weights((d, kh), init_std, **kw), requires_grad=False)
        self.visible_bias = nn.Parameter(torch.zeros(components, d, dtype=dtype, device=device), requires_grad=False)
        self.hidden_bias = nn.Parameter(torch.zeros(kh, dtype=dtype, device=device), requires_grad=False)
        self.A = nn.Parameter(normal_weights((components, d, nd), init_std, **kw), requires_grad=False)
        self.B = nn.Parameter(normal_weights((kh, nd), init_std, **kw), requires_grad=False)
        # the component of each hidden unit, (K H,)
        self.register_buffer("block", torch.arange(components, device=device).repeat_interleave(n_hidden),
                             persistent=False)

    # ------------------------------------------------------------------ description
    @property
    def n_visible(self) -> int:
        return self.weight.shape[0]

    @property
    def n_hidden(self) -> int:
        """Hidden units of one component."""
        return self.weight.shape[1] // self.components

    @property
    def n_context(self) -> int:
        return self.order * self.n_visible

    def config(self) -> dict:
        return {"n_visible": self.n_visible, "n_hidden": self.n_hidden, "order": self.order,
                "components": self.components, "visible": self.visible.name, "init_std": self.init_std}

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> MixtureCRBM:
        return cls(**config, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"order={self.order}, components={self.components}"

    def decayed_parameters(self) -> tuple[str, ...]:
        return ("weight", "A", "B")

    # ------------------------------------------------------------------ conditionals
    def biases(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """Every component's visible biases b_k + A_k u (B, K, D) and hidden biases c + B u (B, K H)."""
        vb = torch.einsum("kdn,bn->bkd", self.A, u) + self.visible_bias
        return vb, torch.addmm(self.hidden_bias, u, self.B.T)

    def free_energies(self, v: Tensor, u: Tensor) -> Tensor:
        """F_k(v | u) of every component, (B, K)."""
        check_tensor(v, "v", width=self.n_visible, like=self.weight)
        check_tensor(u, "history", width=self.n_context, like=self.weight)
        return self._free_energies(v, *self.biases(u))

    def _free_energies(self, v: Tensor, vb: Tensor, hb: Tensor) -> Tensor:
        pre = torch.addmm(hb, v, self.weight).view(v.shape[0], self.components, self.n_hidden)
        return self.visible.self_energy(v.unsqueeze(1), vb, None) - self.hidden.log_partition(pre)

    def responsibilities(self, v: Tensor, u: Tensor) -> Tensor:
        """p(z = k | v, u), (B, K)."""
        return torch.softmax(-self.free_energies(v, u), dim=-1)

    def component(self, u: Tensor, z: Tensor) -> Conditioned:
        """The model at histories u (B, n D) with components z (B,) (long): the engine's view, in which only
        component z's hidden units can turn on."""
        check_tensor(u, "history", width=self.n_context, like=self.weight)
        if z.shape != (u.shape[0],) or z.dtype != torch.long or (z < 0).any() or (z >= self.components).any():
            raise CRBMError(f"z: expected {u.shape[0]} component indices in [0, {self.components})")
        return self.at(*self.biases(u), z)

    def conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        """Refused: given u alone the mixture is no single CRBM (``component(u, z)`` is one). ``generate``
        samples z; ``denoise``, ``smooth`` and ``fill_missing`` need a model without a latent component."""
        raise CRBMError("a MixtureCRBM is one CRBM only given its component z (component(u, z)); generate() samples "
                        "z, and denoise, smooth and fill_missing need a CRBM, LabelCRBM, FCRBM or two-layer model")

    def at(self, vb: Tensor, hb: Tensor, z: Tensor) -> Conditioned:
        """``component`` at biases ``biases(u)`` (no checks)."""
        rows = torch.arange(len(z), device=z.device)
        off = self.block.unsqueeze(0) != z.unsqueeze(1)
        return Conditioned(visible=self.visible, hidden=self.hidden, visible_bias=vb[rows, z],
                           hidden_bias=hb.masked_fill(off, float("-inf")), weight_in=self.weight,
                           weight_out=self.weight)

    def sample_components(self, v: Tensor, vb: Tensor, hb: Tensor, generator) -> Tensor:
        """z ~ p(z | v, u) at biases ``biases(u)``, (B,) long."""
        return categorical(torch.softmax(-self._free_energies(v, vb, hb), dim=-1), generator)

    def mean_field_step(self, v: Tensor, vb: Tensor, hb: Tensor) -> Tensor:
        """One deterministic update of frames v (B, D) at biases ``biases(u)``: the responsibility-weighted
        mean of every component's E[v | E[h | v, z = k], z = k], (B, D)."""
        q = torch.softmax(-self._free_energies(v, vb, hb), dim=-1)  # (B, K)
        ph = self.hidden.mean(torch.addmm(hb, v, self.weight)).view(-1, self.components, self.n_hidden)
        w = self.weight.view(self.n_visible, self.components, self.n_hidden)
        means = self.visible.mean(vb + torch.einsum("bkh,dkh->bkd", ph, w))  # (B, K, D)
        return torch.einsum("bk,bkd->bd", q, means)

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """CD-1 directions over (z, h, v) for one batch ``(v, u)`` (module docstring)."""
        v, u = batch[0], batch[1]
        if config.persistent or config.k != 1:
            raise CRBMError("a MixtureCRBM trains with CD-1 (k=1, persistent=False)")
        n = v.shape[0]
        vb, hb = self.biases(u)
        z = self.sample_components(v, vb, hb, generator)
        positive = self.at(vb, hb, z)
        h, ph_pos = positive.sample_hidden(v, generator=generator)
        recon = positive.visible_mean(h)
        v_neg = recon if config.mean_visible else positive.sample_visible(h, generator=generator)
        z_neg = self.sample_components(v_neg, vb, hb, generator)
        ph_neg = self.at(vb, hb, z_neg).hidden_mean(v_neg)
        rows = torch.arange(n, device=v.device)
        d_pos, d_neg = v, v_neg
        if isinstance(self.visible, Gaussian):
            d_pos, d_neg = v - vb[rows, z], v_neg - vb[rows, z_neg]
        # per example and component: d(v) where z_i = k, minus d(v') where z'_i = k, (B, K, D)
        one_hot = torch.nn.functional.one_hot
        d_visible = (one_hot(z, self.components).to(v.dtype).unsqueeze(-1) * d_pos.unsqueeze(1)
                     - one_hot(z_neg, self.components).to(v.dtype).unsqueeze(-1) * d_neg.unsqueeze(1))
        d_hidden = ph_pos - ph_neg
        grads = {
            "weight": weight_statistics(v, ph_pos, v_neg, ph_neg),
            "visible_bias": d_visible.mean(0),
            "hidden_bias": d_hidden.mean(0),
            "A": torch.einsum("bkd,bn->kdn", d_visible, u).div_(n),
            "B": torch.mm(d_hidden.T, u).div_(n),
        }
        return grads, {"recon_error": torch.sub(v, recon).square_().sum() / n}

    def monitor(self, v: Tensor) -> Tensor:
        raise CRBMError("the free-energy gap of a MixtureCRBM needs histories; pass valid=None to fit")
