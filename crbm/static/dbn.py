"""Stacks of RBMs: greedy layer-wise pretraining (Hinton, Osindero & Teh 2006; Hinton & Salakhutdinov 2006),
and the deep belief net with label units, up-down fine-tuning, classification and generation.

RBM k is trained on the hidden means E[h_{k-1} | h_{k-2}] of the trained RBM below it (mean-field
activities, as in Hinton & Salakhutdinov's code), so a stack of L RBMs models the data with L layers of
features.

The DBN of Hinton, Osindero & Teh (2006) (``DBN``): lower RBMs vis -> hid -> pen, and a top RBM whose
visible layer is the penultimate layer joined with one softmax group of label units,
``Concat([(Bernoulli(), n_pen), (Softmax(), n_labels)])``. After up-down fine-tuning each lower layer has
untied weights: the RBM's ``weight`` and ``visible_bias`` are the generative (top-down) parameters,
``recognition[i]`` and the RBM's ``hidden_bias`` the recognition (bottom-up) ones.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crbm.engine.atomic import write_bytes
from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_chain, is_positive_int, per_layer
from crbm.engine.errors import CRBMError
from crbm.engine.rbm import RBM, check_tensor
from crbm.engine.train import Callback, TensorData, TrainConfig, fit, fit_phases
from crbm.engine.units import Bernoulli, Concat, Softmax, Units


@torch.no_grad()
def up_pass(layers: Sequence[RBM], v: Tensor, *, batch_size: int = 10000) -> Tensor:
    """Mean-field activities of the top layer: E[h_L | ... E[h_1 | v]], shape (batch, n_hidden of the top)."""
    for rbm in layers:
        v = torch.cat([rbm.hidden_mean(chunk) for chunk in torch.split(v, batch_size)])
    return v


def layer_plan(
    data: Tensor, sizes: Sequence[int], hidden, configs
) -> tuple[list[int], list[str | Units], list[TrainConfig]]:
    """The checked plan of a greedy stack: (sizes, one hidden family per layer, one TrainConfig per layer) from
    ``sizes`` and a single ``hidden`` / ``configs`` or one per layer; CRBMError for data that is not a floating
    (N, n_visible) tensor, bad sizes or lists of the wrong length."""
    if not isinstance(data, Tensor) or data.ndim != 2 or not data.is_floating_point():
        got = f"{data.dtype} {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
        raise CRBMError(f"data: expected a floating torch.Tensor of shape (N, n_visible), got {got}")
    sizes = list(sizes)
    if not sizes or any(not is_positive_int(s) for s in sizes):
        raise CRBMError(f"sizes must be a non-empty list of positive integers, got {sizes!r}")
    hiddens = per_layer(hidden, len(sizes), "hidden", "hidden unit families")
    return sizes, hiddens, per_layer(configs, len(sizes), "configs", "TrainConfigs", TrainConfig())


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
    sizes, hiddens, cfgs = layer_plan(data, sizes, hidden, configs)
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


def check_labels(labels: Tensor, n_labels: int, *, n_rows: int | None = None, what: str = "labels") -> Tensor:
    """Validate class labels: a 1-D integer tensor (one per example) with values in [0, n_labels)."""
    if not isinstance(labels, Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point or labels.is_complex():
        got = f"{labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels)
        raise CRBMError(f"{what}: expected a 1-D integer tensor of class indices, got {got}")
    if n_rows is not None and labels.shape[0] != n_rows:
        raise CRBMError(f"{what}: expected {n_rows} labels (one per image), got {labels.shape[0]}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_labels):
        raise CRBMError(
            f"{what}: expected integers in [0, {n_labels}), got values from {int(labels.min())} to {int(labels.max())}"
        )
    return labels


def balanced_order(labels: Tensor, *, generator: torch.Generator | None) -> Tensor:
    """A permutation of the examples in which every consecutive block of ``n_classes`` holds one example of
    each class (the balanced mini-batches of Hinton, Osindero & Teh 2006), as far as the rarest class
    allows; the remaining examples follow in random order. Shape (N,), on the labels' device; ``generator``
    is a CPU generator."""
    device, labels = labels.device, labels.cpu()
    n_classes = int(labels.max()) + 1
    perm = torch.randperm(labels.shape[0], generator=generator)
    by_class = [perm[labels[perm] == c] for c in range(n_classes)]
    rounds = min(len(idx) for idx in by_class)
    blocks = torch.stack([idx[:rounds] for idx in by_class], 1).reshape(-1)  # (rounds * n_classes,)
    rest = torch.cat([idx[rounds:] for idx in by_class])
    rest = rest[torch.randperm(rest.shape[0], generator=generator)]
    return torch.cat([blocks, rest]).to(device)


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Layer sizes of a stack, bottom first: at least 2 positive integers (else CRBMError)."""
    sizes = list(sizes)
    if len(sizes) < 2 or any(not is_positive_int(s) for s in sizes):
        raise CRBMError(
            f"sizes: expected at least 2 positive integer layer sizes (bottom first, top last), got {sizes!r}"
        )
    return sizes


