"""rbm-speed: one CD-1 epoch of a 784x500 Bernoulli RBM (batch 100, float32) through ``crbm.fit``, against
the matmul floor measured in the same run and scikit-learn's BernoulliRBM at the same sizes and batch.

The floor is the same matrix products alone, with the same shapes and count per batch (v W, h W^T,
v' W, and the two weight-statistics products v^T p(h|v), v'^T p(h|v')) into preallocated outputs. The eager
floor (``eager_s``, ``tools/eager_step.py``) is the whole CD-1 epoch, the same computation as ``crbm.fit``'s,
written as the fewest eager torch calls into preallocated buffers: what any eager implementation pays on top
of the products (``eager_over_floor``). The floor, the eager floor, our epoch and sklearn's epoch are measured
in turn, ``repeats`` times, after a warm-up; the minimum of each
is reported (the machine may be shared: the minimum is the least disturbed figure) and the ratios use the
minima from this run. Data: the 60,000 MNIST training images (intensities in [0, 1]) when found through
``CRBM_DATA`` or ``../shared/data``, else random binary images of the same shape (the report says which).

``--device cpu`` also measures the floor and our epoch with oneDNN's bf16 math mode for float32 products
(``TrainConfig(matmul_precision="bf16")``, rows marked [bf16 matmuls]), against the same sklearn figures, and
the mode's effect on the learned model: two RBMs trained from the same seed for a few epochs, with and without
the mode; their reconstruction errors and the relative difference of their weights, beside the difference
that another seed for the trainer's random draws makes in plain float32 (the yardstick).

learnergy's Bernoulli RBM (a peer users pick today) runs one epoch of its own ``fit`` at the same settings
(CD-1, batch 100, learning rate 0.1, momentum 0.5, weight decay 2e-4, float32) when it is installed
(``pip install learnergy``; the row says when it is not). Our epoch is also timed with torch's generator
for every draw (``torch_generator``: ``crbm.engine.noise.set_source("torch")``, in the same rounds). Each
timing row carries its ratio to the figure beside it and the intra-op threads it ran on (crbm.fit's choice
for this work; the floor and the peers run on the same count).

scikit-learn computes in its input's dtype: ``sklearn_s`` is its epoch on float64 input (``images / 255.0``,
what its users get by default); ``sklearn_float32_s`` on float32 input. Both do the same five products per
batch as we do, so against float32 sklearn the speed-up is bounded by sklearn's own overhead above the floor.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from benchkit import Stopwatch, row, timed, with_torch_generator
from eager_step import EagerCD1

from crbm import RBM, TrainConfig, fit, matmul_precision
from crbm.data.mnist import load_mnist
from crbm.engine.errors import CRBMError
from crbm.engine.threads import step_work, threads_for

N_VISIBLE, N_HIDDEN, BATCH = 784, 500, 100


def _data(n: int) -> tuple[np.ndarray, str]:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    try:
        images, _ = load_mnist(None if os.environ.get("CRBM_DATA") or not shared.is_dir() else shared)
        return images[:n].numpy(), f"MNIST (first {n} training images)"
    except CRBMError:
        pass
    rng = np.random.default_rng(0)
    return (rng.random((n, N_VISIBLE)) < 0.13).astype(np.float32), f"random binary images ({n} x {N_VISIBLE}, p=0.13)"


def _floor_seconds(n_batches: int, device: torch.device, gen: torch.Generator) -> float:
    """The five products of a CD-1 step per batch, nothing else."""
    kw = {"device": device, "dtype": torch.float32}
    w = torch.randn(N_VISIBLE, N_HIDDEN, **kw) * 0.01
    v = (torch.rand(BATCH, N_VISIBLE, generator=gen) < 0.13).float().to(device)
    ph = torch.rand(BATCH, N_HIDDEN, generator=gen).to(device)
    pre_h, v_neg, grad = torch.empty(BATCH, N_HIDDEN, **kw), torch.empty(BATCH, N_VISIBLE, **kw), torch.empty_like(w)
    with Stopwatch(device) as watch:
        for _ in range(n_batches):
            torch.mm(v, w, out=pre_h)
            torch.mm(ph, w.T, out=v_neg)
            torch.mm(v_neg, w, out=pre_h)
            torch.mm(v.T, ph, out=grad)
            torch.mm(v_neg.T, pre_h, out=grad)
    return watch.seconds


def _config(device: torch.device, precision: str | None = None) -> TrainConfig:
    """The trainer's settings for one timed epoch (CD-1, batch 100, learning rate 0.1; the defaults' momentum
    and weight decay)."""
    return TrainConfig(epochs=1, batch_size=BATCH, learning_rate=0.1, device=str(device), verbose=False,
                       progress=False, matmul_precision=precision)


def _eager_seconds(model: RBM, data: torch.Tensor, device: torch.device) -> float:
    """One CD-1 epoch of the eager floor from ``model``'s parameters (which it does not change), at the
    settings of ``_epoch_seconds``."""
    cfg = _config(device)
    eager = EagerCD1(model, cfg, data.to(device))
    gen = torch.Generator(device=device).manual_seed(0)
    return timed(lambda: eager.epoch(gen, cfg.momentum_at(0)), device=device)[1]


def _epoch_seconds(model: RBM, data: torch.Tensor, device: torch.device, precision: str | None = None) -> float:
    """One CD-1 epoch through the trainer (momentum, weight decay, shuffling, figures: the real path)."""
    return fit(model, data, _config(device, precision))[0]["seconds"]


def _bf16(x: np.ndarray, dev: torch.device, repeats: int, sklearn_s: float, effect_epochs: int) -> dict:
    """Floor and epoch in oneDNN's bf16 math mode (minimum of ``repeats``), and the mode's effect on a model
    trained ``effect_epochs`` epochs from the same seed as a plain float32 one."""
    data = torch.from_numpy(x)
    gen = torch.Generator().manual_seed(0)
    model = RBM(N_VISIBLE, N_HIDDEN, generator=gen, device=dev)
    _epoch_seconds(model, data[: 20 * BATCH], dev, "bf16")  # warm-up
    with matmul_precision("bf16", dev):
        _eager_seconds(model, data[: 20 * BATCH], dev)
    floors, eager, epochs = [], [], []
    for _ in range(repeats):
        with matmul_precision("bf16", dev):
            floors.append(_floor_seconds(len(x) // BATCH, dev, gen))
            eager.append(_eager_seconds(model, data, dev))
        epochs.append(_epoch_seconds(model, data, dev, "bf16"))
    trained = {}
    # the yardstick: the same float32 training with another seed for the trainer's draws (same initial weights)
    for name, precision, seed in (("ieee", "ieee", 0), ("bf16", "bf16", 0), ("reseeded", "ieee", 1)):
        m = RBM(N_VISIBLE, N_HIDDEN, generator=torch.Generator().manual_seed(1), device=dev)
        cfg = TrainConfig(epochs=effect_epochs, batch_size=BATCH, learning_rate=0.1, device=str(dev), verbose=False,
                          progress=False, matmul_precision=precision, seed=seed)
        trained[name] = (m, fit(m, data, cfg)[-1]["recon_error"])
    w32, w16, w_seed = (trained[k][0].weight for k in ("ieee", "bf16", "reseeded"))
    return {
        "epoch_s": min(epochs),
        "floor_s": min(floors),
        "ratio_to_floor": min(epochs) / min(floors),
        "eager_s": min(eager),
        "eager_over_floor": min(eager) / min(floors),
        "speedup_vs_sklearn": sklearn_s / min(epochs),
        "effect_epochs": effect_epochs,
        "recon_error_float32": trained["ieee"][1],
        "recon_error_bf16": trained["bf16"][1],
        "weight_relative_difference": float((w16 - w32).norm() / w32.norm()),
        "recon_error_float32_reseeded": trained["reseeded"][1],
        "weight_relative_difference_reseeded": float((w_seed - w32).norm() / w32.norm()),
        "repeats": {"floor_s": floors, "eager_s": eager, "epoch_s": epochs},
    }


def _sklearn_seconds(x: np.ndarray) -> float:
    """One epoch of sklearn's BernoulliRBM (``fit`` with ``n_iter=1``: its own mini-batch loop) on ``x``; it
    computes in ``x``'s dtype."""
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=N_HIDDEN, learning_rate=0.1, batch_size=BATCH, n_iter=1, random_state=0)
    return timed(lambda: rbm.fit(x))[1]


