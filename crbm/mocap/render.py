"""Stick-figure pictures of motion: a PNG of poses, a GIF or MP4 animation, channel curves.

Matplotlib with the Agg canvas (no display, no pyplot state). Positions are Y-up, as BVH and ASF have
them; they are drawn with the vertical axis up. A clip on a Z-up rig (Blender's BVH export,
``crbm.mocap.retarget.up_axis``) is turned to Y-up first (``y_up_turn``), so it stands too. Every file is
written to a temporary file in the same folder and then renamed, so a failure leaves no partial output. MP4
is encoded by ffmpeg: the one on PATH, else the one the imageio-ffmpeg package ships (a dependency of crbm),
so no system ffmpeg is needed.
"""

from __future__ import annotations

import base64
import math
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from crbm.engine.atomic import atomic_path
from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import joint_positions, position_parents
from crbm.mocap.motion import Motion
from crbm.mocap.retarget import y_up_turn


def _positions(motion: Motion | np.ndarray, parents: Sequence[int] | None,
               end_sites: bool) -> tuple[np.ndarray, list[int]]:
    if isinstance(motion, Motion):
        if motion.n_frames == 0:
            raise CRBMError(f"motion {motion.name!r} has no frames: nothing to draw")
        parents = position_parents(motion.skeleton, end_sites=end_sites)
        return joint_positions(motion, end_sites=end_sites) @ y_up_turn(motion.skeleton).T, parents
    pos = np.asarray(motion, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] == 0:
        raise CRBMError(f"positions must have shape (T, J, 3) with T >= 1, got {pos.shape}")
    if parents is None or len(parents) != pos.shape[1]:
        raise CRBMError(f"positions of {pos.shape[1]} joints need a parents list of that length, got "
                        f"{None if parents is None else len(parents)}")
    return pos, list(parents)


def _to_plot(pos: np.ndarray) -> np.ndarray:
    """Y-up (x, y, z) -> matplotlib's z-up axes as (z, x, y): a cyclic permutation, so not mirrored."""
    return pos[..., [2, 0, 1]]