@register_model
class DBN(nn.Module):
    """A deep belief net with label units (Hinton, Osindero & Teh 2006).

    Args:
        sizes: layer sizes bottom first, e.g. ``[784, 500, 500, 2000]``: lower RBMs 784-500 and 500-500, and
            the top RBM (500 + n_labels)-2000.
        n_labels: softmax label units joined to the penultimate layer (0: an unlabelled DBN).
        untied: whether the lower layers hold separate recognition weights (after up-down fine-tuning).
        init_std: initial weight scale of every RBM.

    Modules: ``rbms`` (nn.ModuleList, bottom first; the last is the top RBM) and, when untied,
    ``recognition`` (nn.ParameterList of (n_below, n_above) weights)."""

    kind = "DBN"

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        n_labels: int = 10,
        untied: bool = False,
        init_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        sizes = check_sizes(sizes)
        if isinstance(n_labels, bool) or not isinstance(n_labels, int) or n_labels == 1 or n_labels < 0:
            raise CRBMError(f"n_labels: expected 0 (no labels) or an integer >= 2, got {n_labels!r}")
        self.sizes, self.n_labels, self.init_std = sizes, n_labels, init_std
        kw = {"init_std": init_std, "dtype": dtype, "device": device, "generator": generator}
        rbms = [RBM(sizes[i], sizes[i + 1], **kw) for i in range(len(sizes) - 2)]
        top_visible = Concat([(Bernoulli(), sizes[-2]), (Softmax(), n_labels)]) if n_labels else "bernoulli"
        rbms.append(RBM(sizes[-2] + n_labels, sizes[-1], visible=top_visible, **kw))
        self.rbms = nn.ModuleList(rbms)
        self.recognition = nn.ParameterList()
        if untied:
            self.untie()

    # ------------------------------------------------------------------ structure
    @classmethod
    def from_rbms(cls, rbms: Sequence[RBM], *, n_labels: int = 10) -> DBN:
        """A DBN holding copies of trained RBMs (bottom first; the last one's visible layer is the
        penultimate layer plus ``n_labels`` label units). Raises CRBMError naming the layer whose sizes
        do not chain."""
        rbms = list(rbms)
        if not rbms:
            raise CRBMError("rbms: expected at least one RBM (the top one)")
        check_chain([r.n_hidden for r in rbms], [r.n_visible for r in rbms], top_extra=n_labels)
        sizes = [r.n_visible for r in rbms[:-1]] + [rbms[-1].n_visible - n_labels, rbms[-1].n_hidden]
        if sizes[-2] < 1:
            raise CRBMError(f"layer {len(rbms) - 1}: {rbms[-1].n_visible} visible units cannot hold {n_labels} labels")
        ref = rbms[-1].weight
        dbn = cls(sizes, n_labels=n_labels, dtype=ref.dtype, device=ref.device)
        for mine, theirs in zip(dbn.rbms, rbms):
            mine.load_state_dict(theirs.state_dict())
        return dbn

    def config(self) -> dict:
        return {"sizes": self.sizes, "n_labels": self.n_labels, "untied": self.untied, "init_std": self.init_std}

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> DBN:
        return cls(**config, dtype=dtype, device=device)

    @property
    def untied(self) -> bool:
        return len(self.recognition) > 0

    @property
    def lower(self) -> list[RBM]:
        """The RBMs below the top one, bottom first."""
        return list(self.rbms[:-1])

    @property
    def top(self) -> RBM:
        return self.rbms[-1]

    def untie(self) -> None:
        """Give every lower layer its own recognition weights, starting as copies of the tied ones."""
        if not self.untied:
            for rbm in self.lower:
                self.recognition.append(nn.Parameter(rbm.weight.detach().clone(), requires_grad=False))

    def decayed_parameters(self) -> tuple[str, ...]:
        """Weight decay applies to every weight matrix (generative, recognition and top)."""
        names = [f"rbms.{i}.weight" for i in range(len(self.rbms))]
        return tuple(names + [f"recognition.{i}" for i in range(len(self.recognition))])

    def _recognition_weight(self, i: int) -> Tensor:
        return self.recognition[i] if self.untied else self.rbms[i].weight

    # ------------------------------------------------------------------ validation
    def check_images(self, images: Tensor, what: str = "images") -> Tensor:
        """Validate a batch of images: (batch, sizes[0]) in [0, 1], the model's dtype and device."""
        check_tensor(images, what, width=self.sizes[0], like=self.top.weight)
        Bernoulli().validate(images, what)
        return images

    def _require_labels(self) -> None:
        if not self.n_labels:
            raise CRBMError("this DBN has no label units (n_labels=0): it cannot classify or clamp labels")

    def one_hot(self, labels: Tensor, *, n_rows: int | None = None) -> Tensor:
        """Labels (batch,) -> one-hot rows (batch, n_labels) in the model's dtype and device."""
        self._require_labels()
        check_labels(labels, self.n_labels, n_rows=n_rows)
        return F.one_hot(labels.to(self.top.weight.device), self.n_labels).to(self.top.weight.dtype)

    # ------------------------------------------------------------------ inference
    def up(self, images: Tensor, *, generator: torch.Generator | None = None, sample: bool = False) -> Tensor:
        """Bottom-up pass through the lower layers with the recognition weights: p(pen | images) by mean
        field, or a stochastic pass (binary states) with ``sample=True``. (batch, n_pen)."""
        x = images
        for i, rbm in enumerate(self.lower):
            pre = torch.addmm(rbm.hidden_bias, x, self._recognition_weight(i))
            x = rbm.hidden.sample(pre, generator=generator) if sample else rbm.hidden.mean(pre)
        return x

    @torch.no_grad()
    def label_free_energies(self, pen: Tensor, *, batch_size: int = 1000) -> Tensor:
        """F_top([pen, e_y]) for every label y: (batch, n_labels), where F_top is the top RBM's free energy
        and e_y the one-hot label vector (10 exact evaluations per example, by the top RBM's unit families)."""
        self._require_labels()
        check_tensor(pen, "pen", width=self.sizes[-2], like=self.top.weight)
        top, n_pen = self.top, self.sizes[-2]
        eye = torch.eye(self.n_labels, dtype=pen.dtype, device=pen.device)
        out = []
        for chunk in torch.split(pen, batch_size):
            pen_pre = top.hidden_pre(torch.cat([chunk, chunk.new_zeros(chunk.shape[0], self.n_labels)], 1))
            pre = pen_pre.unsqueeze(1) + top.weight[n_pen:]  # (batch, n_labels, n_top): c + W_pen^T pen + W_y
            x = torch.cat([chunk.unsqueeze(1).expand(-1, self.n_labels, -1), eye.expand(chunk.shape[0], -1, -1)], 2)
            out.append(top.visible.self_energy(x, top.visible_bias) - top.hidden.log_partition(pre))
        return torch.cat(out)

    @torch.no_grad()
    def label_log_probs(
        self, images: Tensor, *, n_samples: int = 0, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(y | pen) = -F_top([pen, e_y]) - logsumexp_y'(-F_top([pen, e_y'])), (batch, n_labels).

        ``n_samples=0``: pen from the deterministic (mean-field) up-pass; otherwise the average of the label
        log-probabilities over ``n_samples`` stochastic up-passes."""
        self._require_labels()
        self.check_images(images)
        if n_samples < 0:
            raise CRBMError(f"n_samples: expected 0 (deterministic up-pass) or a positive count, got {n_samples}")
        if n_samples == 0:
            return torch.log_softmax(-self.label_free_energies(self.up(images)), 1)
        total = 0
        for _ in range(n_samples):
            pen = self.up(images, generator=generator, sample=True)
            total = total + torch.log_softmax(-self.label_free_energies(pen), 1)
        return total / n_samples

    @torch.no_grad()
    def predict(self, images: Tensor, *, n_samples: int = 0, generator: torch.Generator | None = None) -> Tensor:
        """The label whose clamped top-level free energy is lowest, (batch,) int64."""
        return self.label_log_probs(images, n_samples=n_samples, generator=generator).argmax(1)

    @torch.no_grad()
    def error_rate(self, images: Tensor, labels: Tensor, *, batch_size: int = 10000) -> float:
        """Fraction of misclassified images (deterministic up-pass)."""
        check_labels(labels, self.n_labels, n_rows=images.shape[0])
        labels = labels.to(self.top.weight.device)
        pairs = zip(torch.split(images, batch_size), torch.split(labels, batch_size))
        wrong = sum((self.predict(x) != y).sum() for x, y in pairs)
        return float(wrong) / images.shape[0]

    def _top_units(self) -> tuple[Units, Units | None]:
        """The unit families of the top RBM's penultimate and label blocks (None without labels)."""
        vis = self.top.visible
        return (vis.blocks[0][0], vis.blocks[1][0]) if isinstance(vis, Concat) else (vis, None)

    def _top_visible(self, h: Tensor, labels: Tensor | None, generator) -> tuple[Tensor, Tensor, Tensor]:
        """The visible half of a Gibbs step in the top RBM from hidden states ``h``: pen ~ p(pen | h) by the pen
        block's family; the labels clamped to ``labels``, or (None) set to their mean p(label | h) by the label
        block's family. Returns (pen, labels, pen pre-activation)."""
        n_pen = self.sizes[-2]
        pen_units, label_units = self._top_units()
        pre = self.top.visible_pre(h)
        pen = pen_units.sample(pre[:, :n_pen], generator=generator)
        if labels is None:
            labels = pre[:, n_pen:] if label_units is None else label_units.mean(pre[:, n_pen:])
        return pen, labels, pre[:, :n_pen]

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, labels: Tensor, *, steps: int = 1000, generator: torch.Generator | None) -> Tensor:
        """Images with the labels clamped: ``steps`` rounds of alternating Gibbs sampling in the top RBM
        (top ~ p(top | pen, label), pen ~ p(pen | top)) with the label units fixed, then a top-down pass of
        probabilities through the generative weights. Returns (batch, n_visible) pixel probabilities."""
        y = self.one_hot(labels)
        top, n_pen = self.top, self.sizes[-2]
        if steps < 1:
            raise CRBMError(f"steps: expected at least 1 Gibbs round, got {steps}")
        pen_units = self._top_units()[0]
        pen = pen_units.sample(top.visible_bias[:n_pen].expand(y.shape[0], -1), generator=generator)
        for _ in range(steps):
            h, _ = top.sample_hidden(torch.cat([pen, y], 1), generator=generator)
            pen, _, pen_pre = self._top_visible(h, y, generator)
        x = pen_units.mean(pen_pre)
        for rbm in reversed(self.lower):
            x = rbm.visible_mean(x)
        return x

    # ------------------------------------------------------------------ up-down fine-tuning
    def wake_sleep_states(
        self, images: Tensor, targets: Tensor, *, k: int, generator: torch.Generator | None
    ) -> dict[str, list[Tensor] | Tensor]:
        """The states of one up-down step (Hinton, Osindero & Teh 2006, appendix B).

        Wake: binary states up the recognition weights, ``wake[0] = images`` ... ``wake[-1]`` = pen; top
        states ``top_pos`` ~ p(top | pen, targets). Top: ``k`` rounds of alternating Gibbs from top_pos, pen
        sampled, labels kept as their softmax probabilities, giving ``pen_neg``, ``lab_neg``, ``top_neg``.
        Sleep: from pen_neg, binary states down the generative weights, ``sleep[-1] = pen_neg`` ...
        ``sleep[1]``, and ``sleep[0]`` = the visible probabilities."""
        if k < 1:
            raise CRBMError(f"k: expected at least 1 Gibbs round in the top RBM, got {k}")
        top, wake = self.top, [images]
        for i, rbm in enumerate(self.lower):
            pre = torch.addmm(rbm.hidden_bias, wake[-1], self._recognition_weight(i))
            wake.append(rbm.hidden.sample(pre, generator=generator))
        top_pos, _ = top.sample_hidden(torch.cat([wake[-1], targets], 1), generator=generator)
        h = top_pos
        for _ in range(k):
            pen_neg, lab_neg, _ = self._top_visible(h, None, generator)
            h, _ = top.sample_hidden(torch.cat([pen_neg, lab_neg], 1), generator=generator)
        sleep = [pen_neg]
        for i in reversed(range(len(self.lower))):
            pre = self.rbms[i].visible_pre(sleep[0])
            below = self.rbms[i].visible.mean(pre) if i == 0 else Bernoulli().sample(pre, generator=generator)
            sleep.insert(0, below)
        return {"wake": wake, "top_pos": top_pos, "pen_neg": pen_neg, "lab_neg": lab_neg, "top_neg": h, "sleep": sleep}

    def up_down_directions(self, targets: Tensor, s: dict) -> dict[str, Tensor]:
        """Batch-averaged updates of the up-down algorithm from the states ``s`` of ``wake_sleep_states``.

        Generative (layer i, RBM weight W_i (n_below, n_above), visible bias b_i), the delta rule on wake
        states: dW_i = (s_below - p(s_below | s_above))^T s_above, db_i = s_below - p(s_below | s_above).
        Top RBM: dW = x_pos^T top_pos - x_neg^T top_neg with x = [pen, labels] (CD on the states).
        Recognition (R_i, hidden bias c_i), the delta rule on sleep states:
        dR_i = s_below^T (s_above - p(s_above | s_below)), dc_i = s_above - p(s_above | s_below)."""
        wake, sleep = s["wake"], s["sleep"]
        n = targets.shape[0]
        out: dict[str, Tensor] = {}
        for i, rbm in enumerate(self.lower):
            err = wake[i] - rbm.visible_mean(wake[i + 1])
            out[f"rbms.{i}.weight"] = err.T @ wake[i + 1] / n
            out[f"rbms.{i}.visible_bias"] = err.mean(0)
            rec_err = sleep[i + 1] - rbm.hidden.mean(torch.addmm(rbm.hidden_bias, sleep[i], self.recognition[i]))
            out[f"recognition.{i}"] = sleep[i].T @ rec_err / n
            out[f"rbms.{i}.hidden_bias"] = rec_err.mean(0)
        x_pos = torch.cat([wake[-1], targets], 1)
        x_neg = torch.cat([s["pen_neg"], s["lab_neg"]], 1)
        t = len(self.rbms) - 1
        out[f"rbms.{t}.weight"] = (x_pos.T @ s["top_pos"] - x_neg.T @ s["top_neg"]) / n
        out[f"rbms.{t}.visible_bias"] = (x_pos - x_neg).mean(0)
        out[f"rbms.{t}.hidden_bias"] = (s["top_pos"] - s["top_neg"]).mean(0)
        return out

    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """Trainer hook for up-down fine-tuning: ``batch = (images, one-hot targets)``; ``config.k`` Gibbs
        rounds in the top RBM. Figure: ``recon_error``, the squared error of the generative reconstruction
        of the images from the wake states of the layer above, per image."""
        if not self.untied:
            raise CRBMError("up-down fine-tuning needs untied weights: call dbn.untie() first (fine_tune_up_down does)")
        images, targets = batch[0], batch[1]
        s = self.wake_sleep_states(images, targets, k=config.k, generator=generator)
        directions = self.up_down_directions(targets, s)
        if self.lower:
            recon = self.rbms[0].visible_mean(s["wake"][1])
            err = (images - recon).square().sum() / images.shape[0]
        else:
            err = (s["top_pos"] - s["top_neg"]).square().sum() / images.shape[0]
        return directions, {"recon_error": err}