def _learnergy_version() -> str:
    try:
        import learnergy
    except ImportError:
        return "learnergy: not installed (pip install learnergy)"
    return f"learnergy {learnergy.__version__}"


def _learnergy_seconds(x: np.ndarray, dev: torch.device) -> float | None:
    """One epoch of learnergy's Bernoulli RBM (``fit``: its own shuffled mini-batch loop, autograd of the
    free-energy difference, SGD, and its per-batch pseudo-likelihood) at our settings: CD-1, batch 100,
    learning rate 0.1, momentum 0.5 and weight decay 2e-4 (TrainConfig's first-epoch defaults; learnergy
    decays the biases too), float32; None when learnergy is not installed (``pip install learnergy``).
    Its draws use torch's global generator, seeded inside ``fork_rng`` (the global state is restored); its
    log records are switched off (they would go to the console and to a learnergy.log file)."""
    logging.disable(logging.CRITICAL)
    try:
        try:
            from learnergy.core import Dataset
            from learnergy.models.bernoulli import RBM as LearnergyRBM
        except ImportError:
            return None
        data = torch.from_numpy(x)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(0)
            rbm = LearnergyRBM(n_visible=N_VISIBLE, n_hidden=N_HIDDEN, steps=1, learning_rate=0.1, momentum=0.5,
                               decay=2e-4, use_gpu=dev.type == "cuda")
            dataset = Dataset(data, torch.zeros(len(data)))
            return timed(lambda: rbm.fit(dataset, batch_size=BATCH, epochs=1), device=dev)[1]
    finally:
        logging.disable(logging.NOTSET)


