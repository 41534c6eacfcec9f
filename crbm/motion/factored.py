"""Style-conditioned CRBMs: the label-conditioned CRBM (baseline) and the factored, style-gated CRBM (FCRBM)
of Taylor & Hinton (ICML 2009), "Factored conditional restricted Boltzmann machines for modeling motion
style".

Labels y_t (B, L) are per-frame style labels: one-hot, or blends of them for transitions.

LabelCRBM: labels enter like history,  b_t = b + A u_t + P y_t,  c_t = c + B u_t + Q y_t.

FCRBM: real style features z_t = y_t R (R: (L, Z)); every interaction is a three-way product through its own
factors, gated by z (x = v_t / sigma):

    E(v, h | u, y) = sum_i (v_i - b_t,i)^2 / (2 sigma_i^2) - c_t . h - sum_f (x Wv)_f (h Wh)_f (z Wz)_f
    b_t = b + ((u Au) * (z Az)) Av^T        (autoregressive term, factors Fa)
    c_t = c + ((u Bu) * (z Bz)) Bh^T        (past-to-hidden term, factors Fb)

with Wv (D, F), Wh (H, F), Wz (Z, F), Av (D, Fa), Au (nD, Fa), Az (Z, Fa), Bh (H, Fb), Bu (nD, Fb),
Bz (Z, Fb). Given (u_t, z_t) the model is an RBM with W_t = Wv diag(z Wz) Wh^T, so both conditionals
stay factorial. It trains by CD with the exact CD direction -d/dtheta [F(v_data) - F(v_neg)] through
autograd (v_neg from k alternating updates started at the data, treated as constant).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_nonnegative, check_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.rbm import Conditioned, check_tensor, normal_weights
from crbm.engine.train import TrainConfig
from crbm.engine.units import Bernoulli, Gaussian, Units, resolve_units, units_from_json
from crbm.motion.conditional import CRBM, noisy_history, taylor_config


@register_model
class LabelCRBM(CRBM):
    """CRBM whose biases also receive the labels: b_t = b + A u_t + P y_t, c_t = c + B u_t + Q y_t.

    Extra parameters ``P`` (D, L) and ``Q`` (H, L) (not weight-decayed). Training batches are
    ``(v, u, y)`` (``Windows(..., labels=...)``)."""

    kind = "LabelCRBM"

    def __init__(self, n_visible: int, n_hidden: int, order: int, n_labels: int, **kwargs):
        super().__init__(n_visible, n_hidden, order, **kwargs)
        check_positive_int(n_labels, "n_labels")
        kw = {"dtype": self.A.dtype, "device": self.A.device}
        self.P = nn.Parameter(torch.zeros(n_visible, n_labels, **kw), requires_grad=False)
        self.Q = nn.Parameter(torch.zeros(n_hidden, n_labels, **kw), requires_grad=False)

    @property
    def n_labels(self) -> int:
        return self.P.shape[1]

    def config(self) -> dict:
        return {**super().config(), "n_labels": self.n_labels}

    def _label_shifts(self, u: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return torch.addmm(u @ self.A.T, y, self.P.T), torch.addmm(u @ self.B.T, y, self.Q.T)

    def _check_labels(self, y: Tensor | None, rows: int) -> Tensor:
        if y is None:
            raise CRBMError(f"a LabelCRBM needs labels, shape (batch, {self.n_labels})")
        check_tensor(y, "labels", width=self.n_labels, like=self.A)
        if y.shape[0] != rows:
            raise CRBMError(f"labels: expected {rows} rows, got {y.shape[0]}")
        return y

    def conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        check_tensor(u, "history", width=self.n_context, like=self.A)
        return self._conditioned(u, self._check_labels(labels, u.shape[0]))

    def _conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        cond = super()._conditioned(u)
        cond.visible_bias = torch.addmm(cond.visible_bias, labels, self.P.T)
        cond.hidden_bias = torch.addmm(cond.hidden_bias, labels, self.Q.T)
        return cond

    def free_energy(self, v: Tensor, u: Tensor, labels: Tensor | None = None) -> Tensor:
        """F(v_t | u_t, y_t), shape (B,)."""
        self.check_context(v, u)
        vs, hs = self._label_shifts(u, self._check_labels(labels, v.shape[0]))
        return self.rbm.free_energy(v, visible_shift=vs, hidden_shift=hs)

    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """CD-k directions for a batch ``(v, u, y)``."""
        if len(batch) < 3:
            raise CRBMError("LabelCRBM trains on (v, u, y) batches: build Windows with labels=")
        v, u, y = batch[:3]
        if config.persistent:
            raise CRBMError("a LabelCRBM trains with CD (persistent chains cannot follow a changing history)")
        u = noisy_history(u, self.history_noise, generator)
        grads, stats = self._cd_directions(v, u, *self._label_shifts(u, y), config, generator)
        n = v.shape[0]
        grads["P"] = stats.d_visible.T @ y / n
        grads["Q"] = stats.d_hidden.T @ y / n
        return grads, {"recon_error": stats.recon_error / n}


_FCRBM_SHAPES = {
    # name: (rows, cols) in terms of D (visible), H (hidden), C (context n D), L (labels), Z, F, Fa, Fb
    "R": ("L", "Z"),
    "Wv": ("D", "F"),
    "Wh": ("H", "F"),
    "Wz": ("Z", "F"),
    "Av": ("D", "Fa"),
    "Au": ("C", "Fa"),
    "Az": ("Z", "Fa"),
    "Bh": ("H", "Fb"),
    "Bu": ("C", "Fb"),
    "Bz": ("Z", "Fb"),
}


@register_model
class FCRBM(nn.Module):
    """Factored conditional RBM with style gating (Taylor & Hinton 2009); see the module docstring.

    Args:
        n_visible (D), n_hidden (H), order (n), n_labels (L).
        n_features: Z, style features z = y R.
        n_factors: F, factors of the visible-hidden interaction; ``n_factors_ar`` (Fa) and
            ``n_factors_past`` (Fb) for the autoregressive and past-to-hidden terms (default F).
        visible: "gaussian" (sigma fixed at ``sigma``) or "bernoulli".
        init_std: factor matrices start ~ N(0, init_std^2); biases at zero.
        history_noise: standard deviation of Gaussian noise added to the histories of training batches
            (Taylor's FCRBM code adds unit noise; it makes generation robust to the model's own history).
    """

    kind = "FCRBM"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        order: int,
        n_labels: int,
        *,
        n_features: int = 20,
        n_factors: int = 100,
        n_factors_ar: int | None = None,
        n_factors_past: int | None = None,
        visible: str | Units = "gaussian",
        sigma: float = 1.0,
        init_std: float = 0.1,
        history_noise: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        sizes = {"D": n_visible, "H": n_hidden, "n": order, "L": n_labels, "Z": n_features, "F": n_factors}
        sizes["Fa"] = n_factors if n_factors_ar is None else n_factors_ar
        sizes["Fb"] = n_factors if n_factors_past is None else n_factors_past
        for name, n in sizes.items():
            check_positive_int(n, f"FCRBM size {name}")
        sizes["C"] = order * n_visible
        self.visible = resolve_units(visible)
        if not isinstance(self.visible, Gaussian) and self.visible.name != "bernoulli":
            raise CRBMError(f"FCRBM visibles must be gaussian or bernoulli, got {self.visible.name}")
        self.sizes = sizes
        self.order = order
        self.sigma_value = float(sigma)
        self.init_std = init_std
        check_nonnegative(history_noise, "history_noise")
        self.history_noise = float(history_noise)
        for name, (r, c) in _FCRBM_SHAPES.items():
            w = normal_weights((sizes[r], sizes[c]), init_std, generator=generator, dtype=dtype, device=device)
            setattr(self, name, nn.Parameter(w, requires_grad=False))
        self.visible_bias = nn.Parameter(torch.zeros(n_visible, dtype=dtype, device=device), requires_grad=False)
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype, device=device), requires_grad=False)

    # ------------------------------------------------------------------ description
    @property
    def n_visible(self) -> int:
        return self.sizes["D"]

    @property
    def n_hidden(self) -> int:
        return self.sizes["H"]

    @property
    def n_labels(self) -> int:
        return self.sizes["L"]

    def config(self) -> dict:
        s = self.sizes
        return {
            "n_visible": s["D"],
            "n_hidden": s["H"],
            "order": s["n"],
            "n_labels": s["L"],
            "n_features": s["Z"],
            "n_factors": s["F"],
            "n_factors_ar": s["Fa"],
            "n_factors_past": s["Fb"],
            "visible": self.visible.name,
            "sigma": self.sigma_value,
            "init_std": self.init_std,
            "history_noise": self.history_noise,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> FCRBM:
        c = dict(config)
        c["visible"] = units_from_json(c["visible"])
        return cls(**c, dtype=dtype, device=device)

    def decayed_parameters(self) -> tuple[str, ...]:
        return tuple(_FCRBM_SHAPES)

    # ------------------------------------------------------------------ conditionals
    def conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        """The RBM at histories u (B, n D) and labels y (B, L): biases b_t, c_t and W_t = Wv diag(z Wz) Wh^T."""
        check_tensor(u, "history", width=self.sizes["C"], like=self.Wv)
        if labels is None:
            raise CRBMError(f"an FCRBM needs labels, shape (batch, {self.n_labels})")
        check_tensor(labels, "labels", width=self.n_labels, like=self.Wv)
        if labels.shape[0] != u.shape[0]:
            raise CRBMError(f"labels: expected {u.shape[0]} rows, got {labels.shape[0]}")
        return self._conditioned(u, labels)

    def _conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        z = labels @ self.R
        gaussian = isinstance(self.visible, Gaussian)
        s = self.sigma_value if gaussian else 1.0
        return Conditioned(
            visible=self.visible,
            hidden=Bernoulli(),
            visible_bias=self.visible_bias + ((u @ self.Au) * (z @ self.Az)) @ self.Av.T,
            hidden_bias=self.hidden_bias + ((u @ self.Bu) * (z @ self.Bz)) @ self.Bh.T,
            weight_in=self.Wv / s,
            weight_out=self.Wv * s,
            sigma=self.Wv.new_full((self.n_visible,), s) if gaussian else None,
            hidden_factors=self.Wh,
            gate=z @ self.Wz,
        )

    def free_energy(self, v: Tensor, u: Tensor, labels: Tensor) -> Tensor:
        """F(v_t | u_t, y_t) = self-energy at b_t - sum_j softplus(c_t + (x Wv * z Wz) Wh^T), shape (B,)."""
        check_tensor(v, "v", width=self.n_visible, like=self.Wv)
        return self.conditioned(u, labels).free_energy(v)

    def energy(self, v: Tensor, h: Tensor, u: Tensor, labels: Tensor) -> Tensor:
        """E(v, h | u, y) for paired rows, shape (B,)."""
        return self.conditioned(u, labels).energy(v, h)

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """CD-k on a batch ``(v, u, y)``: directions -d/dtheta mean[F(v) - F(v_neg)] through autograd."""
        if len(batch) < 3:
            raise CRBMError("FCRBM trains on (v, u, y) batches: build Windows with labels=")
        if config.persistent:
            raise CRBMError("an FCRBM trains with CD (persistent chains cannot follow a changing history)")
        v, u, y = batch[:3]
        u = noisy_history(u, self.history_noise, generator)
        with torch.no_grad():
            cond = self._conditioned(u, y)
            h, _ = cond.sample_hidden(v, generator=generator)
            v_neg, recon = cond.chain(h, config.k, generator=generator, mean_visible=config.mean_visible)
        directions = self.cd_directions(v, v_neg, u, y)
        return directions, {"recon_error": (v - recon).square().sum() / v.shape[0]}

    def cd_directions(self, v: Tensor, v_neg: Tensor, u: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """The CD ascent direction for every parameter: -d/dtheta mean_batch [F(v | u, y) - F(v_neg | u, y)]
        (v, v_neg (B, D); u (B, n D); labels (B, L)), by autograd; v_neg is held constant."""
        params = dict(self.named_parameters())
        try:
            for p in params.values():
                p.requires_grad_(True)
            with torch.enable_grad():
                cond = self._conditioned(u, labels)
                loss = (cond.free_energy(v) - cond.free_energy(v_neg.detach())).mean()
                grads = torch.autograd.grad(loss, list(params.values()))
        finally:
            for p in params.values():
                p.requires_grad_(False)
        return {name: -g for name, g in zip(params, grads)}


def fcrbm_config(**overrides) -> TrainConfig:
    """Training settings for an FCRBM: learning rate 1e-2 on every parameter (Taylor's FCRBM code uses 1e-2
    for the undirected and past-to-hidden factors and the biases, 1e-3 for the autoregressive factors and the
    label-feature matrix; use ``lr_scale`` for that), CD-1, mean-field reconstructions, weight decay 2e-4 on
    the factor matrices, momentum 0.5 for 5 epochs then 0.9; override any field."""
    return taylor_config(**{"epochs": 500, "learning_rate": 1e-2, "lr_scale": {}, "momentum": 0.5, **overrides})
