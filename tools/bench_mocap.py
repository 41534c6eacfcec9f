"""Benchmark ``mocap``: the motion models on the GPmat split of CMU subject 35 (train: 31 clips; test: the
walk 35_29 and the run 35_18), all in one run.

Rows: multi-step prediction errors (normalised units and degrees) of the CRBM, the two-layer CRBM, the
label-conditioned CRBM and the FCRBM against zero velocity and a ridge AR model of the same order; the
model filter against tuned Savitzky-Golay and Butterworth filters at several noise levels; the missing-data
protocol (both formulas) against the nearest-neighbour baselines and the published figures; generation
stability (per-channel spread ratio, gait period, root speed per style) over long runs; training time;
generation frames per second for 1 and 256 chains (30 Gibbs steps a frame).

Data: ``crbm.datasets.load_gpmat_walkjog`` and the library's ``body_centred_pipeline`` with Euler joint angles
(so that errors convert to degrees channel by channel and the missing-data channels are the AMC ones): root
ground velocity in the heading frame, yaw rate, height and tilt; unwrapped Euler angles; constant channels
dropped; z-scored with the training statistics. Frame j of a prepared clip is AMC frame j.
Threads: ``CRBM_BENCH_THREADS`` (default 1: on a 2-core machine shared with other jobs one thread was
faster than two); the figures say how many were used. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.io
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from crbm.conditional import CRBM, TwoLayerCRBM, Windows, taylor_config  # noqa: E402
from crbm.datasets import cmu_skeleton, load_gpmat_walkjog  # noqa: E402
from crbm.factored import FCRBM, LabelCRBM, fcrbm_config  # noqa: E402
from crbm.forecast import (  # noqa: E402
    FIRST_MISSING,
    HORIZONS,
    MISSING_SETS,
    LinearAR,
    butter_denoise,
    dominant_period,
    gpmat_errors,
    model_predictor,
    nearest_neighbour_baselines,
    prediction_errors,
    prediction_residual_std,
    savgol_denoise,
    spread_ratio,
    taylor_nearest_neighbour,
    taylor_pair_error,
    tune_butter,
    tune_filter_factor,
    tune_savgol,
    zero_velocity,
)
from crbm.mocap.preprocess import body_centred_pipeline  # noqa: E402
from crbm.sample import denoise, fill_missing, generate, smooth, style_schedule  # noqa: E402
from crbm.train import fit  # noqa: E402

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


def _row(name, ours, published, better, **extra):
    return {"name": name, "ours": ours, "published": published, "better": better, **extra}


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run(*, quick: bool, device: str) -> list[dict]:
    threads = int(os.environ.get("CRBM_BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    root = _data_root()
    d = _prepared(root)
    train, styles, names, is_run = d["train"], d["train_styles"], d["names"], d["is_run"]
    width = len(names)
    epochs = {"crbm": 200 if quick else 2000, "layer2": 100 if quick else 2000, "fcrbm": 40 if quick else 300}
    gen_frames = 1000 if quick else 10000
    rows: list[dict] = []
    cond = f"{threads} thread(s), {os.cpu_count()} cores visible, shared machine"

    # ------------------------------------------------------------------ training
    g = torch.Generator().manual_seed(0)
    two = TwoLayerCRBM(width, (150, 150), (ORDER, ORDER), generator=g)
    _, t1 = _timed(lambda: fit(two.layer1, Windows(train, ORDER), taylor_config(epochs=epochs["crbm"])))
    hidden = two.hidden_clips(train)
    _, t2 = _timed(lambda: fit(two.layer2, Windows(hidden, ORDER), taylor_config(epochs=epochs["layer2"])))
    crbm = two.layer1
    rows.append(
        _row(
            "train two-layer CRBM (order 3, 150+150, s)",
            t1 + t2,
            180.0,
            "lower",
            epochs=f"{epochs['crbm']}+{epochs['layer2']}",
            conditions=cond,
        )
    )
    rows.append(_row("train CRBM layer 1 (s)", t1, None, "lower", epochs=epochs["crbm"]))
    warm = CRBM(width, 150, ORDER, generator=g).initialise_autoregressive(Windows(train, ORDER))
    _, tw = _timed(lambda: fit(warm, Windows(train, ORDER), taylor_config(epochs=epochs["crbm"])))
    rows.append(_row("train CRBM with AR warm start (s)", tw, None, "lower", epochs=epochs["crbm"]))
    # style models: the run clips repeated so that both styles weigh about the same (the split is ~6x walking)
    style_clips, style_labels = _balanced(train, styles, is_run)
    style_windows = Windows(style_clips, ORDER, labels=style_labels)
    lab = LabelCRBM(width, 150, ORDER, 2, generator=g)
    _, tl = _timed(lambda: fit(lab, style_windows, taylor_config(epochs=epochs["crbm"])))
    rows.append(_row("train label CRBM, balanced styles (s)", tl, None, "lower", epochs=epochs["crbm"]))
    fc = FCRBM(width, 150, ORDER, 2, n_features=20, n_factors=100, history_noise=1.0, generator=g)
    _, tf = _timed(lambda: fit(fc, style_windows, fcrbm_config(epochs=epochs["fcrbm"])))
    rows.append(
        _row("train FCRBM, balanced styles (150 hidden, 100 factors, s)", tf, None, "lower", epochs=epochs["fcrbm"])
    )

    # ------------------------------------------------------------------ prediction
    ar = LinearAR.fit(train, ORDER)
    angle_cols = d["angle_cols"]
    deg = torch.as_tensor(d["std"], dtype=torch.float32)
    walk_lab = [torch.tensor([[1.0, 0.0]]).expand(d["test_walk"].shape[0], -1)]
    run_lab = [torch.tensor([[0.0, 1.0]]).expand(d["test_run"].shape[0], -1)]
    predictors = {
        "CRBM": (model_predictor(crbm, k=1), False),
        "CRBM, AR warm start": (model_predictor(warm, k=1), False),
        "two-layer CRBM": (model_predictor(two, k=1), False),
        "label CRBM": (model_predictor(lab, k=1), True),
        "FCRBM": (model_predictor(fc, k=1), True),
        "zero velocity": (zero_velocity, False),
        "linear AR": (ar, False),
    }
    for clip_name, clip, labels in (("walk 35_29", d["test_walk"], walk_lab), ("run 35_18", d["test_run"], run_lab)):
        results = {}
        for name, (pred, needs_labels) in predictors.items():
            lab_arg = labels if needs_labels else None
            # seeds of the two-layer model's 2 * ORDER frames for every predictor: the same starts for all
            norm = prediction_errors(pred, [clip], order=2 * ORDER, labels=lab_arg)
            degs = prediction_errors(pred, [clip], order=2 * ORDER, labels=lab_arg, scale=deg, channels=angle_cols)
            results[name] = (norm, degs)
        for name in predictors:  # the models against the better baseline; the baselines themselves with None
            baseline = name in ("zero velocity", "linear AR")
            for h in HORIZONS:
                best_base = min(results["zero velocity"][0][h], results["linear AR"][0][h])
                rows.append(
                    _row(
                        f"predict {clip_name} h={h} {name} (RMS z)",
                        results[name][0][h],
                        None if baseline else best_base,
                        "lower",
                        degrees=results[name][1][h],
                    )
                )

    # ------------------------------------------------------------------ a larger held-out set
    # four training walks held out (35_02, 35_12, 35_30, 35_34); CRBMs and the AR refitted on the other 27 clips
    held_trials = ("35_02", "35_12", "35_30", "35_34")
    trials = d["raw"].train_trials
    rest = [c for c, t in zip(train, trials) if t not in held_trials]
    held = [c for c, t in zip(train, trials) if t in held_trials]
    held_predictors = {"zero velocity": zero_velocity, "linear AR": LinearAR.fit(rest, ORDER)}
    for name, warm_start in (("CRBM", False), ("CRBM, AR warm start", True)):
        m = CRBM(width, 150, ORDER, generator=g)
        if warm_start:
            m.initialise_autoregressive(Windows(rest, ORDER))
        fit(m, Windows(rest, ORDER), taylor_config(epochs=epochs["crbm"]))
        held_predictors[name] = model_predictor(m, k=1)
    held_errors = {n: prediction_errors(p, held, order=2 * ORDER) for n, p in held_predictors.items()}
    for name, errors in held_errors.items():
        for h in HORIZONS:
            base = (
                None
                if name in ("zero velocity", "linear AR")
                else min(held_errors["zero velocity"][h], held_errors["linear AR"][h])
            )
            rows.append(_row(f"predict held-out walks 35_02/12/30/34 h={h} {name} (RMS z)", errors[h], base, "lower"))

    # ------------------------------------------------------------------ denoising
    # the offline smoother's backward model: the same CRBM trained on the time-reversed clips
    back = CRBM(width, 150, ORDER, generator=g)
    _, tb = _timed(lambda: fit(back, Windows([c.flip(0) for c in train], ORDER), taylor_config(epochs=epochs["crbm"])))
    rows.append(_row("train backward CRBM for the smoother (s)", tb, None, "lower", epochs=epochs["crbm"]))
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
        rows.append(
            _row(
                f"denoise sd={sd} CRBM smoother, offline (RMS z)",
                rms(offline(noisy, f_off)),
                min(e_sg, e_bw),
                "lower",
                factor=f_off,
                **extra,
            )
        )
        rows.append(
            _row(
                f"denoise sd={sd} CRBM filter, online (RMS z)",
                rms(online(noisy, f_on)),
                min(e_sg, e_bw),
                "lower",
                factor=f_on,
                taylor_filter=rms(denoise(crbm, noisy)),
                **extra,
            )
        )

    # ------------------------------------------------------------------ missing data
    sb = scipy.io.loadmat(root / "mocap" / "gpmat" / "cmu35TaylorScaleBias.mat")
    scale, bias = sb["scale"].ravel(), sb["bias"].ravel()
    raw_walk = d["raw"].test[d["raw"].test_trials.index("35_29")]
    nn = nearest_neighbour_baselines(d["raw"].train, raw_walk, scale)
    tnn = taylor_nearest_neighbour(d["raw"].train, raw_walk, scale, bias)
    walk_context = d["pipe"].contexts([raw_walk])
    channel_names = d["raw"].channel_names
    # the fill error depends on the trained model more than on the chains (100 chains instead of 20 moved it by
    # <= 0.5): the layer-1 CRBM (seed 0) and two more CRBMs trained alike from seeds 1 and 2; rows give the mean
    fillers = [crbm]
    for s in (1, 2):
        m = CRBM(width, 150, ORDER, generator=torch.Generator().manual_seed(s))
        fit(m, Windows(train, ORDER), taylor_config(epochs=epochs["crbm"], seed=s))
        fillers.append(m)
    for which in ("leg", "body"):
        pos = [names.index(channel_names[c]) for c in MISSING_SETS[which]]
        per_seed = {"cum": [], "rms": [], "pair": []}
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
            rows.append(
                _row(
                    f"missing {which} CRBM {label}, mean of 3 seeds",
                    float(np.mean(v)),
                    published,
                    "lower",
                    seeds=[round(e, 3) for e in v],
                    min=min(v),
                    max=max(v),
                    **extra,
                )
            )
        for key, pub in ((f"{which}/unit", {"leg": 13.5, "body": 20.8}), (f"{which}/raw", {"leg": 14.0, "body": 30.9})):
            rows.append(
                _row(f"missing {which} NN {key.split('/')[1]} cumulative (reproduced)", nn[key][0], pub[which], "lower")
            )

    # ------------------------------------------------------------------ generation stability and style
    seed = x[: ORDER + ORDER]
    gs = torch.Generator().manual_seed(3)
    walks = [c for c, r in zip(train, is_run) if not r]
    femur, speed = names.index(LFEMUR_RX), names.index(FORWARD)
    train_period = np.nanmedian(
        [
            dominant_period(c[:, femur].numpy(), max_lag=60)
            for c in walks
        ]
    )
    for name, model in (("CRBM", crbm), ("two-layer CRBM", two)):
        out, _ = _timed(lambda m=model: generate(m, seed, gen_frames, n_chains=4, generator=gs))
        finite = bool(torch.isfinite(out).all())
        ratio = spread_ratio(out[:, gen_frames // 10 :], walks)
        period = np.nanmedian([dominant_period(o[gen_frames // 10 :, femur].numpy(), max_lag=60) for o in out])
        rows.append(
            _row(
                f"generate {gen_frames} frames {name}: median spread ratio",
                float(ratio.median()),
                1.0,
                "closer to 1",
                min=float(ratio.min()),
                max=float(ratio.max()),
                finite=finite,
            )
        )
        rows.append(_row(f"generate {name}: gait period (frames)", float(period), float(train_period), "closer"))
    n_style = 600 if quick else 2400
    half = n_style // 2
    sched = style_schedule([(WALK, half), (RUN, half)], 2, blend=15)
    speed_scale, speed_mean = d["std"][speed], d["mean"][speed]
    train_speed = {
        st: float(
            np.mean(
                [
                    (c[:, speed] * speed_scale + speed_mean).mean()
                    for c, r in zip(train, is_run)
                    if r == (st == RUN)
                ]
            )
        )
        for st in (WALK, RUN)
    }
    for name, model in (("label CRBM", lab), ("FCRBM", fc)):
        out = generate(model, seed, n_style, n_chains=4, labels=sched, generator=gs)
        v = out[:, :, speed] * speed_scale + speed_mean
        walk_speed, run_speed = float(v[:, half // 2 : half].mean()), float(v[:, half + half // 2 :].mean())
        rows.append(_row(f"style {name}: walk root speed (ASF units/frame)", walk_speed, train_speed[WALK], "closer"))
        rows.append(
            _row(
                f"style {name}: run root speed (ASF units/frame)",
                run_speed,
                train_speed[RUN],
                "closer",
                finite=bool(torch.isfinite(out).all()),
            )
        )

    # ------------------------------------------------------------------ generation speed
    for chains, n, goal in ((1, 300 if quick else 1000, 1000.0), (256, 20 if quick else 60, 50000.0)):
        for n_threads in sorted({1, 2, threads}):
            torch.set_num_threads(n_threads)
            generate(crbm, seed, 3, n_chains=chains, generator=gs)
            _, t = _timed(lambda c=chains, n=n: generate(crbm, seed, n, n_chains=c, k=30, generator=gs))
            rows.append(
                _row(
                    f"generation frames/s, {chains} chain(s), k=30, {n_threads} thread(s)",
                    chains * n / t,
                    goal,
                    "higher",
                    conditions=cond,
                )
            )
    torch.set_num_threads(threads)
    return rows
