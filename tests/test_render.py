"""Stick-figure rendering: valid PNG/GIF files, frame counts and timing, atomic writes, bad arguments."""

from __future__ import annotations

import base64
import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

from crbm.engine.atomic import atomic_path
from crbm.engine.errors import CRBMError
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.render import animate, check_mp4, ffmpeg_available, gif_durations, plot_channels, plot_poses


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


def test_a_z_up_clip_is_drawn_standing_like_its_y_up_twin(tmp_path):
    """The arm's rig exported Z-up (Blender): same picture as the Y-up clip (it was drawn lying on its back)."""
    y_up = _arm()
    sk = Skeleton((
        Joint("hips", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition", "Zrotation")),
        Joint("spine", 0, (0.0, 0.0, 1.0), ("Yrotation",), end_site=(0.0, 0.0, 1.0)),
        Joint("leg", 0, (0.0, 0.0, -1.0), (), end_site=(0.0, 0.0, -1.0)),
    ))
    f = y_up.frames
    z_up = Motion(sk, np.stack([f[:, 0], -f[:, 2], f[:, 1], f[:, 3], -f[:, 4]], axis=1), 30.0, name="arm")
    pictures = []
    for clip, name in ((y_up, "y.png"), (z_up, "z.png")):
        with Image.open(plot_poses(clip, tmp_path / name, frames=[0, 5], end_sites=True)) as im:
            pictures.append(np.asarray(im.convert("RGB")))
    assert np.array_equal(pictures[0], pictures[1])


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


def test_mp4_needs_no_system_ffmpeg(tmp_path, monkeypatch):
    """Without an ffmpeg on PATH, MP4 goes through imageio-ffmpeg's binary; without either, a clear error."""
    pytest.importorskip("imageio_ffmpeg")
    from matplotlib.animation import FFMpegWriter

    monkeypatch.setattr(FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    out = animate(_arm(6), tmp_path / "a.mp4")
    assert os.fspath(out) == str(tmp_path / "a.mp4") and out.format == "mp4" and out.frames == 6
    check_mp4(tmp_path / "a.mp4")
    assert "<video" in out._repr_html_()
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # not installed
    with pytest.raises(CRBMError, match=r"MP4 needs ffmpeg \(pip install imageio-ffmpeg, or ffmpeg on PATH\)"):
        animate(_arm(6), tmp_path / "b.mp4")
    assert not (tmp_path / "b.mp4").exists()


def test_gif_keeps_the_clip_pace_exactly():
    assert gif_durations(9, 30.0) == [30, 40, 30, 30, 40, 30, 30, 40, 30]  # 300 ms for 9 frames at 30 fps
    for fps in (24.0, 25.0, 29.97, 30.0, 45.0):
        d = gif_durations(500, fps)
        assert abs(sum(d) - 1000 * 500 / fps) <= 5 and min(d) >= 20 and all(x % 10 == 0 for x in d)


def test_animate_in_memory_and_fast_clips(tmp_path):
    fast = _arm(12).replace(fps=120.0)  # faster than a GIF can show: every 3rd frame at 40 fps
    anim = animate(fast)
    assert anim.path is None and anim.frames == 4 and anim.fps == 40.0
    html = anim._repr_html_()
    assert html.startswith("<img src='data:image/gif;base64,")
    with Image.open(io.BytesIO(base64.b64decode(html.split(",", 1)[1].split("'")[0]))) as im:
        assert im.n_frames == 4
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations == [30, 20, 30, 20]  # 25 ms a frame on average: 40 fps
    with pytest.raises(TypeError, match="in memory"):
        os.fspath(anim)


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


def test_an_mp4_cut_off_by_a_full_disk_never_replaces_the_old_file(tmp_path, monkeypatch):
    """ffmpeg can exit 0 having written a 4,096-byte MP4 without its index on a full disk: the file is checked
    (its top-level boxes) before the rename, so the old file stays and the error says why. The whole file
    passes the check; cut anywhere, it fails."""
    import subprocess

    pytest.importorskip("imageio_ffmpeg")
    run = subprocess.run

    def full_disk(cmd, **kwargs):  # ffmpeg that stops writing after 4,096 bytes and still exits 0
        done = run(cmd[:-1] + [str(tmp_path / "whole.mp4")], **kwargs)
        with open(cmd[-1], "wb") as f:
            f.write((tmp_path / "whole.mp4").read_bytes()[:4096])
        return done

    monkeypatch.setattr(subprocess, "run", full_disk)
    (tmp_path / "anim.mp4").write_bytes(b"the old animation")
    with pytest.raises(CRBMError, match=r"cannot write \S*anim\.mp4: the encoder's MP4 is cut off at byte \d+ of 4096"):
        animate(_arm(6), tmp_path / "anim.mp4")
    assert (tmp_path / "anim.mp4").read_bytes() == b"the old animation"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anim.mp4", "whole.mp4"]
    whole = (tmp_path / "whole.mp4").read_bytes()
    check_mp4(tmp_path / "whole.mp4")
    for end in range(0, len(whole) - 1, max(1, len(whole) // 40)):
        (tmp_path / "cut.mp4").write_bytes(whole[:end])
        with pytest.raises(CRBMError, match=r"cut\.mp4: the encoder's MP4 (is cut off|has no)"):
            check_mp4(tmp_path / "cut.mp4")


def test_a_failing_encoder_is_one_line_with_its_message(tmp_path, monkeypatch):
    import subprocess

    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, b"", b"[out] Error writing trailer:\nNo space left on device\n"))
    with pytest.raises(CRBMError, match=r"a\.mp4: ffmpeg failed \(exit status 1\): \[out\] Error writing trailer: "
                                        r"No space left on device$"):
        animate(_arm(6), tmp_path / "a.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_clip_without_frames_is_refused(tmp_path):
    empty = _arm(6).replace(frames=np.zeros((0, 5)))
    for draw in (lambda: animate(empty, tmp_path / "a.gif"), lambda: plot_poses(empty, tmp_path / "p.png")):
        with pytest.raises(CRBMError, match=r"^motion 'arm' has no frames: nothing to draw$"):
            draw()
    with pytest.raises(CRBMError, match=r"positions must have shape \(T, J, 3\) with T >= 1, got \(0, 3, 3\)"):
        animate(np.zeros((0, 3, 3)), tmp_path / "a.gif", parents=[-1, 0, 1])
    assert list(tmp_path.iterdir()) == []
