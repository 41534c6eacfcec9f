"""The ``crbm`` command line: thin sub-commands over the library.

Each sub-command is a pair of functions, ``_add_<name>(parser)`` and ``_run_<name>(args)``, listed in
``COMMANDS``. Any error (bad input, a missing or unwritable file, an unexpected failure) prints one line to
stderr and exits with code 2 (``--debug`` shows the traceback instead); outputs are written atomically, so a
failed command leaves no partial file.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from crbm import __version__
from crbm.engine.errors import CRBMError


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("crbm-demo"), help="folder for the outputs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda when available)")
    p.add_argument("--train", action="store_true",
                   help="retrain the model from the CMU subject-35 data instead of using the shipped one")
    p.add_argument("--data", type=Path, default=None, help="data folder for --train (default: CRBM_DATA, cache)")


def _run_demo(args: argparse.Namespace) -> int:
    from crbm.motion.demo import run_demo

    for path in run_demo(args.out, seed=args.seed, device=args.device, train=args.train, data=args.data):
        print(path)
    return 0


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fps", type=float, default=None, help="frame rate of the input, overriding the file's "
                   "(default: the BVH Frame Time or the Parquet metadata; 120 for .amc)")
    p.add_argument("--input-units", default=None, metavar="mm|cm|m|in|cmu",
                   help="length unit of .bvh input (default: from the skeleton's size: metres for a body "
                   "0.3-5 units tall, as Blender writes, millimetres from 800 units, cmu (the CMU ASF unit, "
                   "5.644 cm) for a CMU conversion (LHipJoint, RHipJoint) 10-50 units tall, else cm)")


def _add_units(p: argparse.ArgumentParser) -> None:
    p.add_argument("--units", default=None, metavar="mm|cm|m|in|cmu",
                   help="length unit of the output (default: the clip's own, so a file comes back in its "
                   "unit; cm for .bvh written from .amc)")


def _check_units(args: argparse.Namespace) -> None:
    """--units and --input-units, when given, name length units crbm knows; else a one-line error before any
    work."""
    from crbm.mocap.lengths import check_length_unit

    if getattr(args, "units", None) is not None:
        check_length_unit(args.units, "--units")
    if getattr(args, "input_units", None) is not None:
        check_length_unit(args.input_units, "--input-units")


def _input_units(args: argparse.Namespace, path) -> str | None:
    """--input-units for a .bvh input, None for others (AMC and Parquet record their unit), so that one
    command can read BVH files with Parquet or AMC ones."""
    return args.input_units if Path(path).suffix.lower() == ".bvh" else None


def _read_clips(args: argparse.Namespace, paths) -> list:
    """Every clip of every file in ``paths``, read with --asf, --fps and --input-units."""
    from crbm.mocap.io import read_motions

    return [m for path in paths for m in read_motions(path, asf=args.asf, fps=args.fps, units=_input_units(args, path))]


def _read_clip(args: argparse.Namespace, path):
    """The one clip in ``path`` (``crbm.read_motion``), read like ``_read_clips``."""
    from crbm.mocap.io import read_motion

    return read_motion(path, asf=args.asf, fps=args.fps, units=_input_units(args, path))


def _add_clip_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--asf", type=Path, default=None, help="ASF skeleton of .amc inputs")
    _add_input_options(p)


def _add_out_fps(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--out-fps", type=float, default=None, help=f"frame rate of the output (default: {default})")


def _check_rates(args: argparse.Namespace) -> None:
    """Every frame-rate option given (--fps, --model-fps, --out-fps) is in (0, 10,000]; else a one-line error."""
    from crbm.mocap.motion import check_fps

    for name in ("fps", "model_fps", "out_fps"):
        if getattr(args, name, None) is not None:
            check_fps(getattr(args, name), "--" + name.replace("_", "-"))


def _check_inputs(args: argparse.Namespace) -> None:
    """Every input file a command names exists; else one line naming it (not the operating system's text)."""
    paths = [getattr(args, name, None) for name in ("data", "clips", "input", "asf", "checkpoint", "seed_clip")]
    if getattr(args, "style_from", None) not in (None, "clip-names"):
        paths.append(Path(args.style_from))
    for path in paths:
        for p in path if isinstance(path, list) else [path]:
            if isinstance(p, Path) and not p.exists():
                raise CRBMError(f"{p}: no such file")


def _input_files(args: argparse.Namespace) -> list[Path]:
    """Every file the command reads: clips, skeletons (an .amc without --asf reads the .asf beside it), the
    style table, the model or checkpoint."""
    found = []
    for name in ("data", "clips", "input", "asf", "checkpoint", "seed_clip", "model"):
        value = getattr(args, name, None)
        for p in value if isinstance(value, list) else [value]:
            if p is not None and str(p) != "demo":
                found.append(Path(p))
    if getattr(args, "style_from", None) not in (None, "clip-names"):
        found.append(Path(args.style_from))
    if getattr(args, "asf", None) is None:
        beside = {f.parent for f in found if f.suffix.lower() == ".amc"}
        found += [p for folder in beside for p in folder.glob("*") if p.suffix.lower() == ".asf"]
    return found


def _outputs(args: argparse.Namespace) -> list[Path]:
    """The files the command will write (an .amc output brings its .asf; --chains N gives N clip files)."""
    out = {"train": "out", "generate": "out", "denoise": "out", "fill": "out", "show": "out", "dbn_samples": "out",
           "convert": "output", "evaluate": "json"}.get(args.command.replace("-", "_"))
    target = getattr(args, out, None) if out else None
    if target is None:
        return []
    files = [target]
    if args.command == "generate" and args.chains > 1 and target.suffix.lower() != ".parquet":
        files = [_chain_file(target, i) for i in range(args.chains)]
    return files + [f.with_suffix(".asf") for f in files if f.suffix.lower() == ".amc"]


def _check_outputs(args: argparse.Namespace) -> None:
    """No output is one of the command's inputs, whatever the spelling (links, ``..``, case on some systems)."""
    inputs = [p for p in _input_files(args) if p.exists()]
    for out in _outputs(args):
        same = next((p for p in inputs if out.exists() and os.path.samefile(out, p)), None)
        if same is not None:
            raise CRBMError(f"{out}: the output would overwrite the input {same}; choose another name")


def _chain_file(out: Path, i: int) -> Path:
    return out.with_name(f"{out.stem}_{i}{out.suffix}")


def _parse_schedule(text: str) -> list[tuple[str, int]]:
    """"walk:120,run:120" -> [("walk", 120), ("run", 120)]."""
    out = []
    for part in text.split(","):
        name, _, n = part.partition(":")
        if not n.strip().isdigit() or int(n) < 1:
            raise CRBMError(f"--style {text!r}: expected STYLE:FRAMES pairs like walk:120,run:120")
        out.append((name.strip(), int(n)))
    return out


def _style_of(name: str) -> str:
    """A clip's style from its name: the name without trailing digits and separators ("walk_03" -> "walk")."""
    return name.rstrip("0123456789_- .").lower() or name


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, nargs="+", metavar="DATA",
                   help=".bvh, .amc or .parquet files, of one subject or several of one topology (joints matched by "
                   "name); an .amc without --asf uses the one .asf in its folder")
    p.add_argument("--out", type=Path, required=True, metavar="MODEL", help="checkpoint to write (.safetensors)")
    p.add_argument("--kind", choices=["crbm", "two-layer", "label", "fcrbm", "mixture"], default=None,
                   help="model: crbm (default), two-layer, label (style labels as inputs), fcrbm (factored, "
                   "style-gated; default when styles are given) or mixture (--components CRBMs as an implicit "
                   "mixture; generates and predicts, does not denoise or fill)")
    p.add_argument("--layers", type=int, choices=[1, 2], default=1, help="2: two-layer CRBM (= --kind two-layer)")
    p.add_argument("--epochs", type=int, default=2000, help="passes over the data (default: %(default)s)")
    p.add_argument("--order", type=int, default=3, help="frames of history (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=150, help="hidden units per layer (default: %(default)s)")
    p.add_argument("--components", type=int, default=2, help="CRBMs of --kind mixture (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="training windows per mini-batch (default: 100, or all of them when the clips hold fewer)")
    p.add_argument("--model-fps", type=float, default=30.0,
                   help="the model's frame rate; clips at other rates are resampled to it (default: %(default)s)")
    p.add_argument("--style-from", default=None, metavar="clip-names|FILE.csv",
                   help="style labels: from clip names (walk_01 -> walk) or a CSV of clip,style rows")
    p.add_argument("--centring", action="store_true",
                   help="model each channel relative to the clip's running mean: better prediction and cleaning on "
                   "subjects the model never saw")
    p.add_argument("--differences", action="store_true",
                   help="model frame-to-frame pose differences (generated poses may drift)")
    p.add_argument("--root", choices=["velocity", "foot"], default="velocity",
                   help="the root's ground step as modelled: its own velocity (default) or the lower foot's step, "
                   "0 for a planted foot, with the root carried along by the legs (less foot skating)")
    p.add_argument("--contacts", action="store_true",
                   help="model a contact channel per foot beside the pose; generated clips keep a foot whose "
                   "contact is on still (less foot skating)")
    p.add_argument("--history-noise", type=float, default=None, metavar="S",
                   help="train on histories with Gaussian noise of S data standard deviations, so that generated "
                   "motion does not die down (default: 1 for --kind fcrbm, 0 otherwise)")
    p.add_argument("--ar-start", action="store_true",
                   help="start the autoregressive weights at the ridge AR fit (better prediction, worse generation)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available)")
    _add_clip_options(p)


def _run_train(args: argparse.Namespace) -> int:
    from crbm.engine.distributed import init_distributed
    from crbm.motion.model import train_motion_model

    rank, _ = init_distributed()  # under torchrun: data-parallel training
    motions = _read_clips(args, args.data)
    styles = None
    if args.style_from == "clip-names":
        styles = [_style_of(m.name) for m in motions]
    elif args.style_from:
        table = dict(line.split(",")[:2] for line in Path(args.style_from).read_text().split() if "," in line)
        missing = [m.name for m in motions if m.name not in table]
        if missing:
            raise CRBMError(f"{args.style_from}: no style for clips {missing}")
        styles = [table[m.name].strip() for m in motions]
    kind = args.kind or ("two-layer" if args.layers == 2 else "fcrbm" if styles else "crbm")
    model = train_motion_model(motions, styles=styles, kind=kind, order=args.order, hidden=args.hidden,
                               components=args.components,
                               epochs=args.epochs, fps=args.model_fps, seed=args.seed, device=args.device,
                               ar_start=args.ar_start, differences=args.differences, centring=args.centring,
                               root=args.root, contacts=args.contacts, history_noise=args.history_noise,
                               batch_size=args.batch_size, verbose=True)
    if rank == 0:
        print(model.save(args.out))
    return 0


def _write_clips(clips, out: Path, units: str | None) -> list[Path]:
    """Write ``clips`` to ``out`` (several clips: ``<stem>_<i><suffix>`` each, unless Parquet), all or none."""
    from crbm.engine.atomic import staged_outputs
    from crbm.mocap.io import write_motion

    if out.suffix.lower() == ".parquet" or len(clips) == 1:
        return write_motion(clips if len(clips) > 1 else clips[0], out, units=units)
    with staged_outputs(out.parent) as stage:
        written = [p for i, c in enumerate(clips)
                   for p in write_motion(c, stage / _chain_file(out, i).name, units=units)]
    return [out.parent / p.name for p in written]


def _add_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a checkpoint from crbm train, or 'demo'")
    p.add_argument("--frames", type=int, default=None,
                   help="frames to generate at the model's rate, of the first style for style models; the output "
                   "has exactly this many (the seed frames are not part of it)")
    p.add_argument("--style", default=None, metavar="STYLE:N,...", help="style schedule, e.g. walk:120,run:120")
    p.add_argument("--out", type=Path, required=True,
                   help=".bvh or .parquet (.amc for a model of ASF clips or an ASF --seed-clip)")
    p.add_argument("--chains", type=int, default=1, help="independent sequences (default: %(default)s)")
    p.add_argument("--k", type=int, default=30, help="Gibbs steps per frame (default: %(default)s)")
    p.add_argument("--final-samples", type=int, default=0, metavar="N",
                   help="the last Gibbs update of each frame from the mean of N hidden samples instead of their "
                   "probabilities (default 0: Taylor's mean-field update; 4 damps the motion less)")
    p.add_argument("--lock-feet", action="store_true",
                   help="post-process: move the root so that feet in stance do not slide "
                   "(crbm.mocap.realism.lock_feet)")
    p.add_argument("--blend", type=int, default=15, help="frames of cross-fade at a style switch")
    p.add_argument("--handover", type=int, default=None,
                   help="frames over which a chain is handed over to the new style at its next foot strike "
                   "(default: MotionModel.generate's; 0: switch the labels at the scheduled frame, cross-faded "
                   "over --blend)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--seed-clip", type=Path, default=None, metavar="CLIP",
                   help="start from the frames of this clip (.bvh, .amc with --asf, .parquet) and continue it, "
                   "instead of the training frames stored in the model")
    p.add_argument("--seed-frames", default=None, metavar="START:END",
                   help="the frames of --seed-clip to start from, in the clip's own frames, END exclusive "
                   "(default: the whole clip)")
    p.add_argument("--asf", type=Path, default=None, help="ASF skeleton of an .amc --seed-clip")
    _add_input_options(p)
    _add_out_fps(p, "the model's; for .amc, which stores no rate and is read as 120 fps, 120 or the --seed-clip's")
    _add_units(p)


def _run_generate(args: argparse.Namespace) -> int:
    import torch

    from crbm.mocap.resample import resample
    from crbm.motion.model import load_motion_model

    model = load_motion_model(args.model)
    if args.style:
        schedule = _parse_schedule(args.style)
    elif args.frames:
        schedule = [(model.styles[0] if model.styles else "", args.frames)]
    else:
        raise CRBMError("give --frames N or --style STYLE:N,...")
    seed = None
    if args.seed_clip is not None:
        clip = _read_clip(args, args.seed_clip)
        seed = _seed_frames(clip, args.seed_frames)
    elif args.seed_frames is not None:
        raise CRBMError("--seed-frames selects frames of --seed-clip; give the clip too")
    handover = {} if args.handover is None else {"handover": args.handover}
    clips = model.generate(schedule, n_chains=args.chains, k=args.k, final_samples=args.final_samples,
                           blend=args.blend, seed=seed, generator=torch.Generator().manual_seed(args.seed), **handover)
    if seed is None and model.home is not None:  # back on the rig the model was trained from, in its unit
        from crbm.mocap.retarget import retarget

        clips = [retarget(c, model.home) for c in clips]
    if args.lock_feet:
        from crbm.mocap.realism import lock_feet

        clips = [lock_feet(c) for c in clips]
    out_fps = args.out_fps
    if out_fps is None and args.out.suffix.lower() == ".amc":
        # AMC stores no rate and is read as 120 fps: a continuation at the seed clip's, as the clip reads; else 120
        from crbm.mocap.acclaim import AMC_FPS

        out_fps = seed.fps if seed is not None else AMC_FPS
    if out_fps is not None:
        clips = [resample(c, out_fps) for c in clips]
    for path in _write_clips(clips, args.out, args.units):
        print(path)
    return 0


def _seed_frames(clip, span: str | None):
    """Frames ``START:END`` of ``clip`` (its own frames, END exclusive; either may be left out)."""
    if span is None:
        return clip
    start, sep, end = span.partition(":")
    try:
        a, b = int(start or 0), int(end) if end else clip.n_frames
    except ValueError:
        a = b = -1
    if not sep or not 0 <= a < b <= clip.n_frames:
        raise CRBMError(f"--seed-frames {span!r}: expected START:END with 0 <= START < END <= {clip.n_frames} "
                        f"(the frames of {clip.name or 'the seed clip'})")
    return clip.replace(frames=clip.frames[a:b])


def _clip_or_stdin(text: str) -> Path | str:
    """A clip path, or "-" for frames on standard input."""
    return text if text == "-" else Path(text)


def _noise_levels(text: str | None) -> tuple[float | None, float | None]:
    """--noise-std "DEG[,LENGTH]" -> (degrees, length units or None); (None, None) when not given."""
    if text is None:
        return None, None
    parts = text.split(",")
    try:
        values = [float(v) for v in parts]
    except ValueError:
        values = []
    if not 1 <= len(values) <= 2 or len(values) != len(parts) or not all(math.isfinite(v) and v >= 0 for v in values):
        raise CRBMError(f"--noise-std {text!r}: expected DEG or DEG,LENGTH, finite numbers >= 0 (the noise's "
                        "standard deviation in degrees and in the clip's length unit)")
    return values[0], values[1] if len(values) == 2 else None


def _add_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", nargs="?", default=None,
                   help="a checkpoint from crbm train, or 'demo' (not needed with --online)")
    p.add_argument("input", type=_clip_or_stdin, metavar="IN",
                   help="noisy clip: .bvh, .amc (with --asf) or .parquet; '-': frames on standard input, one line "
                   "of whitespace-separated channel values each (nan: not recorded), in --skeleton's channels")
    p.add_argument("--out", type=Path, required=True,
                   help="where to write the cleaned clip; '-': standard output, one line per frame")
    p.add_argument("--noise-std", default=None, metavar="DEG[,LENGTH]",
                   help="noise standard deviation of the rotations in degrees and, after a comma, of the positions "
                   "in the clip's length unit (default: estimated from the clip, channel by channel)")
    p.add_argument("--online", action="store_true",
                   help="the online filter (crbm.OnlineFilter): each frame cleaned from the frames before it and "
                   "--lag frames after it, written as it comes; the model is not used")
    p.add_argument("--lag", type=int, default=16, help="frames of delay of --online: more cleans better, 1 answers "
                   "at once (default: %(default)s)")
    p.add_argument("--skeleton", type=Path, default=None,
                   help="for IN '-': a .bvh, .asf or .parquet file whose skeleton the frames use (default: the "
                   "model's; needed with --online and no MODEL); the rate is --fps, else that file's, else the "
                   "model's")
    p.add_argument("--style", default=None, help="style label for style models (default: the first)")
    _add_clip_options(p)
    _add_out_fps(p, "the input's rate and frame count")
    _add_units(p)
    p.epilog = ("Offline (default) every frame is cleaned with the frames before and after it and the "
                "model's predictions (crbm.motion.cleanup.denoise_motion); --online runs the per-channel filter "
                "frame by frame.")


def _stdin_clip_header(args: argparse.Namespace, model):
    """(skeleton, fps) of frames on standard input: --skeleton's (or the model's) skeleton, at --fps, else the
    --skeleton file's rate, else the model's."""
    from crbm.mocap.acclaim import read_asf
    from crbm.mocap.io import read_motion

    if args.skeleton is None:
        if model is None:
            raise CRBMError("IN '-' with --online and no MODEL: give --skeleton FILE (a .bvh, .asf or .parquet "
                            "whose skeleton the frames use)")
        return model.skeleton, args.fps or model.fps
    if args.skeleton.suffix.lower() == ".asf":
        if args.fps is None and model is None:
            raise CRBMError(f"{args.skeleton}: an ASF skeleton has no frame rate; give --fps")
        return read_asf(args.skeleton), args.fps or model.fps
    ref = read_motion(args.skeleton, units=_input_units(args, args.skeleton))
    return ref.skeleton, args.fps or ref.fps


def _run_denoise(args: argparse.Namespace) -> int:
    import numpy as np

    from crbm.engine.progress import steps
    from crbm.mocap.motion import Motion
    from crbm.mocap.resample import resample
    from crbm.motion.cleanup import OnlineFilter, format_frame, read_frames
    from crbm.motion.model import load_motion_model

    if args.lag < 0:
        raise CRBMError(f"--lag must be 0 or more frames, got {args.lag}")
    noise, position = _noise_levels(args.noise_std)
    if args.model is None and not args.online:
        raise CRBMError("give MODEL (a checkpoint from crbm train, or 'demo'), or --online, which needs none")
    model = None if args.model is None else load_motion_model(args.model)
    if args.input == "-":
        skeleton, fps = _stdin_clip_header(args, model)
        frames, name = read_frames(sys.stdin, len(skeleton.channel_names)), "stdin"
    else:
        clip = _read_clip(args, args.input)
        skeleton, fps, name = clip.skeleton, clip.fps, clip.name
        frames = (clip.frames[t] for t in steps(0, clip.n_frames, desc="filter"))  # a bar when watched
    to_stdout = str(args.out) == "-"
    if args.online:
        online = OnlineFilter(skeleton, fps, noise_std=noise, position_noise_std=position, lag=args.lag)
        if to_stdout and args.out_fps is None:  # each frame out as soon as it is cleaned
            for frame in frames:
                out = online.push(frame)
                if out is not None:
                    print(format_frame(out), flush=True)
            for out in online.flush():
                print(format_frame(out), flush=True)
            return 0
        clean = Motion(skeleton, online.run(frames), fps, name=f"{name}_filtered")
    else:
        clip = Motion(skeleton, np.asarray(list(frames)).reshape(-1, len(skeleton.channel_names)), fps, name=name)
        clean = model.denoise(clip, noise_std=noise, position_noise_std=position, style=args.style)
    if args.out_fps is not None:
        clean = resample(clean, args.out_fps)
    if to_stdout:
        for out in clean.frames:
            print(format_frame(out), flush=True)
        return 0
    for path in _write_clips([clean], args.out, args.units):
        print(path)
    return 0


def _add_fill(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a checkpoint from crbm train, or 'demo'")
    p.add_argument("input", type=Path, metavar="IN", help="clip with missing joints")
    p.add_argument("--missing", default=None, metavar="JOINTS",
                   help="comma-separated joints missing from --start to --end, e.g. rfemur,rtibia,rfoot")
    p.add_argument("--start", type=int, default=0, help="first missing frame of the input clip (default: 0)")
    p.add_argument("--end", type=int, default=None,
                   help="the frame after the last missing one (default: the clip's end)")
    p.add_argument("--gap", action="append", default=[], metavar="JOINTS:START:END",
                   help="another gap: comma-separated joints missing from frame START up to, not including, END; "
                   "repeat for more (e.g. --gap lhumerus,lradius:10:40 --gap head:0:25)")
    p.add_argument("--out", type=Path, required=True, help="where to write the filled clip")
    p.add_argument("--style", default=None, help="style label for style models (default: the first)")
    _add_clip_options(p)
    _add_out_fps(p, "the input's rate and frame count")
    _add_units(p)
    p.epilog = ("Frames are the input clip's own, counted from 0, END excluded. Each gap is inferred from the "
                "frames after it as well as before it (crbm.motion.cleanup.fill_motion); recorded values are kept.")


def _run_fill(args: argparse.Namespace) -> int:
    from crbm.motion.cleanup import parse_gap
    from crbm.motion.model import load_motion_model

    gaps = [parse_gap(g) for g in args.gap]
    if args.missing is None and not gaps:
        raise CRBMError("give the missing joints: --missing JOINTS [--start S] [--end E], or --gap JOINTS:START:END")
    if args.missing is None and (args.start != 0 or args.end is not None):
        raise CRBMError("--start and --end go with --missing")
    model = load_motion_model(args.model)
    missing = [] if args.missing is None else [j.strip() for j in args.missing.split(",") if j.strip()]
    clip = _read_clip(args, args.input)
    clip = model.fill(clip, missing, start=args.start, end=args.end, gaps=gaps, style=args.style, out_fps=args.out_fps)
    for path in _write_clips([clip], args.out, args.units):
        print(path)
    return 0


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a checkpoint from crbm train, or 'demo'")
    p.add_argument("clips", type=Path, nargs="+", metavar="CLIP", help="clips to predict")
    p.add_argument("--json", type=Path, default=None, help="write the errors here")
    _add_clip_options(p)
    p.epilog = ("The model predicts by deterministic mean-field rollouts: one mean-field pass per frame (k = 1), "
                "the setting of the published prediction errors; generate instead samples each frame with --k "
                "Gibbs steps (default 30). Errors are RMS over the model's normalised channels.")


def _run_evaluate(args: argparse.Namespace) -> int:
    import json

    from crbm.engine.atomic import atomic_open
    from crbm.motion.model import load_motion_model

    model = load_motion_model(args.model)
    clips = _read_clips(args, args.clips)
    errors = model.evaluate(clips)
    print("horizon  " + "  ".join(f"{name:>13}" for name in errors))
    for h in next(iter(errors.values())):
        print(f"{h:>7}  " + "  ".join(f"{errors[name][h]:>13.4f}" for name in errors))
    if args.json:
        with atomic_open(args.json) as f:
            json.dump(errors, f, indent=2)
        print(args.json)
    return 0


def _add_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="motion file: .bvh, .amc (with --asf) or .parquet")
    p.add_argument("--out", type=Path, required=True,
                   help="picture to write: .gif or .mp4 (animation, MP4 needs ffmpeg) or .png (poses)")
    p.add_argument("--asf", type=Path, default=None, help="ASF skeleton for an .amc input")
    _add_input_options(p)
    p.add_argument("--stride", type=int, default=1, help="draw every N-th frame (default: %(default)s)")


def _run_show(args: argparse.Namespace) -> int:
    from crbm.mocap.render import animate, plot_poses

    if args.stride < 1:
        raise CRBMError(f"--stride must be a positive integer, got {args.stride}")
    motion = _read_clip(args, args.input)
    if args.out.suffix.lower() == ".png":
        frames = range(0, motion.n_frames, args.stride) if args.stride > 1 else None
        plot_poses(motion, args.out, frames=frames, title=motion.name or args.input.name)
    else:
        animate(motion, args.out, stride=args.stride)
    print(args.out)
    return 0


def _add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="IN", help="motion file: .bvh, .amc (needs --asf) or .parquet")
    p.add_argument("output", type=Path, metavar="OUT", help="file to write: .bvh, .amc (+ .asf) or .parquet")
    p.add_argument("--asf", type=Path, default=None, help="the ASF skeleton of an .amc input")
    _add_input_options(p)
    _add_out_fps(p, "the input's rate and frame count")
    _add_units(p)


