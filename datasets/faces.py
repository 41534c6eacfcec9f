"""Olivetti faces (AT&T Laboratories Cambridge), as Sam Roweis's ``faces/olivettifaces.mat``.

Fetched: ``crbm fetch faces`` (or ``fetch()``) downloads scikit-learn's copy and keeps it only when its
SHA-256 is the one scikit-learn pins.
Checked: 400 images of 64 x 64 grey levels in [0, 1], ten of each of 40 people.
Prepared: Hinton & Salakhutdinov's (2006) face patches, ``crbm.face_patches(images, 414, generator=g)``:
rotated (-90..90 degrees), zoomed (1.4..1.8) 25 x 25 views, (n * 414, 625).
"""

from __future__ import annotations

import numpy as np

import crbm
from crbm.cli import FETCH
from datasets.recipe import check_all

NAME = "faces"
PUBLISHED = {"images": 400, "image shape": (64, 64), "images per person": [10] * 40}


def fetch(folder=None):
    """``faces/olivettifaces.mat``, found or downloaded (checked)."""
    return [FETCH[NAME](folder)]


def check(folder=None) -> dict:
    """Counts and shapes; the grey-level range is measured."""
    images, person = crbm.load_olivetti(folder)
    found = {"images": len(images), "image shape": tuple(images.shape[1:]),
             "images per person": np.bincount(person.numpy()).tolist(),
             "grey levels": (float(images.min()), float(images.max()))}
    return check_all(NAME, found, PUBLISHED)
