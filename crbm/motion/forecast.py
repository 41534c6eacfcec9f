"""Prediction by the conditional models, with its baselines, and figures of generated motion.

* Multi-step prediction: from every start t of a clip (with ``order`` frames before it and ``max(horizons)``
  after), roll the model forward and report the RMS error of frame t + h - 1 at each horizon h. Baselines:
  zero velocity (repeat the last frame) and a linear autoregressive model of the same order fitted by
  ridge regression in closed form.
* Stability: the spread of generated motion against real clips.

The denoising baselines and the CMU-35 missing-data protocol are in ``crbm.motion.protocols``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from crbm.engine.errors import CRBMError
from crbm.motion.conditional import Windows, history, ridge_autoregression

HORIZONS = (1, 2, 4, 8, 16)

# A predictor maps seeds (S, order, D), a horizon and optional labels (S, horizon, L) to (S, horizon, D).
Predictor = Callable[[Tensor, int, "Tensor | None"], Tensor]


# ---------------------------------------------------------------------------------------------- prediction
def prediction_starts(clips: Sequence[Tensor], order: int, horizon: int) -> list[tuple[int, int]]:
    """(clip index, t) for every start t with ``order`` frames before it and ``horizon`` frames from it on."""
    return [(i, t) for i, c in enumerate(clips) for t in range(order, c.shape[0] - horizon + 1)]


def prediction_errors(
    predictor: Predictor,
    clips: Sequence[Tensor],
    *,
    order: int,
    horizons: Sequence[int] = HORIZONS,
    labels: Sequence[Tensor] | None = None,
    scale: Tensor | None = None,
    channels: Sequence[int] | None = None,
) -> dict[int, float]:
    """RMS error of ``predictor`` at each horizon over every start of ``clips`` (tensors (T_c, D)).

    The same starts serve every horizon (those with max(horizons) frames ahead). ``scale`` (D,) multiplies
    the errors (e.g. the z-score std to report degrees); ``channels`` restricts the RMS to those columns.
    Returns {h: sqrt(mean over starts and channels of error^2)}."""
    h_max = max(horizons)
    starts = prediction_starts(clips, order, h_max)
    if not starts:
        raise CRBMError(f"no clip has {order} + {h_max} frames for a prediction")
    seeds = torch.stack([clips[i][t - order : t] for i, t in starts])
    truth = torch.stack([clips[i][t : t + h_max] for i, t in starts])
    sched = None if labels is None else torch.stack([labels[i][t : t + h_max] for i, t in starts])
    pred = predictor(seeds, h_max, sched)
    err = pred - truth
    if scale is not None:
        err = err * scale
    if channels is not None:
        err = err[..., list(channels)]
    return {h: float(err[:, h - 1].square().mean().sqrt()) for h in horizons}


def model_predictor(
    model, *, k: int = 30, mean_field: bool = True, n_samples: int = 1, generator: torch.Generator | None = None
) -> Predictor:
    """A predictor that rolls ``model`` forward with ``crbm.motion.sample.generate``: deterministic mean-field
    rollouts (``mean_field=True``), or the average of ``n_samples`` Gibbs rollouts."""
    from crbm.motion.sample import generate

    def predict(seeds: Tensor, horizon: int, labels: Tensor | None) -> Tensor:
        s = seeds.shape[0]
        rep = seeds.repeat(n_samples, 1, 1)
        lab = None if labels is None else labels.repeat(n_samples, 1, 1)
        out = generate(model, rep, horizon, k=k, labels=lab, mean_field=mean_field, generator=generator)
        return out.reshape(n_samples, s, horizon, -1).mean(0)

    return predict


def zero_velocity(seeds: Tensor, horizon: int, labels: Tensor | None = None) -> Tensor:
    """The zero-velocity prediction: the last seed frame repeated, (S, horizon, D)."""
    return seeds[:, -1:].expand(-1, horizon, -1).clone()


# ``still`` maps seeds (S, order, D) to the frames (S, D) that mean "the pose stays as it is": the last seed
# frame where frames are poses (zero_velocity's), the code of a zero change where they are differences.
Still = Callable[[Tensor], Tensor]


@torch.no_grad()
def unpredictable_channels(predictor: Predictor, clips: Sequence[Tensor], *, order: int, still: Still) -> Tensor:
    """Channels (D,) bool where ``predictor``'s one-step prediction over every window of ``clips`` has a larger
    mean squared error than ``still(seeds)``: noisy channels whose next value the model cannot foresee."""
    starts = prediction_starts(clips, order, 1)
    if not starts:
        raise CRBMError(f"no clip has {order} + 1 frames for a prediction")
    seeds = torch.stack([clips[i][t - order : t] for i, t in starts])
    truth = torch.stack([clips[i][t] for i, t in starts])
    model = (predictor(seeds, 1, None)[:, 0] - truth).square().mean(0)
    return model > (still(seeds) - truth).square().mean(0)


def holding(predictor: Predictor, held: Tensor, still: Still) -> Predictor:
    """``predictor`` rolled forward one frame at a time with the ``held`` channels (D,) bool kept at
    ``still(seeds)`` throughout: the pose holds where the model cannot foresee it (``unpredictable_channels``),
    and the other channels are predicted given that."""

    def predict(seeds: Tensor, horizon: int, labels: Tensor | None) -> Tensor:
        keep = still(seeds)[:, held]
        window, out = seeds, []
        for t in range(horizon):
            frame = predictor(window, 1, None if labels is None else labels[:, t : t + 1])[:, 0].clone()
            frame[:, held] = keep
            out.append(frame)
            window = torch.cat([window[:, 1:], frame[:, None]], 1)
        return torch.stack(out, 1)

    return predict


@dataclass
class LinearAR:
    """v_t = c + M u_t (u_t = [v_{t-1}, ..., v_{t-n}]), fitted by ridge regression:
    [M c] = V^T U1 (U1^T U1 + ridge I')^-1 with U1 = [U 1] (the intercept is not penalised)."""

    weight: Tensor  # (D, n D)
    bias: Tensor  # (D,)
    order: int

    @classmethod
    def fit(cls, clips: Sequence[Tensor], order: int, *, ridge: float = 1e-3) -> LinearAR:
        """Fit on every window of ``clips`` that lies inside one clip (``ridge_autoregression``)."""
        weight, bias = ridge_autoregression(Windows(clips, order), ridge=ridge)
        return cls(weight, bias, order)

    def __call__(self, seeds: Tensor, horizon: int, labels: Tensor | None = None) -> Tensor:
        u = history(seeds, self.order)
        d = seeds.shape[2]
        out = []
        for _ in range(horizon):
            v = torch.addmm(self.bias, u, self.weight.T)
            out.append(v)
            u = torch.cat([v, u[:, : (self.order - 1) * d]], 1)
        return torch.stack(out, 1)


@torch.no_grad()
def prediction_residual_std(model, clips: Sequence[Tensor], *, k: int = 1) -> Tensor:
    """Per-channel RMS of the model's one-step mean-field prediction error over every window of ``clips``
    (D,): the ``prediction_std`` of ``crbm.motion.sample.denoise``."""
    order = model.order
    w = Windows(clips, order)
    seeds = torch.stack([w.frames[e - order : e] for e in w.ends.tolist()])
    pred = model_predictor(model, k=k)(seeds, 1, None)[:, 0]
    return (pred - w.v).square().mean(0).sqrt()


# ---------------------------------------------------------------------------------------------- stability figures
def spread_ratio(generated: Tensor, reference: Sequence[Tensor]) -> Tensor:
    """Per-channel spread of generated motion against real clips: the standard deviation over time of
    ``generated`` (C, T, D), averaged over chains, divided by the per-clip standard deviation over time of
    the ``reference`` clips (each (T_c, D)), averaged over clips. 1: the same spread; 0: a frozen channel.
    Shape (D,)."""
    g = generated.std(1).mean(0)
    r = torch.stack([c.std(0) for c in reference]).mean(0)
    return g / r.clamp_min(1e-12)
