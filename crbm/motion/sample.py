"""Generation, filtering and missing-data filling for the conditional models (CRBM, LabelCRBM, FCRBM and the
two-layer CRBM), as in Taylor, Hinton & Roweis (2006) and Taylor's code.

Every one-layer model offers ``model.order`` and ``model.conditioned(u, labels) -> Conditioned``: the engine's
RBM at histories u (B, order * D) and labels (B, L) (``crbm.engine.rbm.Conditioned``: per-row biases, and factored
weights for the FCRBM). One frame is then settled by k alternating updates started at v_t = v_{t-1}, drawn
and averaged by the view's unit families (Bernoulli, ReLU or Gaussian hidden units):

    for s = 1 .. k-1:  h ~ p(h | v_t, u_t);  v_t <- E[v | h, u_t]
    finally:           v_t <- E[v | p(h | v_t, u_t), u_t]           (the mean-field final visible update)

which is Taylor's generation loop (his final update uses the hidden probabilities instead of a sample).
With ``mean_field=True`` every h is its mean: a deterministic predictor (the online filter's rounds). All
chains of a batch are updated at once; the Python loop runs once per frame and once per Gibbs step.

For Gaussian visibles with a shared weight the hidden input after a visible update is
c_t + (b_t / sigma + W h) W = a_t + h (W^T W), so a Gibbs step costs one matrix product with the
precomputed H x H matrix W^T W when that is cheaper than two products with W.
"""

from __future__ import annotations

import torch
from torch import Tensor

from crbm.engine.checks import check_int_at_least, check_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.noise import COUNTER_MIN
from crbm.engine.progress import steps
from crbm.engine.rbm import Conditioned
from crbm.engine.threads import step_work, use_threads
from crbm.engine.units import Gaussian, Units
from crbm.motion.conditional import TwoLayerCRBM, history
from crbm.motion.mixture import MixtureCRBM

# hidden units per Gibbs step up to which a frame's uniforms become thresholds (``Units.thresholds``) at once:
# a draw is then one call a step instead of two, which is what a few chains pay for; on more, the bulk logit
# costs more than the sigmoids it replaces
_THRESHOLDS_MAX = 1 << 11
# numbers of a frame's noise from which chains whose steps draw fewer than noise.COUNTER_MIN numbers (torch's
# generator) draw the frame's noise as one counter-based stream instead (measured: 3 chains of 150 hidden
# units 5 % faster, 6 chains 13 %; 1 chain 4 % slower, 2 the same)
_ONE_STREAM_MIN = 1 << 13
# hidden units per Gibbs step from which each step draws its own noise on the CPU just before using it, while
# it is in the cache, instead of the frame's noise at once (a draw of (k, B, H) is k draws of (B, H) in turn:
# the same numbers either way)
_PER_STEP_MIN = 1 << 17


def _chains(frames: Tensor, n_chains: int | None, what: str) -> Tensor:
    """(T, D) -> (C, T, D) repeated; (C, T, D) kept."""
    if frames.ndim == 2:
        return frames.unsqueeze(0).expand(n_chains or 1, -1, -1)
    if frames.ndim != 3:
        raise CRBMError(f"{what}: expected (frames, D) or (chains, frames, D), got shape {tuple(frames.shape)}")
    if n_chains is not None and n_chains != frames.shape[0]:
        raise CRBMError(f"{what} has {frames.shape[0]} chains but n_chains={n_chains}")
    return frames


def _schedule(labels: Tensor | None, n_chains: int, n_frames: int, like: Tensor) -> Tensor | None:
    """Labels per chain and frame, (C, n_frames, L), or None."""
    if labels is None:
        return None
    labels = labels.to(dtype=like.dtype, device=like.device)
    if labels.ndim == 2:
        labels = labels.unsqueeze(0).expand(n_chains, -1, -1)
    if labels.ndim != 3 or labels.shape[0] != n_chains or labels.shape[1] != n_frames:
        raise CRBMError(
            f"labels: expected ({n_frames}, L) or ({n_chains}, {n_frames}, L) (one row per generated frame), "
            f"got {tuple(labels.shape)}"
        )
    return labels


