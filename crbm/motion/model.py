"""The main job, end to end: motion clips -> preprocessing -> a conditional model -> generation, filtering and
filling -> motion clips (BVH, Parquet).

A ``MotionModel`` bundles what a user needs to go from files to files: the trained conditional model (CRBM,
two-layer CRBM, label-conditioned CRBM or FCRBM), the fitted preprocessing pipeline (body-centred root,
exponential maps, z-scoring, resampling to the model's frame rate), the skeleton, the style names, seed frames
per style (so generation needs no data), and the ridge AR baseline fitted on the same training data. It saves
as one code-free checkpoint (tensors in safetensors, everything else JSON).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import load_checkpoint, model_path, save_checkpoint
from crbm.engine.curves import check_history
from crbm.engine.errors import CRBMError, FormatError
from crbm.engine.threads import step_work, threads_for
from crbm.engine.train import TrainConfig, fit
from crbm.mocap.motion import Motion, Skeleton
from crbm.mocap.preprocess import Pipeline, body_centred_pipeline
from crbm.mocap.realism import clip_steps
from crbm.mocap.resample import resample
from crbm.mocap.retarget import canonical_rig, retarget
from crbm.motion.conditional import CRBM, TwoLayerCRBM, Windows, fit_two_layer, taylor_config
from crbm.motion.factored import FCRBM, LabelCRBM, fcrbm_config
from crbm.motion.forecast import HORIZONS, LinearAR, model_predictor, prediction_errors, zero_velocity
from crbm.motion.mixture import MixtureCRBM
from crbm.motion.sample import generate, style_schedule

KINDS = ("crbm", "two-layer", "label", "fcrbm", "mixture")

# Smallest scale the z-scoring gives a channel of the model's rig, by the end of its name: 1 degree for
# rotations (exponential maps in radians, Euler and root angles in degrees), 0.2 cm for the root's height and
# ground steps, and a tenth of those for frame-to-frame differences (".d"). A channel that barely moves in
# training would otherwise turn a degree of noise into hundreds of standard deviations.
_DEGREE = np.pi / 180
MIN_STD = {"ex": _DEGREE, "ey": _DEGREE, "ez": _DEGREE, "Xrotation": 1.0, "Yrotation": 1.0, "Zrotation": 1.0,
           "dyaw": 1.0, "pitch": 1.0, "roll": 1.0, "vx": 0.2, "vz": 0.2, "fx": 0.2, "fz": 0.2, "height": 0.2}
MIN_STD |= {f"{k}.d": v / 10 for k, v in MIN_STD.items()} | {f"{k}.c": v for k, v in MIN_STD.items()}

HANDOVER = 30  # frames of MotionModel.generate's phase-matched hand-over at a change of style
LOOK_AHEAD = 1.5  # seconds generated past a scheduled change of style to find the next foot strike


@dataclass
class MotionModel:
    """A trained motion model with everything needed to read and write real clips."""

    model: nn.Module
    pipeline: Pipeline
    skeleton: Skeleton
    fps: float
    styles: tuple[str, ...] = ()
    seeds: dict[str, Tensor] = field(default_factory=dict)  # style (or "") -> (n_seed, D) normalised frames
    ar: LinearAR | None = None
    history: list[dict] = field(default_factory=list)  # training: one dict of figures per epoch (crbm.engine.curves)
    home: Skeleton | None = None  # the first training clip's rig: where new clips go back to (``crbm generate``)

    @property
    def order(self) -> int:
        """Frames of history the model needs before it can generate or filter."""
        m = self.model
        return m.layer1.order + m.layer2.order if isinstance(m, TwoLayerCRBM) else m.order

    @property
    def channels(self) -> list[str]:
        """The model's (normalised) channels, ``pipeline.names_out``."""
        return list(self.pipeline.names_out)

    # ------------------------------------------------------------------ display
    def _summary(self) -> list[tuple[str, str]]:
        m = self.model
        layers = (m.layer1, m.layer2) if isinstance(m, TwoLayerCRBM) else (m,)
        units = " + ".join(str(layer.n_hidden) for layer in layers)
        if isinstance(m, MixtureCRBM):
            units = f"{m.components} x {m.n_hidden}"
        rows = [
            ("model", f"{type(m).__name__}, order {self.order}, {units} hidden units"),
            ("styles", ", ".join(self.styles) or "none"),
            ("frame rate", f"{self.fps:g} fps"),
            ("channels", f"{len(self.channels)} (from {len(self.skeleton.joints)} joints)"),
        ]
        if self.history:
            last = self.history[-1]
            figure = f", last recon_error {last['recon_error']:.4g}" if "recon_error" in last else ""
            rows.append(("training", f"{len(self.history)} epochs{figure}"))
        if self.ar is not None:
            rows.append(("baseline", f"ridge AR of order {self.ar.order}"))
        return rows

    def __repr__(self) -> str:
        return "MotionModel(" + "; ".join(v if k in ("model",) else f"{k} {v}" for k, v in self._summary()) + ")"

    def _repr_html_(self) -> str:
        """In a notebook: a summary table (kind, order, hidden units, styles, rate, channels, training)."""
        from crbm.mocap.notebook import table

        return table(self._summary(), "MotionModel")

    # ------------------------------------------------------------------ data in and out
    def on_rig(self, motion: Motion) -> Motion:
        """The clip at the model's rate on the model's rig: resampled (``crbm.mocap.resample``), then
        retargeted by joint name (``crbm.mocap.retarget``: same limb directions, root trajectory scaled by
        leg length) unless it already is on that rig. Works for BVH, ASF/AMC and Parquet clips of any
        subject of the model's topology, any channel layout and rotation order."""
        motion = resample(motion, self.fps)
        return motion if motion.skeleton == self.skeleton else retarget(motion, self.skeleton)

    def transform(self, motions: Sequence[Motion]) -> list[Tensor]:
        """Clips -> normalised model frames, one (T_i, D) tensor each (:meth:`on_rig`, then the pipeline)."""
        clips = [self.on_rig(m).frames for m in motions]
        dtype = next(self.model.parameters()).dtype
        return [torch.as_tensor(z, dtype=dtype) for z in self.pipeline.transform(clips)]

    def to_motion(self, frames: Tensor, *, name: str = "", context: Motion | None = None) -> Motion:
        """Normalised frames (T, D) at the model's rate -> a clip. Without ``context`` it is on the model's
        rig, its root starting at the origin. With ``context`` (the clip the frames came from) the root
        trajectory starts from that clip's first pose and the clip comes back on ``context``'s own skeleton
        (retargeted by joint name), still at the model's rate."""
        contexts = None if context is None else self.pipeline.contexts([self.on_rig(context).frames])
        raw = self.pipeline.inverse_transform([frames.detach().cpu().double().numpy()], contexts=contexts)[0]
        clip = Motion(self.skeleton, np.asarray(raw, dtype=np.float64), self.fps, name=name)
        if context is None or context.skeleton == self.skeleton:
            return clip
        return retarget(clip, context.skeleton)

    # ------------------------------------------------------------------ generation
    def style_labels(self, schedule: Sequence[tuple[str, int]], *, blend: int = 15) -> Tensor | None:
        """``[("walk", 120), ("run", 120)]`` -> per-frame one-hot labels (frames, n_styles), or None for a
        model without styles."""
        if not self.styles:
            if any(s for s, _ in schedule):
                raise CRBMError("this model has no styles; generate with --frames only")
            return None
        segments = []
        for style, n in schedule:
            if style not in self.styles:
                raise CRBMError(f"unknown style {style!r}; the model knows {list(self.styles)}")
            segments.append((self.styles.index(style), int(n)))
        return style_schedule(segments, len(self.styles), blend=blend, dtype=next(self.model.parameters()).dtype)

    def generate(
        self,
        schedule: Sequence[tuple[str, int]] | int,
        *,
        n_chains: int = 1,
        k: int = 30,
        final_samples: int = 0,
        blend: int = 15,
        handover: int = HANDOVER,
        seed: Tensor | Motion | None = None,
        generator: torch.Generator | None = None,
    ) -> list[Motion]:
        """Generate ``n_chains`` independent clips of exactly ``sum(n)`` frames at the model's rate, following
        ``schedule``: (style, frames) pairs such as ``[("walk", 120), ("run", 120)]``, or a frame count
        (``generate(200)``: 200 frames of the first style, or of the one motion a model without styles has).

        The chains start from ``seed`` frames, which are not part of the returned clips: by default the
        frames stored for the first style (real training frames), on the model's rig with the root starting
        at the origin. ``seed`` may be a clip (a ``Motion`` of the model's topology, at any rate: all its
        frames, at least the model's order of them at the model's rate), and then the clips continue it: on
        its skeleton, the root going on from where the seed clip is; or normalised frames (T0, D) with
        T0 >= the model's order.

        ``k`` Gibbs updates settle each frame (Taylor's 30); ``final_samples`` (0: Taylor's mean-field last
        update) is ``crbm.motion.sample.generate``'s: the last visible update from the mean of that many hidden
        samples, which damps the motion less.

        At a change of style (``walk`` -> ``run``) each chain changes at a matching gait phase
        (``handover`` > 0 frames): it keeps the old style up to its first foot strike at or after the
        scheduled frame (``crbm.mocap.realism.clip_steps``, found in a look-ahead of ``LOOK_AHEAD`` seconds,
        frame s), and a reference chain of the new style, started from that style's stored seed frames, is
        run up to a strike of the same foot (frame r). Over the ``handover`` frames from s the labels fade
        from the old style to the new one, and each settled frame is pulled toward the reference's frame of
        the same phase, ``v_{s+j} <- v_{s+j} + w_j (g_{r+j} - v_{s+j})`` with ``w_j = (j + 1) / handover``
        (``crbm.motion.sample.generate``'s ``guide``); from then on the chain runs free in the new style.
        The chain's frames before s are those of the look-ahead (the same draws of ``generator``), so each
        change costs the generation of the frames up to it plus the look-ahead and the reference again. A
        chain without such strikes (a rig without feet, a clip that does not step) and ``handover=0`` change
        the labels at the scheduled frame, cross-faded over ``blend`` frames."""
        if isinstance(schedule, int) and not isinstance(schedule, bool):
            schedule = [(self.styles[0] if self.styles else "", schedule)]
        n_frames = sum(int(n) for _, n in schedule)
        if n_frames < 1:
            raise CRBMError("the schedule asks for no frames")
        if handover < 0:
            raise CRBMError(f"handover: expected a number of frames >= 0, got {handover}")
        # the whole call (mapping in and out as well as sampling) on the threads chosen for the sampler's work
        with threads_for(step_work(self.model, n_chains)):
            labels = self.style_labels(schedule, blend=blend)
            context = None
            if isinstance(seed, Motion):
                context = seed
                (seed,) = self.transform([seed])
                if seed.shape[0] < self.order:
                    raise CRBMError(
                        f"seed clip {context.name!r}: a model of order {self.order} needs at least {self.order} seed "
                        f"frames at {self.fps:g} fps, the clip gives {seed.shape[0]}"
                    )
            elif seed is None:
                first = schedule[0][0] if self.styles else ""
                if first not in self.seeds:
                    raise CRBMError(f"no stored seed frames for style {first!r}")
                seed = self.seeds[first]
            changes = len({s for s, _ in schedule}) > 1 and handover > 0
            if changes:
                out = self._handover(schedule, seed, handover=handover, blend=blend, k=k, final_samples=final_samples,
                                     n_chains=n_chains, generator=generator)
            else:
                out = generate(self.model, seed, n_frames, k=k, final_samples=final_samples, n_chains=n_chains,
                               labels=labels, generator=generator)
            full = torch.cat([seed.expand(out.shape[0], -1, -1), out], 1)
            clips = [self.to_motion(full[c], name=f"generated_{c}", context=context) for c in range(full.shape[0])]
            return [c.replace(frames=c.frames[seed.shape[-2] :]) for c in clips]

    def _handover(self, schedule: Sequence[tuple[str, int]], seed: Tensor, *, handover: int, blend: int, k: int,
                  final_samples: int, n_chains: int, generator: torch.Generator | None) -> Tensor:
        """Generated frames (C, T, D) with a phase-matched hand-over at each change of style (:meth:`generate`)."""
        gen = generator
        if gen is None:  # a generator of its own, seeded from torch's global one, to replay the same draws
            gen = torch.Generator(device=seed.device).manual_seed(int(torch.randint(1 << 62, ())))
        state = gen.get_state()
        n_frames = sum(int(n) for _, n in schedule)
        labels = self.style_labels(schedule, blend=0).to(seed.device).repeat(n_chains, 1, 1)  # (C, T, L)
        target = seed.new_zeros(n_chains, n_frames, seed.shape[-1])
        weight = seed.new_zeros(n_chains, n_frames)
        look = round(LOOK_AHEAD * self.fps)
        ends = np.cumsum([int(n) for _, n in schedule])
        for i in range(1, len(schedule)):
            old, new = schedule[i - 1][0], schedule[i][0]
            if old == new:
                continue
            switch, stop = int(ends[i - 1]), int(ends[i])
            # the fallback: the labels cross-faded over ``blend`` frames at the scheduled frame
            fade = self.style_labels([(old, switch), (new, stop - switch)], blend=blend)[switch:].to(seed.device)
            rows = self.style_labels([(old, 1), (new, 1)], blend=0).to(seed.device)  # the two styles' one-hot rows
            gen.set_state(state)
            horizon = min(n_frames, switch + look)
            going_on = labels[:, :horizon].clone()
            going_on[:, switch:] = rows[0]  # the old style past the scheduled frame
            ahead = generate(self.model, seed, horizon, k=k, final_samples=final_samples, n_chains=n_chains,
                             labels=going_on, guide=(target[:, :horizon], weight[:, :horizon]), generator=gen)
            ref_seed = self.seeds.get(new)
            ref = None
            if ref_seed is not None:
                ref = generate(self.model, ref_seed, look + handover, k=k, final_samples=final_samples,
                               n_chains=n_chains, labels=self.style_labels([(new, look + handover)], blend=0),
                               generator=gen)
            for c in range(n_chains):
                mine = seed[c] if seed.ndim == 3 else seed
                strike = _first_strike(self, mine, ahead[c], switch, min(stop, horizon))
                match = None if strike is None or ref is None else _first_strike(self, ref_seed, ref[c], 0, look + 1,
                                                                                 foot=strike[1])
                if match is None:
                    labels[c, switch:stop] = fade
                    continue
                s, r = strike[0], match[0]
                n = min(handover, stop - s)
                w = torch.arange(1, n + 1, dtype=seed.dtype, device=seed.device) / handover
                labels[c, s : s + n] = torch.lerp(rows[0], rows[1], w[:, None])
                labels[c, switch:s] = rows[0]
                target[c, s : s + n] = ref[c, r : r + n]
                weight[c, s : s + n] = w
        gen.set_state(state)
        return generate(self.model, seed, n_frames, k=k, final_samples=final_samples, n_chains=n_chains,
                        labels=labels, guide=(target, weight), generator=gen)

    # ------------------------------------------------------------------ filtering and filling
    def _one_layer(self) -> nn.Module:
        if isinstance(self.model, MixtureCRBM):
            raise CRBMError("denoising and filling need a crbm, label, fcrbm or two-layer model; a mixture model "
                            "generates and predicts only")
        return self.model.layer1 if isinstance(self.model, TwoLayerCRBM) else self.model

    def _labels_for(self, style: str | None, n: int) -> Tensor | None:
        if not self.styles:
            return None
        return self.style_labels([(style or self.styles[0], n)], blend=0)

    def denoise(
        self,
        motion: Motion,
        *,
        noise_std: float | None = None,
        position_noise_std: float | None = None,
        style: str | None = None,
        out_fps: float | None = None,
    ) -> Motion:
        """Clean a noisy clip with ``crbm.motion.cleanup.denoise_motion``: every channel smoothed at the clip's own
        rate, frames before and after each frame counted, with the clip's noise level (``noise_std`` degrees
        for rotations, ``position_noise_std`` in the clip's length unit for positions; estimated from the clip
        where not given) and this model's one-step predictions of the joints' rotations, each weighted by its
        uncertainty. Comes back on the clip's skeleton with its rate and frame count, or at ``out_fps``."""
        from crbm.motion.cleanup import denoise_motion

        clean = denoise_motion(motion, model=self, noise_std=noise_std, position_noise_std=position_noise_std,
                               style=style)
        return clean if out_fps is None else resample(clean, out_fps)

    def fill(
        self,
        motion: Motion,
        missing: Sequence[str] = (),
        *,
        start: int = 0,
        end: int | None = None,
        gaps: Sequence = (),
        style: str | None = None,
        out_fps: float | None = None,
    ) -> Motion:
        """Fill missing joints from both sides of each gap with ``crbm.motion.cleanup.fill_motion``: the joints in
        ``missing`` (``rfemur``; a channel name such as ``rfemur.rx`` stands for its joint) from frame
        ``start`` up to, not including, ``end`` (default: the clip's end), counted in the clip's own frames,
        and every further ``crbm.motion.cleanup.Gap`` in ``gaps``. Recorded values come back exactly; the filled
        joints meet them without a jump. Comes back on the clip's skeleton with its rate and frame count, or
        at ``out_fps``."""
        from crbm.motion.cleanup import Gap, fill_motion

        spans = list(gaps)
        if missing:
            joints = tuple(dict.fromkeys(c.split(".")[0] for c in missing))
            spans.insert(0, Gap(joints, start, motion.n_frames if end is None else end))
        filled = fill_motion(motion, spans, model=self, style=style)
        return filled if out_fps is None else resample(filled, out_fps)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, motions: Sequence[Motion], *, horizons: Sequence[int] = HORIZONS) -> dict:
        """RMS prediction error (normalised units) at each horizon of the model (deterministic mean-field
        rollouts), the zero-velocity baseline and the stored ridge AR, on ``motions``."""
        clips = self.transform(motions)
        order = self.order
        labels = None
        if self.styles:
            labels = [self._labels_for(self.styles[0], c.shape[0]) for c in clips]
        kw = {"order": order, "horizons": horizons, "labels": labels}
        out = {
            "model": prediction_errors(model_predictor(self.model, k=1), clips, **kw),
            "zero_velocity": prediction_errors(zero_velocity, clips, **kw),
        }
        if self.ar is not None:
            out["linear_ar"] = prediction_errors(self.ar, clips, **{**kw, "order": self.ar.order})
        return {name: {int(h): float(e) for h, e in errs.items()} for name, errs in out.items()}

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        extra = {
            "motion_model": {
                "pipeline": self.pipeline.state_dict(),
                "skeleton": self.skeleton.to_dict(),
                "fps": self.fps,
                "styles": list(self.styles),
                "seeds": {k: v.tolist() for k, v in self.seeds.items()},
                "ar": None
                if self.ar is None
                else {"order": self.ar.order, "weight": self.ar.weight.tolist(), "bias": self.ar.bias.tolist()},
                "history": self.history,
                "home": None if self.home is None else self.home.to_dict(),
            }
        }
        return save_checkpoint(path, self.model, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device | None = None) -> MotionModel:
        ck = load_checkpoint(path, device=device)
        meta = ck.extra.get("motion_model")
        if not isinstance(meta, dict):
            raise CRBMError(f"{path}: a {ck.model.kind} checkpoint without motion data (not written by crbm train)")
        dtype = next(ck.model.parameters()).dtype
        try:  # anything wrong in the stored entry is the file's fault: one FormatError naming it
            ar = meta.get("ar")
            built = cls(
                model=ck.model,
                pipeline=Pipeline.from_state(meta["pipeline"]),
                skeleton=Skeleton.from_dict(meta["skeleton"]),
                fps=float(meta["fps"]),
                styles=tuple(meta.get("styles", ())),
                seeds={k: torch.tensor(v, dtype=dtype) for k, v in meta.get("seeds", {}).items()},
                ar=None
                if ar is None
                else LinearAR(torch.tensor(ar["weight"], dtype=dtype), torch.tensor(ar["bias"], dtype=dtype),
                              int(ar["order"])),
                history=check_history(meta.get("history", [])),  # none in models saved before it was kept
                home=None if meta.get("home") is None else Skeleton.from_dict(meta["home"]),
            )
            _check_stored(built)
        except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError, RuntimeError) as err:
            raise FormatError(
                path, f"the 'motion_model' entry is malformed ({type(err).__name__}: {err}); expected the "
                "preprocessing, skeleton, fps, styles, seeds and AR fit that crbm train writes"
            ) from None
        return built


