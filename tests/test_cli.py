import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from crbm import __version__
from crbm.cli import main
from crbm.mocap.io import read_motion, write_motion
from crbm.motion.model import MotionModel


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "demo" in out


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "crbm", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


# ------------------------------------------------------------------------------------------ frame rates


@pytest.fixture(scope="module")
def walk_bvh(data_root, tmp_path_factory):
    """CMU 35_08 (455 frames at 120 fps) written as a BVH file."""
    d = data_root / "mocap" / "cmu" / "35"
    path = tmp_path_factory.mktemp("rates") / "walk.bvh"
    write_motion(read_motion(d / "35_08.amc", asf=d / "35.asf"), path)
    return path


def _with_frame_time(src: Path, dst: Path, frame_time: str) -> Path:
    text, n = re.subn(r"Frame Time: \S+", f"Frame Time: {frame_time}", src.read_text(), count=1)
    assert n == 1
    dst.write_text(text)
    return dst


def _train(data: list[Path], out: Path, *extra: str) -> MotionModel:
    assert main(["train", *map(str, data), "--out", str(out), "--epochs", "1", "--hidden", "4", *extra]) == 0
    return MotionModel.load(out)


@pytest.mark.parametrize("frame_time", ["0.00833333", ".0083333", "0.008333", "0.033333", "0.04", "0.041667",
                                        "0.02", "0.016667"])
def test_train_takes_any_frame_rate(walk_bvh, tmp_path, frame_time):
    """Rounded 120 fps frame times (120.000048, 120.0005, 120.0048 fps), Blender's 30.0003 fps, and 25, 24, 50 and
    60 fps train with no flags, resampled to the model's 30 fps."""
    bvh = _with_frame_time(walk_bvh, tmp_path / "walk.bvh", frame_time)
    model = _train([bvh], tmp_path / "m.safetensors")
    assert model.fps == 30.0


def test_rounded_120_fps_trains_as_every_fourth_frame(walk_bvh, tmp_path):
    exact = _train([walk_bvh], tmp_path / "exact.safetensors")
    rounded = _train([_with_frame_time(walk_bvh, tmp_path / "walk.bvh", "0.00833333")], tmp_path / "r.safetensors")
    for k, v in exact.model.state_dict().items():
        assert torch.equal(rounded.model.state_dict()[k], v), k


def test_fps_overrides_amc_and_bvh_rates(data_root, walk_bvh, tmp_path, capsys):
    d = data_root / "mocap" / "cmu" / "35"
    assert _train([d / "35_01.amc"], tmp_path / "a.safetensors", "--asf", str(d / "35.asf"), "--fps", "60").fps == 30
    out = tmp_path / "walk60.bvh"
    assert main(["convert", str(walk_bvh), str(out), "--fps", "60"]) == 0
    relabelled, original = read_motion(out), read_motion(walk_bvh)
    assert abs(relabelled.fps - 60.0) < 1e-9 and np.allclose(relabelled.frames, original.frames, atol=1e-9)


