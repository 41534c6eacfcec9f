"""Olivetti faces (AT&T Laboratories Cambridge): 400 grey 64 x 64 images, 10 of each of 40 people, and the
rotated, scaled 25 x 25 patches of Hinton & Salakhutdinov's (2006) face autoencoder.

The file is Sam Roweis's ``olivettifaces.mat`` (variable ``faces``: 4096 x 400 grey levels, one image a
column, each image stored column by column; images ``10 p .. 10 p + 9`` show person ``p``). It is found as
``faces/olivettifaces.mat`` under an explicit ``path``, ``$CRBM_DATA`` or ``~/.cache/crbm``;
``download=True`` fetches scikit-learn's public copy and checks its SHA-256 before keeping it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from crbm.data.download import fetch_file
from crbm.data.paths import SOURCES, read_mat
from crbm.engine.errors import CRBMError, FormatError

RELATIVE = "faces/olivettifaces.mat"
N_IMAGES, SIDE, PER_PERSON = 400, 64, 10
PATCH_SIDE = 25


def load_olivetti(path: str | os.PathLike | None = None, *, download: bool = False) -> tuple[Tensor, Tensor]:
    """The Olivetti faces: ``(images, person)``.

    images: (400, 64, 64) float32 grey levels / 255 (rows top to bottom, as displayed); person: (400,) int64
    in 0..39. ``path``: the .mat file itself or a data folder holding ``faces/olivettifaces.mat``. Raises
    FormatError naming the file when it is not 400 images of 64 x 64 grey levels in 0..255."""
    file = fetch_file(RELATIVE, path=path, download_ok=download, url=SOURCES[RELATIVE])
    variables = read_mat(file)
    if "faces" not in variables:
        found = sorted(k for k in variables if not k.startswith("__"))
        raise FormatError(file, f"expected a variable 'faces' (4096 x 400), found {found}")
    faces = np.asarray(variables["faces"])
    if faces.shape != (SIDE * SIDE, N_IMAGES):
        raise FormatError(file, f"expected 'faces' of shape ({SIDE * SIDE}, {N_IMAGES}), got {faces.shape}")
    if not np.issubdtype(faces.dtype, np.number) or not np.isfinite(faces).all() or faces.min() < 0 \
            or faces.max() > 255:
        raise FormatError(file, "expected grey levels in 0..255 in 'faces'")
    images = faces.T.reshape(N_IMAGES, SIDE, SIDE).transpose(0, 2, 1)  # columns of a MATLAB image -> rows
    person = np.arange(N_IMAGES) // PER_PERSON
    return torch.as_tensor(images / 255.0, dtype=torch.float32), torch.as_tensor(person, dtype=torch.int64)


def face_patches(images: Tensor, variants: int, *, generator: torch.Generator) -> Tensor:
    """``variants`` random views of each image, as in Hinton & Salakhutdinov's face data.

    Each view rotates the image by an angle uniform in (-90, 90) degrees, zooms in by a factor uniform in
    (1.4, 1.8) and moves the centre by up to 5% of the width. It then resamples to 25 x 25 (bilinear, border
    pixels repeated). images: (n, H, W) -> (n * variants, 625); the views of image ``i`` are rows
    ``i * variants ...``. Draws 4 numbers per view from ``generator``."""
    if images.ndim != 3:
        raise CRBMError(f"images: expected shape (n, height, width), got {tuple(images.shape)}")
    if variants < 1:
        raise CRBMError(f"variants: expected a positive count, got {variants}")
    n = len(images) * variants
    angle = (torch.rand(n, generator=generator) - 0.5) * math.pi
    scale = 1.4 + 0.4 * torch.rand(n, generator=generator)
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * 0.2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, PATCH_SIDE, PATCH_SIDE], align_corners=False)
    src = images.float().repeat_interleave(variants, 0).unsqueeze(1)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(n, PATCH_SIDE * PATCH_SIDE)