def train_dbn(
    images: Tensor,
    labels: Tensor,
    sizes: Sequence[int],
    *,
    n_labels: int = 10,
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    generator: torch.Generator | None = None,
) -> DBN:
    """Greedy layer-wise training of a labelled DBN (Hinton, Osindero & Teh 2006, section 6): the lower
    RBMs on the images (``greedy_pretrain``), then the top RBM on [p(pen | images), one-hot labels].

    Args:
        images: (N, sizes[0]) in [0, 1]; labels: (N,) integers in [0, n_labels).
        sizes: e.g. [784, 500, 500, 2000]; configs: one TrainConfig per RBM (len(sizes) - 1) or one for all.
            The labels are read from the top RBM's free energies, so it pays to train it with a longer chain
            (a larger ``k``) than the lower RBMs need."""
    dbn = DBN(sizes, n_labels=n_labels, dtype=images.dtype, device=images.device, generator=generator)
    dbn.check_images(images)
    targets = dbn.one_hot(labels, n_rows=images.shape[0]).to(images.device)
    n_rbms = len(dbn.rbms)
    cfgs = per_layer(configs, n_rbms, "configs", "TrainConfigs", TrainConfig())
    lower: list[RBM] = []
    if len(sizes) > 2:
        lower = greedy_pretrain(images, list(sizes[1:-1]), configs=cfgs[:-1], generator=generator)
    pen = up_pass(lower, images.to(lower[0].weight.device)) if lower else images
    top = dbn.top
    fit(top, torch.cat([pen, targets.to(pen.device)], 1), cfgs[-1])
    return DBN.from_rbms([*lower, top], n_labels=n_labels)