def style_schedule(segments: list[tuple[int, int]], n_labels: int, *, blend: int = 0, dtype=torch.float32) -> Tensor:
    """A label schedule, e.g. ``style_schedule([(0, 120), (1, 120)], 2, blend=30)``: walk (label 0) for 120
    frames then run for 120, with a linear cross-fade of ``blend`` frames at each switch. Shape (frames, L)."""
    rows = []
    for label, n in segments:
        if not 0 <= label < n_labels or n < 1:
            raise CRBMError(f"style segment ({label}, {n}): need 0 <= label < {n_labels} and n >= 1")
        y = torch.zeros(n, n_labels, dtype=dtype)
        y[:, label] = 1
        rows.append(y)
    out = torch.cat(rows)
    if blend > 0:
        start = 0
        for (_, n), nxt in zip(segments[:-1], rows[1:]):
            start += n
            prev = out[start - 1].clone()
            for j in range(min(blend, out.shape[0] - start)):
                w = (j + 1) / (blend + 1)
                out[start + j] = (1 - w) * prev + w * nxt[0]
    return out


class _Settler:
    """Runs the per-frame Gibbs settling of a one-layer model (see the module docstring)."""

    def __init__(self, k: int, mean_field: bool, generator: torch.Generator | None, *, final_samples: int = 0):
        """``final_samples``: n > 0 makes the final visible update E[v | mean of n hidden samples] instead of
        E[v | hidden probabilities] (unless ``mean_field``)."""
        check_positive_int(k, "k (Gibbs steps per frame)")
        check_int_at_least(final_samples, "final_samples", 0)
        self.k, self.mean_field, self.generator = k, mean_field, generator
        self.final = 0 if mean_field else final_samples
        self._gram: Tensor | None = None
        self._buffer: Tensor | None = None  # the (k - 1 + final, B, H) buffer the noise is drawn into
        self._rounds: tuple[Tensor, ...] = ()  # the buffer's rows
        self._step: Tensor | None = None  # one step's noise, for many chains

    def settle(self, cond: Conditioned, v: Tensor, missing: Tensor | None = None) -> Tensor:
        """Settle frames ``v`` (B, D) (the starting state); with ``missing`` (B, D) bool only those entries
        change (the others stay clamped). Hidden states are drawn by the view's hidden family from the
        uniforms or normals it consumes (``Units.noise``), visible updates are the visible family's mean."""
        k, batch, hidden = self.k, v.shape[0], cond.hidden
        pre = cond.hidden_pre(v)
        stochastic = not self.mean_field and (k > 1 or self.final)
        per_step = stochastic and pre.numel() >= _PER_STEP_MIN and pre.device.type == "cpu"
        noise = self._noise(hidden, pre) if stochastic and not per_step else None
        # a few chains: a Bernoulli draw becomes one comparison with the thresholds logit(u), in place
        step = None if noise is None or pre.numel() > _THRESHOLDS_MAX else hidden.thresholds(noise)
        rounds = None if noise is None else self._rows(noise if step is None else step)

        # the s-th hidden draw of this frame, its route chosen once a frame, not at every Gibbs step
        if per_step:  # many chains: each step's noise drawn just before its use, while it is in the cache
            buffer = self._step_buffer(pre)

            def draw(s: int, out: Tensor | None = None) -> Tensor:
                return hidden.sample_from(pre, hidden.noise(pre.shape, self.generator, pre, out=buffer), out=out)
        elif rounds is None:
            def draw(s: int, out: Tensor | None = None) -> Tensor:
                return hidden.mean(pre)
        elif step is None:
            def draw(s: int, out: Tensor | None = None) -> Tensor:
                return hidden.sample_from(pre, rounds[s], out=out)
        else:
            def draw(s: int, out: Tensor | None = None) -> Tensor:  # 0.0 / 1.0
                return torch.lt(rounds[s], pre, out=torch.empty_like(pre) if out is None else out)

        if k > 1:
            h = torch.empty_like(pre)
            gram = self._gram_route(cond, batch) if missing is None else None
            if gram is not None:  # pre <- a_t + h (W^T W), written in place (no allocation per step)
                a = cond.hidden_pre(cond.visible_bias)
                if step is not None:  # a few chains: each step is two calls, h = 1{t_s < pre} and the product
                    for t in rounds[: k - 1]:
                        torch.addmm(a, torch.lt(t, pre, out=h), gram, out=pre)
                else:
                    for s in range(k - 1):
                        torch.addmm(a, draw(s, h), gram, out=pre)
            else:
                vis = torch.empty_like(v)
                for s in range(k - 1):
                    mean = cond.visible.mean(cond.visible_pre(draw(s, h), out=vis))
                    v = mean if missing is None else torch.where(missing, mean, v)
                    cond.hidden_pre(v, out=pre)
        if self.final:  # the mean of ``final`` hidden samples, from the frame's last noise rows
            h = torch.stack([draw(k - 1 + j) for j in range(self.final)]).mean(0)
        else:
            h = hidden.mean(pre)
        mean = cond.visible_mean(h)
        return mean if missing is None else torch.where(missing, mean, v)

    def _noise(self, units: Units, pre: Tensor) -> Tensor:
        """The noise of the k - 1 (+ final) hidden samples of a frame, (k - 1 + final, B, H), drawn by
        ``units.noise`` from ``crbm.engine.noise`` into a reused buffer."""
        shape = (self.k - 1 + self.final, *pre.shape)
        if self._buffer is None or self._buffer.shape != shape or self._buffer.dtype != pre.dtype:
            self._buffer = torch.empty(shape, dtype=pre.dtype, device=pre.device)
            self._rounds = ()
        if pre.numel() >= COUNTER_MIN or self._buffer.numel() < _ONE_STREAM_MIN or pre.device.type != "cpu":
            return units.noise(shape, self.generator, pre, out=self._buffer)
        # a few chains: the frame's noise as one stream, one counter-based draw instead of k - 1 small ones
        flat = self._buffer.view(1, -1)
        drawn = units.noise(flat.shape, self.generator, pre, out=flat)
        return self._buffer if drawn is flat else drawn.view(shape)

    def _step_buffer(self, pre: Tensor) -> Tensor:
        """A reused buffer like ``pre`` for one Gibbs step's noise."""
        if self._step is None or self._step.shape != pre.shape or self._step.dtype != pre.dtype:
            self._step = torch.empty_like(pre)
        return self._step

    def _rows(self, noise: Tensor) -> tuple[Tensor, ...]:
        """``noise.unbind(0)``, kept for the reused buffer (one call a frame costs as much as several steps)."""
        if noise is not self._buffer:
            return noise.unbind(0)
        if not self._rounds:
            self._rounds = noise.unbind(0)
        return self._rounds

    def _gram_route(self, cond: Conditioned, batch: int) -> Tensor | None:
        """W^T W for Gaussian visibles with a shared weight, when one H x H product is cheaper than two
        D x H products (H <= 2 D, or small batches where the call overhead dominates). Computed once: the
        model does not change during a generation."""
        if not cond.shared or not isinstance(cond.visible, Gaussian):
            return None
        d, h = cond.weight_in.shape
        if h > 2 * d and batch > 16:
            return None
        if self._gram is None:
            self._gram = cond.weight_out.T @ cond.weight_in
        return self._gram


