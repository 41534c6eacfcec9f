"""Benchmark ``realism``: how real the demo model's generated walking and running move, against the clips it
was trained on (``crbm.motion.demo.demo_training_clips``), by ``crbm.mocap.realism``.

Per style (walk, run): 4 clips of 600 frames (20 s at the model's 30 fps) generated from the shipped demo
model (``crbm.load_motion_model("demo")``, Taylor's 30 Gibbs updates a frame, seeds 0..3 of one generator),
and the training clips of that style retargeted onto the model's rig, all at 30 fps. Rows per style:
foot skating (stance-foot speed over root speed; ``published``: the real clips' figure), the stance feet's
speed (cm/s), the joints' angular speed (deg/s), the gait period (s), and PSKL in both directions (real
spectra against generated; ``published``: 0). Each row carries ``ratio`` (generated / real) and the issue's
goal: stance-foot speed at most 2x the data's, angular speed within 20 %, gait period within 10 %.
``--quick``: 2 clips of 300 frames.
"""

from __future__ import annotations

import torch
from benchkit import row

import crbm
from crbm.mocap.realism import realism
from crbm.motion.demo import demo_training_clips

STYLES = ("walk", "run")
GOALS = {"stance_speed": "at most 2x the data's", "angular_speed": "within 20 % of the data's",
         "gait_period": "within 10 % of the data's"}


def run(*, quick: bool, device: str) -> dict:
    model = crbm.load_motion_model("demo", device=device)
    model.model.cpu()
    clips, styles = demo_training_clips()
    chains, frames = (2, 300) if quick else (4, 600)
    rows, figures = [], {}
    for style in STYLES:
        real = [c for c, s in zip(clips, styles) if s == style]
        generated = model.generate([(style, frames)], n_chains=chains, generator=torch.Generator().manual_seed(0))
        f = figures[style] = realism(generated, real, fps=model.fps)
        for key, better in (("skating", "lower"), ("stance_speed", "lower"), ("angular_speed", "closer"),
                            ("gait_period", "closer")):
            ours, data = f[key]["motion"], f[key]["real"]
            rows.append(row(f"{key}_{style}", ours, data, better, ratio=ours / data, goal=GOALS.get(key, "-")))
        for key, value in f["pskl"].items():
            rows.append(row(f"pskl_{key}_{style}", value, 0.0, "lower"))
        print(f"{style}: " + ", ".join(f"{r['name']} {r['ours']:.3g}" for r in rows[-6:]), flush=True)
    return {"rows": rows, "figures": figures, "chains": chains, "frames": frames, "fps": model.fps}
