"""stream-memory: peak RSS of streamed CRBM training against the Parquet file's size.

Files of real-looking motion are generated from the 31 CMU subject-35 walk/jog training clips (GPmat's
``cmu35WalkJog.mat`` on the subject's ASF skeleton): each synthetic clip is a source clip resampled in time
by a random factor in [0.8, 1.25] (linear interpolation), with Gaussian noise of 0.3 degrees (0.03 length
units on the root translation) and a random root offset, written clip by clip (each clip one row group, the
``crbm.mocap.parquet`` layout) into a temporary folder and deleted afterwards. Quick: ~50 and ~200 MB;
full: ~50 MB, ~200 MB, ~700 MB and ~2 GB.

Every measurement runs in a fresh subprocess (``python tools/bench_stream_memory.py --child ...``) that
trains a CRBM of order 3 with 150 hidden units (Taylor's configuration, batch 100, one thread) for one
epoch over the whole file through ``crbm.StreamingWindows`` (DropConstant + ZScore fitted on the source
clips, shuffle buffer 10,000 windows) and reports its peak RSS (``VmHWM`` of /proc/self/status). The peer
is the in-memory loader on the same file: ``read_parquet`` -> pipeline -> ``Windows`` -> ``fit`` (measured
on the files up to ~200 MB); for larger files the peer figure is the file's size (an in-memory loader
holds at least the float64 frames). ``baseline`` is the RSS of the child after importing torch and crbm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from benchkit import row

ROOT = Path(__file__).resolve().parents[1]
BYTES_PER_FRAME = 600  # measured: 62 float64 channels + frame + clip, snappy (noisy floats barely compress)


def _sources():
    import crbm
    from crbm.mocap import read_asf

    skeleton = read_asf(crbm.data_path("mocap/cmu/35/35.asf"))
    walkjog = crbm.load_gpmat_walkjog()
    train, _ = walkjog.motions(skeleton)
    return skeleton, train


def write_synthetic(path: Path, target_bytes: int, *, seed: int = 0, clip_frames: int = 3000) -> dict:
    """Write a Parquet file of about ``target_bytes`` of perturbed CMU-35 motion; returns its description.

    Each clip (a "take" of about ``clip_frames`` frames, one row group) chains resampled, noisy source clips;
    each segment is shifted to start where the previous one ended, the shift fading out over ~10 frames."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crbm.mocap.parquet import FORMAT, METADATA_KEY, VERSION

    skeleton, sources = _sources()
    rng = np.random.default_rng(seed)
    plan, frames = [], 0  # per clip: [(source, frames, seed), ...]
    while frames * BYTES_PER_FRAME < target_bytes:
        segments, n = [], 0
        while n < clip_frames:
            k, factor = int(rng.integers(len(sources))), float(rng.uniform(0.8, 1.25))
            segments.append((k, int(round(sources[k].n_frames * factor)), int(rng.integers(2**31))))
            n += segments[-1][1]
        plan.append(segments)
        frames += n
    channels = skeleton.channel_names
    translation = np.array([c in ("root.tx", "root.ty", "root.tz") for c in channels])
    meta = {"format": FORMAT, "version": VERSION, "skeleton": skeleton.to_dict(),
            "clips": [{"name": f"s{i}", "fps": 30.0, "frames": sum(n for _, n, _ in segs)}
                      for i, segs in enumerate(plan)]}
    fields = [pa.field("clip", pa.string()), pa.field("frame", pa.int64())]
    fields += [pa.field(c, pa.float64()) for c in channels]
    schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})
    fade = np.exp(-np.arange(4 * max(n for segs in plan for _, n, _ in segs)) / 10.0)[:, None]
    with pq.ParquetWriter(path, schema) as writer:
        for i, segs in enumerate(plan):
            parts = []
            for k, n, s in segs:
                src = sources[k].frames
                r = np.random.default_rng(s)
                t = np.linspace(0, src.shape[0] - 1, n)
                x = np.stack([np.interp(t, np.arange(src.shape[0]), src[:, j]) for j in range(src.shape[1])], 1)
                x += r.normal(0, 1, x.shape) * np.where(translation, 0.03, 0.3)
                if parts:
                    x += (parts[-1][-1] - x[0]) * fade[:n]
                else:
                    x[:, translation] += r.uniform(-20, 20, translation.sum())
                parts.append(x)
            x = np.concatenate(parts)
            cols = [pa.array([f"s{i}"] * len(x), pa.string()), pa.array(np.arange(len(x), dtype=np.int64))]
            cols += [pa.array(np.ascontiguousarray(x[:, j])) for j in range(len(channels))]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))
    return {"frames": frames, "clips": len(plan), "bytes": path.stat().st_size}


