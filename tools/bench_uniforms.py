"""uniforms: crbm's uniform draws (``crbm.engine.noise.uniform``, counter-based on the CPU) against
``torch.rand`` with an explicit generator (torch's serial Mersenne Twister on the CPU) at the engine's sizes.

Sizes: a Gibbs step's hidden uniforms for 256 and 4096 chains of Taylor's CRBM (256 x 150, 4096 x 150), a
generated frame's 29 steps at once (29 x 256 x 150, 29 x 4096 x 150), and the hidden and visible samples of a CD step on
MNIST (100 x 500, 100 x 784). Figures are millions of uniforms per second, float32, the best of
``repeats`` rounds that time the two in turn (after a warm-up), on 1 thread and, where the machine has more
cores, on 2. ``ratio`` is ours over torch's rate (above 1: ours is faster); ``threads`` the intra-op count.
"""

from __future__ import annotations

import math
import os

import torch
from benchkit import race, row

from crbm.engine.noise import uniform

SIZES = ((256, 150), (4096, 150), (29, 256, 150), (29, 4096, 150), (100, 500), (100, 784))


def run(*, quick: bool, device: str) -> dict:
    dev = torch.device(device)
    like = torch.empty(0, device=dev)
    repeats = 5 if quick else 20
    counts = ((1, 2) if (os.cpu_count() or 1) > 1 else (1,)) if dev.type == "cpu" else (None,)
    saved = torch.get_num_threads()
    rows = []
    try:
        for threads in counts:
            if threads is not None:
                torch.set_num_threads(threads)
            for shape in SIZES:
                g = torch.Generator(device=dev).manual_seed(0)
                ours, theirs = race([lambda s=shape, g=g: uniform(s, g, like),
                                     lambda s=shape, g=g: torch.rand(s, generator=g, device=dev)],
                                    repeats=repeats, device=dev, warm_up=True)
                n = math.prod(shape)
                rows.append(row(f"uniforms_per_s_{'x'.join(map(str, shape))}", round(n / ours / 1e6, 1),
                                round(n / theirs / 1e6, 1), "higher", peer="torch.rand (M uniforms/s)",
                                ratio=round(theirs / ours, 2), threads=threads))
    finally:
        torch.set_num_threads(saved)
    return {"rows": rows}
