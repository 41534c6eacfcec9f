"""Deep autoencoders unrolled from a trained RBM stack (Hinton & Salakhutdinov 2006).

A stack of L RBMs ``n_0 -> n_1 -> ... -> n_L`` (``crbm.static.dbn.greedy_pretrain``) becomes an encoder of L
layers with weights W_1 .. W_L and the RBMs' hidden biases, and a decoder of L layers with weights
W_L^T .. W_1^T and the RBMs' visible biases. Each layer applies the mean of its unit family to its
pre-activation, exactly as the RBM conditionals do, so before fine-tuning

    encode(v) = up_pass(layers, v)            E[h_L | ... E[h_1 | v]]
    decode(h) = the mean-field down pass      E[v | ... E[h_{L-1} | h]]

(Gaussian visibles with standard deviation sigma are folded into the weights: the encoder's first
weight is W / sigma and the decoder's last weight is (sigma W)^T.) After unrolling every weight and bias
is a separate parameter (the tie is only the starting point) and the whole network is fine-tuned by
backpropagation through ``crbm.engine.train.fit``: ``gradient()`` returns minus the autograd gradient of the
reconstruction loss of the bottom unit family

    bernoulli            cross-entropy  -sum_i x_i log x^_i + (1 - x_i) log(1 - x^_i)
    gaussian             squared error   sum_i (x_i - x^_i)^2 / 2
    replicated_softmax   cross-entropy on word proportions  -sum_k (n_k / N) log softmax(pre)_k

averaged over the batch. The paper used conjugate gradient (3 line searches per 1000-case batch); the
trainer here uses momentum SGD with the TrainConfig's learning rate, momentum and weight decay.

Sparse autoencoders (the sparse autoencoder of Ng's unsupervised feature learning notes): with
``TrainConfig.sparsity_target`` rho and ``sparsity_cost`` beta the loss gains

    beta * sum over Bernoulli (logistic) encoder layers, sum over their units j of KL(rho || rho^_j),
    KL(rho || rho^) = rho log(rho / rho^) + (1 - rho) log((1 - rho) / (1 - rho^))

where rho^_j is unit j's mean activity over the mini-batch. ``greedy_autoencoders`` trains one-layer
autoencoders from random weights, each on the codes of the one below (greedy layer-wise, like
``greedy_pretrain`` for RBMs), and ``DeepAutoencoder.stack`` joins them into a deep autoencoder to fine-tune.

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

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_chain, check_nonnegative, check_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.rbm import RBM, normal_weights
from crbm.engine.train import TrainConfig, fit
from crbm.engine.units import Bernoulli, ReplicatedSoftmax, Units, resolve_units, units_from_json, units_to_json
from crbm.static.dbn import layer_plan

_LOSSES = ("bernoulli", "gaussian", "replicated_softmax")


@register_model
class DeepAutoencoder(nn.Module):
    """An encoder/decoder pair of L layers each.

    Args:
        layers: one ``(n_in, n_out, visible, hidden)`` tuple per RBM, bottom first: the RBM's sizes and
            unit families. Encoder layer i maps n_in -> n_out with the ``hidden`` family's mean; decoder
            layer i maps n_out -> n_in with the ``visible`` family's mean.

        init_std: weights start ~ N(0, init_std^2) (0: all zeros, to be filled by ``from_rbms`` or a
            checkpoint); biases start at zero. generator: the random source of those weights.

    Parameters: ``encoder_weight_i`` (n_in, n_out), ``encoder_bias_i`` (n_out,), ``decoder_weight_i``
    (n_out, n_in), ``decoder_bias_i`` (n_in,) for i = 0 .. L-1 (bottom first). Build one from trained RBMs
    with ``DeepAutoencoder.from_rbms``, or from trained autoencoders with ``DeepAutoencoder.stack``.
    """

    kind = "DeepAutoencoder"

    def __init__(
        self,
        layers: Sequence[tuple[int, int, str | Units, str | Units]],
        *,
        init_std: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        check_nonnegative(init_std, "init_std")
        if not layers:
            raise CRBMError("layers: an autoencoder needs at least one (n_in, n_out, visible, hidden) layer")
        spec = []
        for i, layer in enumerate(layers):
            if len(layer) != 4:
                raise CRBMError(f"layers[{i}]: expected (n_in, n_out, visible, hidden), got {layer!r}")
            n_in, n_out, vis, hid = layer
            for what, n in (("n_in", n_in), ("n_out", n_out)):
                check_positive_int(n, f"layers[{i}]: {what}")
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
                std = init_std if name.endswith("weight") else 0.0
                t = normal_weights(shape, std, generator=generator, dtype=dtype, device=device)
                self.register_parameter(f"{name}_{i}", nn.Parameter(t))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rbms(cls, rbms: Sequence[RBM]) -> DeepAutoencoder:
        """Unroll trained RBMs (bottom first) into an autoencoder whose decoder starts tied to the encoder."""
        rbms = list(rbms)
        if not rbms:
            raise CRBMError("rbms: need at least one trained RBM")
        check_chain([r.n_hidden for r in rbms], [r.n_visible for r in rbms], name="rbms[{}]")
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

    @classmethod
    def stack(cls, autoencoders: Sequence[DeepAutoencoder]) -> DeepAutoencoder:
        """One autoencoder whose encoder runs the given ones' encoders bottom first and whose decoder runs their
        decoders top first (copies of their parameters), e.g. the one-layer autoencoders of
        ``greedy_autoencoders``."""
        aes = list(autoencoders)
        if not aes:
            raise CRBMError("autoencoders: need at least one")
        layers = [layer for ae in aes for layer in ae.spec]
        for i in range(1, len(aes)):
            if aes[i].n_visible != aes[i - 1].n_code:
                raise CRBMError(f"autoencoders[{i}] takes {aes[i].n_visible} inputs but autoencoders[{i - 1}] "
                                f"makes {aes[i - 1].n_code}-unit codes; the stack does not chain")
        ref = aes[0].encoder_weight_0
        model = cls(layers, dtype=ref.dtype, device=ref.device)
        sources = [(ae, j) for ae in aes for j in range(len(ae.spec))]
        with torch.no_grad():
            for i, (ae, j) in enumerate(sources):
                for part in ("encoder_weight", "encoder_bias", "decoder_weight", "decoder_bias"):
                    getattr(model, f"{part}_{i}").copy_(getattr(ae, f"{part}_{j}"))
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
    def activities(self, v: Tensor, *, noise: Tensor | None = None) -> list[Tensor]:
        """Every encoder layer's activities, bottom first: [E[h_1 | v], ..., E[h_L | h_{L-1}]], each (batch, n_out);
        ``noise`` (batch, n_code) is added to the code units' inputs first (semantic-hashing fine-tuning)."""
        x, out = v, []
        for i, (_, _, vis, hid) in enumerate(self.spec):
            pre = x @ getattr(self, f"encoder_weight_{i}")
            bias = getattr(self, f"encoder_bias_{i}")
            scale = vis.hidden_bias_scale(x) if i == 0 else None
            pre = pre + (bias if scale is None else bias * scale)
            if noise is not None and i + 1 == len(self.spec):
                pre = pre + noise
            x = hid.mean(pre)
            out.append(x)
        return out

    def encode(self, v: Tensor, *, noise: Tensor | None = None) -> Tensor:
        """Code-unit activities E[h_L | ...] of ``v`` (batch, n_visible) -> (batch, n_code); ``noise``
        (batch, n_code) is added to the code units' inputs first (semantic-hashing fine-tuning)."""
        return self.activities(v, noise=noise)[-1]

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

    @torch.no_grad()
    def filters(self) -> Tensor:
        """The first encoder layer's weights as one row per hidden unit, each rescaled to [0, 1] (its smallest
        weight 0, its largest 1): (n_out, n_visible), for ``crbm.static.dbn.save_image_grid``."""
        w = self.encoder_weight_0.T
        low, high = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
        return (w - low) / (high - low).clamp(min=torch.finfo(w.dtype).tiny)

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

    def sparsity_penalty(self, activities: Sequence[Tensor], target: float) -> Tensor:
        """sum over the Bernoulli encoder layers and their units of KL(target || mean activity over the batch);
        ``activities`` as ``activities()`` returns them. A scalar tensor."""
        total = activities[0].new_zeros(())
        for (_, _, _, hid), a in zip(self.spec, activities):
            if isinstance(hid, Bernoulli):
                q = a.mean(0).clamp(1e-6, 1 - 1e-6)
                kl = target * torch.log(target / q) + (1 - target) * torch.log((1 - target) / (1 - q))
                total = total + kl.sum()
        return total

    def gradient(self, batch: tuple[Tensor, ...], config, *, state: dict, generator: torch.Generator | None):
        """Trainer hook: minus the autograd gradient of the mean loss of ``batch = (v,)`` or ``(v, noise)`` (plus
        ``config.sparsity_cost`` times ``sparsity_penalty`` when ``config.sparsity_target`` is set).

        Figures: ``loss`` (mean reconstruction loss per example), ``recon_error`` (mean squared error of the
        reconstruction per example, on word proportions for count data) and, with a sparsity target,
        ``sparsity`` (the penalty before its cost)."""
        v = batch[0]
        noise = batch[1] if len(batch) > 1 else None
        params = dict(self.named_parameters())
        sparse = config.sparsity_target is not None and config.sparsity_cost > 0
        figures = {}
        with torch.enable_grad():
            acts = self.activities(v, noise=noise)
            pre = self.decoder_pre(acts[-1])
            loss = self._loss(v, pre).mean()
            total = loss
            if sparse:
                penalty = self.sparsity_penalty(acts, config.sparsity_target)
                total = loss + config.sparsity_cost * penalty
                figures["sparsity"] = penalty.detach()
            grads = torch.autograd.grad(total, list(params.values()))
        err = (self._target(v) - self.spec[0][2].mean(pre.detach())).square().sum(-1).mean()
        return {k: -g for k, g in zip(params, grads)}, {"loss": loss.detach(), "recon_error": err, **figures}


