"""A pretrained RBM stack fine-tuned by backpropagation for classification (Hinton & Salakhutdinov 2006,
the 784-500-500-2000-10 network of their ``backpropclassify.m``).

Each hidden layer is a sigmoid layer initialised from an RBM: ``h_{k+1} = sigmoid(c_k + h_k W_k)`` with the
RBM's weight W_k (n_below, n_above) and hidden bias c_k, so before fine-tuning the hidden layers compute the
stack's mean-field up-pass exactly. A softmax output layer sits on top; the loss is the mean cross-entropy.
Training runs through the one trainer (``crbm.engine.train.fit``): ``gradient`` returns minus the loss gradient,
computed by autograd, and the trainer applies learning rate, momentum and weight decay.

Dropout (Hinton et al. 2012; Srivastava et al. 2014): with ``input_dropout`` / ``hidden_dropout`` = q > 0,
each training case's input pixels / hidden activities (every hidden layer, the top one included) are zeroed
with probability q and the kept ones scaled by 1 / (1 - q), so their expectation is unchanged and the test-time
network (no dropout) is the plain one. The scaling is the papers' "multiply the weights by the retain
probability at test time" done at training time instead, which leaves a pretrained stack's weights valid as
they are.

From a two-layer DBM (Salakhutdinov & Hinton 2009, section 4 and figure 3; ``from_dbm``): each image v is
augmented once with its mean-field marginals q(h2 | v) (``dbm_inputs``), and the network
[v, q(h2)] -> h1 -> h2 -> softmax starts from the DBM's weights: h1 = sigmoid(v W1 + q(h2) W2^T + c1),
h2 = sigmoid(h1 W2 + c2). Backprop may then use or ignore either part of the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_chain, is_int_at_least
from crbm.engine.errors import CRBMError
from crbm.engine.noise import Generator, uniform
from crbm.engine.rbm import RBM, check_tensor, normal_weights
from crbm.engine.train import Callback, TensorData, TrainConfig, fit_phases
from crbm.engine.units import Bernoulli, ReplicatedSoftmax
from crbm.static.autoencoder import DeepAutoencoder
from crbm.static.dbm import DBM
from crbm.static.dbn import check_labels, check_sizes


@register_model
class DBNClassifier(nn.Module):
    """Sigmoid layers ``sizes[0] -> ... -> sizes[-1]`` and a softmax layer of ``n_classes``.

    Parameters: ``weights[k]`` (sizes[k], sizes[k+1]) and ``biases[k]`` for the hidden layers, then
    ``out_weight`` (sizes[-1], n_classes) and ``out_bias``. Use ``from_rbms`` to initialise from a stack.
    ``input_dropout`` and ``hidden_dropout`` are the probabilities of dropping a unit during training
    (``gradient``), in [0, 1); prediction never drops."""

    kind = "DBNClassifier"

    def __init__(
        self,
        sizes: Sequence[int],
        n_classes: int = 10,
        *,
        out_init_std: float = 0.1,
        input_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        sizes = check_sizes(sizes)
        if not is_int_at_least(n_classes, 2):
            raise CRBMError(f"n_classes: expected an integer >= 2, got {n_classes!r}")
        for name, q in (("input_dropout", input_dropout), ("hidden_dropout", hidden_dropout)):
            if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 <= q < 1.0:
                raise CRBMError(f"{name}: expected a probability in [0, 1), got {q!r}")
        self.sizes, self.n_classes, self.out_init_std = sizes, n_classes, out_init_std
        self.input_dropout, self.hidden_dropout = float(input_dropout), float(hidden_dropout)

        def param(*shape: int, std: float = 0.0) -> nn.Parameter:
            return nn.Parameter(normal_weights(shape, std, generator=generator, dtype=dtype, device=device))

        self.weights = nn.ParameterList([param(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([param(b) for b in sizes[1:]])
        self.out_weight = param(sizes[-1], n_classes, std=out_init_std)
        self.out_bias = param(n_classes)

    @classmethod
    def from_rbms(
        cls, rbms: Sequence[RBM], n_classes: int = 10, *, generator: torch.Generator | None = None, **kw
    ) -> DBNClassifier:
        """Hidden layers copied from trained RBMs (bottom first; weights and hidden biases), a new output
        layer ~ N(0, out_init_std^2). Raises CRBMError when the RBMs' sizes do not chain."""
        rbms = list(rbms)
        if not rbms:
            raise CRBMError("rbms: expected at least one RBM")
        check_chain([r.n_hidden for r in rbms], [r.n_visible for r in rbms])
        return cls._from_layers([(r.weight, r.hidden_bias) for r in rbms], n_classes, generator=generator, **kw)

    @classmethod
    def from_autoencoder(
        cls, ae: DeepAutoencoder, n_classes: int = 10, *, generator: torch.Generator | None = None, **kw
    ) -> DBNClassifier:
        """Hidden layers copied from an autoencoder's encoder (weights and biases, bottom first; e.g. a stack of
        ``crbm.static.autoencoder.greedy_autoencoders``), a new output layer ~ N(0, out_init_std^2). The encoder's
        layers must all be logistic (the classifier's hidden layers are sigmoid layers) on unscaled inputs."""
        for i, (_, _, vis, hid) in enumerate(ae.spec):
            if not isinstance(hid, Bernoulli) or isinstance(vis, ReplicatedSoftmax):
                raise CRBMError(f"encoder layer {i}: expected logistic (bernoulli) hidden units over plain inputs, "
                                f"got {vis.name} -> {hid.name}")
        layers = [(getattr(ae, f"encoder_weight_{i}"), getattr(ae, f"encoder_bias_{i}")) for i in range(len(ae.spec))]
        return cls._from_layers(layers, n_classes, generator=generator, **kw)

    @classmethod
    def from_dbm(
        cls, dbm: DBM, n_classes: int = 10, *, generator: torch.Generator | None = None, **kw
    ) -> DBNClassifier:
        """The network of Salakhutdinov & Hinton (2009, figure 3) from a two-layer DBM: sizes
        [n_visible + n_h2, n_h1, n_h2] on the input x = [v, q(h2 | v)] (``dbm_inputs``); layer 1 copies the
        joint RBM's weight [[W1]; [W2^T]] (n_visible + n_h2, n_h1) and c1, layer 2 copies W2 (n_h1, n_h2) and
        c2; a new output layer ~ N(0, out_init_std^2). Before fine-tuning the hidden layers are one more round
        of the DBM's mean-field updates: on ``dbm_inputs(dbm, v, steps=k)`` they compute (mu1, mu2) of
        ``dbm.mean_field(v, steps=k + 1)``."""
        _check_dbm(dbm)
        return cls._from_layers([(dbm.joint_rbm.weight, dbm.c1), (dbm.W2, dbm.c2)], n_classes, generator=generator,
                                **kw)

    @classmethod
    def _from_layers(cls, layers: list[tuple[Tensor, Tensor]], n_classes: int, *, generator, **kw) -> DBNClassifier:
        ref = layers[0][0]
        sizes = [ref.shape[0]] + [w.shape[1] for w, _ in layers]
        clf = cls(sizes, n_classes, dtype=ref.dtype, device=ref.device, generator=generator, **kw)
        with torch.no_grad():
            for k, (w, b) in enumerate(layers):
                clf.weights[k].copy_(w)
                clf.biases[k].copy_(b)
        return clf

    def config(self) -> dict:
        return {
            "sizes": self.sizes,
            "n_classes": self.n_classes,
            "out_init_std": self.out_init_std,
            "input_dropout": self.input_dropout,
            "hidden_dropout": self.hidden_dropout,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> DBNClassifier:
        return cls(**config, dtype=dtype, device=device)

    def decayed_parameters(self) -> tuple[str, ...]:
        return tuple(f"weights.{k}" for k in range(len(self.weights))) + ("out_weight",)

    def hidden_parameters(self) -> tuple[str, ...]:
        """Names of the pretrained (hidden-layer) parameters."""
        return tuple(f"{g}.{k}" for g in ("weights", "biases") for k in range(len(self.weights)))

    def check_inputs(self, x: Tensor, what: str = "images") -> Tensor:
        return check_tensor(x, what, width=self.sizes[0], like=self.out_weight)

    def hidden(self, x: Tensor, *, generator: Generator = None) -> Tensor:
        """Top hidden activities, (batch, sizes[-1]); with a ``generator``, the training pass with dropout."""
        drop = generator is not None
        if drop:
            x = dropout(x, self.input_dropout, generator)
        for w, b in zip(self.weights, self.biases):
            x = torch.sigmoid(torch.addmm(b, x, w))
            if drop:
                x = dropout(x, self.hidden_dropout, generator)
        return x

    def forward(self, x: Tensor, *, generator: Generator = None) -> Tensor:
        """Class logits, (batch, n_classes); with a ``generator``, the training pass with dropout."""
        return torch.addmm(self.out_bias, self.hidden(x, generator=generator), self.out_weight)

    @torch.no_grad()
    def predict(self, x: Tensor, *, batch_size: int = 10000) -> Tensor:
        self.check_inputs(x)
        return torch.cat([self(chunk).argmax(1) for chunk in torch.split(x, batch_size)])

    @torch.no_grad()
    def error_rate(self, x: Tensor, labels: Tensor) -> float:
        check_labels(labels, self.n_classes, n_rows=x.shape[0])
        return float((self.predict(x) != labels.to(x.device)).sum()) / x.shape[0]

    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """Trainer hook: minus the gradient of the mean cross-entropy of ``batch = (x, labels)``.
        The pass drops units as ``input_dropout`` / ``hidden_dropout`` say, the masks drawn from ``generator``.
        Figures (on the device): ``loss`` and ``train_error`` (of that pass)."""
        x, y = batch[0], batch[1]
        if generator is None and (self.input_dropout or self.hidden_dropout):
            raise CRBMError("generator: dropout needs a generator for its masks, got None")
        params = dict(self.named_parameters())
        with torch.enable_grad():
            logits = self(x, generator=generator)
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, list(params.values()))
        directions = {name: -g for name, g in zip(params, grads)}
        wrong = (logits.detach().argmax(1) != y).to(logits.dtype).mean()
        return directions, {"loss": loss.detach(), "train_error": wrong}