def _limits(pos: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower corner of a cube holding every point (centred horizontally, from the floor up) and its side."""
    lo, hi = pos.reshape(-1, 3).min(axis=0), pos.reshape(-1, 3).max(axis=0)
    side = max(float((hi - lo).max()), 1e-9)
    corner = (lo + hi) / 2 - side / 2
    corner[2] = lo[2]
    return corner, side


def _setup_axes(ax, corner: np.ndarray, side: float) -> None:
    for i, setter in enumerate((ax.set_xlim, ax.set_ylim, ax.set_zlim)):
        setter(corner[i], corner[i] + side)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    ax.view_init(elev=10, azim=-60)


def _bones(parents: Sequence[int]) -> list[tuple[int, int]]:
    return [(p, j) for j, p in enumerate(parents) if p >= 0]


def plot_poses(motion: Motion | np.ndarray, path: str | os.PathLike, *, frames: Sequence[int] | None = None,
               parents: Sequence[int] | None = None, end_sites: bool = False, title: str | None = None,
               dpi: int = 80) -> Path:
    """Write a PNG with one stick figure per frame in ``frames`` (default: 6 evenly spaced frames).

    ``motion`` is a Motion (forward kinematics is applied) or positions ``(T, J, 3)`` with ``parents``.
    Each pose is drawn around its own root so that poses far apart along a walk stay visible.
    """
    pos, parents = _positions(motion, parents, end_sites)
    n = pos.shape[0]
    frames = list(np.linspace(0, n - 1, min(6, n)).round().astype(int)) if frames is None else list(frames)
    if not frames or any(not 0 <= f < n for f in frames):
        raise CRBMError(f"frames must be indices in [0, {n}), got {frames}")
    shown = _to_plot(pos[frames] - pos[frames, :1] * np.array([1.0, 0.0, 1.0]))
    corner, side = _limits(shown)
    fig = Figure(figsize=(2.0 * len(frames), 2.6))
    FigureCanvasAgg(fig)
    for k, f in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), k + 1, projection="3d")
        _setup_axes(ax, corner, side)
        for p, j in _bones(parents):
            seg = shown[k, [p, j]]
            ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color="k", lw=1.5)
        ax.set_title(f"frame {f}", fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92, wspace=0)
    if title:
        fig.suptitle(title, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def _frame_images(pos: np.ndarray, parents: Sequence[int], dpi: int, size: float,
                  follow: bool) -> Iterator[np.ndarray]:
    """RGB images (H, W, 3) uint8 of each frame; the camera follows the root on the ground (``follow``)
    or stays fixed on the whole clip's extent."""
    shown = _to_plot(pos)
    track = shown[:, :1] * np.array([1.0, 1.0, 0.0]) if follow else np.zeros_like(shown[:, :1])
    corner, side = _limits(shown - track)
    fig = Figure(figsize=(size, size), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    _setup_axes(ax, corner, side)
    lines = [ax.plot([], [], [], color="k", lw=1.5)[0] for _ in _bones(parents)]
    for t in range(shown.shape[0]):
        if follow:
            _setup_axes(ax, corner + track[t, 0], side)
        for line, (p, j) in zip(lines, _bones(parents), strict=True):
            seg = shown[t, [p, j]]
            line.set_data_3d(seg[:, 0], seg[:, 1], seg[:, 2])
        canvas.draw()
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def ffmpeg_path() -> str | None:
    """The ffmpeg executable MP4 output uses: the one matplotlib finds (``animation.ffmpeg_path``, default
    ``ffmpeg`` on PATH), else imageio-ffmpeg's bundled binary; None when there is neither."""
    from matplotlib import rcParams
    from matplotlib.animation import FFMpegWriter

    if FFMpegWriter.isAvailable():
        return str(rcParams["animation.ffmpeg_path"])
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):  # not installed, or no binary for this platform
        return None


def ffmpeg_available() -> bool:
    """Whether an ffmpeg executable is at hand for MP4 output (``ffmpeg_path``)."""
    return ffmpeg_path() is not None


GIF_MAX_FPS = 50  # browsers show GIF delays under 2/100 s as 1/10 s: faster clips skip frames instead


def gif_durations(n_frames: int, fps: float) -> list[int]:
    """Per-frame GIF delays in ms (GIF stores whole 1/100 s) that keep the animation on time: frame i shows
    from ``100 i / fps`` to ``100 (i + 1) / fps`` hundredths of a second, each rounded to the nearest (halves
    up), so 30 fps alternates 30, 40, 30 ms and n frames last ``n / fps`` seconds to within 5 ms, where one
    rounded delay for every frame would run 30 fps at 33.3."""
    edges = [math.floor(100 * i / fps + 0.5) for i in range(n_frames + 1)]
    return [10 * (b - a) for a, b in zip(edges, edges[1:])]


class Animation:
    """What ``animate`` returns: the animation's file (``os.fspath(a)`` and ``str(a)`` give its path) or,
    when no path was given, its bytes; a notebook shows it inline (``_repr_html_``)."""

    def __init__(self, path: Path | None, data: bytes | None, format: str, frames: int, fps: float) -> None:
        self.path, self.data, self.format, self.frames, self.fps = path, data, format, frames, fps

    def __fspath__(self) -> str:
        if self.path is None:
            raise TypeError("this animation is in memory; give animate a path to write it to a file")
        return str(self.path)

    def __str__(self) -> str:
        return repr(self) if self.path is None else str(self.path)

    def __repr__(self) -> str:
        where = "in memory" if self.path is None else str(self.path)
        return f"Animation({where}, {self.format}, {self.frames} frames at {self.fps:g} fps)"

    def read_bytes(self) -> bytes:
        return self.data if self.data is not None else Path(self.path).read_bytes()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.read_bytes()).decode("ascii")
        if self.format == "gif":
            return f"<img src='data:image/gif;base64,{data}' alt='animation'/>"
        return f"<video controls autoplay loop muted src='data:video/mp4;base64,{data}'></video>"


