"""GPmat's CMU subject-35 walk/jog split (Lawrence's GP-LVM experiments; the trials Taylor, Hinton & Roweis
2006 train on): ``mocap/gpmat/cmu35WalkJog.mat``.

Fetched: ``crbm fetch gpmat`` (or ``fetch()``) downloads it from GPmat on GitHub at a pinned commit and keeps
it only when its SHA-256 is the published one.
Checked: 31 training clips of 2,644 frames in all (22 walks, 9 runs), the test clips 35_18 (a run, 44
frames) and 35_29 (a walk, 125 frames), 62 AMC channels at 30 fps; every walk moves slower than every run
(the styles follow CMU's index for subject 35: trials 17-26 are runs).
Prepared: ``prepare()`` gives the paper setting: the split and the body-centred pipeline
(``crbm.body_centred_pipeline`` on subject 35's skeleton) fitted on the training clips; the models train on
``pipeline.transform(data.train)`` (``data.motions(skeleton)`` gives the clips as Motion values).
"""

from __future__ import annotations

import numpy as np

import crbm
from crbm.cli import FETCH
from crbm.data.mocap import WalkJog
from datasets.recipe import check_all

NAME = "gpmat"
PUBLISHED = {
    "train clips": 31, "train frames": 2644, "train styles": {"walk": 22, "run": 9},
    "test clips": {"35_18": ("run", 44), "35_29": ("walk", 125)}, "channels": 62, "fps": 30.0,
    "walks slower than runs": True,
}
METRES_PER_UNIT = 0.0254 / 0.45  # CMU's ASF length unit: 1 / 0.45 inch


def fetch(folder=None):
    """``mocap/gpmat/cmu35WalkJog.mat``, found or downloaded (checked)."""
    return [FETCH[NAME](folder)]


def ground_speed(clip: np.ndarray, fps: float) -> float:
    """Mean horizontal speed of the root (channels root.tx, root.tz) in m/s."""
    return float(np.linalg.norm(np.diff(clip[:, [0, 2]], axis=0), axis=1).mean() * fps * METRES_PER_UNIT)


def check(folder=None) -> dict:
    """Clips, frames, styles and channels; the walking and running speeds are measured (m/s)."""
    data = crbm.load_gpmat_walkjog(folder)
    speeds = {"walk": [], "run": []}
    for clip, style in zip(data.train + data.test, data.train_styles + data.test_styles, strict=True):
        speeds[style].append(ground_speed(clip, data.fps))
    found = {
        "train clips": len(data.train), "train frames": sum(len(c) for c in data.train),
        "train styles": {s: data.train_styles.count(s) for s in ("walk", "run")},
        "test clips": {t: (s, len(c)) for t, s, c in zip(data.test_trials, data.test_styles, data.test, strict=True)},
        "channels": len(data.channel_names), "fps": data.fps,
        "walks slower than runs": max(speeds["walk"]) < min(speeds["run"]),
        "walk speeds": (round(min(speeds["walk"]), 2), round(max(speeds["walk"]), 2)),
        "run speeds": (round(min(speeds["run"]), 2), round(max(speeds["run"]), 2)),
    }
    return check_all(NAME, found, PUBLISHED)


def prepare(folder=None) -> tuple[WalkJog, crbm.Pipeline]:
    """The split and the body-centred pipeline on subject 35's skeleton, fitted on the training clips."""
    data = crbm.load_gpmat_walkjog(folder)
    skeleton = crbm.cmu_skeleton(35, path=folder)
    return data, crbm.body_centred_pipeline(skeleton).fit(data.train, skeleton.channel_names)
