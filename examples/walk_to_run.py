"""Generate 8 seconds of walking that turns into running, three takes at once, and write BVH files and a plot.

python examples/walk_to_run.py [MODEL] [--out DIR]      (MODEL: a checkpoint from `crbm train`, default: demo)
"""

import argparse
from pathlib import Path

import torch

import crbm

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("model", nargs="?", default="demo")
p.add_argument("--out", type=Path, default=Path("walk_to_run"))
args = p.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

model = crbm.load_motion_model(args.model)
takes = model.generate([("walk", 120), ("run", 120)], n_chains=3, blend=15, generator=torch.Generator().manual_seed(1))
for i, motion in enumerate(takes):
    print(*crbm.write_motion(motion, args.out / f"take_{i}.bvh"))  # in centimetres
switch = 120
# hips, knee and shoulder on the model's rig (the demo's has 3 rotation channels per joint, ASF rigs rx...)
wanted = ["lfemur.Xrotation", "rfemur.Xrotation", "ltibia.Xrotation", "lhumerus.Xrotation",
          "lfemur.rx", "rfemur.rx", "ltibia.rx", "lhumerus.rz"]
channels = [c for c in wanted if c in takes[0].channel_names] or takes[0].channel_names[6:10]
print(
    crbm.plot_channels(
        takes[0].frames,
        takes[0].channel_names,
        args.out / "take_0_channels.png",
        channels=channels,
        marks=[(switch, "run")],
        fps=model.fps,
    )
)
print(crbm.plot_poses(takes[0], args.out / "take_0_poses.png", frames=range(0, takes[0].n_frames, 20)))
