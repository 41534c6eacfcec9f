"""Benchmark ``realism``: how real the demo model's generated walking and running move, against the clips it
was trained on (``crbm.motion.demo.demo_training_clips``), by ``crbm.mocap.realism``.

Per style (walk, run): 4 clips of 600 frames (20 s at the model's 30 fps) generated from the shipped demo
model (``crbm.load_motion_model("demo")``, Taylor's 30 Gibbs updates a frame, seeds 0..3 of one generator),
and the training clips of that style retargeted onto the model's rig, all at 30 fps. Rows per style:
foot skating (stance-foot speed over root speed; ``published``: the real clips' figure), the stance feet's
speed (cm/s), the joints' angular speed (deg/s), the gait period (s), and PSKL in both directions (real
spectra against generated; ``published``: 0). Each row carries ``ratio`` (generated / real) and the issue's
goal: stance-foot speed at most 2x the data's, angular speed within 20 %, gait period within 10 %.
Rows ``skating_<style>_locked`` and ``stance_speed_<style>_locked``: the same clips after foot locking
(``crbm.mocap.realism.lock_feet``, a post-process; it changes no other figure). Rows ``<figure>_<style>_final4``:
clips generated with the last Gibbs update of each frame from the mean of 4 hidden samples
(``MotionModel.generate(final_samples=4)``) instead of Taylor's mean-field update, same seeds.
Rows ``<figure>_<style>_contacts`` and ``..._contacts_final4``: the same figures for the demo recipe with
foot-contact channels (``train_demo_model(contacts=True)``: the model generates a contact per foot and a
generated contact holds its foot still), trained in the run unless ``CRBM_BENCH_CONTACTS`` names its file
(from ``tools/train_demo.py --contacts --out PATH``), without and with ``final_samples=4``; rows
``..._contacts_noise`` and ``..._contacts_noise_final4``: the recipe with contacts trained on histories with
unit Gaussian noise (``history_noise=1.0``; ``CRBM_BENCH_CONTACTS_NOISE``, from ``--contacts
--history-noise 1``), whose walk -> run transitions are measured too (``..._contacts_noise_h<n>``).
``--quick``: 2 clips of 300 frames.

Walk -> run transitions (``transition_rows``): the demo's schedule (4 s of walking, then 4 s of running) from the
demo model (``label``) and from an FCRBM on the same clips (``fcrbm``: the file ``CRBM_BENCH_FCRBM`` names,
from ``tools/train_demo.py --kind fcrbm``, or trained here), 4 seeds x 4 chains (quick: 2 x 2), for each
hand-over length in ``CRBM_BENCH_HANDOVERS`` (default: ``MotionModel.generate``'s, and 0: the labels
cross-faded at the scheduled frame). Steps by ``crbm.mocap.realism.clip_steps``, the steady walk and run
steps from 8 s of each style (4 chains, seed 1000), the transition by ``style_transition``. Rows per model
and length ``_h<n>``: the share of clips that complete within one run cycle with no irregular step (the
goal: all), the median transition time of the clips that complete (s, cycles), irregular steps per clip,
and the peak joint angular speed from 5 frames before the switch to 2 s after it over the steady run's
95th percentile (a pop at the hand-over shows as a ratio well above 1); per model and style, the share of
the steady clips' own steps that would count as irregular (a repeated foot or more than 15 % off the
median step): the floor under the irregular-step count where a step of the old gait ends after the switch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from benchkit import Stopwatch, row

import crbm
from crbm.mocap.realism import (
    clip_steps,
    foot_skating,
    frame_angular_speed,
    lock_feet,
    off_gait,
    realism,
    steady_step,
    style_transition,
)
from crbm.motion.demo import demo_training_clips, train_demo_model
from crbm.motion.model import HANDOVER

STYLES = ("walk", "run")
FINAL_SAMPLES = 4  # the variant rows' MotionModel.generate(final_samples=...)
# (row tag, environment variable naming a trained file, train_demo_model's recipe changes)
VARIANTS = (("contacts", "CRBM_BENCH_CONTACTS", {"contacts": True}),
            ("contacts_noise", "CRBM_BENCH_CONTACTS_NOISE", {"contacts": True, "history_noise": 1.0}))
GOALS = {"stance_speed": "at most 2x the data's", "angular_speed": "within 20 % of the data's",
         "gait_period": "within 10 % of the data's"}


def run(*, quick: bool, device: str) -> dict:
    model = crbm.load_motion_model("demo", device=device)
    model.model.cpu()
    clips, styles = demo_training_clips()
    chains, frames = (2, 300) if quick else (4, 600)
    rows, figures = [], {}
    for style in STYLES:
        real = [c for c, s in zip(clips, styles) if s == style]
        generated = model.generate([(style, frames)], n_chains=chains, generator=torch.Generator().manual_seed(0))
        f = figures[style] = realism(generated, real, fps=model.fps)
        rows += figure_rows(f, style)
        print(f"{style}: " + ", ".join(f"{r['name']} {r['ours']:.3g}" for r in rows[-6:]), flush=True)
        locked = [foot_skating(lock_feet(m)) for m in generated]  # the post-process: only skating changes
        for key in ("skating", "stance_speed"):
            ours, data = float(np.mean([s[key] for s in locked])), f[key]["real"]
            rows.append(row(f"{key}_{style}_locked", ours, data, "lower", ratio=ours / data, goal=GOALS.get(key, "-")))
        # the same chains with the last Gibbs update from FINAL_SAMPLES hidden samples (generate's final_samples)
        other = model.generate([(style, frames)], n_chains=chains, final_samples=FINAL_SAMPLES,
                               generator=torch.Generator().manual_seed(0))
        g = figures[f"{style}_final{FINAL_SAMPLES}"] = realism(other, real, fps=model.fps)
        rows += figure_rows(g, f"{style}_final{FINAL_SAMPLES}")
    sources, variants = {}, {}
    for name, variable, recipe in VARIANTS:  # the demo recipe with foot contacts (and history noise)
        variant, sources[name] = _demo_variant(variable, quick, **recipe)
        variant.model.cpu()
        variants[name] = variant
        for style in STYLES:
            real = [c for c, s in zip(clips, styles) if s == style]
            for final, tag in ((0, name), (FINAL_SAMPLES, f"{name}_final{FINAL_SAMPLES}")):
                clips_out = variant.generate([(style, frames)], n_chains=chains, final_samples=final,
                                             generator=torch.Generator().manual_seed(0))
                g = figures[f"{style}_{tag}"] = realism(clips_out, real, fps=variant.fps)
                rows += figure_rows(g, f"{style}_{tag}")
    moving, transitions = transition_rows({"label": model, "fcrbm": None,
                                           "contacts_noise": variants["contacts_noise"]}, quick=quick)
    rows += moving
    return {"rows": rows, "figures": figures, "chains": chains, "frames": frames, "fps": model.fps,
            "variant_models": sources, "transitions": transitions}


def figure_rows(f: dict, tag: str) -> list[dict]:
    """The rows of one set of :func:`crbm.mocap.realism.realism` figures ``f``, named ``<figure>_<tag>``:
    skating, stance speed, angular speed and gait period against the real clips' (with their ratio and the
    goal), then PSKL both ways."""
    out = []
    for key, better in (("skating", "lower"), ("stance_speed", "lower"), ("angular_speed", "closer"),
                        ("gait_period", "closer")):
        ours, data = f[key]["motion"], f[key]["real"]
        out.append(row(f"{key}_{tag}", ours, data, better, ratio=ours / data, goal=GOALS.get(key, "-")))
    return out + [row(f"pskl_{key}_{tag}", value, 0.0, "lower") for key, value in f["pskl"].items()]


def _demo_variant(variable: str, quick: bool, **recipe) -> tuple[crbm.MotionModel, str]:
    """A variant of the demo model: the file the environment variable ``variable`` names, or one trained here
    by ``train_demo_model(**recipe)`` (its recipe's epochs; 20 in quick runs); returns it and its source."""
    path = os.environ.get(variable)
    if path:
        return crbm.load_motion_model(path), os.path.basename(path)
    watch = Stopwatch()
    model = train_demo_model(epochs=20 if quick else None, **recipe)
    return model, f"trained here ({len(model.history)} epochs, {watch.elapsed():.0f} s)"


def transition_rows(models: dict, *, quick: bool) -> tuple[list[dict], dict]:
    """Walk -> run transition rows (module docstring) for ``{name: model}`` (``"fcrbm": None``:
    ``CRBM_BENCH_FCRBM``'s file or an FCRBM trained here); returns the rows and the per-clip figures."""
    seeds, chains = (2, 2) if quick else (4, 4)
    handovers = [int(h) for h in os.environ.get("CRBM_BENCH_HANDOVERS", f"{HANDOVER},0").split(",")]
    rows, out = [], {}
    for kind, model in models.items():
        source = "crbm/pretrained (demo)" if kind == "label" else ""
        if model is None:
            model, source = _demo_variant("CRBM_BENCH_FCRBM", quick, kind="fcrbm")
        model.model.cpu()
        walk = run = round(4.0 * model.fps)  # crbm demo's schedule
        steady = {s: model.generate([(s, 2 * walk)], n_chains=4, generator=torch.Generator().manual_seed(1000))
                  for s in ("walk", "run")}
        step = {s: steady_step(c) for s, c in steady.items()}
        level = float(np.percentile(np.concatenate([frame_angular_speed(c) for c in steady["run"]]), 95))
        out[kind] = {"source": source, "steady_step_frames": step, "clips": {}}
        for style, clips in steady.items():
            odd = np.concatenate([off_gait(clip_steps(c), step[style]) for c in clips])
            rows.append(row(f"steady_irregular_share_{kind}_{style}", float(odd.mean()) if len(odd) else float("nan"),
                            0.0, "lower", steps=len(odd), median_step_frames=step[style]))
        for h in handovers:
            clips = []
            for seed in range(seeds):
                clips += model.generate([("walk", walk), ("run", run)], n_chains=chains, handover=h,
                                        generator=torch.Generator().manual_seed(seed))
            found = []
            for c in clips:
                if np.isfinite([step["walk"], step["run"]]).all():
                    t = style_transition(clip_steps(c), walk, step["walk"], step["run"])
                else:  # a model that does not step in one of the styles: no figures
                    t = {"frames": float("nan"), "cycles": float("nan"), "irregular": float("nan"), "steps": 0}
                peak = frame_angular_speed(c)[walk - 5 : walk + 2 * round(model.fps)].max()
                found.append({**t, "peak_angular": float(peak / level)})
            out[kind]["clips"][h] = found
            cycles = np.array([t["cycles"] for t in found])
            irregular = np.array([t["irregular"] for t in found], dtype=np.float64)
            done = np.isfinite(cycles)
            tag, n = f"{kind}_h{h}", f"{int(done.sum())}/{len(found)}"
            median = float(np.median(cycles[done])) if done.any() else float("nan")
            rows += [
                row(f"transition_goal_{tag}", float(np.mean((cycles < 1) & (irregular == 0))), 1.0, "higher",
                    goal="all clips within one cycle, no irregular step", clips=len(found), model=source),
                row(f"transition_s_{tag}", median * 2 * step["run"] / model.fps, None, "lower", completed=n),
                row(f"transition_cycles_{tag}", median, 1.0, "lower", completed=n),
                row(f"irregular_steps_{tag}", float(irregular.mean()), 0.0, "lower", max=float(irregular.max())),
                row(f"transition_peak_angular_{tag}", float(np.median([t["peak_angular"] for t in found])), 1.0,
                    "lower", max=float(max(t["peak_angular"] for t in found))),
            ]
            print(f"{tag}: " + ", ".join(f"{r['name']} {r['ours']:.3g}" for r in rows[-5:]), flush=True)
    return rows, out