def _first_strike(model: MotionModel, seed: Tensor, frames: Tensor, start: int, stop: int,
                  foot: int | None = None) -> tuple[int, int] | None:
    """``(frame, foot)`` of the first foot strike (``crbm.mocap.realism.clip_steps``) of generated ``frames``
    (T, D) after their ``seed`` (T0, D), at a frame ``start <= frame < stop`` counted in ``frames`` (of
    ``foot`` only, 0 or 1, when given); None when there is none or the clip shows no steps."""
    try:
        steps = clip_steps(model.to_motion(torch.cat([seed, frames])))
    except CRBMError:  # no feet on the rig, or a root that does not move
        return None
    at = steps["frames"] - seed.shape[0]
    ok = (at >= start) & (at < stop) & ((steps["feet"] == foot) if foot is not None else True)
    i = np.flatnonzero(ok)
    return (int(at[i[0]]), int(steps["feet"][i[0]])) if len(i) else None


def _check_stored(m: MotionModel) -> None:
    """ValueError unless a loaded MotionModel's parts fit together: the preprocessing gives the model's D
    channels, every seed and the AR fit are D wide, styles are names, and one frame comes back through the
    preprocessing onto the skeleton."""
    d = m.model.config()["n_visible"]
    if len(m.pipeline.names_out or ()) != d:
        raise ValueError(f"the preprocessing gives {len(m.pipeline.names_out or ())} channels, the model takes {d}")
    if not all(isinstance(s, str) for s in m.styles):
        raise ValueError(f"styles must be names, got {list(m.styles)[:5]}")
    for style, seed in m.seeds.items():
        if seed.ndim != 2 or seed.shape[1] != d:
            raise ValueError(f"seed frames of style {style!r} have shape {tuple(seed.shape)}, expected (n, {d})")
    if m.ar is not None and (m.ar.bias.shape != (d,) or m.ar.weight.shape != (d, m.ar.order * d)):
        raise ValueError(f"the AR fit has shapes {tuple(m.ar.weight.shape)}, {tuple(m.ar.bias.shape)}; expected "
                         f"({d}, order * {d}), ({d},)")
    m.to_motion(torch.zeros(1, d))


