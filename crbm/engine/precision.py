"""The precision of float32 matrix products: plain IEEE float32, oneDNN's bf16 math mode on CPUs, TF32 on
CUDA (``TrainConfig(matmul_precision=...)`` for a training run, ``crbm.matmul_precision`` for a block)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from crbm.engine.errors import CRBMError

MATMUL_PRECISIONS = ("ieee", "bf16", "tf32")


@contextmanager
def matmul_precision(precision: str, device: str | torch.device | None = None) -> Iterator[None]:
    """Run float32 matrix products on ``device``'s backend at ``precision`` inside the block (restored after).

    "ieee": plain float32 (torch's CPU products go to MKL). "bf16" (CPU only): the products go to oneDNN with its
    bf16 math mode, which *allows* rounding float32 operands to bf16 (8-bit mantissa, relative error up to
    2^-8 per operand); whether it does depends on the CPU (AMX-BF16 rounds, AVX-512-BF16 alone may not), and
    ``tools/bench.py rbm-speed`` measures the speed and the effect on training. "tf32":
    TensorFloat-32 tensor cores on CUDA (10-bit mantissa operands). Parameters, updates and every elementwise
    operation stay float32 whatever the mode.
    """
    restore = set_matmul_precision(precision, device)
    try:
        yield
    finally:
        restore()


def set_matmul_precision(precision: str, device) -> Callable[[], None]:
    """Set the backend's float32 matmul precision; returns the function that puts the old one back."""
    if precision not in MATMUL_PRECISIONS:
        raise CRBMError(f"matmul precision must be one of {list(MATMUL_PRECISIONS)}, got {precision!r}")
    cuda = torch.device(device or "cpu").type == "cuda"
    if cuda and precision == "bf16":
        raise CRBMError("matmul precision 'bf16' is a CPU (oneDNN) mode; on CUDA use 'tf32'")
    backend = torch.backends.cuda.matmul if cuda else torch.backends.mkldnn.matmul
    old = backend.fp32_precision

    def restore() -> None:
        backend.fp32_precision = old

    backend.fp32_precision = precision
    return restore