def _run_convert(args: argparse.Namespace) -> int:
    from crbm.mocap.io import write_motion
    from crbm.mocap.resample import resample

    clips = _read_clips(args, [args.input])
    if args.out_fps is not None:
        clips = [resample(c, args.out_fps) for c in clips]
    for path in write_motion(clips, args.output, units=args.units):
        print(path)
    return 0


def _add_dbn_samples(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="a DBN checkpoint (kind DBN, with label units)")
    p.add_argument("--out", type=Path, default=Path("dbn_samples.png"), help="PNG to write (default: %(default)s)")
    p.add_argument("--per-label", type=int, default=10, help="images per label (default: %(default)s)")
    p.add_argument("--steps", type=int, default=1000, help="Gibbs rounds in the top RBM (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")


def _run_dbn_samples(args: argparse.Namespace) -> int:
    import torch

    from crbm.engine.checkpoint import load_model
    from crbm.static.dbn import DBN, save_label_samples

    dbn = load_model(args.checkpoint, device=args.device)
    if not isinstance(dbn, DBN):
        raise CRBMError(f"{args.checkpoint}: expected a DBN checkpoint, got a {type(dbn).__name__}")
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    save_label_samples(dbn, args.out, per_label=args.per_label, steps=args.steps, generator=g)
    print(args.out)
    return 0


