"""Shared helpers of the static-model benchmarks: the output folder, atomic PNG and checkpoint writing,
fine-tuning settings."""

from __future__ import annotations

import os
from pathlib import Path

from crbm.atomic import write_bytes


def out_dir() -> Path:
    """Where benchmark pictures and models go: ``$CRBM_BENCH_OUT`` or ``out/`` at the repository root (gitignored)."""
    env = os.environ.get("CRBM_BENCH_OUT")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "out"


def holdout_count() -> int:
    """``CRBM_BENCH_HOLDOUT``: how many training examples a benchmark holds out as its validation split (0 when
    unset); exits with a one-line message when it is not a whole number."""
    text = os.environ.get("CRBM_BENCH_HOLDOUT", "0")
    if not text.isdigit():
        raise SystemExit(f"CRBM_BENCH_HOLDOUT: expected a whole number of training examples, got {text!r}")
    return int(text)


def save_png(fig, name: str) -> str:
    """Render a matplotlib figure to ``out_dir() / name`` atomically; returns the path."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(write_bytes(out_dir() / name, buf.getvalue()))


def save_model(model, name: str) -> str:
    """Checkpoint a trained model to ``out_dir() / name`` (``crbm.save_checkpoint``: safetensors, atomic), so
    a long run's model can be examined afterwards; returns the path."""
    from crbm import save_checkpoint

    return str(save_checkpoint(out_dir() / name, model))


def fine_tune_config(*, epochs: int, learning_rate: float, device: str, seed: int):
    """The backprop fine-tuning settings the autoencoder benchmarks share: batches of 100, momentum 0.9
    throughout, no weight decay, quiet."""
    from crbm import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=100,
        learning_rate=learning_rate,
        momentum=0.9,
        weight_decay=0.0,
        device=device,
        verbose=False,
        seed=seed,
    )


def progress_log(name: str, measure=None):
    """A ``crbm.fit`` callback that rewrites ``out_dir() / name`` (JSON, atomically) after every epoch with
    one entry per epoch so far: the trainer's figures, plus ``measure(model)`` (a dict) on the epochs where
    ``measure`` is given and the epoch is a multiple of 10 or the first. A long run can be watched, and a
    run cut short still leaves its learning curve."""
    import json

    entries: list[dict] = []

    def callback(epoch: int, figures: dict, model) -> bool:
        entry = {**figures, "epoch": epoch}  # the caller's count (fine_tune_backprop numbers across phases)
        if measure is not None and (epoch == 1 or epoch % 10 == 0):
            entry |= measure(model)
        entries.append(entry)
        write_bytes(out_dir() / name, json.dumps(entries, indent=1).encode())
        return False

    callback.entries = entries
    return callback
