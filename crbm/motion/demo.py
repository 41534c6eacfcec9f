"""``crbm demo``: 8 seconds of walking that turns into running, from the small walk/run model shipped in the
package (or one retrained from the CMU data with ``--train``), written as BVH, a stick-figure GIF
and a PNG of joint-angle curves with the style switch marked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from crbm.mocap.io import write_motion
from crbm.motion.model import MotionModel, load_motion_model, train_motion_model

# the shipped model's recipe (tools/train_demo.py): a label-conditioned CRBM on the walks of every CMU subject in
# the data folder and subject 35's runs (the GPmat CMU-35 split's training clips), all on one rig
DEMO_RECIPE = {"kind": "label", "order": 3, "hidden": 150, "epochs": 2000, "seed": 0}
RUN_WEIGHT = 5
# an FCRBM of the same clips (train_demo_model(kind="fcrbm")): the label model's budget (at fcrbm_config's 500
# epochs its own generated walk puts a quarter of its steps off the gait's rhythm, at 2000 under 4 %)
FCRBM_EPOCHS = 2000


def demo_training_clips(data: str | os.PathLike | None = None) -> tuple[list, list[str]]:
    """The demo's training clips and their styles: the GPmat CMU-35 walk/jog training split (walks and runs
    at 30 fps) and the walks of every other CMU subject under ``mocap/cmu/NN/`` (each with its own ASF),
    found through ``data``, ``CRBM_DATA`` or the cache."""
    from crbm.data.mocap import cmu_skeleton, load_gpmat_walkjog
    from crbm.data.paths import data_path
    from crbm.mocap.acclaim import read_amc, read_asf

    walkjog = load_gpmat_walkjog(data)
    clips, _ = walkjog.motions(cmu_skeleton(35, path=data))
    styles = list(walkjog.train_styles)
    root = data_path("mocap/cmu/35/35.asf", path=data).parents[1]
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "35"):
        skeleton = read_asf(folder / f"{folder.name}.asf")
        for amc in sorted(folder.glob("*.amc")):
            clips.append(read_amc(amc, skeleton))
            styles.append("walk")
    return clips, styles


def train_demo_model(data: str | os.PathLike | None = None, *, seed: int = 0, epochs: int | None = None,
                     kind: str | None = None, contacts: bool = False, history_noise: float | None = None,
                     verbose: bool = False) -> MotionModel:
    """Retrain the demo model from :func:`demo_training_clips`, each run clip weighted ``RUN_WEIGHT`` times
    (repeated), so that walking does not swamp running. ``kind``: another model kind on the same clips and
    recipe (``"fcrbm"``: the FCRBM, trained for ``FCRBM_EPOCHS`` unless ``epochs`` says otherwise);
    ``contacts``: with foot-contact channels (``train_motion_model``'s ``contacts``); ``history_noise``:
    ``train_motion_model``'s (None: the kind's default)."""
    clips, styles = demo_training_clips(data)
    # runs are 9 clips of one subject against 55 walks of 17: each run clip counts RUN_WEIGHT times
    clips += [c for c, s in zip(clips, styles) if s == "run"] * (RUN_WEIGHT - 1)
    styles += ["run"] * (len(clips) - len(styles))
    recipe = {**DEMO_RECIPE, "seed": seed} | ({"kind": kind} if kind else {})
    if recipe["kind"] == "fcrbm":
        recipe["epochs"] = FCRBM_EPOCHS
    recipe |= {"epochs": epochs} if epochs else {}
    return train_motion_model(clips, styles=styles, contacts=contacts, history_noise=history_noise, verbose=verbose,
                              **recipe)


def run_demo(out_dir: str | os.PathLike, *, seed: int = 0, device: str | None = None, train: bool = False,
             data: str | os.PathLike | None = None, seconds_walk: float = 4.0, seconds_run: float = 4.0) -> list[Path]:
    """Generate walk-then-run and write ``demo.bvh``, ``demo.gif`` and ``demo_channels.png`` to ``out_dir``."""
    from crbm.mocap.render import animate, plot_channels

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = train_demo_model(data, seed=seed) if train else load_motion_model("demo")
    if train:
        model.save(out / "demo-model.safetensors")
    walk, run = round(seconds_walk * model.fps), round(seconds_run * model.fps)
    (motion,) = model.generate([("walk", walk), ("run", run)], generator=torch.Generator().manual_seed(seed))
    paths = [out / "demo.bvh", out / "demo.gif", out / "demo_channels.png"]
    write_motion(motion, paths[0])  # in centimetres, whatever unit the model was trained in
    animate(motion, paths[1], stride=2)
    names = (["root.ty", "lfemur.rx", "rfemur.rx", "ltibia.rx", "lhumerus.rz"] if motion.skeleton.kind == "asf" else
             ["root.Yposition", "lfemur.Xrotation", "rfemur.Xrotation", "ltibia.Xrotation", "lhumerus.Xrotation"])
    switch = walk
    plot_channels(np.asarray(motion.frames), motion.channel_names, paths[2], channels=names,
                  marks=[(switch, "walk -> run")], fps=model.fps, title="generated: walk, then run")
    return paths
