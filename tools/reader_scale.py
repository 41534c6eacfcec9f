"""How the readers scale: ``python tools/reader_scale.py [--quick]``.

Writes large files into a scratch folder (100,000-joint BVH hierarchies and ASF skeletons, flat and as one
chain; 1,000,000-frame BVH, AMC and Parquet clips; an AMC of 2,000,000 bare frame numbers) and reads each in a
fresh process. Prints a markdown table: file size, wall and CPU seconds, CPU seconds per MB (the goal: under
2 s a MB) and the reader's peak resident memory above the process's size after its imports (Linux: the peak
is restarted through /proc/self/clear_refs). ``--quick``: a tenth of
every size. CPU time is the figure to compare on a busy machine (wall time includes waiting for a core).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

READ = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import crbm
from benchkit import Stopwatch
kind, path = sys.argv[1], sys.argv[2]
skeleton = crbm.read_asf(sys.argv[3]) if kind == "amc" else None

def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(key))

with open("/proc/self/clear_refs", "w") as f:  # restart the peak (VmHWM) from the resident size now
    f.write("5")
base = status_mb("VmRSS")
with Stopwatch() as watch:
    try:
        result = {{"bvh": crbm.read_bvh, "asf": crbm.read_asf, "parquet": crbm.read_parquet,
                  "amc": lambda p: crbm.read_amc(p, skeleton)}}[kind](path)
        outcome = "read"
    except crbm.CRBMError as err:
        outcome = "refused: " + str(err).split(": ", 1)[1][:60]
print(json.dumps({{"wall": watch.seconds, "cpu": watch.cpu_seconds, "extra_mb": status_mb("VmHWM") - base,
                  "outcome": outcome}}))
"""


def _bvh_hierarchy(n: int, chain: bool) -> str:
    if chain:
        opened = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for i in range(n))
        return opened + "}\n" * n
    return "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{{\n"
                   f"OFFSET 0 1 0\n}}\n}}\n" for i in range(n))


def bvh_joints(path: Path, n: int, chain: bool) -> None:
    """A root with ``n`` joints (one chain, or all children of the root), 3 rotations each, one frame."""
    path.write_text("HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
                    + _bvh_hierarchy(n, chain) + "}\nMOTION\nFrames: 1\nFrame Time: 0.01\n"
                    + " ".join(["0.5"] * (3 * n + 3)) + "\n")


def asf_bones(path: Path, n: int, chain: bool) -> None:
    from test_bad_inputs import ASF

    head = ASF[: ASF.index(":bonedata")]
    bones = "".join(f"  begin\n    id {i + 1}\n    name b{i}\n    direction 0 1 0\n    length 1\n    axis 0 0 0 XYZ\n"
                    f"    dof rx\n  end\n" for i in range(n))
    links = ("    root b0\n" + "".join(f"    b{i} b{i + 1}\n" for i in range(n - 1)) if chain
             else "    root " + " ".join(f"b{i}" for i in range(n)) + "\n")
    path.write_text(f"{head}:bonedata\n{bones}:hierarchy\n  begin\n{links}  end\n")


def _clip(n: int):
    """``n`` frames of the tiny BVH rig (9 channels) and of the tiny ASF skeleton (10 channels)."""
    import numpy as np
    from test_bad_inputs import ASF, BVH

    import crbm

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t.bvh").write_text(BVH)
        (Path(folder) / "t.asf").write_text(ASF)
        bvh, asf = crbm.read_bvh(Path(folder) / "t.bvh"), crbm.read_asf(Path(folder) / "t.asf")
    return (crbm.Motion(bvh.skeleton, rng.normal(size=(n, 9)) * 30, 120.0, name="long"),
            crbm.Motion(asf, rng.normal(size=(n, 10)) * 30, 120.0, name="long"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every size")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    joints, frames, bare = 100_000 // scale, 1_000_000 // scale, 2_000_000 // scale

    from test_bad_inputs import ASF

    import crbm

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        d = Path(folder)
        (d / "tiny.asf").write_text(ASF)
        bvh_clip, amc_clip = _clip(frames)
        cases = [
            (f"BVH, {joints:,} joints under the root", "bvh", d / "flat.bvh", lambda p: bvh_joints(p, joints, False)),
            (f"BVH, a chain of {joints:,} joints", "bvh", d / "chain.bvh", lambda p: bvh_joints(p, joints, True)),
            (f"ASF, {joints:,} bones under the root", "asf", d / "flat.asf", lambda p: asf_bones(p, joints, False)),
            (f"ASF, a chain of {joints:,} bones", "asf", d / "chain.asf", lambda p: asf_bones(p, joints, True)),
            (f"BVH, {frames:,} frames x 9 channels", "bvh", d / "long.bvh", lambda p: crbm.write_bvh(bvh_clip, p)),
            (f"AMC, {frames:,} frames x 10 channels", "amc", d / "long.amc", lambda p: crbm.write_amc(amc_clip, p)),
            (f"Parquet, {frames:,} frames x 9 channels", "parquet", d / "long.parquet",
             lambda p: crbm.write_parquet(bvh_clip, p)),
            (f"AMC, {bare:,} bare frame numbers", "amc", d / "bare.amc",
             lambda p: p.write_text(":FULLY-SPECIFIED\n" + "".join(f"{i}\n" for i in range(1, bare + 1)))),
        ]
        for name, kind, path, make in cases:
            make(path)
            done = subprocess.run([sys.executable, "-c", READ, kind, str(path), str(d / "tiny.asf")],
                                  capture_output=True, text=True, check=True)
            r = json.loads(done.stdout)
            mb = path.stat().st_size / 1e6
            rows.append(f"| {name} | {mb:,.1f} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['cpu'] / mb:.3f} | "
                        f"{r['extra_mb']:,.0f} | {r['outcome']} |")
            path.unlink()
            print(rows[-1], file=sys.stderr, flush=True)
    print("| file | MB | wall s | CPU s | CPU s / MB | peak MB above baseline | outcome |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