def greedy_autoencoders(
    data: Tensor,
    sizes: Sequence[int],
    *,
    visible: str | Units = "bernoulli",
    hidden: str | Units | Sequence[str | Units] = "bernoulli",
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    init_std: float = 0.1,
    generator: torch.Generator | None = None,
) -> list[DeepAutoencoder]:
    """Greedy layer-wise training of one-layer autoencoders ``data.shape[1] -> sizes[0] -> sizes[1] -> ...``:
    each starts from weights ~ N(0, init_std^2) (``generator``) and is trained by ``crbm.engine.train.fit`` with its
    config (a ``sparsity_target`` there makes it a sparse autoencoder) on the codes of the one below. The
    first reconstructs ``visible`` data; the others the codes below, with the unit family of those codes.
    ``hidden``: one family for every layer or one per layer. Returns them bottom first; join them with
    ``DeepAutoencoder.stack``."""
    sizes, hiddens, cfgs = layer_plan(data, sizes, hidden, configs)
    out: list[DeepAutoencoder] = []
    x, below = data, visible
    for n_out, hid, cfg in zip(sizes, hiddens, cfgs):
        ae = DeepAutoencoder([(x.shape[1], n_out, below, hid)], init_std=init_std, dtype=data.dtype,
                             generator=generator)
        fit(ae, x, cfg)
        out.append(ae)
        x, below = ae.codes(x.to(ae.encoder_weight_0.device)), hid
    return out