def _rss_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _child(path: str, mode: str, pipeline_json: str) -> None:
    import torch
    from benchkit import Stopwatch

    import crbm
    from crbm.mocap import Pipeline

    torch.set_num_threads(1)
    baseline = _rss_mb("VmRSS")
    pipe = Pipeline.from_state(json.loads(Path(pipeline_json).read_text()))
    width = len(pipe.names_out)
    model = crbm.CRBM(width, 150, 3, generator=torch.Generator().manual_seed(0))
    config = crbm.taylor_config(epochs=1, verbose=False, progress=False, device="cpu")
    watch = Stopwatch()
    if mode == "stream":
        data = crbm.StreamingWindows(path, 3, batch_size=config.batch_size, pipeline=pipe, buffer=10000)
    else:
        raw = [m.frames for m in crbm.read_parquet(path)]
        clips = [torch.tensor(c, dtype=torch.float32) for c in pipe.transform(raw)]
        del raw
        data = crbm.Windows(clips, 3)
        del clips
    crbm.fit(model, data, config)
    print(json.dumps({"peak_mb": _rss_mb("VmHWM"), "baseline_mb": baseline, "seconds": watch.elapsed()}))


def _measure(path: Path, mode: str, pipeline_json: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, __file__, "--child", str(path), mode, str(pipeline_json)],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"child {mode} on {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(*, quick: bool, device: str) -> list[dict]:
    from crbm.mocap import DropConstant, Pipeline, ZScore

    if device != "cpu":
        print(f"stream-memory measures host memory; running on cpu (asked for {device})", file=sys.stderr)
    sizes_mb = [50, 200] if quick else [50, 200, 700, 2000]
    skeleton, sources = _sources()
    pipe = Pipeline([DropConstant(), ZScore()]).fit([m.frames for m in sources], skeleton.channel_names)
    rows = []
    with tempfile.TemporaryDirectory(prefix="crbm-stream-") as tmp:
        pipeline_json = Path(tmp) / "pipeline.json"
        pipeline_json.write_text(json.dumps(pipe.state_dict()))
        for mb in sizes_mb:
            path = Path(tmp) / f"motion_{mb}mb.parquet"
            info = write_synthetic(path, mb * 2**20, seed=mb)
            file_mb = info["bytes"] / 2**20
            ours = _measure(path, "stream", pipeline_json)
            peer = _measure(path, "memory", pipeline_json) if mb <= 200 else None
            rows.append(row(f"stream_peak_rss_mb_{mb}mb", round(ours["peak_mb"], 1),
                            round(peer["peak_mb"] if peer else file_mb, 1), "lower",
                            peer="in-memory loader" if peer else "file size",
                            ratio=round(ours["peak_mb"] / (peer["peak_mb"] if peer else file_mb), 3),
                            file_mb=round(file_mb, 1), frames=info["frames"],
                            baseline_mb=round(ours["baseline_mb"], 1),
                            stream_s=round(ours["seconds"], 1),
                            memory_s=round(peer["seconds"], 1) if peer else None))
            path.unlink()
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
    else:
        sys.exit("run through: python tools/bench.py stream-memory [--quick]")