def fine_tune_up_down(
    dbn: DBN,
    images: Tensor,
    labels: Tensor,
    config: TrainConfig,
    *,
    stages: Sequence[tuple[int, int]] = ((100, 3), (100, 6), (100, 10)),
    balanced: bool = True,
    callbacks: Sequence[Callback] = (),
) -> list[dict]:
    """Up-down (contrastive wake-sleep) fine-tuning through ``crbm.engine.train.fit``.

    ``stages``: (epochs, Gibbs rounds in the top RBM) run one after another; the paper's schedule is
    300 epochs with 3, then 6, then 10 rounds. ``balanced``: fixed mini-batches holding one example of
    each class in turn (``balanced_order``; use ``config.batch_size = n_labels``), as in the paper;
    ``config.shuffle`` is then turned off. Momentum restarts at the final value in later stages.
    ``callbacks(epoch, figures, dbn)``: as in ``fit``, epochs numbered across the stages (``fit_phases``).
    Returns the concatenated history."""
    images = dbn.check_images(images.to(dbn.top.weight.device))
    targets = dbn.one_hot(labels, n_rows=images.shape[0])
    dbn.untie()
    if balanced:
        order = balanced_order(labels, generator=torch.Generator().manual_seed(config.seed))
        images, targets = images[order.to(images.device)], targets[order.to(images.device)]
        config = dataclasses.replace(config, shuffle=False)
    data, phases = TensorData(images, targets), []
    for stage, (epochs, k) in enumerate(stages):
        momentum_epochs = config.momentum_epochs if stage == 0 else 0
        cfg = dataclasses.replace(config, epochs=epochs, k=k, seed=config.seed + stage, momentum_epochs=momentum_epochs)
        phases.append((data, cfg))
    return fit_phases(dbn, phases, callbacks=callbacks)