@torch.no_grad()
def dbm_inputs(dbm: DBM, images: Tensor, *, steps: int | None = None, batch_size: int = 10000) -> Tensor:
    """The input of ``DBNClassifier.from_dbm``'s network: each image beside its mean-field marginals of the top
    layer, [v, q(h2 | v)], shape (N, n_visible + n_h2). ``images`` (N, n_visible) in [0, 1]; ``steps``: the
    mean-field updates (default ``dbm.mean_field_steps``; ``DBM.mean_field``), run in chunks of
    ``batch_size`` images. Computed once per image, before fine-tuning: the DBM is not changed by backprop."""
    _check_dbm(dbm)
    dbm.check_visible(images, "images")
    return torch.cat([torch.cat([v, dbm.mean_field(v, steps=steps)[1]], 1) for v in torch.split(images, batch_size)])


def _check_dbm(dbm) -> None:
    if not isinstance(dbm, DBM):
        raise CRBMError(f"dbm: expected a crbm.DBM, got {type(dbm).__name__}")


def dropout(x: Tensor, q: float, generator: Generator) -> Tensor:
    """``x`` (batch, n) with each entry zeroed with probability ``q`` and the rest scaled by 1 / (1 - q)."""
    if q == 0.0:
        return x
    keep = uniform(x.shape, generator, x) >= q
    return x * keep / (1.0 - q)


