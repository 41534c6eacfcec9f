"""Training curves: the per-epoch figures ``crbm.fit`` returns, kept with a model and drawn as a picture.

A history is a list of dicts, one per epoch, as ``crbm.fit`` returns it (``epoch``, the model's figures such
as ``recon_error``, ``lr``, ``momentum``, ``seconds``); an entry may name its ``phase`` (a two-layer model's
``"layer 1"`` and ``"layer 2"``). ``MotionModel.history`` holds the history of its training and its
checkpoint stores it; every checkpoint ``crbm.fit`` writes stores its run's history too.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from crbm.engine.errors import CRBMError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_NOT_CURVES = ("epoch", "phase", "lr", "momentum", "seconds")  # settings and timing, not figures of the model


def check_history(history) -> list[dict]:
    """``history`` as a list of per-epoch dicts of finite-or-not numbers (and an optional ``phase`` name);
    raises TypeError or ValueError on anything else (a malformed file is the caller's to report)."""
    if not isinstance(history, list):
        raise TypeError(f"a training history is a list of per-epoch dicts, got {type(history).__name__}")
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise TypeError(f"history entry {i} is a {type(entry).__name__}, not a dict")
        for key, value in entry.items():
            ok = isinstance(value, str) if key == "phase" else isinstance(value, (int, float))
            if not isinstance(key, str) or isinstance(value, bool) or not ok:
                raise ValueError(f"history entry {i}: {key!r} = {value!r} is not a figure")
    return history


def history_of(source) -> list[dict]:
    """The training history of ``source``: a history itself, an object with a ``history`` (a
    ``MotionModel``), or a checkpoint file (a motion model from ``crbm train``, or any checkpoint ``crbm.fit``
    wrote, ``"demo"`` for the shipped model). Raises CRBMError when it holds none."""
    name = "the model"
    if isinstance(source, list):
        return check_history(source)
    if hasattr(source, "history"):
        history = source.history
    else:
        name = str(source)
        from crbm.engine.checkpoint import load_checkpoint, model_path

        ck = load_checkpoint(model_path(source))
        motion = ck.extra.get("motion_model")
        history = motion.get("history", []) if isinstance(motion, dict) else ck.trainer_meta.get("history", [])
        try:
            check_history(history)
        except (TypeError, ValueError) as err:
            raise CRBMError(f"{source}: the stored training history is malformed ({err})") from None
    if not history:
        raise CRBMError(f"{name}: no training history (a model trained before crbm kept one, or never trained)")
    return history


def plot_training(source, path: str | os.PathLike | None = None, *, figures: list[str] | None = None,
                  title: str | None = None) -> Path | Figure:
    """Draw the training curves of ``source`` (anything ``history_of`` takes): one panel per figure (default:
    every figure the history records, e.g. ``recon_error`` and ``free_energy_gap``), the figure against the
    epoch, one line per phase; a logarithmic axis for a positive figure that spans more than a factor of 10.

    With ``path`` writes a PNG there (atomically) and returns the path; without, returns the matplotlib
    figure (which a notebook shows inline)."""
    history = history_of(source)
    found = list(dict.fromkeys(k for h in history for k in h if k not in _NOT_CURVES))
    names = found if figures is None else list(figures)
    unknown = [n for n in names if n not in found]
    if unknown or not names:
        raise CRBMError(f"figures {unknown or names}: the history records {found}")
    from matplotlib.figure import Figure  # no pyplot: no global state, any backend

    fig = Figure(figsize=(6.4, 2.2 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    phases = list(dict.fromkeys(h.get("phase", "") for h in history))
    for ax, name in zip(axes, names):
        values = []
        for phase in phases:
            points = [(h.get("epoch", i + 1), h[name]) for i, h in enumerate(history)
                      if h.get("phase", "") == phase and name in h]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, label=phase or None)
                values += [y for y in ys if math.isfinite(y)]
        if values and min(values) > 0 and max(values) > 10 * min(values):
            ax.set_yscale("log")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(phases) > 1:
            ax.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("epoch")
    if title is not None:
        fig.suptitle(title)
    if path is None:
        return fig
    from crbm.engine.atomic import write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return write_bytes(Path(path), buf.getvalue())
