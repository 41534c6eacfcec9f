"""Drop the right leg of a held-out walk from frame 64 on (the CMU-35 missing-data protocol) and let the model
fill it in; writes BVH files and a plot of the true and filled right-knee angle.

    CRBM_DATA=/path/to/data python examples/fill_missing_leg.py [MODEL] [--out DIR]
"""

import argparse
from pathlib import Path

import numpy as np

import crbm

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("model", nargs="?", default="demo")
p.add_argument("--out", type=Path, default=Path("fill_missing_leg"))
args = p.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

model = crbm.load_motion_model(args.model)
_, test = crbm.load_gpmat_walkjog().motions(crbm.cmu_skeleton(35))
walk = test[1]  # 35_29
leg = ["rfemur", "rtibia", "rfoot", "rtoes"]
filled = model.fill(walk, leg, start=63)  # from frame 64 (1-based) to the end, inferred from both sides
cols = [i for i, n in enumerate(walk.channel_names) if n.split(".")[0] in leg]
err = filled.frames[63:, cols] - walk.frames[63:, cols]
print(f"RMS error of the filled right leg, frames 64-125: {np.sqrt(np.mean(err**2)):.2f} degrees")
crbm.write_bvh(crbm.asf_to_bvh(walk), args.out / "original.bvh")
crbm.write_bvh(crbm.asf_to_bvh(filled), args.out / "filled.bvh")
print(args.out / "original.bvh", args.out / "filled.bvh")
knee = walk.channel_names.index("rtibia.rx")
stack = np.stack([walk.frames[:, knee], filled.frames[:, knee]], 1)
print(
    crbm.plot_channels(
        stack,
        ["true rtibia.rx", "filled rtibia.rx"],
        args.out / "rtibia_rx.png",
        marks=[(63, "leg missing")],
        fps=walk.fps,
    )
)
