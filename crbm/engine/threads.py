"""Intra-op threads chosen by the work: how many CPU threads torch uses for a training run or a generation.

The motion models are chains of small matrix products (a CD step of Taylor's CRBM multiplies a batch of 100
by matrices of 56 x 150 and 168 x 206). Split over several threads, such a product costs more in hand-offs
than it saves, and on a machine whose cores are busy with other jobs every parallel region waits for a
descheduled thread (``tools/bench.py threads`` times one thread against two). Large products (a 784 x 500
RBM on batches of 100) do gain from a second core, when it is free.

So crbm picks, for each run (``crbm.fit``, ``crbm.generate``):

* the count the user asked for, if any: ``set_threads(n)`` (the command line's ``--threads``), or
  ``torch.set_num_threads(n)`` called after crbm was imported, or ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
  in the environment;
* else one thread when the work is small: fewer than ``SMALL_WORK`` multiply-adds per step (a step's
  multiply-adds are estimated as the batch times the model's weights, ``step_work``);
* else torch's own count, less the cores other processes keep busy right now (the runnable tasks of
  ``/proc/loadavg``, sampled; the 1-minute load average where that file does not exist), and at least one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

#: below this many multiply-adds per step (batch x weights) one thread is used: about 16.8 million, between
#: Taylor's CRBM on batches of 100 (4.3 million) and a 784 x 500 RBM on batches of 100 (39 million)
SMALL_WORK = 1 << 24

_AT_IMPORT = torch.get_num_threads()  # torch's count when crbm was imported: a later change is the user's
_ASKED: int | None = None  # set_threads


def set_threads(n: int | None) -> None:
    """Use ``n`` intra-op threads for crbm's training and generation from now on (``None``: choose by the
    work again). Raises CRBMError unless ``n`` is a positive integer or None."""
    from crbm.engine.checks import check_positive_int

    global _ASKED
    if n is not None:
        check_positive_int(n, "threads")
    _ASKED = n
    torch.set_num_threads(_AT_IMPORT if n is None else n)


def asked_threads() -> int | None:
    """The thread count the user chose (see the module docstring), or None when crbm may choose."""
    if _ASKED is not None:
        return _ASKED
    current = torch.get_num_threads()
    if current != _AT_IMPORT:
        return current
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(name, "").strip().isdigit() and int(os.environ[name]) > 0:
            return current
    return None


def busy_cores(samples: int = 5, interval: float = 0.01) -> float:
    """Cores kept busy by other tasks: the median over ``samples`` readings of the runnable tasks in
    ``/proc/loadavg``, less the one reading it; the 1-minute load average where that file is missing."""
    try:
        counts = []
        for i in range(samples):
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]) - 1)
            if i + 1 < samples:
                time.sleep(interval)
        return float(sorted(counts)[len(counts) // 2])
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def auto_threads(work: float) -> int:
    """Threads for a run of ``work`` multiply-adds per step when the user chose none (module docstring)."""
    if work < SMALL_WORK:
        return 1
    free = cores() - round(busy_cores())
    return max(1, min(_AT_IMPORT, free))


def step_work(model: torch.nn.Module, batch: int) -> float:
    """Multiply-adds of one step on ``batch`` rows, estimated as ``batch`` times the model's weights (its
    parameters of two or more dimensions): each weight enters a step's products a few times per row."""
    return float(batch) * sum(p.numel() for p in model.parameters() if p.ndim >= 2)


def use_threads(work: float, device: torch.device | str = "cpu") -> Callable[[], None]:
    """Set torch's intra-op threads for a run of ``work`` multiply-adds per step on ``device`` and return
    the function that restores the previous count (nothing changes for a non-CPU device)."""
    if torch.device(device).type != "cpu":
        return lambda: None
    before = torch.get_num_threads()
    n = asked_threads() or auto_threads(work)
    torch.set_num_threads(n)
    return lambda: torch.set_num_threads(before)


@contextmanager
def threads_for(work: float, device: torch.device | str = "cpu") -> Iterator[int]:
    """``with threads_for(work):`` runs the block on the threads ``use_threads`` picks (yields the count)."""
    restore = use_threads(work, device)
    try:
        yield torch.get_num_threads()
    finally:
        restore()
