"""Where a CRBM training step's time goes: ``python tools/profile_training.py [--hidden 150] [--epochs 5]``.

Trains crbm-speed's CRBM (56 channels, order 3, batches of 100, Taylor's settings; ``--hidden`` units) on
crbm-speed's 10,000 frames for ``--epochs`` one-epoch ``crbm.fit`` calls on one thread, first plainly (CPU
seconds per batch, the median epoch), then under ``torch.profiler``, and prints a table: each part's share of
the profiled time and that share of the plain CPU time per batch. Parts: the matrix products (the ``mm`` and
``addmm`` kernels), every other torch operation's own time, and three marked ranges with all they run:
crbm's random numbers (``crbm.engine.noise``), batch assembly (``Windows.batch``) and the momentum update;
what is left is Python and torch's dispatch outside the operations. Below the table, crbm-speed's matmul floor
(the same nine products alone) in CPU time per batch, measured in the same process.

The profiler times each operation by the wall clock and adds its own cost per operation (which lands mostly
in the Python row); on a shared machine run it more than once.
"""

from __future__ import annotations

import argparse
import collections
import time

import torch
from bench_crbm_speed import BATCH, ORDER, D, _train_floor, _windows
from torch.profiler import ProfilerActivity, profile, record_function

import crbm
import crbm.engine.train
import crbm.engine.units
from crbm.engine import noise

PRODUCTS = {"aten::mm", "aten::addmm", "aten::addmm_"}
RANGES = {"random numbers (crbm.engine.noise)": "RNG", "batch assembly (Windows.batch)": "BATCH",
          "momentum update": "UPDATE"}


def _marked(function, label: str):
    def call(*args, **kwargs):
        with record_function(label):
            return function(*args, **kwargs)

    return call


def _mark_ranges() -> None:
    """Wrap the three ranges' functions in profiler labels (in this process only)."""
    for module in (noise, crbm.engine.units):
        module.uniform = _marked(noise.uniform, "RNG")
        module.normal = _marked(noise.normal, "RNG")
    crbm.Windows.batch = _marked(crbm.Windows.batch, "BATCH")
    crbm.engine.train._Momentum.step = _marked(crbm.engine.train._Momentum.step, "UPDATE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=150, help="hidden units (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=5, help="one-epoch fits profiled (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = _windows(10000, torch.device("cpu"))
    batches = args.epochs * -(-len(data) // BATCH)
    model = crbm.CRBM(D, args.hidden, ORDER, generator=torch.Generator().manual_seed(0))
    config = crbm.taylor_config(epochs=1, verbose=False, progress=False, device="cpu")
    crbm.fit(model, data, config)  # warm-up
    seconds = []
    for _ in range(args.epochs):
        start = time.thread_time()
        crbm.fit(model, data, config)
        seconds.append(time.thread_time() - start)
    per_batch = sorted(seconds)[len(seconds) // 2] * args.epochs / batches * 1e6
    floor = _train_floor(args.hidden, 100, torch.device("cpu"))
    floor()
    floor_times = []
    for _ in range(5):
        start = time.thread_time()
        floor()
        floor_times.append((time.thread_time() - start) / 100 * 1e6)

    _mark_ranges()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(args.epochs):
            crbm.fit(model, data, config)
        wall = (time.perf_counter() - start) * 1e6
    parts: collections.Counter = collections.Counter()
    inside = set()  # the torch operations the marked ranges run (counted in their range)
    events = prof.events()
    for e in events:
        if e.name in RANGES.values():
            parts[e.name] += e.cpu_time_total
            inside.update(id(c) for c in _descendants(e))
    for e in events:
        if e.name.startswith("aten::") and id(e) not in inside:
            parts["PRODUCTS" if e.name in PRODUCTS else "OPS"] += e.self_cpu_time_total
    parts["PYTHON"] = wall - sum(parts.values())
    names = {"PRODUCTS": "matrix products (mm, addmm)", "OPS": "other torch operations (elementwise, reductions)",
             "PYTHON": "Python and dispatch outside the operations", **{v: k for k, v in RANGES.items()}}
    print(f"CRBM {D}-{args.hidden}, order {ORDER}, batches of {BATCH}, 1 thread: {per_batch:.0f} us CPU per batch "
          f"(median of {args.epochs} epochs)\n")
    print("| part | share | us per batch |\n|---|---|---|")
    for key, t in parts.most_common():
        print(f"| {names[key]} | {t / wall * 100:.0f} % | {t / wall * per_batch:.0f} |")
    print(f"\nmatmul floor (crbm-speed's nine products alone): {sorted(floor_times)[2]:.0f} us CPU per batch")


def _descendants(event):
    for child in event.cpu_children:
        yield child
        yield from _descendants(child)


if __name__ == "__main__":
    main()
