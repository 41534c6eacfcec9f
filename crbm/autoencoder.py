"""Deep autoencoders unrolled from a trained RBM stack (Hinton & Salakhutdinov 2006).

A stack of L RBMs ``n_0 -> n_1 -> ... -> n_L`` (``crbm.dbn.greedy_pretrain``) becomes an encoder of L
layers with weights W_1 .. W_L and the RBMs' hidden biases, and a decoder of L layers with weights
W_L^T .. W_1^T and the RBMs' visible biases. Each layer applies the mean of its unit family to its
pre-activation, exactly as the RBM conditionals do, so before fine-tuning

    encode(v) = up_pass(layers, v)            E[h_L | ... E[h_1 | v]]
    decode(h) = the mean-field down pass      E[v | ... E[h_{L-1} | h]]

(Gaussian visibles with standard deviation sigma are folded into the weights: the encoder's first
weight is W / sigma and the decoder's last weight is (sigma W)^T.) After unrolling every weight and bias
is a separate parameter (the tie is only the starting point) and the whole network is fine-tuned by
backpropagation through ``crbm.train.fit``: ``gradient()`` returns minus the autograd gradient of the
reconstruction loss of the bottom unit family

    bernoulli            cross-entropy  -sum_i x_i log x^_i + (1 - x_i) log(1 - x^_i)
    gaussian             squared error   sum_i (x_i - x^_i)^2 / 2
    replicated_softmax   cross-entropy on word proportions  -sum_k (n_k / N) log softmax(pre)_k

averaged over the batch. The paper used conjugate gradient (3 line searches per 1000-case batch); the
trainer here uses momentum SGD with the TrainConfig's learning rate, momentum and weight decay.

Semantic hashing (Salakhutdinov & Hinton 2009): with logistic code units, pass a second data tensor of
per-example Gaussian noise (drawn once, so the same example always gets the same noise: "deterministic"
noise) and it is added to the code units' inputs during fine-tuning; the codes are pushed towards 0 or 1
and are binarised at 0.5 afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crbm.checkpoint import register_model
from crbm.errors import CRBMError
from crbm.rbm import RBM
from crbm.units import ReplicatedSoftmax, Units, resolve_units, units_from_json, units_to_json

_LOSSES = ("bernoulli", "gaussian", "replicated_softmax")


@register_model
class DeepAutoencoder(nn.Module):
    """An encoder/decoder pair of L layers each.

    Args:
        layers: one ``(n_in, n_out, visible, hidden)`` tuple per RBM, bottom first: the RBM's sizes and
            unit families. Encoder layer i maps n_in -> n_out with the ``hidden`` family's mean; decoder
            layer i maps n_out -> n_in with the ``visible`` family's mean.

    Parameters: ``encoder_weight_i`` (n_in, n_out), ``encoder_bias_i`` (n_out,), ``decoder_weight_i``
    (n_out, n_in), ``decoder_bias_i`` (n_in,) for i = 0 .. L-1 (bottom first). Build one from trained RBMs
    with ``DeepAutoencoder.from_rbms``.
    """

    kind = "DeepAutoencoder"

    def __init__(
        self,
        layers: Sequence[tuple[int, int, str | Units, str | Units]],
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
    ):
        super().__init__()
        if not layers:
            raise CRBMError("layers: an autoencoder needs at least one (n_in, n_out, visible, hidden) layer")
        spec = []
        for i, layer in enumerate(layers):
            if len(layer) != 4:
                raise CRBMError(f"layers[{i}]: expected (n_in, n_out, visible, hidden), got {layer!r}")
            n_in, n_out, vis, hid = layer
            for what, n in (("n_in", n_in), ("n_out", n_out)):
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise CRBMError(f"layers[{i}]: {what} must be a positive integer, got {n!r}")
            if i and n_in != spec[-1][1]:
                raise CRBMError(f"layers[{i}]: n_in {n_in} does not match the layer below's n_out {spec[-1][1]}")
            spec.append((n_in, n_out, resolve_units(vis), resolve_units(hid)))
        if spec[0][2].name not in _LOSSES:
            raise CRBMError(f"layers[0]: bottom units must be one of {_LOSSES}, got {spec[0][2].name!r}")
        for i, (_, _, vis, hid) in enumerate(spec):
            if i and isinstance(vis, ReplicatedSoftmax):
                raise CRBMError(f"layers[{i}]: replicated softmax units can only be the bottom layer")
            if isinstance(hid, ReplicatedSoftmax):
                raise CRBMError(f"layers[{i}]: replicated softmax units cannot be hidden")
        self.spec = spec
        for i, (n_in, n_out, _, _) in enumerate(spec):
            shapes = {"encoder_weight": (n_in, n_out), "encoder_bias": (n_out,), "decoder_weight": (n_out, n_in)}
            shapes["decoder_bias"] = (n_in,)
            for name, shape in shapes.items():
                self.register_parameter(f"{name}_{i}", nn.Parameter(torch.zeros(shape, dtype=dtype, device=device)))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rbms(cls, rbms: Sequence[RBM]) -> DeepAutoencoder:
        """Unroll trained RBMs (bottom first) into an autoencoder whose decoder starts tied to the encoder."""
        rbms = list(rbms)
        if not rbms:
            raise CRBMError("rbms: need at least one trained RBM")
        for i in range(1, len(rbms)):
            if rbms[i].n_visible != rbms[i - 1].n_hidden:
                raise CRBMError(
                    f"rbms[{i}] has {rbms[i].n_visible} visible units but rbms[{i - 1}] has "
                    f"{rbms[i - 1].n_hidden} hidden units; the stack does not chain"
                )
        w0 = rbms[0].weight
        model = cls([(r.n_visible, r.n_hidden, r.visible, r.hidden) for r in rbms], dtype=w0.dtype, device=w0.device)
        with torch.no_grad():
            for i, r in enumerate(rbms):
                w = r.weight
                enc, dec = w, w.T
                if r.sigma is not None:  # hidden_pre uses v / sigma; visible_pre uses sigma * W h
                    enc, dec = w / r.sigma.unsqueeze(1), (w * r.sigma.unsqueeze(1)).T
                getattr(model, f"encoder_weight_{i}").copy_(enc)
                getattr(model, f"encoder_bias_{i}").copy_(r.hidden_bias)
                getattr(model, f"decoder_weight_{i}").copy_(dec)
                getattr(model, f"decoder_bias_{i}").copy_(r.visible_bias)
        return model

    def config(self) -> dict:
        """JSON-able constructor arguments."""
        return {"layers": [[n_in, n_out, units_to_json(v), units_to_json(h)] for n_in, n_out, v, h in self.spec]}

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> DeepAutoencoder:
        layers = [(int(a), int(b), units_from_json(v), units_from_json(h)) for a, b, v, h in config["layers"]]
        return cls(layers, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        sizes = [self.spec[0][0]] + [s[1] for s in self.spec]
        return f"{'-'.join(map(str, sizes))} ({self.spec[0][2].name} data, {self.spec[-1][3].name} code)"

    @property
    def n_visible(self) -> int:
        return self.spec[0][0]

    @property
    def n_code(self) -> int:
        return self.spec[-1][1]

    def decayed_parameters(self) -> tuple[str, ...]:
        """Weight decay applies to the weights, never the biases."""
        n = len(self.spec)
        return tuple(f"{part}_weight_{i}" for part in ("encoder", "decoder") for i in range(n))

    def check_visible(self, v: Tensor, what: str = "v") -> Tensor:
        """Refuse data of the wrong width, dtype or range for the bottom units."""
        if not isinstance(v, Tensor) or v.dim() != 2 or v.shape[1] != self.n_visible:
            shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise CRBMError(f"{what}: expected a (batch, {self.n_visible}) tensor, got {shape}")
        if v.dtype != self.encoder_weight_0.dtype:
            raise CRBMError(f"{what}: dtype {v.dtype} differs from the model's {self.encoder_weight_0.dtype}")
        self.spec[0][2].validate(v, what)
        return v

    # ------------------------------------------------------------------ passes
    def code_pre(self, v: Tensor) -> Tensor:
        """Pre-activation of the code units, (batch, n_code)."""
        x = v
        for i, (_, _, vis, hid) in enumerate(self.spec):
            pre = x @ getattr(self, f"encoder_weight_{i}")
            bias = getattr(self, f"encoder_bias_{i}")
            scale = vis.hidden_bias_scale(x) if i == 0 else None
            pre = pre + (bias if scale is None else bias * scale)
            if i + 1 == len(self.spec):
                return pre
            x = hid.mean(pre)
        raise AssertionError("unreachable")

    def encode(self, v: Tensor, *, noise: Tensor | None = None) -> Tensor:
        """Code-unit activities E[h_L | ...] of ``v`` (batch, n_visible) -> (batch, n_code); ``noise``
        (batch, n_code) is added to the code units' inputs first (semantic-hashing fine-tuning)."""
        pre = self.code_pre(v)
        if noise is not None:
            pre = pre + noise
        return self.spec[-1][3].mean(pre)

    def decoder_pre(self, code: Tensor) -> Tensor:
        """Pre-activation of the reconstruction (logits, means or word scores), (batch, n_visible)."""
        x = code
        for i in reversed(range(len(self.spec))):
            pre = x @ getattr(self, f"decoder_weight_{i}") + getattr(self, f"decoder_bias_{i}")
            if i == 0:
                return pre
            x = self.spec[i][2].mean(pre)
        raise AssertionError("unreachable")

    def decode(self, code: Tensor) -> Tensor:
        """Mean reconstruction from codes: pixel probabilities, Gaussian means or word probabilities."""
        return self.spec[0][2].mean(self.decoder_pre(code))

    def forward(self, v: Tensor) -> Tensor:
        """decode(encode(v)), shape like ``v`` (word probabilities for replicated-softmax data)."""
        return self.decode(self.encode(v))

    @torch.no_grad()
    def reconstruct(self, v: Tensor, *, batch_size: int = 10000) -> Tensor:
        """Reconstructions of ``v`` in the data's units (expected counts N * p for word counts)."""
        out = []
        for chunk in torch.split(v, batch_size):
            r = self.forward(chunk)
            scale = self.spec[0][2].hidden_bias_scale(chunk)
            out.append(r if scale is None else r * scale)
        return torch.cat(out)

    @torch.no_grad()
    def codes(self, v: Tensor, *, batch_size: int = 10000) -> Tensor:
        """Code-unit activities of every row of ``v``, in chunks: (N, n_code)."""
        return torch.cat([self.encode(chunk) for chunk in torch.split(v, batch_size)])

    # ------------------------------------------------------------------ loss and trainer protocol
    def loss(self, v: Tensor, *, noise: Tensor | None = None) -> Tensor:
        """Reconstruction loss per example (see the module docstring), shape (batch,)."""
        return self._loss(v, self.decoder_pre(self.encode(v, noise=noise)))

    def _target(self, v: Tensor) -> Tensor:
        """What the reconstruction's mean is compared with: the data, or word proportions for counts."""
        if isinstance(self.spec[0][2], ReplicatedSoftmax):
            return v / v.sum(-1, keepdim=True).clamp(min=1)
        return v

    def _loss(self, v: Tensor, pre: Tensor) -> Tensor:
        kind = self.spec[0][2].name
        if kind == "bernoulli":
            return F.binary_cross_entropy_with_logits(pre, v, reduction="none").sum(-1)
        if kind == "gaussian":
            return 0.5 * (v - pre).square().sum(-1)
        return -(self._target(v) * torch.log_softmax(pre, -1)).sum(-1)

    def gradient(self, batch: tuple[Tensor, ...], config, *, state: dict, generator: torch.Generator | None):
        """Trainer hook: minus the autograd gradient of the mean loss of ``batch = (v,)`` or ``(v, noise)``.

        Figures: ``loss`` (mean per example) and ``recon_error`` (mean squared error of the reconstruction
        per example, on word proportions for count data)."""
        v = batch[0]
        noise = batch[1] if len(batch) > 1 else None
        params = dict(self.named_parameters())
        with torch.enable_grad():
            pre = self.decoder_pre(self.encode(v, noise=noise))
            loss = self._loss(v, pre).mean()
            grads = torch.autograd.grad(loss, list(params.values()))
        err = (self._target(v) - self.spec[0][2].mean(pre.detach())).square().sum(-1).mean()
        return {k: -g for k, g in zip(params, grads)}, {"loss": loss.detach(), "recon_error": err}
