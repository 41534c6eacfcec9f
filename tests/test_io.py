"""read_motion / write_motion by suffix, and the ``crbm convert`` command built on them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from mocap_fk import bvh_points

from crbm import CRBMError, read_amc, read_asf, read_bvh, read_motion, read_motions, write_motion
from crbm.cli import main


@pytest.fixture(scope="module")
def cmu(data_root):
    return data_root / "mocap/cmu/35/35.asf", data_root / "mocap/cmu/35/35_01.amc"


def test_read_by_suffix(cmu, data_root, tmp_path):
    asf, amc = cmu
    m = read_motion(amc, asf=asf, fps=30.0)
    assert m.fps == 30.0 and m.skeleton.kind == "asf" and m.n_frames == 358
    assert read_motion(amc, asf=read_asf(asf)).fps == 120.0
    bvh = read_motions(data_root / "mocap/samples/bvhtoolbox-0.1.3/test_mocapbank.bvh")
    assert len(bvh) == 1 and bvh[0].skeleton.kind == "bvh"
    write_motion([m, m.replace(name="b")], tmp_path / "two.parquet")
    assert [x.name for x in read_motions(tmp_path / "two.parquet")] == ["35_01", "b"]
    with pytest.raises(CRBMError, match="holds 2 clips"):
        read_motion(tmp_path / "two.parquet")


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda p: read_motions(p / "x.txt"), "unknown motion file type '.txt'"),
        (lambda p: read_motions(p / "x.amc"), "needs its skeleton"),
        (lambda p: read_motions(p / "x.bvh", fps=0.0), r"x\.bvh: fps: expected a frame rate above 0"),
        (lambda p: read_motions(p / "x.parquet", asf=p / "s.asf"), "only used with .amc"),
    ],
)
def test_argument_errors(tmp_path, call, expected):
    with pytest.raises(CRBMError, match=expected):
        call(tmp_path)


def test_fps_overrides_the_rate_of_every_format(cmu, tmp_path):
    """``fps`` relabels the clips of BVH, Parquet and AMC alike; the frames are untouched."""
    m = read_motion(cmu[1], asf=cmu[0])
    write_motion(m, tmp_path / "walk.bvh")
    write_motion([m, m.replace(name="b")], tmp_path / "two.parquet")
    bvh = read_motion(tmp_path / "walk.bvh")
    assert abs(bvh.fps - 120.0) < 1e-9
    for clips, original in (
        (read_motions(tmp_path / "walk.bvh", fps=25.0), [bvh]),
        (read_motions(tmp_path / "two.parquet", fps=25.0), read_motions(tmp_path / "two.parquet")),
        (read_motions(cmu[1], asf=cmu[0], fps=25.0), [m]),
    ):
        assert [c.fps for c in clips] == [25.0] * len(original)
        for c, o in zip(clips, original):
            assert c.name == o.name and np.array_equal(c.frames, o.frames)


def test_write_motion_amc_writes_its_asf(cmu, tmp_path):
    m = read_motion(cmu[1], asf=cmu[0])
    written = write_motion(m, tmp_path / "walk.amc")
    assert written == [tmp_path / "walk.amc", tmp_path / "walk.asf"]
    back = read_amc(tmp_path / "walk.amc", read_asf(tmp_path / "walk.asf"))
    np.testing.assert_allclose(back.frames, m.frames, rtol=0, atol=0.5e-6 + 1e-12)
    with pytest.raises(CRBMError, match="one clip"):
        write_motion([m, m.replace(name="x")], tmp_path / "two.bvh")


# ------------------------------------------------------------------------------------------ the CLI


def _convert(capsys, *args) -> tuple[int, str, str]:
    code = main(["convert", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_convert_every_direction(cmu, tmp_path, capsys):
    asf, amc = cmu
    original = read_motion(amc, asf=asf)
    assert _convert(capsys, amc, tmp_path / "a.parquet", "--asf", asf, "--fps", 60)[:2] == (
        0,
        f"{tmp_path / 'a.parquet'}\n",
    )
    from_parquet = read_motion(tmp_path / "a.parquet")
    assert from_parquet.fps == 60.0 and from_parquet.skeleton == original.skeleton
    np.testing.assert_array_equal(from_parquet.frames, original.frames)

    assert _convert(capsys, amc, tmp_path / "a.bvh", "--asf", asf)[0] == 0
    assert _convert(capsys, tmp_path / "a.parquet", tmp_path / "b.bvh")[0] == 0
    a, b = read_bvh(tmp_path / "a.bvh"), read_bvh(tmp_path / "b.bvh")
    assert a.skeleton == b.skeleton and a.n_frames == original.n_frames and b.fps == 60.0
    np.testing.assert_array_equal(a.frames, b.frames)
    for name, p in bvh_points(a, 100).items():  # the BVH keeps ASF length units
        assert np.all(np.isfinite(p)), name

    assert _convert(capsys, tmp_path / "b.bvh", tmp_path / "c.parquet")[0] == 0
    np.testing.assert_array_equal(read_motion(tmp_path / "c.parquet").frames, b.frames)
    code, out, _ = _convert(capsys, tmp_path / "a.parquet", tmp_path / "d.amc", "--fps", 120)  # AMC is 120 fps
    assert code == 0 and out.split() == [str(tmp_path / "d.amc"), str(tmp_path / "d.asf")]
    np.testing.assert_allclose(
        read_motion(tmp_path / "d.amc", asf=tmp_path / "d.asf").frames,
        original.frames,
        rtol=0,
        atol=0.5e-6 + 1e-12,
    )


@pytest.mark.parametrize(
    ("make_input", "extra", "expected"),
    [
        (lambda p: p / "in.bvh", [], "BVH -> AMC is not supported"),
        (lambda p: p / "in.amc", [], "needs its skeleton"),
        (lambda p: p / "bad.bvh", [], "bad.bvh:"),
        (lambda p: p / "missing.bvh", [], "missing.bvh: no such file"),
    ],
)
def test_convert_errors_exit_2_without_output(cmu, data_root, tmp_path, capsys, make_input, extra, expected):
    (tmp_path / "in.bvh").write_bytes(
        (data_root / "mocap/samples/bvhtoolbox-0.1.3/test_mocapbank.bvh").read_bytes()
    )
    (tmp_path / "in.amc").write_bytes(cmu[1].read_bytes())
    (tmp_path / "bad.bvh").write_text(
        "HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Xrotation\n}\nMOTION\n"
        "Frames: 2\nFrame Time: 0.1\n1\n"
    )
    before = set(tmp_path.iterdir())
    code, out, err = _convert(capsys, make_input(tmp_path), tmp_path / "out.amc", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("crbm convert: error:") and expected in err, err
    assert set(tmp_path.iterdir()) == before  # no output, no temporary file


def test_amc_output_at_another_rate_is_refused(cmu, tmp_path, capsys):
    """AMC stores no frame rate and reads back at 120 fps: ``convert 35_01.amc out.amc --out-fps 30`` wrote 90
    frames that read back as 0.75 s instead of 3 s. Now one line, exit 2, nothing written; 120 fps is written."""
    asf, amc = cmu
    clip = read_motion(amc, asf=asf)
    with pytest.raises(CRBMError, match=r"x\.amc: AMC files store no frame rate and are read as 120 fps; this clip "
                                        r"is 30 fps: write \.bvh or \.parquet, or resample it to 120 fps"):
        write_motion(clip.replace(fps=30.0), tmp_path / "x.amc")
    assert list(tmp_path.iterdir()) == []
    code, out, err = _convert(capsys, amc, tmp_path / "out.amc", "--asf", asf, "--out-fps", 30)
    assert code == 2 and out == "" and err.count("\n") == 1 and "this clip is 30 fps" in err, err
    assert list(tmp_path.iterdir()) == []
    assert _convert(capsys, amc, tmp_path / "out.amc", "--asf", asf, "--out-fps", 120)[0] == 0
    assert read_motion(tmp_path / "out.amc").n_frames == clip.n_frames


def test_convert_refuses_to_overwrite_its_input(data_root, tmp_path, capsys):
    path = tmp_path / "x.bvh"
    path.write_bytes((data_root / "mocap/samples/bvhtoolbox-0.1.3/test_mocapbank.bvh").read_bytes())
    code, _, err = _convert(capsys, path, path)
    assert code == 2 and "overwrite the input" in err


def test_convert_subprocess_one_line_error(tmp_path):
    (tmp_path / "t.bvh").write_text("HIERARCHY\nROOT a\n{\n OFFSET 0 0 zero\n}\n")
    r = subprocess.run(
        [sys.executable, "-m", "crbm", "convert", str(tmp_path / "t.bvh"), str(tmp_path / "o.parquet")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "t.bvh:4: expected a number" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bvh"]