def _add_plot_training(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a checkpoint from crbm train (or any checkpoint crbm.fit wrote)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--figures", default=None, metavar="NAME,...",
                   help="figures to draw, e.g. recon_error (default: every figure the history records)")


def _run_plot_training(args: argparse.Namespace) -> int:
    from crbm.engine.curves import plot_training

    figures = args.figures.split(",") if args.figures else None
    print(plot_training(args.model, args.out, figures=figures, title=Path(args.model).name))
    return 0


def _fetch_mnist(folder: Path | None) -> Path:
    from crbm.data.mnist import load_mnist, mnist_root

    root = mnist_root(folder / "mnist" if folder else None)
    for split in ("train", "test"):
        load_mnist(root, split=split, download=True)
    return root


def _fetch_docs(corpus: str):
    def fetch(folder: Path | None) -> Path:
        from crbm.data.documents import raw_archive

        return raw_archive(corpus, folder / "docs" if folder else None, download=True)

    return fetch


def _fetch_data_file(relative: str):
    def fetch(folder: Path | None) -> Path:
        from crbm.data.download import fetch_file
        from crbm.data.paths import SOURCES

        return fetch_file(relative, path=folder, download_ok=True, url=SOURCES[relative])

    return fetch


# data set -> function(folder or None) -> the path found or downloaded
FETCH = {
    "mnist": _fetch_mnist,
    "faces": _fetch_data_file("faces/olivettifaces.mat"),
    "20news": _fetch_docs("20news"),
    "reuters": _fetch_docs("reuters"),
    "gpmat": _fetch_data_file("mocap/gpmat/cmu35WalkJog.mat"),
}


