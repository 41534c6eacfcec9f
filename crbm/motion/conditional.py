"""Conditional RBMs for time series (Taylor, Hinton & Roweis 2006; Taylor, Hinton & Roweis, JMLR 2011).

A CRBM of order n models frame v_t (D values) given its history u_t = [v_{t-1}, ..., v_{t-n}] (n D values,
most recent first). Given u_t it is the engine's RBM with dynamic biases

    b_t = b + A u_t        (A: (D, n D), the autoregressive weights)
    c_t = c + B u_t        (B: (H, n D), the past-to-hidden weights)

so every conditional, the free energy and the CD statistics are the RBM's with bias shifts ``u A^T`` and
``u B^T``. The CD directions for the extra weights follow from the per-example bias directions:
dA = d_visible^T u / batch, dB = d_hidden^T u / batch.

``Windows`` turns clips into training windows that never cross a clip boundary; ``TwoLayerCRBM`` stacks a
binary CRBM on the first layer's hidden means. ``CRBM.conditioned(u)`` is the model frozen at one time step:
the engine's view of its RBM with per-row biases (``crbm.engine.rbm.Conditioned``), on which the generation and
filtering code in ``crbm.motion.sample`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_nonnegative, check_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.noise import normal
from crbm.engine.rbm import RBM, Conditioned, check_tensor, normal_weights
from crbm.engine.train import TrainConfig, fit
from crbm.engine.units import Bernoulli, Gaussian, ReLU, Units, resolve_units, units_from_json


def history(frames: Tensor, order: int) -> Tensor:
    """The history u_T of the frame that follows ``frames`` (..., T >= order, D), i.e. of frame index T:
    [v_{T-1}, ..., v_{T-order}] flattened, shape (..., order * D)."""
    if frames.shape[-2] < order:
        raise CRBMError(f"history of order {order} needs at least {order} frames, got {frames.shape[-2]}")
    last = frames[..., frames.shape[-2] - order :, :].flip(-2)
    return last.reshape(*frames.shape[:-2], order * frames.shape[-1])


class Windows:
    """Training windows of order ``n`` over a list of clips (the trainer's data protocol).

    A window ends at frame t of clip c with t >= n, so its history [v_{t-1}, ..., v_{t-n}] lies inside
    the same clip. ``batch(idx)`` returns ``(v, u)`` or ``(v, u, y)``: v (B, D) the frames, u (B, n D) the
    flattened histories, y (B, L) the labels of the frames when per-frame labels were given.

    Args:
        clips: tensors (T_c, D), one per clip (clips shorter than n + 1 frames contribute no window); a NaN or
            an infinity is refused with the clip's index and frame.
        order: n >= 1.
        labels: optional tensors (T_c, L), per-frame labels of each clip.
    """

    def __init__(self, clips: Sequence[Tensor], order: int, *, labels: Sequence[Tensor] | None = None):
        check_positive_int(order, "order")
        clips = list(clips)
        if not clips:
            raise CRBMError("Windows needs at least one clip")
        width = clips[0].shape[-1] if clips[0].ndim == 2 else None
        for i, c in enumerate(clips):
            if not isinstance(c, Tensor) or c.ndim != 2 or c.shape[1] != width:
                raise CRBMError(f"clip {i}: expected a tensor (frames, {width}), got {getattr(c, 'shape', c)!r}")
            if c.is_floating_point() and not bool(c.isfinite().all()):
                t, d = (int(k) for k in (~c.isfinite()).nonzero()[0])
                raise CRBMError(f"clip {i}: frame {t} holds {float(c[t, d])} in column {d}; expected finite numbers")
        if labels is not None:
            labels = list(labels)
            if len(labels) != len(clips) or any(y.ndim != 2 or y.shape[0] != c.shape[0] for y, c in zip(labels, clips)):
                raise CRBMError("labels: expected one (T_c, L) tensor per clip with the clip's number of frames")
        self.order = order
        self.frames = torch.cat(clips)
        self.labels = None if labels is None else torch.cat(labels).to(self.frames.dtype)
        starts = torch.cumsum(torch.tensor([0] + [c.shape[0] for c in clips[:-1]]), 0)
        self.ends = torch.cat(
            [s + torch.arange(order, max(order, c.shape[0]), dtype=torch.long) for s, c in zip(starts.tolist(), clips)]
        )
        if self.ends.numel() == 0:
            raise CRBMError(f"no clip has more than {order} frames: no training window of order {order}")
        self.clip_of = torch.cat([torch.full((c.shape[0],), i) for i, c in enumerate(clips)])
        self._gather()

    def _gather(self) -> None:
        lags = torch.arange(1, self.order + 1, device=self.frames.device)
        self.v = self.frames[self.ends]
        self.u = self.frames[self.ends.to(self.frames.device).unsqueeze(1) - lags].reshape(len(self.ends), -1)
        self.y = None if self.labels is None else self.labels[self.ends]

    def __len__(self) -> int:
        return int(self.ends.numel())

    def to(self, device) -> Windows:
        out = object.__new__(Windows)
        out.order, out.ends, out.clip_of = self.order, self.ends, self.clip_of
        out.frames = self.frames.to(device)
        out.labels = None if self.labels is None else self.labels.to(device)
        out.v, out.u = self.v.to(device), self.u.to(device)
        out.y = None if self.y is None else self.y.to(device)
        return out

    def batch(self, idx: Tensor) -> tuple[Tensor, ...]:
        rows = [self.v, self.u] if self.y is None else [self.v, self.u, self.y]
        return tuple(t.index_select(0, idx) for t in rows)  # a quarter of t[idx]'s time on CPU


def ridge_autoregression(windows: Windows, *, ridge: float = 1e-3) -> tuple[Tensor, Tensor]:
    """The linear autoregression v_t ~ c + M u_t over ``windows`` by ridge regression, in closed form:
    [M c] = V^T U1 (U1^T U1 + ridge N I')^-1 with U1 = [U 1] and no penalty on the intercept.
    Returns M (D, n D) and c (D,) in the windows' dtype."""
    u = torch.cat([windows.u, windows.u.new_ones(len(windows), 1)], 1).double()
    penalty = torch.full((u.shape[1],), ridge * len(windows), dtype=torch.float64, device=u.device)
    penalty[-1] = 0
    sol = torch.linalg.solve(u.T @ u + torch.diag(penalty), u.T @ windows.v.double())  # (nD + 1, D)
    return sol[:-1].T.to(windows.v.dtype), sol[-1].to(windows.v.dtype)


def noisy_history(u: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """Training histories u (B, n D) plus ``sigma`` times N(0, I) draws of ``generator`` (the models'
    ``history_noise``); u itself, with no draw, when ``sigma`` is 0."""
    return u + sigma * normal(u.shape, generator, u) if sigma else u


@register_model
class CRBM(nn.Module):
    """Conditional RBM of order ``n``: ``visible`` frames ("gaussian" or "bernoulli") and ``hidden`` units
    ("bernoulli", as in Taylor's model, "relu" or "gaussian": families sampled from per-unit noise).

    Parameters: the engine ``rbm`` (``rbm.weight`` (D, H), ``rbm.visible_bias``, ``rbm.hidden_bias``), the
    autoregressive weights ``A`` (D, n D) and the past-to-hidden weights ``B`` (H, n D). History layout:
    u_t = [v_{t-1}, ..., v_{t-n}] flattened (``crbm.motion.conditional.history``).

    Taylor's training settings (``taylor_config``): CD-1 with mean-field reconstructions, learning rate 1e-3
    (A at a tenth of it), weight decay 2e-4 on W, A and B, momentum 0.9 after 5 epochs, batches of 100.

    ``history_noise`` (sigma >= 0, default 0): training histories become u_t + sigma eps, eps ~ N(0, I), drawn
    afresh for each batch (as ``FCRBM``'s option), so the model learns to recover from a history a little
    off the data, as the ones it generates are; generation is unchanged.
    """

    kind = "CRBM"

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        order: int,
        *,
        visible: str | Units = "gaussian",
        hidden: str | Units = "bernoulli",
        sigma: float | Tensor = 1.0,
        init_std: float = 0.01,
        history_noise: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        check_positive_int(order, "order")
        self.history_noise = float(check_nonnegative(history_noise, "history_noise"))
        if not isinstance(resolve_units(hidden), (Bernoulli, ReLU, Gaussian)):
            raise CRBMError(f"CRBM hidden units must be bernoulli, relu or gaussian, got {resolve_units(hidden).name}")
        self.rbm = RBM(
            n_visible,
            n_hidden,
            visible=visible,
            hidden=hidden,
            sigma=sigma,
            init_std=init_std,
            dtype=dtype,
            device=device,
            generator=generator,
        )
        self.order = order
        kw = {"generator": generator, "dtype": dtype, "device": device}
        self.A = nn.Parameter(normal_weights((n_visible, order * n_visible), init_std, **kw), requires_grad=False)
        self.B = nn.Parameter(normal_weights((n_hidden, order * n_visible), init_std, **kw), requires_grad=False)

    # ------------------------------------------------------------------ description
    @property
    def n_visible(self) -> int:
        return self.rbm.n_visible

    @property
    def n_hidden(self) -> int:
        return self.rbm.n_hidden

    @property
    def n_context(self) -> int:
        """Width of the history vector, order * n_visible."""
        return self.order * self.rbm.n_visible

    def config(self) -> dict:
        c = self.rbm.config()
        return {
            "n_visible": c["n_visible"],
            "n_hidden": c["n_hidden"],
            "order": self.order,
            "visible": c["visible"],
            "hidden": c["hidden"],
            "init_std": c["init_std"],
            "history_noise": self.history_noise,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> CRBM:
        c = dict(config)
        c["visible"] = units_from_json(c["visible"])
        c["hidden"] = units_from_json(c.get("hidden", "bernoulli"))  # checkpoints before hidden= were binary
        return cls(**c, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"order={self.order}"

    def decayed_parameters(self) -> tuple[str, ...]:
        return ("rbm.weight", "A", "B")

    @torch.no_grad()
    def initialise_autoregressive(self, windows: Windows, *, ridge: float = 1e-3) -> CRBM:
        """Start A and the visible bias at the ridge autoregression of the training windows
        (``ridge_autoregression``), so training begins from the linear AR model and the hidden units learn
        what it misses (a warm start; Taylor's code starts A near zero). Returns self."""
        if windows.order != self.order or windows.v.shape[1] != self.n_visible:
            raise CRBMError(f"windows of order {windows.order} and width {windows.v.shape[1]} do not fit this CRBM")
        weight, bias = ridge_autoregression(windows, ridge=ridge)
        self.A.copy_(weight)
        self.rbm.visible_bias.copy_(bias)
        return self

    # ------------------------------------------------------------------ conditionals
    def check_context(self, v: Tensor, u: Tensor) -> None:
        check_tensor(v, "v", width=self.n_visible, like=self.A)
        check_tensor(u, "history", width=self.n_context, like=self.A)
        if u.shape[0] != v.shape[0]:
            raise CRBMError(f"history: expected {v.shape[0]} rows (one per frame), got {u.shape[0]}")

    def shifts(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """Bias shifts (u A^T (B, D), u B^T (B, H)) of histories u (B, n D)."""
        return u @ self.A.T, u @ self.B.T

    def conditioned(self, u: Tensor, labels: Tensor | None = None) -> Conditioned:
        """The model at histories u (B, n D): b_t = b + A u_t, c_t = c + B u_t. ``labels`` must be None."""
        if labels is not None:
            raise CRBMError("a CRBM takes no labels; use LabelCRBM or FCRBM for style labels")
        check_tensor(u, "history", width=self.n_context, like=self.A)
        return self._conditioned(u)

    def _conditioned(self, u: Tensor) -> Conditioned:
        rbm = self.rbm
        return rbm.conditioned(torch.addmm(rbm.visible_bias, u, self.A.T), torch.addmm(rbm.hidden_bias, u, self.B.T))

    def free_energy(self, v: Tensor, u: Tensor) -> Tensor:
        """F(v_t | u_t) of frames v (B, D) given histories u (B, n D), shape (B,)."""
        self.check_context(v, u)
        vs, hs = self.shifts(u)
        return self.rbm.free_energy(v, visible_shift=vs, hidden_shift=hs)

    def hidden_mean(self, v: Tensor, u: Tensor) -> Tensor:
        """p(h_t = 1 | v_t, u_t), (B, H)."""
        return self.rbm.hidden_mean(v, u @ self.B.T)

    def visible_mean(self, h: Tensor, u: Tensor) -> Tensor:
        """E[v_t | h_t, u_t], (B, D)."""
        return self.rbm.visible_mean(h, u @ self.A.T)

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """CD-k directions for one batch ``(v, u)`` of frames and histories (trainer hook)."""
        v, u = batch[0], batch[1]
        if config.persistent:
            raise CRBMError("a CRBM trains with CD (persistent chains cannot follow a changing history)")
        u = noisy_history(u, self.history_noise, generator)
        grads, stats = self._cd_directions(v, u, *self.shifts(u), config, generator)
        return grads, {"recon_error": stats.recon_error / v.shape[0]}

    def _cd_directions(self, v, u, visible_shift, hidden_shift, config: TrainConfig, generator):
        """CD statistics of the engine at the given bias shifts, and the directions of W, the biases, A and B
        (dA = d_visible^T u / n, dB = d_hidden^T u / n)."""
        stats = self.rbm.cd_statistics(v, config, generator=generator, visible_shift=visible_shift,
                                       hidden_shift=hidden_shift)
        n = v.shape[0]
        grads = {f"rbm.{k}": g for k, g in stats.grads.items()}
        grads["A"] = torch.mm(stats.d_visible.T, u).div_(n)
        grads["B"] = torch.mm(stats.d_hidden.T, u).div_(n)
        return grads, stats

    def monitor(self, v: Tensor) -> Tensor:
        raise CRBMError("the free-energy gap of a CRBM needs histories; pass valid=None to fit")


def taylor_config(**overrides) -> TrainConfig:
    """TrainConfig with Taylor's CRBM settings (override any field, e.g. ``epochs=2000``)."""
    base = {
        "epochs": 2000,
        "batch_size": 100,
        "learning_rate": 1e-3,
        "lr_scale": {"A": 0.1},
        "momentum": 0.0,
        "final_momentum": 0.9,
        "momentum_epochs": 5,
        "weight_decay": 2e-4,
        "k": 1,
        "mean_visible": True,
        "verbose": False,
        "progress": None,  # a bar where a person watches (crbm.engine.progress.watching)
    }
    base.update(overrides)
    return TrainConfig(**base)


@register_model
class TwoLayerCRBM(nn.Module):
    """Two stacked CRBMs (Taylor, Hinton & Roweis 2006, section 4).

    ``layer1``: a CRBM on the frames (order n1). ``layer2``: a CRBM with Bernoulli visibles on the hidden
    means h1_t = p(h1_t | v_t, u_t) of layer 1 (order n2, its own history of h1). Generation (see
    ``crbm.motion.sample.generate``) runs Gibbs in layer 2 given its history, which gives h1_t, then sets
    v_t = E[v_t | h1_t, u_t] of layer 1. A window for layer 2 needs n1 + n2 earlier frames in its clip.
    """

    kind = "TwoLayerCRBM"

    def __init__(
        self,
        n_visible: int,
        n_hidden: tuple[int, int] | Sequence[int],
        order: tuple[int, int] | Sequence[int],
        *,
        visible: str | Units = "gaussian",
        init_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if len(n_hidden) != 2 or len(order) != 2:
            raise CRBMError(f"n_hidden and order take two values (layer 1, layer 2); got {n_hidden!r}, {order!r}")
        kw = {"init_std": init_std, "dtype": dtype, "device": device, "generator": generator}
        self.layer1 = CRBM(n_visible, int(n_hidden[0]), int(order[0]), visible=visible, **kw)
        self.layer2 = CRBM(int(n_hidden[0]), int(n_hidden[1]), int(order[1]), visible="bernoulli", **kw)

    @property
    def n_visible(self) -> int:
        return self.layer1.n_visible

    @property
    def order(self) -> int:
        """Frames of history a generated frame needs: n1 + n2."""
        return self.layer1.order + self.layer2.order

    def config(self) -> dict:
        c1 = self.layer1.config()
        return {
            "n_visible": c1["n_visible"],
            "n_hidden": [self.layer1.n_hidden, self.layer2.n_hidden],
            "order": [self.layer1.order, self.layer2.order],
            "visible": c1["visible"],
            "init_std": c1["init_std"],
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> TwoLayerCRBM:
        c = dict(config)
        c["visible"] = units_from_json(c["visible"])
        return cls(**c, dtype=dtype, device=device)

    @torch.no_grad()
    def hidden_clips(self, clips: Sequence[Tensor]) -> list[Tensor]:
        """Layer-1 hidden means of every frame t >= n1 of each clip: tensors (T_c - n1, H1)."""
        out = []
        n1 = self.layer1.order
        for c in clips:
            if c.shape[0] <= n1:
                out.append(c.new_zeros(0, self.layer1.n_hidden))
                continue
            w = Windows([c], n1)
            out.append(self.layer1.hidden_mean(w.v, w.u))
        return out


def fit_two_layer(
    model: TwoLayerCRBM,
    clips: Sequence[Tensor],
    config1: TrainConfig | None = None,
    config2: TrainConfig | None = None,
) -> tuple[list[dict], list[dict]]:
    """Train layer 1 on windows of ``clips`` (tensors (T_c, D)), then layer 2 on layer 1's hidden means over
    the same clips. Returns both training histories."""
    config1 = config1 or taylor_config()
    config2 = config2 or config1
    h1 = fit(model.layer1, Windows(clips, model.layer1.order), config1)
    h2 = fit(model.layer2, Windows(model.hidden_clips(clips), model.layer2.order), config2)
    return h1, h2