@torch.no_grad()
def generate(
    model,
    seed: Tensor,
    n_frames: int,
    *,
    k: int = 30,
    n_chains: int | None = None,
    labels: Tensor | None = None,
    mean_field: bool = False,
    final_samples: int = 0,
    guide: tuple[Tensor, Tensor] | None = None,
    generator: torch.Generator | None,
) -> Tensor:
    """Generate ``n_frames`` frames after ``seed`` with batched Gibbs chains.

    Args:
        model: a CRBM, LabelCRBM, FCRBM, TwoLayerCRBM or MixtureCRBM.
        seed: (T0, D) real frames shared by all chains, or (C, T0, D); T0 >= model.order.
        n_frames: frames to generate.
        k: alternating updates per frame (Taylor: 30); the last is the mean-field visible update.
        n_chains: C (default: 1, or the seed's first dimension).
        labels: style per generated frame, (n_frames, L) or (C, n_frames, L); rows may blend styles.
        mean_field: use hidden probabilities instead of samples (deterministic prediction).
        final_samples: 0 (Taylor's) or n: the last visible update is E[v | (h_1 + ... + h_n) / n] with h_i
            drawn from p(h | v, u) instead of E[v | p(h | v, u)]: between the mean-field update, whose
            rollouts damp the motion, and one sample (n = 1), which jitters.
        guide: ``(g, w)``, target frames g (C, n_frames, D) and weights w (C, n_frames) in [0, 1]: each
            settled frame is pulled toward its target before it enters the history, v_t <- v_t + w_t (g_t -
            v_t) (w = 1 replaces it, w = 0 leaves it); one-layer models only. ``MotionModel.generate`` uses it
            to hand a chain over to another gait at a matching phase.
        generator: random source of the hidden samples.

    Returns the generated frames, (C, n_frames, D) (the seed is not repeated).
    """
    seed = _chains(seed, n_chains, "seed")
    order = model.order
    if seed.shape[1] < order:
        raise CRBMError(f"seed: a model of order {order} needs at least {order} seed frames, got {seed.shape[1]}")
    if seed.shape[2] != model.n_visible:
        raise CRBMError(f"seed: expected frames of {model.n_visible} values, got {seed.shape[2]}")
    c = seed.shape[0]
    sched = _schedule(labels, c, n_frames, seed)
    if isinstance(model, (TwoLayerCRBM, MixtureCRBM)) and (sched is not None or guide is not None):
        raise CRBMError(f"{model.kind} takes no labels and no guide")
    if isinstance(model, MixtureCRBM) and final_samples:
        raise CRBMError("MixtureCRBM takes no final_samples")
    if guide is not None:
        target, weight = (g.to(dtype=seed.dtype, device=seed.device) for g in guide)
        if target.shape != (c, n_frames, seed.shape[2]) or weight.shape != (c, n_frames):
            raise CRBMError(f"guide: expected frames ({c}, {n_frames}, {seed.shape[2]}) and weights ({c}, {n_frames}), "
                            f"got {tuple(target.shape)} and {tuple(weight.shape)}")
        guide = (target, weight.unsqueeze(-1))
    restore_threads = use_threads(step_work(model, c), seed.device)  # crbm.engine.threads: by the work
    settler = _Settler(k, mean_field, generator, final_samples=final_samples)
    try:
        if isinstance(model, TwoLayerCRBM):
            return _generate_two_layer(model, seed, n_frames, settler)
        if isinstance(model, MixtureCRBM):
            return _generate_mixture(model, seed, n_frames, k, mean_field, generator)
        return _generate_one_layer(model, seed, n_frames, sched, settler, guide)
    finally:
        restore_threads()


