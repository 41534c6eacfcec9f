"""Benchmark ``bvh-parse``: read and write speed of a large BVH file, against peers on the same file.

Builds a CMU-like 31-joint skeleton (96 channels, like a CMU BVH export), writes ~100 MB of smooth
random-walk frames with ``write_bvh`` (quick: ~10 MB), then times ``read_bvh`` (best of 3). Peers, timed
on the same bytes: bvhio's ``readAsBvh`` (an independent PyPI reader; on a ~5 MB prefix file since it
is slow) and a plain Python loop calling ``float`` per token (the floor a non-vectorised parser starts
from). Rows report MB/s (higher is better); ``published`` holds the peer's MB/s, ``ratio`` ours / peer.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from benchkit import race, row, timed

from crbm import Joint, Motion, Skeleton, read_bvh, write_bvh

# (name, parent, offset): a CMU-like rig (cm), hips at the origin
_RIG = [
    ("Hips", None, (0, 0, 0)),
    ("LHipJoint", "Hips", (0, 0, 0)),
    ("LeftUpLeg", "LHipJoint", (9.6, -10.2, 2.6)),
    ("LeftLeg", "LeftUpLeg", (15.6, -42.8, 0)),
    ("LeftFoot", "LeftLeg", (16.6, -45.7, 0)),
    ("LeftToeBase", "LeftFoot", (1.6, -4.4, 14.6)),
    ("RHipJoint", "Hips", (0, 0, 0)),
    ("RightUpLeg", "RHipJoint", (-9.0, -10.7, 2.7)),
    ("RightLeg", "RightUpLeg", (-15.9, -43.6, 0)),
    ("RightFoot", "RightLeg", (-16.7, -45.8, 0)),
    ("RightToeBase", "RightFoot", (-1.7, -4.6, 14.1)),
    ("LowerBack", "Hips", (0, 0, 0)),
    ("Spine", "LowerBack", (0.1, 11.3, -1.0)),
    ("Spine1", "Spine", (0, 11.3, -0.3)),
    ("Neck", "Spine1", (0, 11.4, 0.1)),
    ("Neck1", "Neck", (0, 8.0, 0.8)),
    ("Head", "Neck1", (0, 7.4, -0.5)),
    ("LeftShoulder", "Spine1", (0, 0, 0)),
    ("LeftArm", "LeftShoulder", (17.7, 4.9, -0.1)),
    ("LeftForeArm", "LeftArm", (30.3, 0, 0)),
    ("LeftHand", "LeftForeArm", (20.2, 0, 0)),
    ("LeftFingerBase", "LeftHand", (3.4, 0, 0)),
    ("LeftHandIndex1", "LeftFingerBase", (2.8, 0, 0)),
    ("LThumb", "LeftHand", (2.4, 0, 2.4)),
    ("RightShoulder", "Spine1", (0, 0, 0)),
    ("RightArm", "RightShoulder", (-17.2, 4.9, -0.1)),
    ("RightForeArm", "RightArm", (-31.2, 0, 0)),
    ("RightHand", "RightForeArm", (-20.0, 0, 0)),
    ("RightFingerBase", "RightHand", (-3.3, 0, 0)),
    ("RightHandIndex1", "RightFingerBase", (-2.7, 0, 0)),
    ("RThumb", "RightHand", (-2.4, 0, 2.4)),
]


def rig() -> Skeleton:
    """The 31-joint skeleton above: 6 root channels, 3 rotations (Z X Y) per other joint; 96 channels."""
    names = [n for n, _, _ in _RIG]
    parents = {p for _, p, _ in _RIG}
    joints = []
    for name, parent, offset in _RIG:
        rot = ("Zrotation", "Xrotation", "Yrotation")
        channels = ("Xposition", "Yposition", "Zposition", *rot) if parent is None else rot
        end = None if name in parents else (0.0, 5.0, 0.0)
        joints.append(
            Joint(
                name=name,
                parent=-1 if parent is None else names.index(parent),
                offset=tuple(float(v) for v in offset),
                channels=channels,
                end_site=end,
            )
        )
    return Skeleton(joints=tuple(joints), kind="bvh")


def synthetic_motion(n_frames: int, *, rng: np.random.Generator) -> Motion:
    """Smooth random-walk channels (degrees; hips position in cm) at 120 fps."""
    sk = rig()
    steps = rng.normal(0.0, 0.5, size=(n_frames, len(sk.channel_names)))
    frames = np.cumsum(steps, axis=0)
    frames = 60.0 * np.sin(frames / 30.0)  # keep angles in a realistic range
    frames[:, 1] += 90.0
    return Motion(skeleton=sk, frames=frames, fps=120.0, name="bench")


def naive_read(path: Path) -> np.ndarray:
    """The floor: split the MOTION lines and call ``float`` on every token in a Python loop."""
    text = path.read_text()
    lines = text[text.index("Frame Time:") :].splitlines()[1:]
    rows = []
    for line in lines:
        rows.append([float(tok) for tok in line.split()])
    return np.array(rows)


def _bvhio_read(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import bvhio

        bvhio.readAsBvh(str(path))


def run(*, quick: bool, device: str) -> list[dict]:
    del device  # parsing runs on the CPU
    rng = np.random.default_rng(0)
    target_mb = 10 if quick else 100
    bytes_per_frame = 96 * 11  # ~11 characters per value at 6 decimals
    n_frames = int(target_mb * 1e6 / bytes_per_frame)
    motion = synthetic_motion(n_frames, rng=rng)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.bvh"
        _, write_s = timed(lambda: write_bvh(motion, path))
        mb = path.stat().st_size / 1e6
        read_s = race([lambda: read_bvh(path)], repeats=3)[0]
        back = read_bvh(path)
        assert back.frames.shape == motion.frames.shape
        assert np.max(np.abs(back.frames - motion.frames)) <= 0.5e-6 + 1e-9
        ours = mb / read_s

        _, naive_s = timed(lambda: naive_read(path))
        naive = mb / naive_s

        # bvhio on a prefix of the same motion (it is about two orders of magnitude slower)
        small = Path(tmp) / "bench_small.bvh"
        write_bvh(motion.replace(frames=motion.frames[: max(1, int(n_frames * min(1.0, 5.0 / mb)))]), small)
        small_mb = small.stat().st_size / 1e6
        try:
            peer = small_mb / timed(lambda: _bvhio_read(small))[1]
        except ImportError:
            peer = None
        mb1 = round(mb, 1)
        rows += [
            row("bvh-parse MB/s vs bvhio", ours, peer, "higher", ratio=None if peer is None else ours / peer,
                file_mb=mb1, peer_file_mb=round(small_mb, 1), seconds=read_s),
            row("bvh-parse MB/s vs python float loop", ours, naive, "higher", ratio=ours / naive, file_mb=mb1,
                seconds=read_s),
            row("bvh-write MB/s", mb / write_s, None, "higher", file_mb=mb1, seconds=write_s),
            row("bvh-parse goal MB/s", ours, 20.0, "higher", ratio=ours / 20.0, file_mb=mb1),
        ]
    return rows