def _measure(x: np.ndarray, dev: torch.device, repeats: int) -> dict:
    """The floor, our epoch and sklearn's epoch in float64 (the dtype of ``images / 255.0``, what sklearn
    users get by default) and float32, measured in turn ``repeats`` times at the current thread settings;
    each figure is the minimum over the repeats, so all of them come from the same stretch of time."""
    data = torch.from_numpy(x)
    x64 = x.astype(np.float64)
    gen = torch.Generator().manual_seed(0)
    model = RBM(N_VISIBLE, N_HIDDEN, generator=gen, device=dev)
    _epoch_seconds(model, data[: 20 * BATCH], dev)  # warm-up
    _floor_seconds(20, dev, gen)
    _sklearn_seconds(x[: 10 * BATCH])
    _eager_seconds(model, data[: 20 * BATCH], dev)
    runs: dict[str, list[float]] = {"floor_s": [], "eager_s": [], "epoch_s": [], "torch_generator_s": [],
                                    "sklearn_s": [], "sklearn_float32_s": []}
    learnergy = _learnergy_seconds(x[: 10 * BATCH], dev) is not None  # warm-up, and whether it is installed
    if learnergy:
        runs["learnergy_s"] = []
    # the floor, ours and learnergy on the intra-op threads crbm.fit picks for this work (crbm.engine.threads)
    with threads_for(step_work(model, BATCH), dev) as n_threads:
        for _ in range(repeats):
            runs["floor_s"].append(_floor_seconds(len(x) // BATCH, dev, gen))
            runs["eager_s"].append(_eager_seconds(model, data, dev))
            runs["epoch_s"].append(_epoch_seconds(model, data, dev))
            runs["torch_generator_s"].append(with_torch_generator(lambda: _epoch_seconds(model, data, dev))())
            runs["sklearn_s"].append(_sklearn_seconds(x64))
            runs["sklearn_float32_s"].append(_sklearn_seconds(x))
            if learnergy:
                runs["learnergy_s"].append(_learnergy_seconds(x, dev))
    best = {k: min(v) for k, v in runs.items()}
    return {
        "threads": n_threads,
        "torch_generator_s": best["torch_generator_s"],
        "learnergy_s": best.get("learnergy_s"),
        "speedup_vs_learnergy": best["learnergy_s"] / best["epoch_s"] if learnergy else None,
        "epoch_s": best["epoch_s"],
        "floor_s": best["floor_s"],
        "ratio_to_floor": best["epoch_s"] / best["floor_s"],
        "eager_s": best["eager_s"],
        "eager_over_floor": best["eager_s"] / best["floor_s"],
        "sklearn_s": best["sklearn_s"],
        "speedup_vs_sklearn": best["sklearn_s"] / best["epoch_s"],
        "sklearn_float32_s": best["sklearn_float32_s"],
        "speedup_vs_sklearn_float32": best["sklearn_float32_s"] / best["epoch_s"],
        "repeats": runs,
    }


def _rows(m: dict, label: str) -> list[dict]:
    """Each timing row with its ratio to the figure beside it (the floor's or the peer's, from the same run)
    and the thread count it ran on."""

    def timing(name, peer_s, **extra):
        ratio = None if peer_s is None else m["epoch_s"] / peer_s
        return row(name + label, m["epoch_s"], peer_s, "lower", ratio=ratio, threads=m["threads"], **extra)

    return [
        timing("cd1_epoch_s vs matmul floor", m["floor_s"], torch_generator=m["torch_generator_s"]),
        row("ratio_to_floor (goal <= 1.2)" + label, m["ratio_to_floor"], None, "lower"),
        timing("cd1_epoch_s vs eager floor (tools/eager_step.py)", m["eager_s"]),
        row("eager floor / matmul floor" + label, m["eager_over_floor"], None, "lower"),
        timing("cd1_epoch_s vs sklearn BernoulliRBM float64", m["sklearn_s"]),
        row("speedup_vs_sklearn (goal >= 3)" + label, m["speedup_vs_sklearn"], None, "higher"),
        timing("cd1_epoch_s vs sklearn BernoulliRBM float32", m["sklearn_float32_s"]),
        row("speedup_vs_sklearn_float32 (goal >= 2)" + label, m["speedup_vs_sklearn_float32"], None, "higher"),
        timing("cd1_epoch_s vs learnergy RBM", m["learnergy_s"], peer=_learnergy_version()),
    ]


def run(*, quick: bool, device: str) -> dict:
    """Top-level figures at torch's default thread count; on a multi-core CPU the same figures with one
    thread (torch and sklearn's BLAS) follow under ``single_thread``: on a shared machine they are the
    steadier ones."""
    from threadpoolctl import threadpool_limits

    dev = torch.device(device)
    x, source = _data(6000 if quick else 60000)
    repeats = 1 if quick else 2
    load_start = os.getloadavg()[0]
    threads = torch.get_num_threads()
    main = _measure(x, dev, repeats)
    rows = _rows(main, "")
    report = {
        "rows": rows,
        **{k: v for k, v in main.items() if k != "repeats"},
        "device": f"{dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{threads} threads'})",
        "data": source,
        "repeats": main["repeats"],
    }
    if dev.type == "cpu":
        bf = _bf16(x, dev, repeats, main["sklearn_s"], 1 if quick else 5)
        report["bf16_matmuls"] = bf
        rows += [
            row("cd1_epoch_s vs matmul floor [bf16 matmuls]", bf["epoch_s"], bf["floor_s"], "lower"),
            row("cd1_epoch_s vs eager floor [bf16 matmuls]", bf["epoch_s"], bf["eager_s"], "lower",
                eager_over_floor=bf["eager_over_floor"]),
            row("speedup_vs_sklearn float64 [bf16 matmuls]", bf["speedup_vs_sklearn"], None, "higher"),
            row(f"recon error after {bf['effect_epochs']} epochs [bf16 matmuls] vs float32", bf["recon_error_bf16"],
                bf["recon_error_float32"], "lower"),
            row(f"weights' relative difference after {bf['effect_epochs']} epochs [bf16 vs float32; "
                "published: float32 with another seed]", bf["weight_relative_difference"],
                bf["weight_relative_difference_reseeded"], "lower"),
        ]
    if dev.type == "cpu" and threads > 1:
        torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                single = _measure(x, dev, repeats)
        finally:
            torch.set_num_threads(threads)
        rows += _rows(single, " [1 thread]")
        report["single_thread"] = single
    report["load_average"] = {"start": load_start, "end": os.getloadavg()[0], "cpus": os.cpu_count()}
    return report