def save_image_grid(
    path: str | os.PathLike, images: Tensor, *, n_cols: int, shape: tuple[int, int] = (28, 28), title: str = ""
) -> None:
    """Write a PNG grid of images ((n, height * width) in [0, 1], row-major) with ``n_cols`` per row,
    atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = images.shape[0]
    n_rows = -(-n // n_cols)
    h, w = shape
    canvas = torch.ones(n_rows * (h + 2), n_cols * (w + 2))
    for i, img in enumerate(images.detach().float().cpu().reshape(n, h, w)):
        r, c = divmod(i, n_cols)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = 1 - img
    fig = plt.figure(figsize=(n_cols * 0.6, n_rows * 0.6 + (0.4 if title else 0)))
    ax = fig.add_axes((0, 0, 1, 1 if not title else 1 - 0.4 / (n_rows * 0.6 + 0.4)))
    ax.imshow(canvas.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buf.getvalue())


def save_label_samples(
    dbn: DBN,
    path: str | os.PathLike,
    *,
    per_label: int = 10,
    steps: int = 1000,
    generator: torch.Generator | None,
) -> Tensor:
    """A PNG with one row per label of ``per_label`` images generated with that label clamped
    (``DBN.generate``); returns the images (n_labels * per_label, n_visible)."""
    labels = torch.arange(dbn.n_labels, device=dbn.top.weight.device).repeat_interleave(per_label)
    images = dbn.generate(labels, steps=steps, generator=generator)
    side = int(round(dbn.sizes[0] ** 0.5))
    shape = (side, side) if side * side == dbn.sizes[0] else (1, dbn.sizes[0])
    save_image_grid(path, images, n_cols=per_label, shape=shape, title=f"DBN samples, label clamped ({steps} Gibbs)")
    return images
