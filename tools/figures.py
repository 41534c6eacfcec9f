"""Shared helpers of the static-model benchmarks: the output folder and atomic PNG writing."""

from __future__ import annotations

import os
from pathlib import Path

from crbm.checkpoint import atomic_write_bytes


def out_dir() -> Path:
    """Where benchmark pictures go: ``$CRBM_BENCH_OUT`` or ``out/`` at the repository root (gitignored)."""
    env = os.environ.get("CRBM_BENCH_OUT")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "out"


def save_png(fig, name: str) -> str:
    """Render a matplotlib figure to ``out_dir() / name`` atomically; returns the path."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(atomic_write_bytes(out_dir() / name, buf.getvalue()))