def test_outputs_come_back_at_the_input_rate_unless_asked(walk_bvh, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    _train([walk_bvh], model)
    original = read_motion(walk_bvh)
    runs = {
        "denoised.bvh": (["denoise", str(model), str(walk_bvh)], 120.0, 455),
        "denoised30.bvh": (["denoise", str(model), str(walk_bvh), "--out-fps", "30"], 30.0, 114),
        "filled.bvh": (["fill", str(model), str(walk_bvh), "--missing", "rfemur",
                        "--start", "200"], 120.0, 455),
        "filled24.bvh": (["fill", str(model), str(walk_bvh), "--missing", "rfemur",
                          "--out-fps", "24"], 24.0, 91),
        "converted.bvh": (["convert", str(walk_bvh)], 120.0, 455),
        "converted30.bvh": (["convert", str(walk_bvh), "--out-fps", "30"], 30.0, 114),
        # 20 frames at the model's 30 fps (no seed frames) span 19/30 s: 39 frames at 60 fps
    }
    for name, (argv, fps, frames) in runs.items():
        out = tmp_path / name
        argv = argv + [str(out)] if argv[0] == "convert" else argv + ["--out", str(out)]
        assert main(argv) == 0, name
        clip = read_motion(out)
        assert abs(clip.fps - fps) < 1e-6 and clip.n_frames == frames, (name, clip.fps, clip.n_frames)
    np.testing.assert_allclose(read_motion(tmp_path / "converted30.bvh").frames, original.frames[::4], atol=1e-9)
    # generate: the model's rate by default; --out-fps 60 puts the same frames on every other 60 fps frame
    for name, extra in (("generated.bvh", []), ("generated60.bvh", ["--out-fps", "60"])):
        assert main(["generate", str(model), "--frames", "20", "--k", "2", "--out", str(tmp_path / name), *extra]) == 0
    at30, at60 = read_motion(tmp_path / "generated.bvh"), read_motion(tmp_path / "generated60.bvh")
    assert abs(at30.fps - 30.0) < 1e-9 and abs(at60.fps - 60.0) < 1e-9 and at60.n_frames == 2 * at30.n_frames - 1
    np.testing.assert_allclose(at60.frames[::2], at30.frames, atol=1e-9)


def test_generate_continues_an_amc_seed_clip_at_its_own_rate(data_root, tmp_path):
    """AMC stores no rate: ``generate --seed-clip 35_01.amc --out g.amc`` wrote the model's 30 fps frames, which
    read back at 120 fps (four times too fast). With no --out-fps an .amc continuing an .amc seed clip is
    written at the seed clip's rate: 20 frames at 30 fps span 19/30 s, 77 frames at 120 fps, every fourth one
    a 30 fps frame."""
    d = data_root / "mocap" / "cmu" / "35"
    model = tmp_path / "m.safetensors"
    _train([d / "35_01.amc"], model, "--asf", str(d / "35.asf"))
    argv = ["generate", str(model), "--frames", "20", "--k", "2", "--seed-clip", str(d / "35_01.amc"), "--asf",
            str(d / "35.asf"), "--seed-frames", "0:40"]
    assert main(argv + ["--out", str(tmp_path / "g.amc")]) == 0
    assert main(argv + ["--out", str(tmp_path / "g.parquet")]) == 0
    at120, at30 = read_motion(tmp_path / "g.amc"), read_motion(tmp_path / "g.parquet")
    assert at30.fps == 30.0 and at30.n_frames == 20 and at120.fps == 120.0 and at120.n_frames == 77
    np.testing.assert_allclose(at120.frames[::4], at30.frames, rtol=0, atol=0.5e-6 + 1e-9)


# ------------------------------------------------------------------------------------------ everyday use


def test_a_clip_of_a_few_seconds_trains_and_the_batch_size_is_an_option(walk_bvh, tmp_path, capsys):
    clip = read_motion(walk_bvh)
    short = tmp_path / "short.bvh"
    write_motion(clip.replace(frames=clip.frames[:408]), short)  # 3.4 s at 120 fps: 99 windows of order 3 at 30 fps
    _train([short], tmp_path / "m.safetensors")  # the default batch of 100 shrinks to the 99 windows
    capsys.readouterr()
    assert main(["train", str(short), "--out", str(tmp_path / "big.safetensors"), "--epochs", "1", "--hidden", "4",
                 "--batch-size", "1000"]) == 2
    assert "batch_size 1000 is larger than the data (99 examples)" in capsys.readouterr().err
    assert not (tmp_path / "big.safetensors").exists()


def test_generate_writes_exactly_the_frames_asked_for(tmp_path):
    out = tmp_path / "g.bvh"
    assert main(["generate", "demo", "--frames", "300", "--k", "2", "--out", str(out)]) == 0
    assert read_motion(out).n_frames == 300
    assert main(["generate", "demo", "--style", "walk:40,run:20", "--k", "2", "--chains", "2", "--out", str(out)]) == 0
    assert [read_motion(tmp_path / f"g_{i}.bvh").n_frames for i in range(2)] == [60, 60]


def test_generate_writes_on_the_rig_the_model_was_trained_from(walk_bvh, tmp_path):
    """Without --seed-clip the output goes back onto the first training file's rig (its joints, channel
    orders, offsets and unit), as a file the user's tool reads like their own; it was written on the model's
    internal rig (its own offsets, Z/Y/X channels, centimetres). The home rig is kept in the saved model."""
    model = _train([walk_bvh], tmp_path / "m.safetensors")
    own = read_motion(walk_bvh).skeleton
    assert model.home == own
    out = tmp_path / "g.bvh"
    assert main(["generate", str(tmp_path / "m.safetensors"), "--frames", "20", "--k", "2", "--out", str(out)]) == 0
    generated = read_motion(out)
    assert generated.n_frames == 20 and generated.skeleton.names == own.names
    assert generated.channel_names == read_motion(walk_bvh).channel_names
    np.testing.assert_allclose([j.offset for j in generated.skeleton.joints], [j.offset for j in own.joints],
                               atol=1e-5)


def test_generate_continues_a_seed_clip(walk_bvh, tmp_path):
    """--seed-clip: the chains start from frames 0-39 of the clip (10 frames at the model's 30 fps, the last
    one the clip's frame 36) and the output continues the clip on its own skeleton, from where it was."""
    out = tmp_path / "g.bvh"
    assert main(["generate", "demo", "--style", "walk:20", "--k", "5", "--seed-clip", str(walk_bvh),
                 "--seed-frames", "0:40", "--out", str(out)]) == 0
    seed, generated = read_motion(walk_bvh), read_motion(out)
    assert generated.n_frames == 20 and generated.channel_names == seed.channel_names
    ground = [seed.channel_names.index(seed.skeleton.names[0] + f".{axis}position") for axis in "XZ"]
    step = np.linalg.norm(seed.frames[40, ground] - seed.frames[36, ground])  # one model frame of walking
    assert np.linalg.norm(generated.frames[0, ground] - seed.frames[40, ground]) < 0.25 * step
