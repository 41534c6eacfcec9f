"""Benchmark ``cross-subject``: motion prediction on subjects the model never saw (leave one subject out).

For each CMU subject under ``mocap/cmu/NN/`` (``NN.asf`` with its walks ``NN_MM.amc``): train a CRBM
(``crbm.train_motion_model``: order 3, 150 hidden units, Taylor's settings, 30 fps, clips retargeted onto
one rig for all training subjects; ``MODEL`` below) on the walks of every other subject, then predict the
held-out subject's walks from every start with 3 frames of history, 1, 2, 4, 8 and 16 frames ahead
(mean-field rollouts). Baselines in the same run: zero velocity (repeat the last frame) and the ridge AR of
the same order fitted on the same training frames. Errors are measured on the held-out subject's own
skeleton (predictions retargeted back to it), in units that mean the same on every subject: degrees of
joint rotation (``crbm.mocap.metrics.joint_angle_error``) and centimetres of joint position with the root
at the origin (``joint_position_error``).

The model's representation (``VARIANTS["centring"]``: each channel relative to the clip's own running mean,
``crbm.mocap.preprocess.RunningCentring``) was chosen among ``VARIANTS`` with subjects 12 and 39 held out
(``VALIDATION``); their rows are marked ``split: validation``, every other subject's ``split: test``.
``CRBM_BENCH_VARIANT=poses`` (or another key) runs another variant; ``CRBM_BENCH_SUBJECTS=12,39`` holds out
only those subjects.

Rows: ``deg_<subject>_<h>`` and ``cm_<subject>_<h>`` for the CRBM, with ``published`` holding zero
velocity's figure from the same run and ``ar`` the AR's; ``deg_mean_<h>`` / ``cm_mean_<h>`` average over the
held-out test subjects. 500 epochs per model (a quarter of Taylor's 2000, to fit 17 models in a run);
``--quick``: three held-out subjects, 100 epochs (numbers are not claims).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from benchkit import row

import crbm
from crbm.data.paths import data_path
from crbm.mocap.metrics import joint_angle_error, joint_position_error
from crbm.mocap.preprocess import FrameDifferences, Pipeline, RunningCentring, level_columns
from crbm.mocap.resample import resample
from crbm.motion.forecast import model_predictor, prediction_starts

HORIZONS = (1, 2, 4, 8, 16)
QUICK_SUBJECTS = ("12", "35", "39")
VALIDATION = ("12", "39")
# representations compared on the validation subjects; CRBM_BENCH_VARIANT picks one (default: the chosen one)
VARIANTS = {
    "centring": {"centring": True},
    "centring-ar-start": {"centring": True, "ar_start": True},
    "differences": {"differences": True, "ar_start": True},
    "differences-taylor-start": {"differences": True},
    "poses": {},
}
MODEL = {"kind": "crbm", "order": 3, "hidden": 150, "seed": 0}


def subjects(root: Path) -> dict[str, list[crbm.Motion]]:
    """Every subject folder's walks: ``{"NN": [Motion, ...]}``, each read with the folder's own ASF."""
    out = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        skeleton = crbm.read_asf(folder / f"{folder.name}.asf")
        out[folder.name] = [crbm.read_amc(a, skeleton) for a in sorted(folder.glob("*.amc"))]
    return out


def predictions(model: crbm.MotionModel, clips: list[torch.Tensor]) -> tuple[list, dict[str, torch.Tensor]]:
    """Starts ``(clip, t)`` and the CRBM's and the AR's normalised frames ``(S, 16, D)`` from those starts."""
    order, h = model.order, max(HORIZONS)
    starts = prediction_starts(clips, order, h)
    seeds = torch.stack([clips[i][t - order : t] for i, t in starts])
    return starts, {"crbm": model_predictor(model.model, k=1)(seeds, h, None), "ar": model.ar(seeds, h, None)}


def temporal_step(model: crbm.MotionModel) -> int | None:
    """Index of the pipeline step that depends on earlier frames (FrameDifferences, RunningCentring)."""
    return next((i for i, s in enumerate(model.pipeline.steps) if isinstance(s, (FrameDifferences, RunningCentring))),
                None)


def on_rig_frames(model: crbm.MotionModel, z: torch.Tensor, starts: list, before: list[np.ndarray]) -> np.ndarray:
    """Predicted normalised frames ``z`` (S, h, D) -> frames on the model's rig (S * h, C). Every step of the
    pipeline inverts frame by frame (the root, which integrates over time, is ignored by both measures)
    except a step that depends on earlier frames: that one continues from the true frames before each start
    (``before[i]``: clip i through the steps ahead of it)."""
    steps, k = model.pipeline.steps, temporal_step(model)
    flat = z.reshape(-1, z.shape[-1]).double().numpy()
    if k is None:
        return model.pipeline.inverse_transform([flat])[0]
    y = Pipeline(steps[k + 1 :]).inverse_transform([flat])[0].reshape(z.shape[0], z.shape[1], -1)
    step, cols = steps[k], level_columns(steps[k].names_in)
    if isinstance(step, FrameDifferences):
        x = step.continue_inverse(y, np.stack([before[i][t - 1, cols] for i, t in starts]))
    else:
        mu = np.asarray([step.mean[step.names_in[c]] for c in cols])
        totals = np.stack([step.prior * mu + before[i][:t, cols].sum(0) for i, t in starts])
        x = step.continue_inverse(y, totals, np.asarray([t for _, t in starts], dtype=np.float64))
    return Pipeline(steps[:k]).inverse_transform([x.reshape(-1, x.shape[-1])])[0]


def errors(model: crbm.MotionModel, held_out: list[crbm.Motion]) -> dict[str, dict[str, dict[int, float]]]:
    """``{predictor: {"deg"|"cm": {h: mean error}}}`` on ``held_out``, measured on its own skeleton."""
    truth = [resample(m, model.fps) for m in held_out]
    starts, preds = predictions(model, model.transform(held_out))
    k = temporal_step(model)
    on_rig = [model.on_rig(m).frames for m in held_out]
    before = [] if k is None else Pipeline(model.pipeline.steps[:k]).transform(on_rig)
    h = max(HORIZONS)
    real = np.stack([truth[i].frames[t : t + h] for i, t in starts])  # (S, h, C) on the subject's skeleton
    a = crbm.Motion(held_out[0].skeleton, real.reshape(-1, real.shape[-1]), model.fps)
    last = np.stack([truth[i].frames[t - 1] for i, t in starts])  # zero velocity: the last seen frame, held
    guesses = {"zero_velocity": a.replace(frames=np.repeat(last, h, axis=0))}
    for name, z in preds.items():
        on_rig = crbm.Motion(model.skeleton, on_rig_frames(model, z, starts, before), model.fps)
        guesses[name] = a.replace(frames=crbm.retarget(on_rig, a.skeleton).frames)
    out = {}
    for name, b in guesses.items():
        deg = joint_angle_error(a, b).reshape(len(starts), h)
        cm = joint_position_error(a, b).reshape(len(starts), h)
        out[name] = {"deg": {k: float(deg[:, k - 1].mean()) for k in HORIZONS},
                     "cm": {k: float(cm[:, k - 1].mean()) for k in HORIZONS}}
    return out


def _settings() -> tuple[str, list[str] | None]:
    """``CRBM_BENCH_VARIANT`` (a key of ``VARIANTS``) and ``CRBM_BENCH_SUBJECTS`` (comma-separated subjects
    to hold out, default every one); exits with a one-line message on an unknown variant."""
    variant = os.environ.get("CRBM_BENCH_VARIANT", "centring")
    if variant not in VARIANTS:
        raise SystemExit(f"CRBM_BENCH_VARIANT: expected one of {', '.join(VARIANTS)}, got {variant!r}")
    subjects = os.environ.get("CRBM_BENCH_SUBJECTS")
    return variant, None if not subjects else [s.strip() for s in subjects.split(",")]


def run(*, quick: bool, device: str) -> dict:
    variant, chosen = _settings()
    root = data_path("mocap/cmu/35/35.asf").parents[1]
    data = subjects(root)
    held = chosen or ([s for s in QUICK_SUBJECTS if s in data] if quick else list(data))
    unknown = [s for s in held if s not in data]
    if unknown:
        raise SystemExit(f"CRBM_BENCH_SUBJECTS: no subject folders {unknown}; the data has {sorted(data)}")
    epochs = 100 if quick else 500
    rows, table = [], {}
    for s in held:
        train = [m for other, clips in data.items() if other != s for m in clips]
        model = crbm.train_motion_model(train, epochs=epochs, device=device, **MODEL, **VARIANTS[variant])
        model.model.cpu()
        table[s] = errors(model, data[s])
        for unit in ("deg", "cm"):
            for k in HORIZONS:
                rows.append(row(f"{unit}_{s}_{k}", table[s]["crbm"][unit][k], table[s]["zero_velocity"][unit][k],
                                "lower", ar=table[s]["ar"][unit][k],
                                split="validation" if s in VALIDATION else "test"))
        print(f"subject {s}: " + ", ".join(f"h={k} {table[s]['crbm']['deg'][k]:.2f} deg (zero velocity "
                                           f"{table[s]['zero_velocity']['deg'][k]:.2f})" for k in HORIZONS), flush=True)
    pool = [s for s in held if s not in VALIDATION] or held  # the mean over test subjects
    for unit in ("deg", "cm"):
        for k in HORIZONS:
            mean = {p: float(np.mean([table[s][p][unit][k] for s in pool])) for p in ("crbm", "zero_velocity", "ar")}
            rows.append(row(f"{unit}_mean_{k}", mean["crbm"], mean["zero_velocity"], "lower", ar=mean["ar"]))
    wins = sum(table[s]["crbm"][u][k] < table[s]["zero_velocity"][u][k] for s in held for u in ("deg", "cm")
               for k in HORIZONS)
    return {"rows": rows, "subjects": held, "validation": list(VALIDATION), "variant": variant,
            "model": MODEL | VARIANTS[variant], "epochs": epochs,
            "errors": table,
            "beats_zero_velocity": f"{wins} of {2 * len(held) * len(HORIZONS)}"}
