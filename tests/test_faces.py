"""Olivetti faces: the loader against a file nobody here wrote, bad files, and the face patches."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

import crbm.data.paths as paths
from crbm.data.faces import face_patches, load_olivetti
from crbm.engine.errors import CRBMError, FormatError


def test_loader_matches_the_independently_made_npz(data_root):
    """The .mat read with MATLAB's column order equals the data folder's .npz (made with scikit-learn's
    orientation by someone else), and person p owns images 10p..10p+9."""
    images, person = load_olivetti(data_root)
    with np.load(data_root / "faces" / "olivetti_faces_uint8.npz", allow_pickle=False) as ref:
        assert torch.equal(images, torch.as_tensor(ref["images"] / 255.0, dtype=torch.float32))
        assert torch.equal(person, torch.as_tensor(ref["target"], dtype=torch.int64))
    assert images.shape == (400, 64, 64) and images.dtype == torch.float32
    # scikit-learn's published first values of data[0], which rescales by (x - min) / (max - min)
    first = images[0].flatten()[:4]
    lo, hi = images.min(), images.max()
    torch.testing.assert_close((first - lo) / (hi - lo), torch.tensor([0.30991736, 0.3677686, 0.41735536, 0.44214877]))


def test_bad_faces_files_name_the_file_and_what_was_expected(tmp_path, monkeypatch):
    (tmp_path / "faces").mkdir()
    file = tmp_path / "faces" / "olivettifaces.mat"
    scipy.io.savemat(file, {"faces": np.zeros((4096, 399), dtype=np.uint8)})
    with pytest.raises(
        FormatError, match=r"olivettifaces.mat: expected 'faces' of shape \(4096, 400\), got \(4096, 399\)"
    ):
        load_olivetti(file)
    scipy.io.savemat(file, {"pixels": np.zeros((4096, 400))})
    with pytest.raises(FormatError, match=r"expected a variable 'faces' \(4096 x 400\), found \['pixels'\]"):
        load_olivetti(file)
    scipy.io.savemat(file, {"faces": np.full((4096, 400), 300.0)})
    with pytest.raises(FormatError, match="expected grey levels in 0..255"):
        load_olivetti(file)
    file.write_bytes(b"not a mat file")
    with pytest.raises(FormatError, match="olivettifaces.mat: not a readable MATLAB .mat file"):
        load_olivetti(file)
    with pytest.raises(CRBMError, match=r"olivettifaces\.mat: SHA-256 [0-9a-f]{16}\.\.\. is not that of the published "
                       r"faces/olivettifaces\.mat .*; delete it and fetch it again .*figshare"):
        load_olivetti(tmp_path)  # found in a data folder, a file must be the published one
    monkeypatch.delenv("CRBM_DATA", raising=False)  # else the lookup falls back to the real data folder
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    with pytest.raises(CRBMError, match=r"'faces/olivettifaces.mat' not found.*figshare"):
        load_olivetti(tmp_path / "elsewhere")


def test_face_patches_are_rotated_zoomed_views_drawn_from_the_generator():
    """A constant image stays constant; with the angle forced to 0 and no zoom jitter a patch is the
    central crop resampled; the same seed gives the same patches; bad shapes raise."""
    flat = torch.full((2, 64, 64), 0.25)
    out = face_patches(flat, 3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (6, 625)
    torch.testing.assert_close(out, torch.full_like(out, 0.25))
    img = torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(1))
    a = face_patches(img, 5, generator=torch.Generator().manual_seed(2))
    b = face_patches(img, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])
    # a left-right gradient: a patch's mean of x is the centre (within the shift) and its range shrinks by
    # the zoom (1.4..1.8) times |cos| of the angle, at most 1 / 1.4 of the image's
    ramp = torch.linspace(0, 1, 64).expand(64, 64).unsqueeze(0)
    p = face_patches(ramp, 200, generator=torch.Generator().manual_seed(3)).reshape(200, 25, 25)
    assert ((p.mean((1, 2)) - 0.5).abs() <= 0.05 + 1e-3).all()
    assert (p.amax((1, 2)) - p.amin((1, 2)) <= 1 / 1.4 * np.sqrt(2) + 1e-3).all()
    with pytest.raises(CRBMError, match=r"images: expected shape \(n, height, width\)"):
        face_patches(torch.zeros(64, 64), 2, generator=torch.Generator())
    with pytest.raises(CRBMError, match="variants: expected a positive count"):
        face_patches(flat, 0, generator=torch.Generator())
