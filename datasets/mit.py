"""Taylor's MIT walking data (Eugene Hsu's recordings; the data of Taylor, Hinton & Roweis's CRBM demo):
``mocap/mit/motion.mat``.

Fetched: by hand: ``motion.mat`` from Graham Taylor's CRBM code page (NIPS 2006 code archive); a copy is at
github.com/taneishi/CRBM under ``data/``. Its SHA-256 is checked when it is used.
Checked: 3 clips of 438, 260 and 3,128 frames, 18 joints of 6 columns (an exponential map, then the offset
from the parent); 49 columns vary (the exponential maps and the root's position).
Prepared: ``crbm.load_mit_motion()``; the file stores no frame rate (the gait period suggests about 30 fps).
"""

from __future__ import annotations

import numpy as np

import crbm
from datasets.recipe import check_all

NAME = "mit"
RELATIVE = "mocap/mit/motion.mat"
PUBLISHED = {"clip frames": [438, 260, 3128], "columns": 108, "joints": 18, "varying columns": 49}


def fetch(folder=None):
    """The file where it was placed (checked); a CRBMError says where to get it when it is not there."""
    return [crbm.data_path(RELATIVE, path=folder)]


def check(folder=None) -> dict:
    """Frames, columns and joints, and the columns that vary over the three clips."""
    mit = crbm.load_mit_motion(folder)
    data = np.concatenate(mit.clips)
    found = {"clip frames": [len(c) for c in mit.clips], "columns": data.shape[1], "joints": len(mit.parents),
             "varying columns": int((data.std(axis=0) > 1e-10).sum())}
    return check_all(NAME, found, PUBLISHED)
