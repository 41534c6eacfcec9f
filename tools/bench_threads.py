"""Benchmark ``threads``: demo-size training and generation at 1, 2 and crbm's own choice of intra-op threads
(``crbm.engine.threads``), on the machine as it is and under a competing CPU load the benchmark starts itself.

``python tools/bench.py threads [--quick] [--json FILE]``

* training: Taylor's CRBM (56 channels, order 3, 150 hidden units, batches of 100, CD-1) through
  ``crbm.fit`` on 31 clips of 90 frames (the size of the GPmat CMU-35 training split; smooth random
  signals, since the content does not change the cost), ``epochs`` epochs;
* generation: the shipped demo model (``crbm.load_motion_model("demo")``), one chain, 30 Gibbs steps per
  frame, ``frames`` frames through ``MotionModel.generate``, as ``crbm generate`` runs it.

Every measurement runs in a fresh Python process (``python bench_threads.py child ...``), so that no thread
pool or setting carries over: ``1`` and ``2`` call ``crbm.engine.threads.set_threads``, ``auto`` sets nothing (no
``OMP_NUM_THREADS`` either) and lets crbm choose. The load is one busy Python process per core, started
before and stopped after the loaded rounds. Each figure is the best of ``repeats`` rounds, the three thread
settings taking turns in every round. A run slower than 5 times the round's best so far (and longer than
10 s) is stopped and reported as at least that long (two threads on busy cores can be 20-100x slower). A
row's ``ours`` is the auto setting's time, ``published`` the best of 1 and 2 threads in the same condition,
``ratio`` their quotient (the goal: at most 1.2).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

from benchkit import row

SETTINGS = ("1", "auto", "2")  # two threads last: their run may be stopped at a multiple of the others' time


def _child(what: str, threads: str, size: int) -> dict:
    """One measurement in this (fresh) process: seconds, and the thread count torch used."""
    import torch
    from benchkit import timed

    import crbm
    from crbm.engine.threads import set_threads

    if threads != "auto":
        set_threads(int(threads))
    used = []
    if what == "train":
        g = torch.Generator().manual_seed(0)
        clips = [(torch.randn(90, 56, generator=g).cumsum(0) * 0.1) for _ in range(31)]
        model = crbm.CRBM(56, 150, 3, generator=g)
        config = crbm.taylor_config(epochs=size, seed=0, progress=False, verbose=False)
        _, seconds = timed(lambda: crbm.fit(model, crbm.Windows(clips, 3), config,
                                            callbacks=[lambda epoch, figures, m: used.append(torch.get_num_threads())]))
    else:
        model = crbm.load_motion_model("demo")
        model.generate(5, k=30, generator=torch.Generator().manual_seed(0))  # warm-up
        original = crbm.motion.sample._generate_one_layer

        def spy(*args):
            used.append(torch.get_num_threads())
            return original(*args)

        crbm.motion.sample._generate_one_layer = spy
        _, seconds = timed(lambda: model.generate(size, k=30, generator=torch.Generator().manual_seed(1)))
    return {"seconds": seconds, "threads": used[-1] if used else None}


def _shown(m: dict) -> str:
    """Seconds as the table shows them: ``>20.0`` for a run stopped at 20 s."""
    return (">" if m.get("stopped") else "") + f"{m['seconds']:.3f}"


def _spin() -> None:
    while True:
        pass


def _measure(what: str, threads: str, size: int, limit: float | None) -> dict:
    """A child's figures, or ``{"seconds": limit, "stopped": True}`` when it ran past ``limit`` seconds (the
    child's own timing excludes its start-up, so the limit on the whole process is a little generous)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        done = subprocess.run([sys.executable, __file__, "child", what, threads, str(size)], capture_output=True,
                              text=True, env=env, check=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"seconds": limit, "threads": int(threads) if threads.isdigit() else None, "stopped": True}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(*, quick: bool, device: str) -> dict:
    if device != "cpu":
        raise SystemExit("threads: a CPU benchmark (intra-op threads); run it with --device cpu")
    from crbm.engine.threads import cores

    sizes = {"train": 20 if quick else 100, "generate": 100 if quick else 300}
    repeats = 1 if quick else 3
    rows, load = [], []
    for condition in ("as is", "loaded"):
        if condition == "loaded":
            load = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(cores())]
            for p in load:
                p.start()
            time.sleep(1.0)
        try:
            for what, size in sizes.items():
                best: dict[str, dict] = {}
                for _ in range(repeats):
                    fastest = float("inf")
                    for threads in SETTINGS:
                        limit = max(10.0, 5 * fastest) if fastest < float("inf") else None
                        m = _measure(what, threads, size, limit)
                        fastest = min(fastest, m["seconds"])
                        if threads not in best or m["seconds"] < best[threads]["seconds"]:
                            best[threads] = m
                peer = min(best["1"]["seconds"], best["2"]["seconds"])
                auto = best["auto"]["seconds"]
                entry = row(f"{what}, {condition}", round(auto, 3), round(peer, 3), "lower",
                          ratio=round(auto / peer, 3), auto_threads=best["auto"]["threads"],
                          s_1_thread=_shown(best["1"]), s_2_threads=_shown(best["2"]))
                if what == "generate":
                    entry["frames_per_s_auto"] = round(size / auto)
                rows.append(entry)
        finally:
            for p in load:
                p.terminate()
                p.join()
    try:
        load_avg = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load_avg = None
    return {"rows": rows, "sizes": sizes, "repeats": repeats, "cores": cores(), "load_average_after": load_avg}


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "child":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    print(json.dumps(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
