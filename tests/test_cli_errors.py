"""The CLI on bad input: one line on stderr, exit code 2, no traceback (unless --debug), no partial output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from crbm import CRBMError, FormatError, read_bvh
from crbm.cli import main

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from test_bad_inputs import AMC, ASF, BVH, _garbage, _parquet_fps  # noqa: E402


def _inputs(tmp: Path) -> dict[str, Path]:
    files = {
        "good.bvh": BVH,
        "truncated.bvh": BVH[:120],
        "huge.bvh": BVH.replace("Frames: 2", "Frames: 999999999999"),
        "garbage.parquet": _garbage(),
        "walk.amc": AMC,
        "tiny.asf": ASF,
        "other.asf": ASF.replace("lfemur", "rfemur").replace("ltibia", "rtibia"),
    }
    for old, new in (("0.00001", "fast"), ("nan", "nan"), ("0", "zero")):  # Frame Times: 100,000 fps, NaN, 0
        files[f"{new}.bvh"] = BVH.replace("Frame Time: 0.04", f"Frame Time: {old}")
    for name, content in files.items():
        path = tmp / name
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    _parquet_fps(tmp, 1e6, "fast.parquet")
    return {name: tmp / name for name in files}


RATE = "expected a frame rate above 0 and at most 10,000 fps, got "  # the frame-rate options' message
UNIT = r"--units: unknown length unit '{}'; expected one of mm, cm, m, in, cmu$"  # the --units message

# (sub-command arguments with {tmp} for the scratch folder, a regex for the one line on stderr)
BAD_RUNS = [
    (["convert", "{tmp}/truncated.bvh", "{tmp}/out.parquet"], r"truncated\.bvh:6: the hierarchy ends early"),
    (["convert", "{tmp}/huge.bvh", "{tmp}/out.bvh"], r"huge\.bvh:20: 'Frames: 999999999999'"),
    (["convert", "{tmp}/garbage.parquet", "{tmp}/out.bvh"], r"garbage\.parquet: cannot read Parquet data"),
    (["convert", "{tmp}/walk.amc", "{tmp}/out.bvh"], r"walk\.amc: an \.amc file needs its skeleton"),
    (["convert", "{tmp}/walk.amc", "{tmp}/out.bvh", "--asf", "{tmp}/other.asf"],
     r"walk\.amc:5: expected a bone of the skeleton with channels, got 'lfemur'"),
    (["convert", "{tmp}/missing.bvh", "{tmp}/out.bvh"], r"missing\.bvh: no such file$"),
    (["convert", "{tmp}/good.bvh", "{tmp}/out.txt"], r"out\.txt: unknown motion file type '\.txt'"),
    (["convert", "{tmp}/good.bvh", "{tmp}/good.bvh"], r"good\.bvh: the output would overwrite the input"),
    (["convert", "{tmp}/good.bvh", "{tmp}/no/such/folder/out.bvh"], r"folder .*no/such/folder does not exist"),
    (["show", "{tmp}/truncated.bvh", "--out", "{tmp}/out.png"], r"truncated\.bvh:6: the hierarchy ends early"),
    (["show", "{tmp}/garbage.parquet", "--out", "{tmp}/out.gif"], r"garbage\.parquet: cannot read Parquet data"),
    (["show", "{tmp}/walk.amc", "--asf", "{tmp}/other.asf", "--out", "{tmp}/out.png"],
     r"walk\.amc:5: expected a bone of the skeleton"),
    (["show", "{tmp}/missing.bvh", "--out", "{tmp}/out.png"], r"missing\.bvh: no such file$"),
    # every input a command names is checked before any work, and named in one line
    (["train", "{tmp}/good.bvh", "{tmp}/missing.bvh", "--out", "{tmp}/m.safetensors"], r"missing\.bvh: no such file$"),
    (["evaluate", "demo", "{tmp}/missing.parquet"], r"missing\.parquet: no such file$"),
    (["denoise", "demo", "{tmp}/walk.amc", "--asf", "{tmp}/missing.asf", "--out", "{tmp}/out.bvh"],
     r"missing\.asf: no such file$"),
    (["train", "{tmp}/good.bvh", "--out", "{tmp}/m.safetensors", "--style-from", "{tmp}/missing.csv"],
     r"missing\.csv: no such file$"),
    (["generate", "demo", "--frames", "5", "--out", "{tmp}/out.bvh", "--seed-clip", "{tmp}/missing.bvh"],
     r"missing\.bvh: no such file$"),
    (["generate", "demo", "--frames", "5", "--out", "{tmp}/out.bvh", "--seed-clip", "{tmp}/good.bvh",
      "--seed-frames", "1:0"], r"--seed-frames '1:0': expected START:END with 0 <= START < END <= 2 "),
    (["generate", "demo", "--frames", "5", "--out", "{tmp}/out.bvh", "--seed-frames", "0:3"],
     r"--seed-frames selects frames of --seed-clip; give the clip too$"),
    # frame rates: 0, negative, NaN, infinite or above 10,000 fps, wherever a rate enters
    (["convert", "{tmp}/good.bvh", "{tmp}/out.bvh", "--fps", "0"], rf"--fps: {RATE}0\.0$"),
    (["convert", "{tmp}/walk.amc", "{tmp}/out.bvh", "--asf", "{tmp}/tiny.asf", "--fps", "-30"],
     rf"--fps: {RATE}-30\.0$"),
    (["convert", "{tmp}/good.bvh", "{tmp}/out.parquet", "--out-fps", "20000"], rf"--out-fps: {RATE}20000\.0$"),
    (["show", "{tmp}/good.bvh", "--out", "{tmp}/out.png", "--fps", "nan"], rf"--fps: {RATE}nan$"),
    (["train", "{tmp}/good.bvh", "--out", "{tmp}/m.safetensors", "--model-fps", "0"], rf"--model-fps: {RATE}0\.0$"),
    (["train", "{tmp}/good.bvh", "--out", "{tmp}/m.safetensors", "--fps", "inf"], rf"--fps: {RATE}inf$"),
    (["evaluate", "demo", "{tmp}/good.bvh", "--fps", "-1"], rf"--fps: {RATE}-1\.0$"),
    (["denoise", "demo", "{tmp}/good.bvh", "--out", "{tmp}/out.bvh", "--out-fps", "1e5"],
     rf"--out-fps: {RATE}100000\.0$"),
    (["fill", "demo", "{tmp}/good.bvh", "--missing", "lfemur", "--out", "{tmp}/out.bvh", "--fps", "0"],
     rf"--fps: {RATE}0\.0$"),
    (["generate", "demo", "--frames", "5", "--out", "{tmp}/out.bvh", "--out-fps", "nan"], rf"--out-fps: {RATE}nan$"),
    (["convert", "{tmp}/fast.bvh", "{tmp}/out.bvh"],
     r"fast\.bvh:18: Frame Time 0\.00001 s is 100,000 fps; expected a frame rate of at most 10,000 fps"),
    (["train", "{tmp}/fast.bvh", "--out", "{tmp}/m.safetensors"], r"fast\.bvh:18: Frame Time 0\.00001 s is 100,000"),
    (["convert", "{tmp}/nan.bvh", "{tmp}/out.bvh"], r"nan\.bvh:18: expected a number for 'Frame Time:', got 'nan'"),
    (["convert", "{tmp}/zero.bvh", "{tmp}/out.bvh"], r"zero\.bvh:18: expected a positive Frame Time, got '0'"),
    (["convert", "{tmp}/fast.parquet", "{tmp}/out.bvh"],
     r"fast\.parquet: metadata 'crbm': clip 'good' has bad fps 1000000\.0; expected a frame rate above 0"),
    # a length unit crbm does not know, on every command that writes motion
    (["convert", "{tmp}/good.bvh", "{tmp}/out.bvh", "--units", "ft"], UNIT.format("ft")),
    (["generate", "demo", "--frames", "5", "--out", "{tmp}/out.bvh", "--units", "km"], UNIT.format("km")),
    (["denoise", "demo", "{tmp}/good.bvh", "--out", "{tmp}/out.bvh", "--units", "CM"], UNIT.format("CM")),
    (["fill", "demo", "{tmp}/good.bvh", "--missing", "lfemur", "--out", "{tmp}/out.bvh", "--units", "inch"],
     UNIT.format("inch")),
]


def _run(capsys, argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def _assert_one_line(err: str, command: str, pattern: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"crbm {command}: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), (pattern, lines[0])


def _outputs(tmp: Path, before: set[str]) -> list[str]:
    """Files that appeared in the scratch folder (outputs, temporary files)."""
    return sorted(set(os.listdir(tmp)) - before)


@pytest.mark.parametrize("argv, pattern", BAD_RUNS, ids=[f"{a[0]}-{Path(a[1]).name}-{i}" for i, (a, _) in
                                                         enumerate(BAD_RUNS)])
def test_bad_input_prints_one_line_and_exits_2(tmp_path, capsys, argv, pattern):
    _inputs(tmp_path)
    before = set(os.listdir(tmp_path))
    code, err = _run(capsys, [a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    _assert_one_line(err, argv[0], pattern)
    assert _outputs(tmp_path, before) == []  # no output, no temporary file


def test_debug_reraises(tmp_path):
    _inputs(tmp_path)
    with pytest.raises(FormatError, match="hierarchy ends early"):
        main(["--debug", "convert", str(tmp_path / "truncated.bvh"), str(tmp_path / "out.bvh")])
    with pytest.raises(CRBMError, match="needs its skeleton"):
        main(["--debug", "show", str(tmp_path / "walk.amc"), "--out", str(tmp_path / "out.png")])


def test_unexpected_exception_is_one_line_and_debug_shows_it(tmp_path, capsys, monkeypatch):
    import crbm.mocap.io

    _inputs(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(crbm.mocap.io, "read_motions", broken)
    argv = ["convert", str(tmp_path / "good.bvh"), str(tmp_path / "out.bvh")]
    code, err = _run(capsys, argv)
    assert code == 2
    _assert_one_line(err, "convert", r"unexpected RuntimeError: boom second line \(run with --debug")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", *argv])


def test_failed_write_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    """The writer dies after the temporary file exists (a full disk): no output, no temporary file."""
    _inputs(tmp_path)
    before = set(os.listdir(tmp_path))

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    code, err = _run(capsys, ["convert", str(tmp_path / "good.bvh"), str(tmp_path / "out.parquet")])
    assert code == 2
    _assert_one_line(err, "convert", r"No space left on device")
    assert _outputs(tmp_path, before) == []


def test_output_onto_a_folder_is_one_line(tmp_path, capsys):
    """An OSError from the final rename (the output name is a folder) is one line too."""
    _inputs(tmp_path)
    (tmp_path / "out.bvh").mkdir()
    before = set(os.listdir(tmp_path))
    code, err = _run(capsys, ["convert", str(tmp_path / "good.bvh"), str(tmp_path / "out.bvh")])
    assert code == 2
    _assert_one_line(err, "convert", r"out\.bvh")
    assert _outputs(tmp_path, before) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_folder_is_one_line(tmp_path, capsys):
    _inputs(tmp_path)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = _run(capsys, ["convert", str(tmp_path / "good.bvh"), str(folder / "out.bvh")])
    finally:
        folder.chmod(0o700)
    assert code == 2
    _assert_one_line(err, "convert", r"Permission denied")
    assert os.listdir(folder) == []


def test_subprocess_bad_input(tmp_path):
    _inputs(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(
        [sys.executable, "-m", "crbm", "convert", str(tmp_path / "truncated.bvh"), str(tmp_path / "out.parquet")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert r.returncode == 2
    assert r.stdout == ""
    _assert_one_line(r.stderr, "convert", r"truncated\.bvh:6: the hierarchy ends early")
    assert not (tmp_path / "out.parquet").exists()


def test_amc_output_is_both_files_or_neither(tmp_path, capsys):
    """AMC output is two files (.amc and its .asf): when the .asf cannot be written, no .amc is left either."""
    _inputs(tmp_path)
    (tmp_path / "out.asf").mkdir()
    before = set(os.listdir(tmp_path))
    argv = ["convert", str(tmp_path / "walk.amc"), str(tmp_path / "out.amc"), "--asf", str(tmp_path / "tiny.asf")]
    code, err = _run(capsys, argv)
    assert code == 2
    _assert_one_line(err, "convert", r"out\.asf")
    assert _outputs(tmp_path, before) == []
    (tmp_path / "out.asf").rmdir()
    assert main(argv) == 0
    assert sorted(_outputs(tmp_path, before - {"out.asf"})) == ["out.amc", "out.asf"]


@pytest.mark.parametrize("argv, pattern", [
    (["show", "{tmp}/good.bvh", "--out", "{tmp}/x.png", "--stride", "0"],
     r"crbm show: error: --stride must be a positive integer, got 0$"),
    (["show", "{tmp}/good.bvh", "--out", "{tmp}/x.png", "--stride", "abc"],
     r"crbm show: error: argument --stride: invalid int value: 'abc' \(see crbm show --help\)"),
    (["show", "{tmp}/good.bvh"], r"crbm show: error: the following arguments are required: --out"),
    (["convert"], r"crbm convert: error: the following arguments are required: IN, OUT"),
    (["bogus"], r"crbm: error: argument COMMAND: invalid choice: 'bogus'"),
    # abbreviations are refused, and an unknown option is reported by its command, not by crbm
    (["train", "{tmp}/good.bvh", "--out", "{tmp}/m.safetensors", "--epoch", "3"],
     r"crbm train: error: unrecognized arguments: --epoch 3 \(see crbm train --help\)$"),
    (["generate", "demo", "--frame", "30", "--out", "{tmp}/g.bvh"],
     r"crbm generate: error: unrecognized arguments: --frame 30 "),
    (["show", "{tmp}/good.bvh", "--out", "{tmp}/x.png", "--strid", "2"], r"crbm show: error: unrecognized arguments"),
    (["--debu", "show", "{tmp}/good.bvh", "--out", "{tmp}/x.png"], r"crbm: error: unrecognized arguments: --debu"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, argv, pattern):
    _inputs(tmp_path)
    before = set(os.listdir(tmp_path))
    try:
        code = main([a.format(tmp=tmp_path) for a in argv])
    except SystemExit as stop:  # argparse's own errors exit
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1 and re.match(pattern, err), err
    assert _outputs(tmp_path, before) == []


# ------------------------------------------------------------------------------ no command writes over its input

OVERWRITES = [  # (arguments, the input the output would replace)
    (["convert", "{tmp}/walk.amc", "{tmp}/tiny.amc", "--asf", "{tmp}/tiny.asf"], "tiny.asf"),  # the .amc's .asf
    (["convert", "{tmp}/good.bvh", "{tmp}/link.bvh"], "good.bvh"),  # a symbolic link to the input
    (["denoise", "demo", "{tmp}/walk.amc", "--asf", "{tmp}/tiny.asf", "--out", "{tmp}/./walk.amc"], "walk.amc"),
    (["denoise", "demo", "{tmp}/good.bvh", "--out", "{tmp}/hard.bvh"], "good.bvh"),  # a hard link to the input
    (["fill", "demo", "{tmp}/c.parquet", "--missing", "Chest", "--out", "{tmp}/c.parquet"], "c.parquet"),
    (["evaluate", "demo", "{tmp}/good.bvh", "--json", "{tmp}/sub/../good.bvh"], "good.bvh"),
    (["train", "{tmp}/c.parquet", "--out", "{tmp}/c.parquet"], "c.parquet"),
    (["train", "{tmp}/good.bvh", "--out", "{tmp}/styles.csv", "--style-from", "{tmp}/styles.csv"], "styles.csv"),
    (["generate", "{tmp}/m.safetensors", "--frames", "5", "--out", "{tmp}/m.safetensors"], "m.safetensors"),
    (["generate", "demo", "--frames", "5", "--seed-clip", "{tmp}/good.bvh", "--out", "{tmp}/good.bvh"], "good.bvh"),
    (["show", "{tmp}/good.bvh", "--out", "{tmp}/good.bvh"], "good.bvh"),
    (["dbn-samples", "{tmp}/m.safetensors", "--out", "{tmp}/m.safetensors"], "m.safetensors"),
]


@pytest.mark.parametrize("argv, victim", OVERWRITES, ids=[f"{a[0]}-{i}" for i, (a, _) in enumerate(OVERWRITES)])
def test_no_command_writes_over_its_input(tmp_path, capsys, argv, victim):
    """Refused before any work, whatever the spelling of the path (./, .., a symbolic or hard link); every
    file is left byte for byte as it was."""
    from crbm.motion.model import demo_model_path

    _inputs(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.bvh").symlink_to(tmp_path / "good.bvh")
    os.link(tmp_path / "good.bvh", tmp_path / "hard.bvh")
    (tmp_path / "m.safetensors").write_bytes(demo_model_path().read_bytes())
    (tmp_path / "styles.csv").write_text("good,walk\n")
    assert main(["convert", str(tmp_path / "good.bvh"), str(tmp_path / "c.parquet")]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, err = _run(capsys, [a.format(tmp=tmp_path) for a in argv])
    assert code == 2
    _assert_one_line(err, argv[0], rf"the output would overwrite the input \S*{re.escape(victim)}; choose another")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_generate_chains_are_all_written_or_none(tmp_path, capsys, monkeypatch):
    """generate --chains 2 failing on the second file (a full disk) leaves both old takes; then both new."""
    import crbm.mocap.io as io

    for i in range(2):
        (tmp_path / f"g_{i}.bvh").write_text(f"old take {i}")
    real, calls = io.write_bvh, []

    def full_disk_on_the_second(motion, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(motion, path, **kwargs)

    monkeypatch.setattr(io, "write_bvh", full_disk_on_the_second)
    argv = ["generate", "demo", "--frames", "3", "--chains", "2", "--k", "1", "--out", str(tmp_path / "g.bvh")]
    code, err = _run(capsys, argv)
    assert code == 2
    _assert_one_line(err, "generate", r"No space left on device")
    assert sorted(os.listdir(tmp_path)) == ["g_0.bvh", "g_1.bvh"]  # no staging folder, no temporary file
    assert [(tmp_path / f"g_{i}.bvh").read_text() for i in range(2)] == ["old take 0", "old take 1"]
    monkeypatch.undo()
    assert main(argv) == 0
    assert sorted(os.listdir(tmp_path)) == ["g_0.bvh", "g_1.bvh"]
    assert all(read_bvh(tmp_path / f"g_{i}.bvh").n_frames == 3 for i in range(2))


def test_show_of_a_clip_without_frames_is_one_line(tmp_path, capsys):
    (tmp_path / "empty.bvh").write_text(BVH.split("Frames:")[0] + "Frames: 0\nFrame Time: 0.04\n")
    for out in ("anim.gif", "poses.png"):
        code, err = _run(capsys, ["show", str(tmp_path / "empty.bvh"), "--out", str(tmp_path / out)])
        assert code == 2
        _assert_one_line(err, "show", r"motion 'empty' has no frames: nothing to draw$")
    assert os.listdir(tmp_path) == ["empty.bvh"]