def _generate_one_layer(model, seed: Tensor, n_frames: int, sched: Tensor | None, settler: _Settler,
                        guide: tuple[Tensor, Tensor] | None = None) -> Tensor:
    order, (c, t0, d) = model.order, seed.shape
    end = t0 + n_frames - 1
    back = seed.new_empty(c, end + 1, d)  # frame t at end - t: its history [v_{t-1}, ..., v_{t-order}] is a view
    back[:, n_frames:] = seed.flip(1)
    for t in steps(t0, t0 + n_frames, desc="generate"):
        u = back[:, end - t + 1 : end - t + 1 + order].reshape(c, -1)
        # the first frame goes through the checked public method, later ones skip the checks
        conditioned = model.conditioned if t == t0 else getattr(model, "_conditioned", model.conditioned)
        cond = conditioned(u) if sched is None else conditioned(u, sched[:, t - t0])
        v = settler.settle(cond, back.select(1, end - t + 1))
        if guide is not None:
            v = torch.lerp(v, guide[0][:, t - t0], guide[1][:, t - t0])
        back.select(1, end - t).copy_(v)
    return back[:, : n_frames].flip(1)


def _generate_mixture(model: MixtureCRBM, seed: Tensor, n_frames: int, k: int, mean_field: bool,
                      generator: torch.Generator | None) -> Tensor:
    """Each frame settles by k updates from v_{t-1}: z ~ p(z | v, u), h ~ p(h | v, u, z), v <- E[v | h, u, z],
    the last with h's probabilities; with ``mean_field``, k responsibility-weighted mean updates
    (``MixtureCRBM.mean_field_step``)."""
    order, (c, t0, _) = model.order, seed.shape
    buf = seed.new_empty(c, t0 + n_frames, seed.shape[2])
    buf[:, :t0] = seed
    for t in steps(t0, t0 + n_frames, desc="generate"):
        vb, hb = model.biases(history(buf[:, t - order : t], order))
        v = buf[:, t - 1]
        if mean_field:
            for _ in range(k):
                v = model.mean_field_step(v, vb, hb)
        else:
            for s in range(k):
                cond = model.at(vb, hb, model.sample_components(v, vb, hb, generator))
                h = cond.hidden_mean(v) if s == k - 1 else cond.sample_hidden(v, generator=generator)[0]
                v = cond.visible_mean(h)
        buf[:, t] = v
    return buf[:, t0:].clone()


