"""Shared helpers of the benchmarks: timing, rows, the output folder, atomic PNG and checkpoint writing,
fine-tuning settings."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from crbm.engine.atomic import write_bytes


def row(name: str, ours, published=None, better: str = "lower", **extra) -> dict:
    """One row of a benchmark's report (tools/bench.py's contract): ``name``, ``ours``, ``published`` (the
    published figure, the peer's or the floor's from the same run, or None), ``better`` ("lower", "higher",
    "closer", ...), then any extra keys in the order given."""
    return {"name": name, "ours": ours, "published": published, "better": better, **extra}


class Stopwatch:
    """Wall-clock and CPU seconds since it was made (or restarted): ``elapsed()`` and ``cpu_elapsed()`` (this
    process's CPU time, all threads). As a ``with`` block it restarts on entry and leaves ``seconds`` and
    ``cpu_seconds`` on exit. On a CUDA device the device is synchronised at the start and at each reading, so
    queued kernels count."""

    def __init__(self, device: str | torch.device | None = None) -> None:
        self.device = None if device is None else torch.device(device)
        self.seconds = self.cpu_seconds = float("nan")
        self.restart()

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def restart(self) -> Stopwatch:
        self._sync()
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def elapsed(self) -> float:
        self._sync()
        return time.perf_counter() - self._wall

    def cpu_elapsed(self) -> float:
        return time.process_time() - self._cpu

    def __enter__(self) -> Stopwatch:
        return self.restart()

    def __exit__(self, *exc) -> None:
        self.seconds, self.cpu_seconds = self.elapsed(), self.cpu_elapsed()


def timed(fn: Callable[[], Any], *, device: str | torch.device | None = None) -> tuple[Any, float]:
    """``fn()``'s result and its wall-clock seconds (a ``Stopwatch`` around one call)."""
    with Stopwatch(device) as watch:
        out = fn()
    return out, watch.seconds


def race(fns: Sequence[Callable[[], Any]], *, repeats: int, device: str | torch.device | None = None,
         warm_up: bool = False) -> list[float]:
    """The least wall-clock seconds of each function over ``repeats`` rounds that call them in turn (after one
    untimed call of each when ``warm_up``), so that a burst of load on a shared machine hits every contender
    alike; one function is simply the best of ``repeats`` calls."""
    if warm_up:
        for fn in fns:
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], timed(fn, device=device)[1])
    return best


def with_torch_generator(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with torch's generator for every random draw (``crbm.engine.noise.set_source("torch")``, the
    previous source restored): the A/B of crbm's counter-based uniforms in the same rounds."""
    from crbm.engine import noise

    def run() -> Any:
        saved = noise.source()
        noise.set_source("torch")
        try:
            return fn()
        finally:
            noise.set_source(saved)

    return run


def cpu_name() -> str:
    """The CPU's model name: ``/proc/cpuinfo``'s "model name" on Linux, else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def out_dir() -> Path:
    """Where benchmark pictures and models go: ``$CRBM_BENCH_OUT`` or ``out/`` at the repository root (gitignored)."""
    env = os.environ.get("CRBM_BENCH_OUT")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "out"


def _whole_number(name: str, what: str) -> int:
    """The environment variable ``name`` as a whole number (0 when unset); exits with a one-line message
    naming ``what`` it counts when it is not one."""
    text = os.environ.get(name, "0")
    if not text.isdigit():
        raise SystemExit(f"{name}: expected a whole number ({what}), got {text!r}")
    return int(text)


def holdout_count() -> int:
    """``CRBM_BENCH_HOLDOUT``: how many training examples a benchmark holds out as its validation split (0 when
    unset)."""
    return _whole_number("CRBM_BENCH_HOLDOUT", "of training examples")


def training_seed() -> int:
    """``CRBM_BENCH_SEED``: the seed a benchmark trains its models with (0 when unset)."""
    return _whole_number("CRBM_BENCH_SEED", "a training seed")


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
