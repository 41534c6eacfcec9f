"""Corrupt a real walk with Gaussian noise on every joint angle, clean it offline with the model and online with
crbm.OnlineFilter (16 frames of delay, no model), and compare the errors; writes the clips as BVH and a plot of
one channel.

    CRBM_DATA=/path/to/data python examples/denoise.py [MODEL] [--noise DEGREES] [--out DIR]
"""

import argparse
from pathlib import Path

import numpy as np

import crbm

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("model", nargs="?", default="demo")
p.add_argument("--noise", type=float, default=5.0, help="noise standard deviation in degrees")
p.add_argument("--out", type=Path, default=Path("denoise"))
args = p.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

model = crbm.load_motion_model(args.model)
_, test = crbm.load_gpmat_walkjog().motions(crbm.cmu_skeleton(35))
walk = test[1]  # 35_29, held out from training
angles = [i for i, n in enumerate(walk.channel_names) if not n.startswith("root.")]
noisy_frames = walk.frames.copy()
noisy_frames[:, angles] += np.random.default_rng(0).normal(0, args.noise, (walk.n_frames, len(angles)))
noisy = walk.replace(frames=noisy_frames, name="noisy")
clean = model.denoise(noisy)
stream = crbm.OnlineFilter(noisy.skeleton, noisy.fps)  # frame by frame: stream.push(frame), then stream.flush()
online = noisy.replace(frames=stream.run(noisy.frames), name="online")


def rms(m):
    return float(np.sqrt(np.mean((m.frames[:, angles] - walk.frames[:, angles]) ** 2)))


print(f"RMS error over joint angles: noisy {rms(noisy):.2f} deg, filtered {rms(clean):.2f} deg, "
      f"online ({1000 * stream.latency:.0f} ms behind) {rms(online):.2f} deg")
for name, m in (("original", walk), ("noisy", noisy), ("filtered", clean), ("online", online)):
    crbm.write_bvh(crbm.asf_to_bvh(m), args.out / f"{name}.bvh")
    print(args.out / f"{name}.bvh")
channel = walk.channel_names.index("lfemur.rx")
stack = np.stack([m.frames[:, channel] for m in (walk, noisy, clean, online)], 1)
print(
    crbm.plot_channels(
        stack,
        ["original", "noisy", "filtered", "online"],
        args.out / "lfemur_rx.png",
        fps=walk.fps,
        title="lfemur.rx: original, noisy, filtered offline and online",
    )
)
