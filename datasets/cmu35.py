"""CMU Graphics Lab Motion Capture Database (http://mocap.cs.cmu.edu), subject 35: the skeleton
``mocap/cmu/35/35.asf`` and its 23 walking trials ``35_01..16.amc``, ``35_28..34.amc`` (raw Acclaim ASF/AMC,
120 fps). CMU: "free for use in research and commercial projects".

Fetched: ``fetch()`` (``crbm.cmu_trials(35, ..., download=True)``) downloads missing files from CMU. CMU serves
them with CRLF line endings; each file is kept only when the SHA-256 of its text with LF endings is the
published one.
Checked: the 23 trials on the 35.asf skeleton, 62 channels each, at 120 fps (the frame counts are measured).
Prepared: ``crbm.cmu_trials(35, TRIALS)`` gives them as Motion values; GPmat's set (``datasets.gpmat``) holds
the same walks every 4th frame, and the runs.
"""

from __future__ import annotations

import crbm
from datasets.recipe import check_all

NAME = "cmu35"
TRIALS = (*range(1, 17), *range(28, 35))
PUBLISHED = {"trials": 23, "channels": 62, "fps": 120.0}


def fetch(folder=None) -> list:
    """The skeleton and the trials' files, found or downloaded (checked)."""
    crbm.cmu_trials(35, TRIALS, path=folder, download=True)
    names = ["35.asf", *(f"35_{t:02d}.amc" for t in TRIALS)]
    return [crbm.data_path(f"mocap/cmu/35/{name}", path=folder) for name in names]


def check(folder=None) -> dict:
    """Every trial read on the subject's skeleton (the files' sums are checked by the loader)."""
    motions = crbm.cmu_trials(35, TRIALS, path=folder)
    found = {"trials": len(motions), "channels": {m.frames.shape[1] for m in motions}.pop(),
             "fps": {m.fps for m in motions}.pop(), "frames": sum(m.n_frames for m in motions)}
    return check_all(NAME, found, PUBLISHED)
