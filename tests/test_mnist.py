"""MNIST loader: IDX header checks on crafted files, and the real canonical files."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from crbm.data.mnist import SHA256, load_mnist, mnist_root, read_idx
from crbm.engine.errors import CRBMError, FormatError


def _idx(dims: tuple[int, ...], body: bytes | None = None, magic: int | None = None) -> bytes:
    magic = 0x0800 | len(dims) if magic is None else magic
    if body is None:
        body = bytes(range(256)) * (int(np.prod(dims)) // 256 + 1)
        body = body[: int(np.prod(dims))]
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + body


def test_read_idx_round_trips_gzip_and_plain(tmp_path):
    raw = _idx((3, 28, 28))
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a").write_bytes(raw)
    a = read_idx(tmp_path / "a.gz", ndim=3, sizes=(3, 28, 28))
    b = read_idx(tmp_path / "a", ndim=3, sizes=(None, 28, 28))
    assert a.shape == (3, 28, 28) and np.array_equal(a, b)
    assert a.reshape(-1)[:5].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_idx((2, 28, 28), magic=0x0801), r"expected IDX magic number 0x00000803 .* got 0x00000801"),
        (_idx((2, 28, 28), magic=0x0D03), r"expected IDX magic number 0x00000803"),
        (b"\x00\x00\x08", r"expected an IDX header of 16 bytes, got a file of 3 bytes"),
        (_idx((2, 27, 28)), r"expected size 28 in dimension 1 of the IDX header, got 27"),
        (_idx((2, 28, 28))[:-5], r"the header \(2, 28, 28\) needs 1568 data bytes, the file holds 1563"),
        (b"\x1f\x8b\x08\x00garbage", r"not a readable gzip file"),
    ],
)
def test_bad_idx_files_raise_format_error(tmp_path, content, message):
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as err:
        read_idx(path, ndim=3, sizes=(None, 28, 28))
    assert err.value.path == str(path)


def test_missing_files_and_bad_split(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz: MNIST file not found"):
        load_mnist(tmp_path)
    with pytest.raises(CRBMError, match=r"split must be one of \['test', 'train'\], got 'valid'"):
        load_mnist(tmp_path, split="valid")
    monkeypatch.setenv("CRBM_DATA", str(tmp_path))
    assert mnist_root() == tmp_path / "mnist"
    monkeypatch.delenv("CRBM_DATA")
    assert mnist_root().parts[-3:] == (".cache", "crbm", "mnist")


def _fake_test_split(folder, monkeypatch, labels: bytes) -> None:
    """Write a test split of blank images and ``labels``, registered as the published files."""
    import crbm.data.mnist as mnist

    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(_idx((10000, 28, 28))),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(_idx((10000,), labels))}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(mnist.FILE_BYTES, name, len(data))


def test_out_of_range_label_is_a_format_error(tmp_path, monkeypatch):
    _fake_test_split(tmp_path, monkeypatch, bytes([3]) * 9999 + b"\x0b")
    with pytest.raises(FormatError, match=r"expected labels 0..9, found 11"):
        load_mnist(tmp_path, split="test")


def test_a_changed_file_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """Files are checked against the published sizes and SHA-256 when used; a file that passed is checked
    again once its modification time changes."""
    _fake_test_split(tmp_path, monkeypatch, bytes([3]) * 10000)
    assert load_mnist(tmp_path, split="test")[1].tolist() == [3] * 10000
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[20] ^= 1  # same size, other bytes
    labels.write_bytes(bytes(data))
    with pytest.raises(CRBMError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256 [0-9a-f]{16}\.\.\. is not that of the "
                       r"published MNIST t10k-labels-idx1-ubyte\.gz .*delete it and run crbm fetch mnist"):
        load_mnist(tmp_path, split="test")
    labels.write_bytes(bytes(data[:-1]))
    with pytest.raises(CRBMError, match=r"holds \d+ bytes, the published MNIST t10k-labels-idx1-ubyte\.gz \d+"):
        load_mnist(tmp_path, split="test")


def test_download_tries_the_mirrors_and_keeps_only_the_published_bytes(tmp_path, monkeypatch):
    """The first mirror is offline, the second serves other bytes: both are named and nothing is written;
    once the second serves the published file it is kept, and the split loads from it."""
    import io
    import urllib.error
    import urllib.request

    import crbm.data.mnist as mnist

    files = {"t10k-images-idx3-ubyte.gz": gzip.compress(_idx((10000, 28, 28))),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(_idx((10000,), bytes([7]) * 10000))}
    for name, data in files.items():
        monkeypatch.setitem(mnist.SHA256, name, hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(mnist.FILE_BYTES, name, len(data))
    monkeypatch.setattr(mnist, "MIRRORS", ("https://a.example/", "https://b.example/"))
    served = {}
    seen = []

    def urlopen(url, timeout):
        seen.append(url)
        if url.startswith("https://a.example/"):
            raise urllib.error.URLError("offline")
        return io.BytesIO(served.get(url.rsplit("/", 1)[1], b"not mnist"))

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(CRBMError, match=r"could not download https://a\.example/t10k-images-idx3-ubyte\.gz \(offline\)"
                       r".*; download of https://b\.example/t10k-images-idx3-ubyte\.gz has SHA-256 [0-9a-f]+, expected "
                       r".*nothing was written"):
        load_mnist(tmp_path, split="test", download=True)
    assert list(tmp_path.iterdir()) == []
    served.update(files)
    seen.clear()
    images, labels = load_mnist(tmp_path, split="test", download=True)
    assert images.shape == (10000, 784) and labels.tolist() == [7] * 10000
    assert seen == [f"https://{m}.example/{n}" for n in files for m in "ab"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_real_test_split(data_root):
    folder = data_root / "mnist"
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == SHA256[name]
    x, y = load_mnist(folder, split="test")
    assert x.shape == (10000, 784) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    # figures recorded in BENCHMARK_DATA.md when the files were assembled
    assert y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(x.mean()) - 0.1325) < 5e-5 and abs(float(x.std()) - 0.3105) < 5e-5
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the first test digits, as printed in countless tutorials
