"""Benchmark ``mocap``: the motion models on the GPmat split of CMU subject 35 (train: 31 clips; test: the
walk 35_29 and the run 35_18), all in one run.

Rows: multi-step prediction errors (normalised units and degrees) of the CRBM, the two-layer CRBM, the
label-conditioned CRBM and the FCRBM against zero velocity and a ridge AR model of the same order; the
model filter against tuned Savitzky-Golay and Butterworth filters at several noise levels; the missing-data
protocol (both formulas) against the nearest-neighbour baselines and the published figures; generation
stability (per-channel spread ratio, gait period, root speed per style) over long runs; training time;
generation frames per second for 1 and 256 chains (30 Gibbs steps a frame).

Data: ``crbm.data.mocap.load_gpmat_walkjog`` and the library's ``body_centred_pipeline`` with Euler joint angles
(so that errors convert to degrees channel by channel and the missing-data channels are the AMC ones): root
ground velocity in the heading frame, yaw rate, height and tilt; unwrapped Euler angles; constant channels
dropped; z-scored with the training statistics. Frame j of a prepared clip is AMC frame j.
Threads: ``CRBM_BENCH_THREADS`` (default 1: on a 2-core machine shared with other jobs one thread was
faster than two); the figures say how many were used. Timings on a shared machine are noisy.
``CRBM_BENCH_PARTS=missing`` runs the missing-data protocol alone (its seed-0 CRBM trained as in the full run,
as the two-layer model's first layer); ``CRBM_BENCH_MISSING_SEEDS=8`` averages that many CRBMs (seeds 0 ..
N - 1) instead of 3.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import scipy.io
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from benchkit import row, timed  # noqa: E402

from crbm.data.mocap import cmu_skeleton, load_gpmat_walkjog  # noqa: E402
from crbm.engine.train import fit  # noqa: E402
from crbm.mocap.preprocess import body_centred_pipeline  # noqa: E402
from crbm.mocap.realism import dominant_period  # noqa: E402
from crbm.motion.conditional import CRBM, TwoLayerCRBM, Windows, taylor_config  # noqa: E402
from crbm.motion.factored import FCRBM, LabelCRBM, fcrbm_config  # noqa: E402
from crbm.motion.forecast import (  # noqa: E402
    HORIZONS,
    LinearAR,
    model_predictor,
    prediction_errors,
    prediction_residual_std,
    spread_ratio,
    zero_velocity,
)
from crbm.motion.protocols import (  # noqa: E402
    FIRST_MISSING,
    MISSING_SETS,
    butter_denoise,
    gpmat_errors,
    nearest_neighbour_baselines,
    savgol_denoise,
    taylor_nearest_neighbour,
    taylor_pair_error,
    tune_butter,
    tune_filter_factor,
    tune_savgol,
)
from crbm.motion.sample import denoise, fill_missing, generate, smooth, style_schedule  # noqa: E402

ORDER = 3
NOISE_LEVELS = (0.1, 0.3, 0.5, 1.0)  # standard deviations in z-scored units
# published missing-data figures (MISSING_DATA_PROTOCOL.md section 8): GPmat formula (cum, rms) and pair formula
PUBLISHED_GPMAT = {"leg": (9.7, 3.38), "body": (16.9, 2.49)}
PUBLISHED_PAIR = {"leg": 11.7, "body": 8.8}
LFEMUR_RX = "lfemur.rx"  # the channel whose autocorrelation gives the gait period
FORWARD = "root.vz"  # ground speed along the heading (ASF units per frame)
WALK, RUN = 0, 1


def _data_root() -> Path:
    env = os.environ.get("CRBM_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (root / "mocap" / "gpmat" / "cmu35WalkJog.mat").is_file():
        raise SystemExit(f"GPmat CMU-35 data not found under {root}; set CRBM_DATA to the data folder")
    return root


def _prepared(root: Path) -> dict:
    """The GPmat split through the library pipeline: ``pipe`` (fitted on the 31 training clips), ``names`` (its
    output channels), ``train`` (float32 clips), ``train_styles`` (one-hot (T, 2) walk/run per frame),
    ``is_run`` per training clip, ``test_walk`` / ``test_run``, ``raw`` (the WalkJog), ``mean`` / ``std`` (the
    z-scores' per-channel statistics) and ``angle_cols`` (the joint-angle channels)."""
    wj = load_gpmat_walkjog(root)
    skeleton = cmu_skeleton(35, path=root)
    pipe = body_centred_pipeline(skeleton, representation="euler")
    pipe.fit(wj.train, skeleton.channel_names)

    def prep(clips):
        return [torch.as_tensor(z, dtype=torch.float32) for z in pipe.transform(clips)]

    train = prep(wj.train)
    is_run = [s == "run" for s in wj.train_styles]
    styles = []
    for c, run in zip(train, is_run):
        y = torch.zeros(c.shape[0], 2)
        y[:, RUN if run else WALK] = 1
        styles.append(y)
    test = dict(zip(wj.test_trials, prep(wj.test)))
    names = pipe.names_out
    zscore = pipe.steps[-1]
    root_joint = skeleton.joints[0].name
    return {
        "pipe": pipe,
        "names": names,
        "train": train,
        "train_styles": styles,
        "is_run": is_run,
        "test_walk": test["35_29"],
        "test_run": test["35_18"],
        "raw": wj,
        "mean": np.asarray(zscore.mean),
        "std": np.asarray(zscore.std),
        "angle_cols": np.array([i for i, n in enumerate(names) if not n.startswith(f"{root_joint}.")]),
    }


def _balanced(clips: list, styles: list, is_run: list[bool]) -> tuple[list, list]:
    """Repeat the run clips so that both styles have about as many frames (the split has ~6x more walking)."""
    walk = sum(c.shape[0] for c, r in zip(clips, is_run) if not r)
    run = sum(c.shape[0] for c, r in zip(clips, is_run) if r)
    reps = max(1, round(walk / max(run, 1)))
    out_c, out_s = [], []
    for c, y, r in zip(clips, styles, is_run):
        out_c += [c] * (reps if r else 1)
        out_s += [y] * (reps if r else 1)
    return out_c, out_s


def _fit(model, windows: Windows, config) -> float:
    """Train ``model`` on ``windows`` with ``config``; the wall-clock seconds it took."""
    return timed(lambda: fit(model, windows, config))[1]


def _first_layer(d: dict, epochs: dict, g: torch.Generator) -> tuple[TwoLayerCRBM, float]:
    """The two-layer CRBM drawn from ``g`` with its first layer (the seed-0 "CRBM") trained; seconds taken."""
    two = TwoLayerCRBM(len(d["names"]), (150, 150), (ORDER, ORDER), generator=g)
    return two, _fit(two.layer1, Windows(d["train"], ORDER), taylor_config(epochs=epochs["crbm"]))


def _train_models(d: dict, epochs: dict, g: torch.Generator, cond: str) -> tuple[dict, list[dict]]:
    """The five motion models of the comparison, trained on the 31 training clips from ``g`` in turn, and
    their training-time rows. Keys: "CRBM" (the two-layer model's first layer), "CRBM, AR warm start",
    "two-layer CRBM", "label CRBM", "FCRBM" (the last two on the style-balanced clips)."""
    train, width = d["train"], len(d["names"])
    two, t1 = _first_layer(d, epochs, g)
    t2 = _fit(two.layer2, Windows(two.hidden_clips(train), ORDER), taylor_config(epochs=epochs["layer2"]))
    rows = [
        row("train two-layer CRBM (order 3, 150+150, s)", t1 + t2, 180.0, "lower",
            epochs=f"{epochs['crbm']}+{epochs['layer2']}", conditions=cond),
        row("train CRBM layer 1 (s)", t1, None, "lower", epochs=epochs["crbm"]),
    ]
    warm = CRBM(width, 150, ORDER, generator=g).initialise_autoregressive(Windows(train, ORDER))
    tw = _fit(warm, Windows(train, ORDER), taylor_config(epochs=epochs["crbm"]))
    rows.append(row("train CRBM with AR warm start (s)", tw, None, "lower", epochs=epochs["crbm"]))
    # style models: the run clips repeated so that both styles weigh about the same (the split is ~6x walking)
    style_clips, style_labels = _balanced(train, d["train_styles"], d["is_run"])
    style_windows = Windows(style_clips, ORDER, labels=style_labels)
    lab = LabelCRBM(width, 150, ORDER, 2, generator=g)
    tl = _fit(lab, style_windows, taylor_config(epochs=epochs["crbm"]))
    rows.append(row("train label CRBM, balanced styles (s)", tl, None, "lower", epochs=epochs["crbm"]))
    fc = FCRBM(width, 150, ORDER, 2, n_features=20, n_factors=100, history_noise=1.0, generator=g)
    tf = _fit(fc, style_windows, fcrbm_config(epochs=epochs["fcrbm"]))
    rows.append(
        row("train FCRBM, balanced styles (150 hidden, 100 factors, s)", tf, None, "lower", epochs=epochs["fcrbm"])
    )
    models = {"CRBM": two.layer1, "CRBM, AR warm start": warm, "two-layer CRBM": two, "label CRBM": lab, "FCRBM": fc}
    return models, rows


def _baseline_rows(prefix: str, errors: dict, **per_horizon) -> list[dict]:
    """Rows ``{prefix} h={h} {predictor} (RMS z)`` for every predictor and horizon of ``errors`` (predictor ->
    horizon -> RMS z): each model against the better of zero velocity and the linear AR at that horizon, the
    two baselines themselves with None; ``per_horizon[key][predictor][h]`` adds ``key`` to a row."""
    rows = []
    for name, by_h in errors.items():
        baseline = name in ("zero velocity", "linear AR")
        for h in HORIZONS:
            best_base = min(errors["zero velocity"][h], errors["linear AR"][h])
            extra = {key: table[name][h] for key, table in per_horizon.items()}
            rows.append(row(f"{prefix} h={h} {name} (RMS z)", by_h[h], None if baseline else best_base, "lower",
                            **extra))
    return rows


def _prediction_rows(d: dict, models: dict) -> list[dict]:
    """Multi-step prediction errors on the two test clips, in z-scored units and in joint-angle degrees, of the
    five models against zero velocity and a ridge AR of the same order."""
    ar = LinearAR.fit(d["train"], ORDER)
    deg = torch.as_tensor(d["std"], dtype=torch.float32)
    walk_lab = [torch.tensor([[1.0, 0.0]]).expand(d["test_walk"].shape[0], -1)]
    run_lab = [torch.tensor([[0.0, 1.0]]).expand(d["test_run"].shape[0], -1)]
    predictors = {name: (model_predictor(m, k=1), name in ("label CRBM", "FCRBM")) for name, m in models.items()}
    predictors |= {"zero velocity": (zero_velocity, False), "linear AR": (ar, False)}
    rows = []
    for clip_name, clip, labels in (("walk 35_29", d["test_walk"], walk_lab), ("run 35_18", d["test_run"], run_lab)):
        norm, degrees = {}, {}
        for name, (pred, needs_labels) in predictors.items():
            lab_arg = labels if needs_labels else None
            # seeds of the two-layer model's 2 * ORDER frames for every predictor: the same starts for all
            norm[name] = prediction_errors(pred, [clip], order=2 * ORDER, labels=lab_arg)
            degrees[name] = prediction_errors(pred, [clip], order=2 * ORDER, labels=lab_arg, scale=deg,
                                              channels=d["angle_cols"])
        rows += _baseline_rows(f"predict {clip_name}", norm, degrees=degrees)
    return rows


def _held_out_rows(d: dict, epochs: dict, g: torch.Generator) -> list[dict]:
    """Prediction on a larger held-out set: four training walks (35_02, 35_12, 35_30, 35_34) held out, CRBMs
    (plain and AR warm-started, from ``g``) and the AR refitted on the other 27 clips."""
    held_trials = ("35_02", "35_12", "35_30", "35_34")
    pairs = list(zip(d["train"], d["raw"].train_trials))
    rest = [c for c, t in pairs if t not in held_trials]
    held = [c for c, t in pairs if t in held_trials]
    held_predictors = {"zero velocity": zero_velocity, "linear AR": LinearAR.fit(rest, ORDER)}
    for name, warm_start in (("CRBM", False), ("CRBM, AR warm start", True)):
        m = CRBM(len(d["names"]), 150, ORDER, generator=g)
        if warm_start:
            m.initialise_autoregressive(Windows(rest, ORDER))
        fit(m, Windows(rest, ORDER), taylor_config(epochs=epochs["crbm"]))
        held_predictors[name] = model_predictor(m, k=1)
    held_errors = {n: prediction_errors(p, held, order=2 * ORDER) for n, p in held_predictors.items()}
    return _baseline_rows("predict held-out walks 35_02/12/30/34", held_errors)


def _denoise_rows(d: dict, crbm: CRBM, epochs: dict, g: torch.Generator, *, quick: bool) -> list[dict]:
    """The model filter (online) and smoother (offline, with a backward CRBM trained from ``g`` on the
    time-reversed clips) on the noisy test walk at every noise level, against tuned Savitzky-Golay and
    Butterworth filters; the filter factors are tuned on training clips."""
    train = d["train"]
    back = CRBM(len(d["names"]), 150, ORDER, generator=g)
    tb = _fit(back, Windows([c.flip(0) for c in train], ORDER), taylor_config(epochs=epochs["crbm"]))
    rows = [row("train backward CRBM for the smoother (s)", tb, None, "lower", epochs=epochs["crbm"])]
    rng = np.random.default_rng(0)
    gn = torch.Generator().manual_seed(1)
    train_np = [c.numpy() for c in train]
    s_f = prediction_residual_std(crbm, train)
    s_b = prediction_residual_std(back, [c.flip(0) for c in train])
    tune_clips = train[::3] if quick else train
    x = d["test_walk"]

    def rms(y):
        return float(np.sqrt(np.mean((np.asarray(y) - x.numpy())[ORDER:] ** 2)))

    for sd in NOISE_LEVELS:
        noisy = x + sd * torch.randn(x.shape, generator=gn)

        def online(n, f, sd=sd):
            return denoise(crbm, n, noise_std=sd, prediction_std=f * s_f)

        def offline(n, f, sd=sd):
            return smooth(crbm, back, n, noise_std=sd, forward_std=f * s_f, backward_std=f * s_b)

        f_on = tune_filter_factor(online, tune_clips, sd, generator=gn)
        f_off = tune_filter_factor(offline, tune_clips, sd, generator=gn)
        sg, bw = tune_savgol(train_np, sd, rng=rng), tune_butter(train_np, sd, rng=rng)
        e_sg, e_bw = rms(savgol_denoise(noisy.numpy(), **sg)), rms(butter_denoise(noisy.numpy(), **bw))
        extra = {"savgol": e_sg, "butterworth": e_bw, "noisy": rms(noisy)}
        rows.append(row(f"denoise sd={sd} CRBM smoother, offline (RMS z)", rms(offline(noisy, f_off)),
                        min(e_sg, e_bw), "lower", factor=f_off, **extra))
        rows.append(row(f"denoise sd={sd} CRBM filter, online (RMS z)", rms(online(noisy, f_on)), min(e_sg, e_bw),
                        "lower", factor=f_on, taylor_filter=rms(denoise(crbm, noisy)), **extra))
    return rows


def _missing_rows(root: Path, d: dict, crbm: CRBM, epochs: dict) -> list[dict]:
    """The missing-data protocol on the test walk (leg and body channels, both formulas) for the layer-1 CRBM
    and two more trained alike from seeds 1 and 2, against the nearest-neighbour baselines and the published
    figures."""
    sb = scipy.io.loadmat(root / "mocap" / "gpmat" / "cmu35TaylorScaleBias.mat")
    scale, bias = sb["scale"].ravel(), sb["bias"].ravel()
    raw, x, names = d["raw"], d["test_walk"], d["names"]
    raw_walk = raw.test[raw.test_trials.index("35_29")]
    nn = nearest_neighbour_baselines(raw.train, raw_walk, scale)
    tnn = taylor_nearest_neighbour(raw.train, raw_walk, scale, bias)
    walk_context = d["pipe"].contexts([raw_walk])
    # the fill error depends on the trained model more than on the chains (100 chains instead of 20 moved it by
    # <= 0.5): the layer-1 CRBM (seed 0) and more CRBMs trained alike from seeds 1, 2, ...; rows give the mean
    fillers = [crbm]
    for s in range(1, int(os.environ.get("CRBM_BENCH_MISSING_SEEDS", "3"))):
        m = CRBM(len(names), 150, ORDER, generator=torch.Generator().manual_seed(s))
        fit(m, Windows(d["train"], ORDER), taylor_config(epochs=epochs["crbm"], seed=s))
        fillers.append(m)
    rows = []
    for which in ("leg", "body"):
        pos = [names.index(raw.channel_names[c]) for c in MISSING_SETS[which]]
        per_seed: dict[str, list[float]] = {"cum": [], "rms": [], "pair": []}
        for model in fillers:
            gm = torch.Generator().manual_seed(2)
            filled = {}
            for form, first in FIRST_MISSING.items():
                miss = torch.zeros_like(x, dtype=torch.bool)
                miss[first:, pos] = True
                f = fill_missing(model, x, miss, n_samples=20, k=30, generator=gm)
                filled[form] = d["pipe"].inverse_transform([f.double().numpy()], contexts=walk_context)[0]
            cum, rms_deg = gpmat_errors(raw_walk, filled["gpmat"], which, scale)
            per_seed["cum"].append(cum)
            per_seed["rms"].append(rms_deg)
            per_seed["pair"].append(taylor_pair_error(raw_walk, filled["pair"], which, scale))

        nn_extra = [{"nn_unit": nn[f"{which}/unit"][i], "nn_raw": nn[f"{which}/raw"][i]} for i in (0, 1)]
        for key, label, published, extra in (
            ("cum", "cumulative scaled (GPmat formula)", PUBLISHED_GPMAT[which][0], nn_extra[0]),
            ("rms", "RMS degrees (GPmat formula)", PUBLISHED_GPMAT[which][1], nn_extra[1]),
            ("pair", "(Taylor pair formula)", PUBLISHED_PAIR[which], {"taylor_nn_script": tnn[which]}),
        ):
            v = per_seed[key]
            rows.append(row(f"missing {which} CRBM {label}, mean of {len(v)} seeds", float(np.mean(v)), published,
                            "lower", seeds=[round(e, 3) for e in v], min=min(v), max=max(v), **extra))
        for key, pub in ((f"{which}/unit", {"leg": 13.5, "body": 20.8}), (f"{which}/raw", {"leg": 14.0, "body": 30.9})):
            rows.append(
                row(f"missing {which} NN {key.split('/')[1]} cumulative (reproduced)", nn[key][0], pub[which], "lower")
            )
    return rows


def _stability_rows(d: dict, models: dict, gen_frames: int, gs: torch.Generator) -> list[dict]:
    """Long generation runs (4 chains from the test walk's first frames) of the CRBM and the two-layer CRBM:
    the per-channel spread ratio to the training walks and the gait period against the training walks'."""
    seed = d["test_walk"][: ORDER + ORDER]
    walks = [c for c, r in zip(d["train"], d["is_run"]) if not r]
    femur = d["names"].index(LFEMUR_RX)
    train_period = np.nanmedian([dominant_period(c[:, femur].numpy(), max_lag=60) for c in walks])
    rows = []
    for name in ("CRBM", "two-layer CRBM"):
        out = generate(models[name], seed, gen_frames, n_chains=4, generator=gs)
        finite = bool(torch.isfinite(out).all())
        ratio = spread_ratio(out[:, gen_frames // 10 :], walks)
        period = np.nanmedian([dominant_period(o[gen_frames // 10 :, femur].numpy(), max_lag=60) for o in out])
        rows.append(row(f"generate {gen_frames} frames {name}: median spread ratio", float(ratio.median()), 1.0,
                        "closer to 1", min=float(ratio.min()), max=float(ratio.max()), finite=finite))
        rows.append(row(f"generate {name}: gait period (frames)", float(period), float(train_period), "closer"))
    return rows


def _style_rows(d: dict, models: dict, n_style: int, gs: torch.Generator) -> list[dict]:
    """Style changes: the label CRBM and the FCRBM generate ``n_style`` frames, walking then running (blended
    over 15 frames); their root speed in each half against the training clips' of that style."""
    seed = d["test_walk"][: ORDER + ORDER]
    speed = d["names"].index(FORWARD)
    half = n_style // 2
    sched = style_schedule([(WALK, half), (RUN, half)], 2, blend=15)
    speed_scale, speed_mean = d["std"][speed], d["mean"][speed]
    train_speed = {
        st: float(np.mean([(c[:, speed] * speed_scale + speed_mean).mean()
                           for c, r in zip(d["train"], d["is_run"]) if r == (st == RUN)]))
        for st in (WALK, RUN)
    }
    rows = []
    for name in ("label CRBM", "FCRBM"):
        out = generate(models[name], seed, n_style, n_chains=4, labels=sched, generator=gs)
        v = out[:, :, speed] * speed_scale + speed_mean
        walk_speed, run_speed = float(v[:, half // 2 : half].mean()), float(v[:, half + half // 2 :].mean())
        rows.append(row(f"style {name}: walk root speed (ASF units/frame)", walk_speed, train_speed[WALK], "closer"))
        rows.append(row(f"style {name}: run root speed (ASF units/frame)", run_speed, train_speed[RUN], "closer",
                        finite=bool(torch.isfinite(out).all())))
    return rows


def _speed_rows(crbm: CRBM, seed: torch.Tensor, gs: torch.Generator, *, quick: bool, threads: int,
                cond: str) -> list[dict]:
    """Generation frames per second (30 Gibbs steps a frame) for 1 and 256 chains at 1, 2 and the run's
    threads, each after a 3-frame warm-up; the run's thread count is restored."""
    rows = []
    for chains, n, goal in ((1, 300 if quick else 1000, 1000.0), (256, 20 if quick else 60, 50000.0)):
        for n_threads in sorted({1, 2, threads}):
            torch.set_num_threads(n_threads)
            generate(crbm, seed, 3, n_chains=chains, generator=gs)
            _, t = timed(lambda c=chains, n=n: generate(crbm, seed, n, n_chains=c, k=30, generator=gs))
            rows.append(row(f"generation frames/s, {chains} chain(s), k=30, {n_threads} thread(s)", chains * n / t,
                            goal, "higher", conditions=cond))
    torch.set_num_threads(threads)
    return rows


def run(*, quick: bool, device: str) -> list[dict]:
    threads = int(os.environ.get("CRBM_BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    root = _data_root()
    d = _prepared(root)
    epochs = {"crbm": 200 if quick else 2000, "layer2": 100 if quick else 2000, "fcrbm": 40 if quick else 300}
    cond = f"{threads} thread(s), {os.cpu_count()} cores visible, shared machine"
    g = torch.Generator().manual_seed(0)  # the models' initial weights, drawn in the order of the steps below
    parts = os.environ.get("CRBM_BENCH_PARTS", "all")
    if parts not in ("all", "missing"):
        raise SystemExit(f"CRBM_BENCH_PARTS: expected missing (or nothing, for every part), got {parts!r}")
    if parts == "missing":  # the seed-0 CRBM, drawn and trained as in the full run
        return _missing_rows(root, d, _first_layer(d, epochs, g)[0].layer1, epochs)
    models, rows = _train_models(d, epochs, g, cond)
    rows += _prediction_rows(d, models)
    rows += _held_out_rows(d, epochs, g)
    rows += _denoise_rows(d, models["CRBM"], epochs, g, quick=quick)
    rows += _missing_rows(root, d, models["CRBM"], epochs)
    gs = torch.Generator().manual_seed(3)  # generation's draws, in the order of the steps below
    rows += _stability_rows(d, models, 1000 if quick else 10000, gs)
    rows += _style_rows(d, models, 600 if quick else 2400, gs)
    rows += _speed_rows(models["CRBM"], d["test_walk"][: ORDER + ORDER], gs, quick=quick, threads=threads, cond=cond)
    return rows