def _add_fetch(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", choices=sorted(FETCH), metavar="NAME",
                   help=f"data sets to get: {', '.join(sorted(FETCH))}")
    p.add_argument("--dir", type=Path, default=None,
                   help="data folder to look in and download into (default: CRBM_DATA, then ~/.cache/crbm)")
    p.epilog = ("Files already present (in --dir, CRBM_DATA or the cache) are kept; missing ones are downloaded "
                "from their public homes and kept only if they pass their checksum (Reuters: its story counts).")


def _run_fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        print(f"{name}: {FETCH[name](args.dir)}")
    return 0


# name -> (help line, add-arguments function, run function)
COMMANDS = {
    "demo": ("generate 8 s of walking that turns into running: BVH, GIF and a plot", _add_demo, _run_demo),
    "train": ("train a motion model (CRBM, two-layer, label or FCRBM) on clips", _add_train, _run_train),
    "generate": ("generate motion from a trained model, with a style schedule", _add_generate, _run_generate),
    "denoise": ("filter a noisy clip with a trained model", _add_denoise, _run_denoise),
    "fill": ("fill in missing joints of a clip with a trained model", _add_fill, _run_fill),
    "evaluate": ("prediction errors of a model against zero-velocity and AR baselines", _add_evaluate,
                 _run_evaluate),
    "show": ("draw a motion file as a stick figure: GIF/MP4 animation or PNG of poses", _add_show, _run_show),
    "convert": ("convert motion files: .bvh, .amc (with .asf), .parquet", _add_convert, _run_convert),
    "plot-training": ("draw a model's training curves (figures per epoch) as a PNG", _add_plot_training,
                      _run_plot_training),
    "dbn-samples": ("write a PNG of DBN samples, one row per clamped label", _add_dbn_samples, _run_dbn_samples),
    "fetch": ("find or download the public data sets (MNIST, faces, 20 Newsgroups, Reuters, GPmat)", _add_fetch,
              _run_fetch),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``crbm show: error: ...``, exit code 2) like every other error, and no
    abbreviated options (``--epoch`` is an error, not ``--epochs``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crbm",
        description="Conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine "
        "family (RBM, DBN, deep autoencoders) on one engine.",
    )
    parser.add_argument("--version", action="version", version=f"crbm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_line, add, _) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line, description=help_line[0].upper() + help_line[1:] + ".")
        add(command)
        command.add_argument("--threads", type=int, default=None,
                             help="CPU threads for training and generation (default: chosen by the size of the work)")
        command.set_defaults(command_parser=command)  # so that an unknown option is reported by its command
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the command they follow, or by crbm when they come before it
        before = argv[: argv.index(args.command)] if args.command in argv else argv
        own = parser if any(u in before for u in unknown) else getattr(args, "command_parser", parser)
        own.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 0
    run = COMMANDS[args.command][2]
    try:
        _check_rates(args)
        _check_units(args)
        _check_inputs(args)
        _check_outputs(args)
        if args.threads is not None:
            from crbm.engine.threads import set_threads

            set_threads(args.threads)
        return run(args)
    except KeyboardInterrupt:
        print(f"crbm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line, never a traceback, unless --debug
        if args.debug:
            raise
        message = (
            str(err)
            if isinstance(err, (CRBMError, OSError))
            else f"unexpected {type(err).__name__}: {err} (run with --debug for the traceback)"
        )
        print(f"crbm {args.command}: error: " + " ".join(message.split()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