def animate(motion: Motion | np.ndarray, path: str | os.PathLike | None = None, *, fps: float | None = None,
            stride: int = 1, parents: Sequence[int] | None = None, end_sites: bool = False,
            follow: bool = True, dpi: int = 60, size: float = 4.0) -> Animation:
    """An animated stick figure, written to ``path`` (``.gif`` by Pillow, ``.mp4`` by ffmpeg: see
    ``ffmpeg_path``) or, without a path, kept in memory as a GIF. Returns an ``Animation``, which a notebook
    shows inline and ``os.fspath`` turns into the path.

    ``fps`` defaults to the motion's frame rate divided by ``stride`` (every ``stride``-th frame is drawn),
    or 30 for bare positions ``(T, J, 3)``. A GIF keeps that pace exactly (``gif_durations``) up to
    ``GIF_MAX_FPS``; a faster one draws every k-th frame, k = ceil(fps / 50). ``follow``: the camera moves
    with the root over the ground (else it stays fixed on the whole clip). Frames are ``size`` inches at
    ``dpi``.
    """
    pos, parents = _positions(motion, parents, end_sites)
    if int(stride) != stride or stride < 1:
        raise CRBMError(f"stride must be a positive integer, got {stride}")
    pos = pos[::stride]
    if fps is None:
        fps = motion.fps / stride if isinstance(motion, Motion) else 30.0
    if not fps > 0:
        raise CRBMError(f"fps must be positive, got {fps}")
    suffix = ".gif" if path is None else Path(path).suffix.lower()
    if suffix == ".gif":
        import io

        from PIL import Image

        skip = math.ceil(fps / GIF_MAX_FPS - 1e-9)
        pos, fps = pos[::skip], fps / skip
        images = [Image.fromarray(a) for a in _frame_images(pos, parents, dpi, size, follow)]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                       duration=gif_durations(len(images), fps))
        if path is None:
            return Animation(None, buf.getvalue(), "gif", len(images), fps)
        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())
    elif suffix == ".mp4":
        exe = ffmpeg_path()
        if exe is None:
            raise CRBMError(f"cannot write {path}: MP4 needs ffmpeg (pip install imageio-ffmpeg, or ffmpeg on "
                            "PATH); write a .gif instead")
        import subprocess

        frames = list(_frame_images(pos, parents, dpi, size, follow))
        h, w = frames[0].shape[:2]
        with atomic_path(path) as tmp:
            cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo",
                   "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-vf",
                   "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-f", "mp4", str(tmp)]
            done = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True)
            if done.returncode != 0:
                said = done.stderr.decode("utf-8", "replace").strip()[-300:] or "no message"
                raise CRBMError(f"cannot write {path}: ffmpeg failed (exit status {done.returncode}): {said}")
            check_mp4(tmp, path)  # before the rename: ffmpeg can exit 0 having written a cut-off file
    else:
        raise CRBMError(f"cannot animate to {path}: expected a .gif or .mp4 file name")
    return Animation(Path(path), None, suffix[1:], len(pos), fps)


def check_mp4(file: str | os.PathLike, name: str | os.PathLike | None = None) -> None:
    """CRBMError (naming ``name``, default ``file``) unless ``file`` is a complete MP4: top-level boxes (4-byte
    big-endian size, 4-byte type; size 1: a 64-bit size follows; size 0: to the end) that tile the file
    exactly, among them ``ftyp``, ``moov`` (the index, written last) and a non-empty ``mdat`` (the frames)."""
    name = file if name is None else name
    size = os.path.getsize(file)
    payload: dict[bytes, int] = {}
    with open(file, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            head = f.read(8)
            n, kind, start = (*struct.unpack(">I4s", head), 8) if len(head) == 8 else (0, b"", 0)
            if n == 1:
                wide = f.read(8)
                n, start = (struct.unpack(">Q", wide)[0], 16) if len(wide) == 8 else (0, 0)
            elif n == 0 and start:
                n = size - pos
            if not start or n < start or pos + n > size:
                raise CRBMError(f"cannot write {name}: the encoder's MP4 is cut off at byte {pos} of {size} "
                                "(disk full?); the old file, if any, is kept")
            payload[kind] = payload.get(kind, 0) + n - start
            pos += n
    missing = [k.decode() for k in (b"ftyp", b"moov", b"mdat") if not payload.get(k)]
    if missing:
        raise CRBMError(f"cannot write {name}: the encoder's MP4 has no {', '.join(missing)} box (disk full?); "
                        "the old file, if any, is kept")


def plot_channels(frames: np.ndarray, names: Sequence[str], path: str | os.PathLike, *,
                  channels: Sequence[str] | None = None, marks: Sequence[int | tuple[int, str]] = (),
                  fps: float | None = None, title: str | None = None, dpi: int = 80) -> Path:
    """Write a PNG of channel curves over time, one panel per channel, with vertical lines at ``marks``.

    frames: (T, C) with columns ``names``; channels: which to draw (default: all, at most 12);
    marks: frame indices, or (frame, label) pairs, e.g. where a style switches; fps: label time in seconds.
    """
    data = np.asarray(frames, dtype=np.float64)
    names = list(names)
    if data.ndim != 2 or data.shape[1] != len(names):
        raise CRBMError(f"frames must have shape (T, {len(names)}), got {data.shape}")
    chosen = list(channels) if channels is not None else names[:12]
    unknown = [c for c in chosen if c not in names]
    if unknown or not chosen:
        raise CRBMError(f"unknown channels {unknown}; available: {names}")
    t = np.arange(len(data)) / (fps or 1.0)
    fig = Figure(figsize=(8, 1.3 * len(chosen) + 0.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(chosen), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, chosen, strict=True):
        ax.plot(t, data[:, names.index(name)], lw=1.0)
        ax.set_ylabel(name, fontsize=7, rotation=0, ha="right")
        for mark in marks:
            f, label = mark if isinstance(mark, tuple) else (mark, None)
            ax.axvline(f / (fps or 1.0), color="r", lw=0.8, ls="--")
            if label and ax is axes[0]:
                ax.text(f / (fps or 1.0), ax.get_ylim()[1], label, fontsize=7, color="r", va="bottom")
    axes[-1].set_xlabel("time (s)" if fps else "frame")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)
