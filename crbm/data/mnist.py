"""MNIST (LeCun, Cortes & Burges): the four canonical gzip IDX files, read into tensors.

IDX format (big-endian): a magic number ``0x0000 08 0d`` (unsigned bytes, ``d`` dimensions: 3 for images,
1 for labels), then ``d`` 32-bit sizes, then the bytes. Images are 28 x 28, labels 0..9.

Where the files are looked for: an explicit ``path``, else ``$CRBM_DATA/mnist``, else
``~/.cache/crbm/mnist``. ``download=True`` fetches missing files from the public originals and checks
their SHA-256 before keeping them.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from crbm.data.download import download as download_file
from crbm.data.paths import data_folders, verify_file
from crbm.engine.errors import CRBMError, FormatError

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SIZES = {"train": 60000, "test": 10000}
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FILE_BYTES = {"train-images-idx3-ubyte.gz": 9912422, "train-labels-idx1-ubyte.gz": 28881,
              "t10k-images-idx3-ubyte.gz": 1648877, "t10k-labels-idx1-ubyte.gz": 4542}
# public copies of the original files, tried in order
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
IMAGE_SHAPE = (28, 28)
N_PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
N_CLASSES = 10


def mnist_root(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the MNIST files: ``path``, else ``$CRBM_DATA/mnist``, else ``~/.cache/crbm/mnist``."""
    return data_folders("mnist", path)[0]


def read_idx(path: str | os.PathLike, *, ndim: int, sizes: tuple[int | None, ...]) -> np.ndarray:
    """Read a gzip (or plain) IDX file of unsigned bytes with ``ndim`` dimensions; ``sizes`` gives the
    expected size of each dimension (None: any). Raises FormatError naming what was expected."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise FormatError(path, f"not a readable gzip file ({err})") from None
    if len(raw) < 4 + 4 * ndim:
        raise FormatError(path, f"expected an IDX header of {4 + 4 * ndim} bytes, got a file of {len(raw)} bytes")
    magic = struct.unpack(">I", raw[:4])[0]
    expected_magic = 0x0800 | ndim
    if magic != expected_magic:
        raise FormatError(
            path, f"expected IDX magic number 0x{expected_magic:08x} (unsigned bytes, {ndim}-D), got 0x{magic:08x}"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    for i, (got, want) in enumerate(zip(dims, sizes)):
        if want is not None and got != want:
            raise FormatError(path, f"expected size {want} in dimension {i} of the IDX header, got {got}")
    n_bytes = int(np.prod(dims))
    body = raw[4 + 4 * ndim :]
    if len(body) != n_bytes:
        raise FormatError(path, f"the header {tuple(dims)} needs {n_bytes} data bytes, the file holds {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def load_mnist(
    path: str | os.PathLike | None = None, *, split: str = "train", download: bool = False
) -> tuple[Tensor, Tensor]:
    """MNIST images and labels.

    Args:
        path: folder with the four ``*-idx?-ubyte.gz`` files (default: ``mnist_root()``).
        split: "train" (60000 images) or "test" (10000).
        download: fetch missing files from the public originals (SHA-256 checked).

    Returns ``(images, labels)``: float32 (N, 784) in [0, 1] (pixel / 255, rows of the 28 x 28 image in
    order) and int64 (N,) in 0..9. Each file must be the published one (size and SHA-256, checked once per
    process and again when the file changes); CRBMError otherwise."""
    if split not in FILES:
        raise CRBMError(f"split must be one of {sorted(FILES)}, got {split!r}")
    folder = mnist_root(path)
    paths = []
    for name in FILES[split]:
        p = folder / name
        if not p.is_file():
            if not download:
                raise FileNotFoundError(f"{p}: MNIST file not found; pass path=, set CRBM_DATA, or use download=True")
            p = download_file([base + name for base in MIRRORS], p, sha256=SHA256[name])
        verify_file(p, [SHA256[name]], sizes={SHA256[name]: FILE_BYTES[name]}, what=f"MNIST {name}",
                    remedy="delete it and run crbm fetch mnist (or load_mnist(download=True))")
        paths.append(p)
    n = SIZES[split]
    images = read_idx(paths[0], ndim=3, sizes=(n, *IMAGE_SHAPE))
    labels = read_idx(paths[1], ndim=1, sizes=(n,))
    if labels.max() >= N_CLASSES:
        raise FormatError(paths[1], f"expected labels 0..{N_CLASSES - 1}, found {int(labels.max())}")
    x = torch.from_numpy(images.reshape(n, N_PIXELS).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def binarize(images: Tensor, *, generator: torch.Generator | None) -> Tensor:
    """Stochastic binarisation: each pixel is 1 with probability equal to its intensity (the binary MNIST
    of Salakhutdinov & Murray 2008). Shape and dtype follow ``images``."""
    u = torch.rand(images.shape, generator=generator, dtype=images.dtype, device=images.device)
    return (u < images).to(images.dtype)
