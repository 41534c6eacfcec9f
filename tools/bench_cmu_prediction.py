"""Benchmark ``cmu-prediction``: the CMU-mocap motion-prediction benchmark of ConvSeq2Seq / LTD, by its exact
protocol (the data folder's ``mocap/cmu-bench/PROTOCOL.md``), for every action present (:func:`actions`: of
the benchmark's eight, those whose training files and test file are in the data folder; five in the project's
copy: walking, running, basketball, jumping, soccer).

Per action: crbm motion models trained through the public API (``crbm.train_motion_model`` on the
``crbm.read_cmubench`` clips of ``train/<action>/``, one model per action and variant, :data:`VARIANTS`),
then the protocol's 8 test windows of ``test/<action>/<action>_1.txt`` (down-sampled to 60 fps): 50 frames
seen, 25 predicted. A model works at its own rate (:data:`FPS`): the seen frames are resampled to it so that
the last seen frame stays, the model rolls forward as its variant says (``crbm.model_predictor``: ``k`` Gibbs
updates a frame, mean-field or the average of sampled rollouts), and its frames come back to the benchmark's
skeleton and to 60 fps (``crbm.resample``, slerp) for scoring. Errors at the
papers' six horizons: the protocol's Euler error (``crbm.mocap.cmubench.euler_error``) and the mean 3-D joint
error in mm (``position_error``: forward kinematics of the benchmark's tree with CMU subject 35's bones, over
``measured_joints`` of the training clips). Baselines in the same run: zero velocity (whose Euler figures must
equal PROTOCOL.md's) and the ridge AR of each model's order fitted on its training windows.

Rows: ``euler_<action>_<ms>``, ``mm_<action>_<ms>`` and ``deg_<action>_<ms>`` (mean joint rotation error in
degrees, ``crbm.joint_angle_error``, free of the Euler error's 2 pi jumps) for the default variant
(:data:`DEFAULT`), with the quoted published figures beside them (``published``: LTD's per-action Euler rows
for walking and running, MSR-GCN's per-action 3-D rows; ``*_mean_<ms>``: LTD's average over the eight actions,
beside ours over the actions present); ``<predictor>_<measure>_...`` for every other variant and baseline,
the zero-velocity Euler rows with PROTOCOL.md's figure as ``published``.

``CRBM_BENCH_HOLDOUT=1``: the validation split instead: ``<action>_5.txt`` held out of training and 32 windows
drawn on it by the protocol's rule, for :data:`VARIANTS` and the further settings of :data:`SWEEP`, each also
with the rollouts of :data:`SWEEP_ROLLOUTS` (settings are chosen there; the test windows are run once per
chosen setting; ``CRBM_BENCH_ROLLOUTS=_k1,_mean20`` runs only those rollouts, ``none`` none of them).
A variant with ``all_actions`` is one label-conditioned model trained on every action's training clips
(``kind="label"``, the action as the style) and rolled forward with the window's action as its label.
``CRBM_BENCH_VARIANTS=a,b``: only those
variants (the default among them), so that a sweep can run in parts; ``CRBM_BENCH_MODELS=FOLDER``: trained
models are kept there and reused by later runs of the same split, variant and epochs; ``CRBM_BENCH_SEED=S``:
train with seed S instead of 0 (the spread of retrained models). ``--quick``: 100 epochs
(numbers are not claims).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from bench_cross_subject import on_rig_frames, temporal_step
from benchkit import holdout_count, row, training_seed

import crbm
from crbm.data.paths import data_path
from crbm.mocap import cmubench
from crbm.mocap.preprocess import Pipeline
from crbm.mocap.resample import resample
from crbm.motion.forecast import holding, model_predictor, unpredictable_channels

# the benchmark's eight actions, in the order rows are written (the five of the project's copy first)
ACTIONS = ("walking", "running", "basketball", "jumping", "soccer", "basketball_signal", "directing_traffic",
           "washwindow")
RATE = 60.0  # the protocol's frames: CMU's 120 fps down-sampled by 2
FPS = 30.0  # the models' rate: every 4th frame of the files
ROLLOUT = ("k", "mean_field", "n_samples")  # a variant's rollout (crbm.model_predictor), not its model's settings
VARIANTS = {  # name -> crbm.train_motion_model settings (kind "crbm", FPS unless given) and its rollout: ``k``
    # Gibbs updates a frame, mean-field unless ``mean_field=False`` (then the average of ``n_samples`` sampled
    # rollouts), each chosen on the validation split; variants of the same settings share one trained model
    "poses": dict(order=3, hidden=150, k=1),
    "differences": dict(order=3, hidden=150, differences=True, k=30, mean_field=False, n_samples=20),
    "differences_mean_field": dict(order=3, hidden=150, differences=True, k=30),
}
SWEEP = {  # further settings tried on the validation split only, one change at a time
    "centring": dict(order=3, hidden=150, centring=True, k=1),
    "differences_order6": dict(order=6, hidden=150, differences=True, k=30),
    "differences_60fps": dict(order=6, hidden=150, differences=True, fps=60.0, k=30),
    "differences_h300": dict(order=3, hidden=300, differences=True, k=30),
    "differences_h600": dict(order=3, hidden=600, differences=True, k=30),
    "differences_two_layer": dict(order=3, hidden=150, differences=True, kind="two-layer", k=30),
    # trained on histories with Gaussian noise of 1 and 0.5 data standard deviations (crbm train --history-noise)
    "differences_noise1": dict(order=3, hidden=150, differences=True, history_noise=1.0, k=30),
    "differences_noise05": dict(order=3, hidden=150, differences=True, history_noise=0.5, k=30),
    # implicit mixtures of 2 and 3 CRBMs of 150 hidden units each (Taylor, Sigal, Fleet & Hinton 2010)
    "differences_mixture2": dict(order=3, hidden=150, differences=True, kind="mixture", components=2, k=30),
    "differences_mixture3": dict(order=3, hidden=150, differences=True, kind="mixture", components=3, k=30),
    # one label CRBM for the five actions (each clip labelled with its action), conditioned on the window's action
    "differences_all_actions": dict(order=3, hidden=150, differences=True, kind="label", all_actions=True, k=30),
}
# other rollouts of every variant, tried on the validation split only: name suffix -> crbm.model_predictor
# settings; hold=True: the channels the model cannot foresee one frame ahead on its training clips stay
# still (crbm.motion.forecast.unpredictable_channels, holding)
SWEEP_ROLLOUTS = {
    "_k1": dict(k=1),
    "_k30": dict(k=30),
    "_mean20": dict(k=30, mean_field=False, n_samples=20),  # the average of 20 sampled continuations
    "_hold": dict(k=1, hold=True),
    "_k30_hold": dict(k=30, hold=True),
}
DEFAULT = "differences"
EPOCHS = 2000
VALIDATION_WINDOWS = 32

# PROTOCOL.md: zero velocity computed on these files (Euler), and the published rows it quotes
ZERO_VELOCITY = {
    "walking": (0.407, 0.602, 0.832, 0.951, 1.085, 1.338),
    "running": (0.563, 0.995, 1.381, 1.459, 1.573, 1.543),
    "basketball": (0.488, 0.821, 1.404, 1.640, 2.048, 2.831),
    "jumping": (0.363, 0.616, 1.484, 1.683, 1.988, 2.027),
    "soccer": (0.274, 0.477, 0.922, 1.096, 1.362, 1.839),
}
QUOTED_EULER = {  # as commonly quoted (PROTOCOL.md), 80 / 160 / 320 / 400 / 560 / 1000 ms
    "walking": {"res_gru": (0.35, 0.45, 0.60, 0.64, None, 0.88), "convseq2seq": (0.35, 0.44, 0.45, 0.50, None, 0.78),
                "ltd": (0.33, 0.45, 0.49, 0.53, None, 0.61)},
    "running": {"res_gru": (0.32, 0.48, 0.65, 0.74, None, 1.00), "convseq2seq": (0.28, 0.41, 0.52, 0.57, None, 0.67),
                "ltd": (0.33, 0.55, 0.73, 0.74, None, 0.95)},
}
MSR_GCN_MM = {"walking": (6.38, 10.25, 16.88, 20.05, 25.48, 36.78),
              "running": (13.17, 20.91, 29.88, 33.37, 38.26, 43.62)}
LTD_MEAN = {"euler": (0.25, 0.39, 0.68, 0.79, None, 1.33), "mm": (11.5, 20.4, 37.8, 46.8, None, 96.5)}


def actions() -> list[str]:
    """The actions of :data:`ACTIONS` present in the data folder: ``train/<action>/<action>_1.txt`` and
    ``test/<action>/<action>_1.txt`` both found. Exits with a one-line message when there is none."""
    present = []
    for action in ACTIONS:
        try:
            for split in ("train", "test"):
                data_path(f"mocap/cmu-bench/{split}/{action}/{action}_1.txt")
        except crbm.CRBMError:
            continue
        present.append(action)
    if not present:
        raise SystemExit("cmu-prediction: no action of the CMU-mocap benchmark found (expected "
                         "mocap/cmu-bench/{train,test}/<action>/<action>_1.txt under CRBM_DATA)")
    return present


def clips(action: str, split: str) -> list[crbm.Motion]:
    """The benchmark's clips of one action and split ("train" / "test") at 120 fps, in file order."""
    folder = data_path(f"mocap/cmu-bench/{split}/{action}/{action}_1.txt").parent
    files = sorted(folder.glob(f"{action}_*.txt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return [crbm.read_cmubench(data_path(f"mocap/cmu-bench/{split}/{action}/{p.name}")) for p in files]


def windows(clip: crbm.Motion, starts: list[int]) -> tuple[list[crbm.Motion], np.ndarray]:
    """The seen parts (50 frames each) of the windows of a 60 fps clip that start at ``starts``, and their
    predicted parts end to end, ``(len(starts) * 25, C)``."""
    seen = [clip.replace(frames=clip.frames[s : s + cmubench.OBSERVED]) for s in starts]
    ahead = [clip.frames[s + cmubench.OBSERVED : s + cmubench.OBSERVED + cmubench.PREDICTED] for s in starts]
    return seen, np.concatenate(ahead)


def _lead(n: int, fps: float) -> int:
    """Seen frames to drop so that resampling the rest from 60 fps to ``fps`` keeps the last one."""
    for a in range(n):
        steps = (n - 1 - a) * fps / RATE
        if abs(steps - round(steps)) < 1e-9:
            return a
    raise ValueError(f"no frame of {n} at {RATE:g} fps lies on a {fps:g} fps grid ending at the last")


def _at_benchmark_rate(like: crbm.Motion, paths: np.ndarray, fps: float) -> np.ndarray:
    """Paths ``(S, n, C)`` at ``fps``, each starting at its window's last seen frame -> the 25 frames after it
    at 60 fps, windows end to end ``(S * 25, C)``. One ``resample`` of the paths laid end to end, each padded
    (its last frame repeated) to a length whose duration is a whole number of 60 fps frames, so that every
    window's frames come from its own path."""
    s, n, c = paths.shape
    step = RATE / fps
    length = next(m for m in range(n, n + 1000) if abs(m * step - round(m * step)) < 1e-9)
    padded = np.concatenate([paths, np.repeat(paths[:, -1:], length - n, axis=1)], axis=1).reshape(-1, c)
    per = round(length * step)
    fine = resample(like.replace(frames=padded, fps=fps), RATE, n_frames=s * per).frames
    return fine[(np.arange(s)[:, None] * per + np.arange(1, cmubench.PREDICTED + 1)).reshape(-1)]


def forecasts(model: crbm.MotionModel, seen: list[crbm.Motion], predictors: dict) -> dict[str, np.ndarray]:
    """Each predictor's 25 frames at 60 fps after every seen part, on the benchmark's skeleton, windows end
    to end ``(S * 25, C)``. ``predictors``: name -> ``crbm.motion.forecast`` predictor on the model's frames
    (``crbm.model_predictor(model.model, ...)``, ``model.ar``)."""
    lead = _lead(seen[0].n_frames, model.fps)
    seen = [m.replace(frames=m.frames[lead:]) for m in seen]
    z = model.transform(seen)
    seeds = torch.stack([c[-model.order :] for c in z])
    h = math.ceil(cmubench.PREDICTED * model.fps / RATE - 1e-9)
    starts = [(i, c.shape[0]) for i, c in enumerate(z)]
    k = temporal_step(model)
    before = [] if k is None else Pipeline(model.pipeline.steps[:k]).transform([model.on_rig(m).frames for m in seen])
    last = np.stack([m.frames[-1] for m in seen])[:, None]
    out = {}
    for name, predictor in predictors.items():
        with torch.no_grad():
            zp = predictor(seeds, h, None)
        on_rig = crbm.Motion(model.skeleton, on_rig_frames(model, zp, starts, before), model.fps)
        back = crbm.retarget(on_rig, seen[0].skeleton).frames.reshape(len(seen), h, -1)
        out[name] = _at_benchmark_rate(seen[0], np.concatenate([last, back], axis=1), model.fps)
    return out


def still_frames(model: crbm.MotionModel):
    """``crbm.motion.forecast.Still`` for the model's frames: the last seed frame, its frame-difference channels
    (``.d``) set to the code of no change (a clip standing still in the rest pose, through the pipeline)."""
    d = [i for i, n in enumerate(model.channels) if n.endswith(".d")]
    rest = model.pipeline.transform([np.zeros((3, len(model.skeleton.channel_names)))])[0][-1]
    zero = torch.as_tensor(rest[d], dtype=next(model.model.parameters()).dtype)

    def still(seeds: torch.Tensor) -> torch.Tensor:
        frame = seeds[:, -1].clone()
        frame[:, d] = zero
        return frame

    return still


def predictor(model: crbm.MotionModel, train: list[crbm.Motion], rollout: dict, label: torch.Tensor | None = None):
    """The model's predictor on its own frames for one rollout setting (``crbm.model_predictor``'s, and
    ``hold`` as in :data:`SWEEP_ROLLOUTS`), given the one-hot style ``label`` (L,) for a model with styles."""
    settings = dict(rollout)
    hold = settings.pop("hold", False)
    p = model_predictor(model.model, generator=torch.Generator().manual_seed(0), **settings)
    if label is not None:
        p = labelled(p, label)
    if hold:
        still = still_frames(model)
        p = holding(p, unpredictable_channels(p, model.transform(train), order=model.order, still=still), still)
    return p


_TRAINED: dict[str, crbm.MotionModel] = {}


def trained(train: list[crbm.Motion], settings: dict, *, epochs: int, device: str, key: str) -> crbm.MotionModel:
    """``crbm.train_motion_model`` on ``train``; with ``CRBM_BENCH_MODELS`` set, the model is kept in that
    folder under ``key`` and loaded from there when it is already trained."""
    seed = training_seed()
    key = f"{key}_seed{seed}" if seed else key
    folder = os.environ.get("CRBM_BENCH_MODELS")
    path = Path(folder) / f"{key}.safetensors" if folder else None
    if key in _TRAINED:
        return _TRAINED[key]
    if path is not None and path.exists():
        return crbm.MotionModel.load(path)
    model = crbm.train_motion_model(train, epochs=epochs, seed=seed, device=device, **({"fps": FPS} | settings))
    model.model.cpu()
    if path is not None:
        model.save(path)
    _TRAINED[key] = model  # a model of every action (``all_actions``) is trained once per run
    return model


def scores(truth: crbm.Motion, guess: np.ndarray, joints: list[int]) -> dict[str, list[float]]:
    """Per predicted frame (25 values), averaged over the windows that ``truth`` and ``guess`` hold end to
    end: ``{"euler": ..., "mm": ..., "deg": ...}``, "deg" being ``crbm.joint_angle_error`` (the rotation angle
    between true and predicted joint rotations, averaged over the 37 non-root joints): it does not jump by
    2 pi where an Euler angle crosses +-pi, as the protocol's Euler error does."""
    g = truth.replace(frames=guess)
    figures = {"euler": cmubench.euler_error(truth, g, window=cmubench.PREDICTED),
               "mm": cmubench.position_error(truth, g, joints), "deg": crbm.joint_angle_error(truth, g)}
    return {u: e.reshape(-1, cmubench.PREDICTED).mean(axis=0).tolist() for u, e in figures.items()}


def split_clips(action: str, holdout: int) -> tuple[list[crbm.Motion], list[crbm.Motion]]:
    """(training clips, clips the windows are drawn on) of one action: the last ``holdout`` training files held
    out, or (with 0) the test file."""
    train = clips(action, "train")
    if holdout:
        return train[:-holdout], train[-holdout:]
    return train, clips(action, "test")


def labelled(predict, label: torch.Tensor):
    """``predict`` with the one-hot ``label`` (L,) on every predicted frame of every window."""
    def with_label(seeds: torch.Tensor, horizon: int, labels) -> torch.Tensor:
        return predict(seeds, horizon, label.to(seeds.dtype).expand(seeds.shape[0], horizon, -1))

    return with_label


def evaluate_action(action: str, *, holdout: int, epochs: int, device: str, variants: dict = VARIANTS,
                    rollouts: dict | None = None, present: list[str] | None = None) -> dict:
    """``{"starts": ..., "joints": ..., "errors": {predictor: {"euler"|"mm": 25 values}}}`` for one action:
    train every variant (``holdout`` files held out of training and windows drawn on them, or the test
    windows) and predict with its CRBM (its own rollout, then each of ``rollouts``) and its AR. ``present``:
    the actions a variant with ``all_actions`` trains on (default :func:`actions`)."""
    train, held = split_clips(action, holdout)
    n_windows = VALIDATION_WINDOWS if holdout else cmubench.WINDOWS
    joints = cmubench.measured_joints([resample(m, RATE) for m in train])
    seen, ahead, starts = [], [], []
    for clip in held:
        c = resample(clip, RATE)
        s = cmubench.test_starts(c.n_frames, windows=n_windows)
        a, b = windows(c, s)
        seen, ahead, starts = seen + a, ahead + [b], starts + [(clip.name, t) for t in s]
    truth = seen[0].replace(frames=np.concatenate(ahead))
    guesses = {"zero_velocity": np.repeat(np.stack([m.frames[-1] for m in seen]), cmubench.PREDICTED, axis=0)}
    split = f"holdout{holdout}" if holdout else "test"
    for name, variant in variants.items():
        settings = {k: v for k, v in variant.items() if k not in (*ROLLOUT, "all_actions")}
        scope = "all" if variant.get("all_actions") else action
        key = f"{scope}_{split}_{epochs}_" + "_".join(f"{k}{v}" for k, v in sorted(settings.items()))
        if variant.get("all_actions"):
            every = present or actions()
            pools = {a: split_clips(a, holdout)[0] for a in every}
            settings["styles"] = [a for a in every for _ in pools[a]]
            model = trained([c for a in every for c in pools[a]], settings, epochs=epochs, device=device, key=key)
        else:
            model = trained(train, settings, epochs=epochs, device=device, key=key)
        own = {"": {k: variant[k] for k in ROLLOUT if k in variant}}
        label = model.style_labels([(action, 1)], blend=0)[0] if model.styles else None
        predictors = {name + suffix: predictor(model, train, r, label)
                      for suffix, r in (own | (rollouts or {})).items()}
        guesses |= forecasts(model, seen, predictors | {f"ar_{name}": model.ar})
    return {"starts": starts, "joints": joints, "errors": {p: scores(truth, g, joints) for p, g in guesses.items()}}


def _figure(results: dict, predictor: str, unit: str, action: str, frame: int) -> float:
    """One predictor's error at one predicted frame, for an action or averaged over those measured ("mean")."""
    if action == "mean":
        return float(np.mean([r["errors"][predictor][unit][frame] for r in results.values()]))
    return results[action]["errors"][predictor][unit][frame]


def _published(action: str, unit: str, i: int):
    if unit == "euler":
        return QUOTED_EULER.get(action, {}).get("ltd", (None,) * 6)[i]
    if unit == "mm":
        return MSR_GCN_MM.get(action, (None,) * 6)[i]
    return None


def _rows(results: dict, unit: str, action: str, i: int, ms: int, f: int, *, holdout: bool) -> list[dict]:
    """The rows of one measure, action (or "mean") and horizon: the default variant's with the published
    figures, then one per other predictor."""
    def fig(predictor):
        return _figure(results, predictor, unit, action, f)

    published = LTD_MEAN.get(unit, (None,) * 6)[i] if action == "mean" else _published(action, unit, i)
    entry = row(f"{unit}_{action}_{ms}", fig(DEFAULT), published, "lower", zero_velocity=fig("zero_velocity"),
              ar=fig(f"ar_{DEFAULT}"))
    if unit == "euler":
        entry |= {source: v[i] for source, v in QUOTED_EULER.get(action, {}).items() if source != "ltd"}
    out = [entry]
    for p in next(iter(results.values()))["errors"]:
        if p != DEFAULT:
            stated = p == "zero_velocity" and unit == "euler" and action in ZERO_VELOCITY and not holdout
            out.append(row(f"{p}_{unit}_{action}_{ms}", fig(p), ZERO_VELOCITY[action][i] if stated else None, "lower"))
    return out


def _chosen(variants: dict) -> dict:
    """``CRBM_BENCH_VARIANTS`` (comma-separated names) picks some of ``variants``; unset: all."""
    text = os.environ.get("CRBM_BENCH_VARIANTS", "")
    names = [n.strip() for n in text.split(",") if n.strip()] or list(variants)
    unknown = [n for n in names if n not in variants]
    if unknown:
        raise SystemExit(f"CRBM_BENCH_VARIANTS: unknown {unknown}; expected some of {list(variants)}")
    if DEFAULT not in names:
        raise SystemExit(f"CRBM_BENCH_VARIANTS: the default variant {DEFAULT!r} must be among them")
    return {n: variants[n] for n in names}


def _rollouts() -> dict:
    """``CRBM_BENCH_ROLLOUTS`` (comma-separated suffixes, or ``none``) picks some of :data:`SWEEP_ROLLOUTS`;
    unset: all."""
    text = os.environ.get("CRBM_BENCH_ROLLOUTS", "")
    if text.strip() == "none":
        return {}
    names = [n.strip() for n in text.split(",") if n.strip()] or list(SWEEP_ROLLOUTS)
    unknown = [n for n in names if n not in SWEEP_ROLLOUTS]
    if unknown:
        raise SystemExit(f"CRBM_BENCH_ROLLOUTS: unknown {unknown}; expected some of {list(SWEEP_ROLLOUTS)} or none")
    return {n: SWEEP_ROLLOUTS[n] for n in names}


def run(*, quick: bool, device: str) -> dict:
    holdout = holdout_count()
    epochs = 100 if quick else EPOCHS
    results = {}
    present = actions()
    for action in present:
        variants = _chosen(VARIANTS | (SWEEP if holdout else {}))
        rollouts = _rollouts() if holdout else None
        results[action] = evaluate_action(action, holdout=holdout, epochs=epochs, device=device, variants=variants,
                                          rollouts=rollouts, present=present)
        e = results[action]["errors"]
        print(f"{action}: " + ", ".join(f"{p} {e[p]['euler'][cmubench.HORIZONS_MS[400]]:.3f}" for p in e)
              + " (Euler at 400 ms)", flush=True)
    rows = []
    for unit in ("euler", "mm", "deg"):
        for action in (*present, "mean"):
            for i, (ms, f) in enumerate(cmubench.HORIZONS_MS.items()):
                rows += _rows(results, unit, action, i, ms, f, holdout=bool(holdout))
    report = {"rows": rows, "actions": present,
              "split": f"validation ({holdout} file(s) held out)" if holdout else "test",
              "epochs": epochs, "fps": FPS, "variants": variants, "default": DEFAULT, "results": results}
    stated = [a for a in present if a in ZERO_VELOCITY]  # PROTOCOL.md states zero velocity for these
    if not holdout and stated:
        gap = max(abs(round(results[a]["errors"]["zero_velocity"]["euler"][f], 3) - ZERO_VELOCITY[a][i])
                  for a in stated for i, f in enumerate(cmubench.HORIZONS_MS.values()))
        report["zero_velocity_matches_protocol"] = gap < 5e-4
        print(f"zero velocity against PROTOCOL.md: largest difference {gap:.4f}", flush=True)
    return report