def _generate_two_layer(model: TwoLayerCRBM, seed: Tensor, n_frames: int, settler: _Settler) -> Tensor:
    """Layer 2 settles h1_t given its history of h1 (its visible frames); v_t = E[v | h1_t, u_t] of layer 1.
    The layer-2 history of the seed is the layer-1 hidden means of the seed frames."""
    l1, l2 = model.layer1, model.layer2
    n1, n2 = l1.order, l2.order
    c, t0 = seed.shape[0], seed.shape[1]
    buf = seed.new_empty(c, t0 + n_frames, seed.shape[2])
    buf[:, :t0] = seed
    top = buf.new_empty(c, t0 + n_frames, l1.n_hidden)
    for t in range(n1, t0):  # hidden means of the seed
        top[:, t] = l1.hidden_mean(buf[:, t], history(buf[:, t - n1 : t], n1))
    if t0 < n1 + n2:
        raise CRBMError(f"seed: a two-layer model of orders ({n1}, {n2}) needs at least {n1 + n2} seed frames")
    for t in steps(t0, t0 + n_frames, desc="generate"):
        cond2 = l2.conditioned(history(top[:, t - n2 : t], n2))
        top[:, t] = settler.settle(cond2, top[:, t - 1])
        buf[:, t] = l1.visible_mean(top[:, t], history(buf[:, t - n1 : t], n1))
    return buf[:, t0:].clone()


@torch.no_grad()
def denoise(
    model,
    noisy: Tensor,
    *,
    iterations: int = 1,
    noise_std: float | Tensor | None = None,
    prediction_std: Tensor | None = None,
    labels: Tensor | None = None,
) -> Tensor:
    """Online filter; frame t >= order uses only u_t, built from the already-filtered frames.

    Without ``noise_std`` (Taylor's filter): h = p(h | x_t, u_t), v_t = E[v | h, u_t], then ``iterations - 1``
    further mean-field rounds. With ``noise_std`` (the corruption's standard deviation, scalar or (D,)) and
    ``prediction_std`` (D,) (the model's one-step prediction error, ``crbm.motion.forecast.prediction_residual_std``),
    the model's mean-field prediction p_t (from v_{t-1}, ``iterations`` rounds) is fused with the
    observation as two Gaussian estimates:

        v_t = p_t + s^2 / (s^2 + noise_std^2) * (x_t - p_t),   s = prediction_std.

    The first ``order`` frames are returned as given (they have no history).
    Args: noisy (T, D) or (C, T, D); labels (T, L) or (C, T, L) for style models. Returns noisy's shape.
    For a TwoLayerCRBM pass ``model.layer1``."""
    check_positive_int(iterations, "iterations")
    if (noise_std is None) != (prediction_std is None):
        raise CRBMError("give both noise_std and prediction_std (the fused filter) or neither (Taylor's filter)")
    gain = None
    if noise_std is not None:
        s2 = torch.as_tensor(prediction_std, dtype=noisy.dtype, device=noisy.device).square()
        gain = s2 / (s2 + torch.as_tensor(noise_std, dtype=noisy.dtype, device=noisy.device).square())
    squeeze = noisy.ndim == 2
    out, _ = _filter(model, _chains(noisy, None, "noisy"), gain, iterations, labels)
    return out[0] if squeeze else out


def _filter(model, x: Tensor, gain: Tensor | None, iterations: int, labels: Tensor | None) -> tuple[Tensor, Tensor]:
    """The online filter over (C, T, D); returns the filtered frames and the model's predictions (the
    estimate before the observation at t is used; NaN for the first ``order`` frames)."""
    n = model.order
    out = x.clone()
    predictions = torch.full_like(x, float("nan"))
    sched = _schedule(labels, x.shape[0], x.shape[1], x)
    settler = _Settler(iterations, True, None)  # ``iterations`` mean-field rounds
    for t in steps(n, x.shape[1], desc="filter"):
        cond = model.conditioned(history(out[:, t - n : t], n), None if sched is None else sched[:, t])
        v = settler.settle(cond, x[:, t] if gain is None else out[:, t - 1])
        predictions[:, t] = v
        out[:, t] = v if gain is None else v + gain * (x[:, t] - v)
    return out, predictions


