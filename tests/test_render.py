"""Stick-figure rendering: valid PNG/GIF files, frame counts and timing, atomic writes, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crbm.atomic import atomic_path
from crbm.errors import CRBMError
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.render import animate, ffmpeg_available, plot_channels, plot_poses


def _arm(n=6):
    sk = Skeleton((
        Joint("hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition", "Yrotation")),
        Joint("spine", 0, (0.0, 1.0, 0.0), ("Zrotation",), end_site=(0.0, 1.0, 0.0)),
        Joint("leg", 0, (0.0, -1.0, 0.0), (), end_site=(0.0, -1.0, 0.0)),
    ))
    f = np.zeros((n, 5))
    f[:, 2] = np.arange(n) * 0.3
    f[:, 4] = np.linspace(0, 90, n)
    return Motion(sk, f, 30.0, name="arm")


def test_plot_poses_png(tmp_path):
    out = plot_poses(_arm(), tmp_path / "poses.png", frames=[0, 2, 5], end_sites=True, title="arm")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 50
    pos = np.random.default_rng(0).normal(size=(4, 3, 3))
    plot_poses(pos, tmp_path / "raw.png", parents=[-1, 0, 1])
    assert (tmp_path / "raw.png").stat().st_size > 0
    with pytest.raises(CRBMError, match="frames"):
        plot_poses(_arm(), tmp_path / "bad.png", frames=[6])
    with pytest.raises(CRBMError, match="parents"):
        plot_poses(pos, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_animate_gif_frames_and_timing(tmp_path):
    out = animate(_arm(6), tmp_path / "a.gif", end_sites=True)
    with Image.open(out) as im:
        assert im.format == "GIF" and im.n_frames == 6
        assert im.info["duration"] == 30  # 30 fps, in the GIF's 10 ms steps
    animate(_arm(6), tmp_path / "b.gif", stride=2, follow=False)
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 3 and im.info["duration"] == 70  # 15 fps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.gif"]  # no temporary files left


def test_animate_mp4_or_clear_error(tmp_path):
    path = tmp_path / "a.mp4"
    if ffmpeg_available():
        animate(_arm(6), path)
        assert path.read_bytes()[4:8] == b"ftyp"
    else:
        with pytest.raises(CRBMError, match="ffmpeg"):
            animate(_arm(6), path)
        assert list(tmp_path.iterdir()) == []


def test_animate_bad_arguments(tmp_path):
    with pytest.raises(CRBMError, match=".gif or .mp4"):
        animate(_arm(), tmp_path / "a.avi")
    with pytest.raises(CRBMError, match="stride"):
        animate(_arm(), tmp_path / "a.gif", stride=0)
    with pytest.raises(CRBMError, match="does not exist"):
        animate(_arm(), tmp_path / "missing" / "a.gif")
    assert list(tmp_path.iterdir()) == []


def test_atomic_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_plot_channels_with_marks(tmp_path):
    m = _arm(40)
    out = plot_channels(m.frames, m.channel_names, tmp_path / "c.png",
                        channels=["hips.Zposition", "spine.Zrotation"], marks=[10, (20, "run")], fps=30.0,
                        title="channels")
    with Image.open(out) as im:
        assert im.format == "PNG"
    with pytest.raises(CRBMError, match="unknown channels"):
        plot_channels(m.frames, m.channel_names, tmp_path / "d.png", channels=["nope"])
    with pytest.raises(CRBMError, match="shape"):
        plot_channels(m.frames[:, :2], m.channel_names, tmp_path / "d.png")
    assert not (tmp_path / "d.png").exists()


def test_cli_show_writes_gif(data_root, tmp_path):
    pytest.importorskip("crbm.mocap.io", reason="needs the motion readers (crbm.mocap.io)")
    from crbm.cli import main

    bvh = data_root / "mocap/samples/bvhtoolbox-0.1.3/test_mocapbank.bvh"
    out = tmp_path / "walk.gif"
    assert main(["show", str(bvh), "--out", str(out), "--stride", "50"]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 10  # 455 frames, every 50th
    assert main(["show", str(tmp_path / "missing.bvh"), "--out", str(tmp_path / "x.gif")]) == 2
    assert not (tmp_path / "x.gif").exists()
