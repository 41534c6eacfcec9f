"""``crbm demo``: train a small RBM and draw what it learned (until the motion demo replaces it).

With MNIST at hand (``data_root``, else ``CRBM_DATA``, else ``~/.cache/crbm``, each holding
``mnist/train-images-idx3-ubyte.gz``) a 784-100 Bernoulli RBM learns from 10,000 binarised digits; without
it, a 64-100 RBM learns 8x8 bars and stripes generated here (MacKay's toy set: every image is a set of
whole rows or whole columns switched on). Training is CD-1 through ``crbm.fit``; the pictures are the
hidden units' weights (filters) and the visible means after 1000 Gibbs steps from noise (samples).
"""

from __future__ import annotations

import gzip
import io
import math
import os
from pathlib import Path

import numpy as np
import torch

from crbm.atomic import write_bytes
from crbm.checkpoint import save_checkpoint
from crbm.errors import FormatError
from crbm.rbm import RBM
from crbm.train import TrainConfig, fit

MNIST_IMAGES = Path("mnist") / "train-images-idx3-ubyte.gz"


def find_mnist(data_root: str | os.PathLike | None = None) -> Path | None:
    """The MNIST training images under ``data_root``, else ``$CRBM_DATA``, else ``~/.cache/crbm``; None if absent."""
    roots = [Path(data_root)] if data_root is not None else []
    if os.environ.get("CRBM_DATA"):
        roots.append(Path(os.environ["CRBM_DATA"]))
    roots.append(Path.home() / ".cache" / "crbm")
    return next((r / MNIST_IMAGES for r in roots if (r / MNIST_IMAGES).is_file()), None)


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """LeCun's IDX3 image file (optionally gzipped): magic 2051, count, rows, cols (big-endian int32), then
    uint8 pixels. Returns (count, rows * cols) uint8."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 16:
        raise FormatError(path, f"expected an IDX3 header of 16 bytes, got {len(raw)} bytes")
    magic, n, rows, cols = (int(x) for x in np.frombuffer(raw[:16], dtype=">i4"))
    if magic != 2051:
        raise FormatError(path, f"expected IDX3 magic number 2051, got {magic}")
    if len(raw) != 16 + n * rows * cols:
        raise FormatError(
            path, f"expected {16 + n * rows * cols} bytes for {n} images of {rows}x{cols}, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def bars_and_stripes(n: int, side: int = 8, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` random ``side`` x ``side`` bars-and-stripes images (a random subset of rows, or of columns, on),
    flattened: (n, side * side) float32 in {0, 1}."""
    lines = torch.rand(n, side, generator=generator) < 0.5
    img = lines[:, :, None].expand(n, side, side)
    columns = torch.rand(n, generator=generator) < 0.5
    img = torch.where(columns[:, None, None], img.transpose(1, 2), img)
    return img.reshape(n, side * side).float()


def _tile(images: np.ndarray, side: int) -> np.ndarray:
    """(k, side * side) images -> one grid picture with 1-pixel gaps, each image scaled to [0, 1]."""
    k = images.shape[0]
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    grid = np.ones((rows * (side + 1) + 1, cols * (side + 1) + 1))
    for i, img in enumerate(images):
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        r, c = divmod(i, cols)
        grid[1 + r * (side + 1) : (r + 1) * (side + 1), 1 + c * (side + 1) : (c + 1) * (side + 1)] = img.reshape(
            side, side
        )
    return grid


def _write_png(path: Path, picture: np.ndarray, title: str) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 6.4), dpi=100)
    ax = fig.subplots()
    ax.imshow(picture, cmap="gray", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return write_bytes(path, buf.getvalue())


def run_demo(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    device: str | None = None,
    data_root: str | os.PathLike | None = None,
    verbose: bool = True,
) -> list[Path]:
    """Train the demo RBM and write ``filters.png``, ``samples.png`` and the model checkpoint ``rbm.crbm`` into
    ``out_dir``; returns their paths."""
    out = Path(out_dir)
    gen = torch.Generator().manual_seed(seed)
    mnist = find_mnist(data_root)
    if mnist is not None:
        data = torch.from_numpy(read_idx_images(mnist)[:10000] >= 128).float()
        side, n_hidden, what = 28, 100, "MNIST digits"
        config = TrainConfig(epochs=10, batch_size=100, learning_rate=0.1, seed=seed, device=device, verbose=verbose)
    else:
        data = bars_and_stripes(5000, generator=gen)
        side, n_hidden, what = 8, 100, "8x8 bars and stripes"
        config = TrainConfig(
            epochs=50, batch_size=50, learning_rate=0.05, final_momentum=0.5, seed=seed, device=device, verbose=verbose
        )
    model = RBM(side * side, n_hidden, init_std=0.01, generator=gen)
    with torch.no_grad():  # visible biases at the log-odds of the pixel means (Hinton's practical guide, 8.1)
        p = data.mean(0).clamp(0.01, 0.99)
        model.visible_bias.copy_(torch.log(p / (1 - p)))
    fit(model, data, config)

    chains = torch.rand(64, side * side, generator=gen).lt(0.5).float().to(model.weight.device)
    cpu_gen = gen if model.weight.device.type == "cpu" else torch.Generator(model.weight.device).manual_seed(seed)
    v = model.gibbs(chains, 999, generator=cpu_gen)
    samples = model.visible_mean(model.hidden_mean(v))
    title = f"{model.n_visible}-{n_hidden} RBM, CD-1, {config.epochs} epochs on {what}"
    return [
        _write_png(out / "filters.png", _tile(model.weight.T.cpu().numpy(), side), f"Filters: {title}"),
        _write_png(out / "samples.png", _tile(samples.cpu().numpy(), side), f"Samples after 1000 Gibbs steps: {title}"),
        save_checkpoint(out / "rbm.crbm", model, extra={"demo": {"data": what, "seed": seed}}),
    ]
