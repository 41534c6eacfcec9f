"""The CMU-mocap motion-prediction benchmark of Li et al. 2018 (ConvSeq2Seq), also used by Mao et al. 2019
(LTD): ``mocap/cmu-bench/{train,test}/<action>/<action>_<k>.txt``, the split's walking, running,
basketball, jumping and soccer files.

Fetched: by hand: ``data/cmu_mocap/`` of github.com/chaneyddtt/Convolutional-Sequence-to-Sequence-Model-for-
Human-Dynamics (commit 12feef7b added the files; MIT licence, the motion is CMU's). The data folder's
``mocap/cmu-bench/PROTOCOL.md`` states the protocol.
Checked: every file has 117 numbers a frame (root position, 38 exponential maps; ``crbm.read_cmubench``), and
the protocol's test windows, drawn from each action's down-sampled ``test/<action>/<action>_1.txt`` by
``crbm.mocap.cmubench.test_starts``, start at the frames both papers' code gives.
Prepared: ``prepare(action)``: that test clip at 60 fps (every 2nd frame) and its 8 window starts; each
window is 50 seen frames, then 25 to predict.
"""

from __future__ import annotations

import crbm
from crbm.mocap import cmubench
from datasets.recipe import check_all

NAME = "cmubench"
ACTIONS = ("walking", "running", "basketball", "jumping", "soccer")
PUBLISHED = {
    "test windows": {
        "walking": [2, 102, 47, 12, 51, 33, 43, 60], "running": [2, 6, 4, 3, 1, 3, 1, 4],
        "basketball": [130, 102, 47, 140, 51, 33, 171, 105], "jumping": [386, 358, 47, 140, 819, 289, 939, 105],
        "soccer": [130, 102, 47, 140, 51, 33, 171, 105],
    },
}


def fetch(folder=None):
    """Every file of the split where it was placed; a CRBMError names the first one missing."""
    first = {s: crbm.data_path(f"mocap/cmu-bench/{s}/walking/walking_1.txt", path=folder) for s in ("train", "test")}
    return [f for s in first for a in ACTIONS for f in sorted(first[s].parents[1].glob(f"{a}/{a}_*.txt"))]


def prepare(action: str, folder=None) -> tuple[crbm.Motion, list[int]]:
    """The action's test clip at 60 fps and the first frames of its protocol windows."""
    path = crbm.data_path(f"mocap/cmu-bench/test/{action}/{action}_1.txt", path=folder)
    clip = crbm.read_cmubench(path)
    clip = clip.replace(frames=clip.frames[::2], fps=clip.fps / 2)
    return clip, cmubench.test_starts(clip.n_frames)


def check(folder=None) -> dict:
    """Every file read (117 columns a frame), and the test windows of each action."""
    files = fetch(folder)
    frames = sum(crbm.read_cmubench(f).n_frames for f in files)
    found = {"files": len(files), "frames": frames, "test windows": {a: prepare(a, folder)[1] for a in ACTIONS}}
    return check_all(NAME, found, PUBLISHED)