@torch.no_grad()
def smooth(
    forward,
    backward,
    noisy: Tensor,
    *,
    noise_std: float | Tensor,
    forward_std: Tensor,
    backward_std: Tensor,
    labels: Tensor | None = None,
) -> Tensor:
    """Offline smoother from two filters: ``forward`` (a model of the clips) and ``backward`` (the same kind of
    model trained on the time-reversed clips) each run the fused online filter of ``denoise`` in their
    direction; frame t is then the inverse-variance average of the forward prediction p_f (from the past,
    std ``forward_std`` (D,)), the backward prediction p_b (from the future, ``backward_std``) and the
    observation x_t (``noise_std``):

        v_t = (p_f / s_f^2 + p_b / s_b^2 + x_t / s_n^2) / (1 / s_f^2 + 1 / s_b^2 + 1 / s_n^2)

    (a prediction that does not exist near either end is left out). noisy (T, D) or (C, T, D); labels (T, L)
    or (C, T, L) for style models."""
    squeeze = noisy.ndim == 2
    x = _chains(noisy, None, "noisy")
    like = {"dtype": x.dtype, "device": x.device}
    s2n = torch.as_tensor(noise_std, **like).square().expand(x.shape[-1])
    s2f, s2b = torch.as_tensor(forward_std, **like).square(), torch.as_tensor(backward_std, **like).square()
    sched = _schedule(labels, x.shape[0], x.shape[1], x)
    _, pf = _filter(forward, x, s2f / (s2f + s2n), 1, sched)
    _, pb = _filter(backward, x.flip(1), s2b / (s2b + s2n), 1, None if sched is None else sched.flip(1))
    pb = pb.flip(1)
    num, den = x / s2n, (1 / s2n).expand_as(x).clone()
    for p, s2 in ((pf, s2f), (pb, s2b)):
        ok = ~torch.isnan(p)
        num = num + torch.where(ok, p / s2, 0.0)
        den = den + torch.where(ok, 1 / s2, 0.0)
    out = num / den
    return out[0] if squeeze else out


@torch.no_grad()
def fill_missing(
    model,
    frames: Tensor,
    missing: Tensor,
    *,
    n_samples: int = 20,
    k: int = 30,
    labels: Tensor | None = None,
    shared_history: bool = False,
    generator: torch.Generator | None,
) -> Tensor:
    """Fill the ``missing`` entries of ``frames`` frame by frame (online), with the observed entries clamped.

    At frame t every one of ``n_samples`` chains starts its missing entries at its frame t-1, then runs the
    settling loop of ``generate`` updating only the missing entries; the result is the chains' average.
    Each chain keeps its own filled history, unless ``shared_history`` (every chain continues from the
    average). Observed entries of the result equal ``frames`` exactly.

    Args:
        frames: (T, D); values at missing entries are ignored.
        missing: (T, D) bool, True where a value is missing; the first ``order`` frames must be complete.
        labels: (T, L) for style models.
    Returns (T, D).
    """
    if frames.ndim != 2 or missing.shape != frames.shape:
        raise CRBMError(
            f"frames (T, D) and missing (T, D) must match; got {tuple(frames.shape)}, {tuple(missing.shape)}"
        )
    missing = missing.to(device=frames.device, dtype=torch.bool)
    n = model.order
    if bool(missing[:n].any()):
        raise CRBMError(f"fill_missing: the first {n} frames (the model's order) must be fully observed")
    c = n_samples
    buf = torch.where(missing, frames.new_zeros(()), frames).unsqueeze(0).repeat(c, 1, 1)
    sched = _schedule(labels, c, frames.shape[0], frames)
    settler = _Settler(k, False, generator)
    for t in steps(n, frames.shape[0], desc="fill"):
        m = missing[t]
        if not bool(m.any()):
            continue
        cond = model.conditioned(history(buf[:, t - n : t], n), None if sched is None else sched[:, t])
        start = torch.where(m, buf[:, t - 1], buf[:, t])
        v = settler.settle(cond, start, m.expand_as(start))
        buf[:, t] = v.mean(0) if shared_history else v
    out = buf.mean(0)
    return torch.where(missing, out, frames)