def fine_tune_backprop(
    clf: DBNClassifier,
    images: Tensor,
    labels: Tensor,
    config: TrainConfig,
    *,
    top_only_epochs: int = 6,
    callbacks: Sequence[Callback] = (),
) -> list[dict]:
    """Backprop fine-tuning through ``crbm.engine.train.fit``: first ``top_only_epochs`` epochs train only the
    output layer (the hidden layers' learning rates scaled to 0, as in ``backpropclassify.m``), then all
    layers for ``config.epochs - top_only_epochs`` more. Returns the concatenated history.
    ``config.lr_schedule`` runs over the all-layer phase; the output-only epochs use the starting rate.
    ``callbacks(epoch, figures, clf)``: as in ``fit``, with epochs counted 1 ... ``config.epochs`` across both
    phases; returning True stops training (the second phase too)."""
    clf.check_inputs(images)
    check_labels(labels, clf.n_classes, n_rows=images.shape[0])
    data = TensorData(images, labels.to(images.device))
    top = max(top_only_epochs, 0)
    phases = []
    if top > 0:
        frozen = {**config.lr_scale, **dict.fromkeys(clf.hidden_parameters(), 0.0)}
        phases.append((data, dataclasses.replace(config, epochs=top, lr_scale=frozen, lr_schedule="constant")))
    if config.epochs > top:
        phases.append((data, dataclasses.replace(config, epochs=config.epochs - top, seed=config.seed + 1)))
    return fit_phases(clf, phases, callbacks=callbacks)
