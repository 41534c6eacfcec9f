"""Progress of long runs: a bar where a person is watching (a terminal, a Jupyter notebook), nothing in CI or
when the output goes to a file or a pipe.

``crbm.fit`` shows a bar of mini-batches (``TrainConfig.progress``: None chooses by ``watching()``) and, with
``TrainConfig.verbose``, prints one summary line per run; ``crbm.generate``, ``crbm.denoise`` and
``crbm.fill_missing`` show a bar of frames once they have run for a second, and ``crbm.denoise_motion`` and
``crbm.fill_motion`` a bar of their phases. Set ``CRBM_NO_PROGRESS=1`` to switch every bar off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def watching(stream=None) -> bool:
    """Whether a person is likely watching the output: the code runs in a Jupyter kernel, or ``stream``
    (default ``sys.stderr``) is a terminal; never when ``CI`` or ``CRBM_NO_PROGRESS`` is set."""
    if os.environ.get("CI") or os.environ.get("CRBM_NO_PROGRESS"):
        return False
    if "ipykernel" in sys.modules:
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(total: int | None, *, desc: str, unit: str, enabled: bool | None = None, delay: float = 0.0):
    """A tqdm bar (``tqdm.auto``: a widget in notebooks, text in a terminal) that shows itself after ``delay``
    seconds and leaves no line when closed; None when ``enabled`` is False (default: ``watching()``)."""
    if not (watching() if enabled is None else enabled):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True, delay=delay)


def steps(start: int, stop: int, *, desc: str, unit: str = "frame", delay: float = 1.0) -> Iterator[int]:
    """``range(start, stop)``, with a bar of the steps done when a person is watching and the loop runs
    longer than ``delay`` seconds."""
    bar = progress_bar(stop - start, desc=desc, unit=unit, delay=delay)
    if bar is None:
        yield from range(start, stop)
        return
    try:
        for t in range(start, stop):
            yield t
            bar.update()
    finally:
        bar.close()


@contextmanager
def phases(total: int, *, desc: str, delay: float = 1.0) -> Iterator[Callable[[str], None]]:
    """A bar of ``total`` phases of one computation, when a person is watching and it runs longer than
    ``delay`` seconds; yields ``advance(label)``, called as each phase starts (the bar shows its label)."""
    bar = progress_bar(total, desc=desc, unit="phase", delay=delay)
    started = False

    def advance(label: str) -> None:
        nonlocal started
        if bar is None:
            return
        if started:
            bar.update()
        started = True
        bar.set_postfix_str(label)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.close()


def figures_line(figures: dict) -> str:
    """Figures as one line: ``recon_error 0.1234  lr 0.001`` (floats to 4 significant digits)."""
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
