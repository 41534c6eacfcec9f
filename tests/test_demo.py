"""The demo: data finding, the IDX reader, bars and stripes, and ``crbm demo`` end to end."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from crbm import FormatError, load_checkpoint
from crbm.cli import main
from crbm.demo import MNIST_IMAGES, bars_and_stripes, find_mnist, read_idx_images


def _is_bars_or_stripes(v: torch.Tensor, side: int = 8) -> torch.Tensor:
    img = (v > 0.5).reshape(-1, side, side)
    rows = (img == img[:, :, :1]).all(2).all(1)  # every row constant
    cols = (img == img[:, :1, :]).all(1).all(1)  # every column constant
    return rows | cols


def test_bars_and_stripes():
    x = bars_and_stripes(500, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 64) and x.dtype == torch.float32
    assert bool(_is_bars_or_stripes(x).all())
    img = x.reshape(-1, 8, 8)
    assert bool((img == img[:, :, :1]).all(2).all(1).any()) and bool((img == img[:, :1, :]).all(1).all(1).any())
    assert len({tuple(r) for r in x.int().tolist()}) > 200  # close to the 510 distinct patterns


def _idx_bytes(images: np.ndarray, magic: int = 2051) -> bytes:
    n, rows, cols = images.shape
    return np.array([magic, n, rows, cols], dtype=">i4").tobytes() + images.astype(np.uint8).tobytes()


def test_read_idx_images_round_trip_and_refusals(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 4, 5), dtype=np.uint8)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(images))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    for name in ("a.idx", "a.idx.gz"):
        assert np.array_equal(read_idx_images(tmp_path / name), images.reshape(3, 20))
    (tmp_path / "bad").write_bytes(_idx_bytes(images, magic=2049))
    with pytest.raises(FormatError, match="expected IDX3 magic number 2051, got 2049"):
        read_idx_images(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(images)[:-7])
    with pytest.raises(FormatError, match="expected 76 bytes for 3 images of 4x5, got 69"):
        read_idx_images(tmp_path / "short")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(FormatError, match="header of 16 bytes"):
        read_idx_images(tmp_path / "tiny")


def test_real_mnist_images(data_root):
    x = read_idx_images(data_root / MNIST_IMAGES)
    assert x.shape == (60000, 784) and x.dtype == np.uint8
    assert x.max() == 255 and 0.1 < (x >= 128).mean() < 0.2  # digits cover about 13% of the pixels


def test_find_mnist_order(tmp_path, monkeypatch):
    for name in ("explicit", "env", "home/.cache/crbm"):
        (tmp_path / name / MNIST_IMAGES).parent.mkdir(parents=True)
        (tmp_path / name / MNIST_IMAGES).write_bytes(b"")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CRBM_DATA", str(tmp_path / "env"))
    assert find_mnist(tmp_path / "explicit") == tmp_path / "explicit" / MNIST_IMAGES
    assert find_mnist(tmp_path / "nowhere") == tmp_path / "env" / MNIST_IMAGES
    monkeypatch.delenv("CRBM_DATA")
    assert find_mnist() == tmp_path / "home/.cache/crbm" / MNIST_IMAGES
    monkeypatch.setenv("HOME", str(tmp_path / "nowhere"))
    assert find_mnist() is None


@pytest.mark.slow
def test_crbm_demo_command_writes_pictures_of_a_model_that_learned(tmp_path, monkeypatch, capsys):
    """Without MNIST the demo learns bars and stripes: its Gibbs samples are valid bars-and-stripes images."""
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "0", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "filters.png"), str(out / "samples.png"), str(out / "rbm.crbm")]
    assert sorted(p.name for p in out.iterdir()) == ["filters.png", "rbm.crbm", "samples.png"]  # no temp files
    for name in ("filters.png", "samples.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    ck = load_checkpoint(out / "rbm.crbm")
    assert ck.extra["demo"]["data"] == "8x8 bars and stripes"
    model = ck.model
    g = torch.Generator().manual_seed(1)
    v = model.gibbs(torch.rand(200, 64, generator=g).lt(0.5).float(), 300, generator=g)
    samples = model.visible_mean(model.hidden_mean(v))
    assert _is_bars_or_stripes(samples).float().mean() > 0.8
    assert len({tuple(r) for r in (samples > 0.5).int().tolist()}) > 20  # many modes, not one


def test_crbm_demo_reports_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--device", "gpu"]) == 2
    assert "unknown device 'gpu'" in capsys.readouterr().err