def demo_model_path() -> Path:
    """The small walk/run model shipped inside the package (trained by ``tools/train_demo.py``)."""
    return model_path("demo")


def load_motion_model(name_or_path: str | os.PathLike, *, device=None) -> MotionModel:
    """A MotionModel from a checkpoint path, or the shipped demo model for the name ``"demo"``."""
    return MotionModel.load(model_path(name_or_path), device=device)


def train_motion_model(
    motions: Sequence[Motion],
    *,
    styles: Sequence[str] | None = None,
    kind: str = "crbm",
    order: int = 3,
    hidden: int = 150,
    components: int = 2,
    epochs: int = 2000,
    fps: float = 30.0,
    representation: str = "expmap",
    differences: bool = False,
    centring: bool = False,
    root: str = "velocity",
    contacts: bool = False,
    config: TrainConfig | None = None,
    seed: int = 0,
    device: str | None = None,
    ar_start: bool = False,
    history_noise: float | None = None,
    batch_size: int | None = None,
    verbose: bool = False,
) -> MotionModel:
    """Fit preprocessing and a conditional model on ``motions`` and return a MotionModel.

    The clips may come from several subjects and formats of one topology (joints matched by name): they are
    resampled to ``fps`` and retargeted onto one rig for all of them (``crbm.mocap.retarget.canonical_rig``:
    mean rest directions, leg-scaled bone lengths, centimetres), so the same pose is the same model input
    whatever the subject; the preprocessing (``body_centred_pipeline`` with ``MIN_STD`` floors) is fitted on
    that rig.

    Args:
        styles: one style name per clip (e.g. "walk", "run"); needed for kind "label" and "fcrbm".
        kind: "crbm", "two-layer" (two CRBMs of ``hidden`` units and ``order`` each), "label" (labels as extra
            conditioning, the baseline), "fcrbm" (Taylor & Hinton 2009's factored, style-gated model) or
            "mixture" (``components`` CRBMs of ``hidden`` units each as an implicit mixture, ``MixtureCRBM``:
            generation and prediction only, no denoising or filling).
        order, hidden: history length and hidden units (per component for "mixture").
        differences: model frame-to-frame differences of the pose (``FrameDifferences``) instead of poses: a
            subject's own way of holding a limb then means nothing to the model, which helps prediction on
            subjects it never saw; generated poses, integrated from the training mean, may drift.
        root: how the root's ground step is modelled: "velocity" (Taylor's: the root's own, ``BodyCentredRoot``)
            or "foot" (the lower foot's, ``PlantedFootRoot``: a planted foot is a step of zero, and the root
            is carried along by the legs' pose).
        contacts: model a contact channel per foot beside the pose (``FootContacts``: 1 while the foot is in
            stance by ``crbm.mocap.realism``'s rule), generated with it; the generated clips' root then moves
            so that a foot whose generated contact is on stays put.
        epochs: passes over the windows (Taylor's demo: 2000).
        fps: the model's frame rate; clips at other rates are resampled to it (``crbm.mocap.resample``:
            every k-th frame for a whole ratio k such as 120 -> 30, quaternion slerp otherwise).
        config: training settings (default ``taylor_config`` / ``fcrbm_config`` with ``epochs``, ``seed``).
        batch_size: windows per mini-batch (default: the config's 100, or every window when the clips hold
            fewer, so that a clip of a few seconds trains); not together with ``config``.
        ar_start: start a CRBM's or label CRBM's autoregressive weights at the ridge AR solution of the same
            windows (``CRBM.initialise_autoregressive``) instead of Taylor's start near zero: the fit starts from
            the best linear predictor, which helps prediction, but a label CRBM started so can generate slower,
            less regular running, so the default is Taylor's.
        history_noise: the standard deviation of the Gaussian noise added to the training histories (the
            models' ``history_noise``) for kinds "crbm", "label" and "fcrbm"; None: 1 for "fcrbm" (Taylor's
            FCRBM code adds unit noise; without it the FCRBM can learn dynamics that blow up once they run on
            their own output), 0 for the others. A model trained on noisy histories learns to return from
            the slightly-off histories of its own generation: with 1, the demo's label CRBM keeps its running
            pace over long generation instead of slowing toward a still pose.
    """
    if kind not in KINDS:
        raise CRBMError(f"unknown model kind {kind!r}; expected one of {list(KINDS)}")
    if not motions:
        raise CRBMError("no training clips")
    if history_noise is None:
        history_noise = 1.0 if kind == "fcrbm" else 0.0
    elif kind in ("two-layer", "mixture") and history_noise:
        raise CRBMError(f"history_noise is not available for kind {kind!r}; use 'crbm', 'label' or 'fcrbm'")
    skeletons: list[Skeleton] = []
    for m in motions:
        if m.skeleton not in skeletons:
            skeletons.append(m.skeleton)
    style_names: tuple[str, ...] = ()
    if kind in ("label", "fcrbm"):
        if styles is None or len(styles) != len(motions):
            raise CRBMError(f"kind {kind!r} needs one style name per clip (got {0 if styles is None else len(styles)})")
        style_names = tuple(sorted(set(styles), key=list(styles).index))
    rig = canonical_rig(skeletons)
    pipeline = body_centred_pipeline(rig, representation=representation, differences=differences, centring=centring,
                                     root=root, contacts=contacts, min_std=MIN_STD)
    raw = [retarget(resample(m, fps), rig).frames for m in motions]
    short = [m.name for m, r in zip(motions, raw) if r.shape[0] <= 2 * order]
    if short:
        raise CRBMError(f"clips {short} are too short for a model of order {order} at {fps:g} fps")
    clips = [torch.as_tensor(z, dtype=torch.float32) for z in pipeline.fit_transform(raw, rig.channel_names)]
    labels = None
    if style_names:
        labels = []
        for c, s in zip(clips, styles):
            y = torch.zeros(c.shape[0], len(style_names))
            y[:, style_names.index(s)] = 1
            labels.append(y)
    gen = torch.Generator().manual_seed(seed)
    d = clips[0].shape[1]
    if d == 0:
        names = ", ".join(repr(m.name) for m in motions)
        raise CRBMError(f"every channel of the clips {names} holds one value throughout (a still pose): "
                        "nothing moves, so there is no motion to learn")
    base = fcrbm_config if kind == "fcrbm" else taylor_config
    if config is not None and batch_size is not None:
        raise CRBMError("give batch_size in the config, not beside it")
    # the smallest window count the model trains on (a two-layer model's second layer sees 2 * order fewer)
    n_windows = sum(max(0, c.shape[0] - (2 * order if kind == "two-layer" else order)) for c in clips)
    cfg = config or base(epochs=epochs, seed=seed, device=device, verbose=verbose,
                         batch_size=batch_size or min(base().batch_size, n_windows))
    if kind == "two-layer":
        model: nn.Module = TwoLayerCRBM(d, (hidden, hidden), (order, order), generator=gen)
        layers = fit_two_layer(model, clips, cfg)
        history = [{"phase": f"layer {i}", **f} for i, h in enumerate(layers, 1) for f in h]
    else:
        if kind == "crbm":
            model = CRBM(d, hidden, order, history_noise=history_noise, generator=gen)
        elif kind == "label":
            model = LabelCRBM(d, hidden, order, len(style_names), history_noise=history_noise, generator=gen)
        elif kind == "mixture":
            model = MixtureCRBM(d, hidden, order, components, generator=gen)
        else:
            model = FCRBM(d, hidden, order, len(style_names), history_noise=history_noise, generator=gen)
        windows = Windows(clips, order, labels=labels)
        if ar_start and isinstance(model, CRBM):  # LabelCRBM is a CRBM
            model.initialise_autoregressive(windows)
        history = fit(model, windows, cfg)
    model = model.cpu()
    n_seed = model.layer1.order + model.layer2.order if isinstance(model, TwoLayerCRBM) else order
    seeds = {}
    for c, s in zip(clips, styles if style_names else [""] * len(clips)):
        seeds.setdefault(s, c[:n_seed].clone())
    return MotionModel(model, pipeline, rig, fps, style_names, seeds, LinearAR.fit(clips, order), history,
                       home=motions[0].skeleton)