def _histories(frames: Tensor, order: int) -> Tensor:
    """u_t for every row t >= order of ``frames`` (T, D): (T - order, order * D), most recent frame first."""
    t = frames.shape[0]
    return torch.cat([frames[order - k - 1 : t - k - 1] for k in range(order)], dim=1)


def predict_next(model, frames: Tensor, *, labels: Tensor | None = None) -> Tensor:
    """The model's one-step prediction of every frame of ``frames`` (T, D) from the frames before it: row t is
    E[v | p(h | v_{t-1}, u_t), u_t], one mean-field round started at the previous frame (``model_predictor``
    with k = 1), for t >= ``model.order``; the first ``order`` rows are NaN. ``labels`` (T, L) for style
    models. All rows in one batch; differentiable (used by :func:`fill_both_sides`)."""
    n = model.order
    out = torch.full_like(frames, float("nan"))
    if frames.shape[0] <= n:
        return out
    cond = model.conditioned(_histories(frames, n), None if labels is None else labels[n:])
    out[n:] = cond.visible_mean(cond.hidden_mean(frames[n - 1 : -1]))
    return out


def fill_both_sides(
    model,
    frames: Tensor,
    missing: Tensor,
    *,
    labels: Tensor | None = None,
    residual_var: Tensor | None = None,
    iterations: int = 200,
) -> Tensor:
    """Fill the ``missing`` entries of ``frames`` with the frames after each gap as well as those before it.

    The missing values x_M are the mode of the model read as a nonlinear autoregression with Gaussian
    residuals of variance s (D,):

        x_M = argmin  sum_t sum_d (v_{t,d} - f_{t,d})^2 / s_d,   f = predict_next(model, v)

    over every frame t >= order whose prediction or value involves a missing entry, so a frame after a gap
    pulls the gap towards values from which it is predicted well; a gap at the clip's start is shaped by the
    frames after it alone, one at the end by those before it. ``residual_var`` s defaults to the mean squared
    one-step residual over the windows without a missing entry (1 where there are none). Solved by L-BFGS
    with a strong-Wolfe line search (``iterations`` at most) from the values ``frames`` holds at the missing
    entries (the caller's first guess, e.g. interpolation); deterministic.

    Args: frames (T, D); missing (T, D) bool; labels (T, L) for style models. Returns (T, D), equal to
    ``frames`` at every observed entry. For a TwoLayerCRBM pass ``model.layer1``.
    """
    if frames.ndim != 2 or missing.shape != frames.shape:
        raise CRBMError(
            f"frames (T, D) and missing (T, D) must match; got {tuple(frames.shape)}, {tuple(missing.shape)}"
        )
    check_positive_int(iterations, "iterations")
    missing = missing.to(device=frames.device, dtype=torch.bool)
    n, t_all = model.order, frames.shape[0]
    rows = torch.nonzero(missing.any(1)).flatten()
    if rows.numel() == 0:
        return frames.clone()
    if t_all <= n:
        raise CRBMError(f"fill_both_sides: a model of order {n} needs more than {n} frames, got {t_all}")
    with torch.no_grad():
        if residual_var is None:
            clean = ~missing.any(1)
            whole = torch.stack([clean[n - k : t_all - k] for k in range(n + 1)]).all(0)  # rows t >= n
            err = (predict_next(model, frames, labels=labels)[n:] - frames[n:])[whole]
            residual_var = err.square().mean(0) if err.shape[0] else frames.new_ones(frames.shape[1])
        s = torch.as_tensor(residual_var, dtype=frames.dtype, device=frames.device).clamp_min(1e-12)
    lo = max(n, int(rows[0]))
    hi = min(t_all, int(rows[-1]) + n + 1)
    seg = slice(lo - n, hi)
    part, hole = frames[seg], missing[seg]
    lab = None if labels is None else labels[seg]
    free = part[hole].clone().requires_grad_(True)
    opt = torch.optim.LBFGS([free], max_iter=iterations, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def objective() -> Tensor:
        opt.zero_grad()
        v = part.masked_scatter(hole, free)
        loss = ((v[n:] - predict_next(model, v, labels=lab)[n:]).square() / s).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(objective)
    out = frames.clone()
    out[seg] = part.masked_scatter(hole, free.detach())
    return out
