"""MNIST deep autoencoder (Hinton & Salakhutdinov 2006, Science 313: 504): 784-1000-500-250-30.

Pretraining: RBMs 784-1000, 1000-500, 500-250 (binary) and 250-30 with linear (unit-variance Gaussian)
hidden units, 50 epochs each, batches of 100, learning rate 0.1 (0.001 for the linear layer), momentum
0.5 then 0.9, weight decay 2e-4. Unrolled and fine-tuned on pixel cross-entropy for 200 epochs. The paper
used conjugate gradient; here momentum SGD through the one trainer. Reported: the average over test
images of sum_i (x_i - x^_i)^2, beside PCA with 30 components fitted to the training images in the same
run (published 3.00 vs 13.87). The 2-D map: the codes of a 784-1000-500-250-2 autoencoder (the same
three bottom RBMs) in the full run; in --quick, the first two principal components of the 30-D codes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from benchkit import Stopwatch, fine_tune_config, row, save_model, save_png

from crbm import RBM, DeepAutoencoder, TrainConfig, fit, greedy_pretrain, up_pass
from crbm.data.mnist import load_mnist as crbm_load_mnist
from crbm.static.pca import fit_pca

FULL = {"train": 60000, "pre_epochs": 50, "fine_epochs": 200, "fine_lr": 0.01, "map2d": "autoencoder"}
QUICK = {"train": 10000, "pre_epochs": 3, "fine_epochs": 10, "fine_lr": 0.01, "map2d": "pca"}


def load_mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 784) float32 in [0, 1], labels (N,) int64) of the ``split`` ("train" or "test"), from
    CRBM_DATA, else ../shared/data beside the checkout."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    return crbm_load_mnist(None if os.environ.get("CRBM_DATA") or not shared.is_dir() else shared, split=split)


def _configs(settings: dict, device: str, top_lr: float) -> list[TrainConfig]:
    base = dict(epochs=settings["pre_epochs"], batch_size=100, device=device, verbose=False, seed=1)
    return [TrainConfig(learning_rate=0.1, **base)] * 3 + [TrainConfig(learning_rate=top_lr, **base)]


def _fine_tune(rbms: list[RBM], x: torch.Tensor, settings: dict, device: str) -> DeepAutoencoder:
    ae = DeepAutoencoder.from_rbms(rbms)
    cfg = fine_tune_config(epochs=settings["fine_epochs"], learning_rate=settings["fine_lr"], device=device, seed=2)
    fit(ae, x, cfg)
    return ae


def _pictures(test_x, test_y, ae_recon, pca_recon, map2d, map_source: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
    picks = [int(torch.nonzero(test_y == d)[0]) for d in range(10)]
    for r, (title, images) in enumerate([("test", test_x), ("autoencoder", ae_recon), ("PCA-30", pca_recon)]):
        for col, i in enumerate(picks):
            ax = axes[r, col]
            ax.imshow(images[i].reshape(28, 28).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=8)
    paths = [save_png(fig, "mnist_autoencoder_reconstructions.png")]
    fig, ax = plt.subplots(figsize=(6, 6))
    pts = ax.scatter(map2d[:, 0], map2d[:, 1], c=test_y.numpy(), cmap="tab10", s=2)
    ax.legend(*pts.legend_elements(), fontsize=7, markerscale=0.8, loc="best")
    ax.set_title(f"MNIST test codes: {map_source}", fontsize=9)
    paths.append(save_png(fig, "mnist_autoencoder_codes2d.png"))
    return paths


def run(*, quick: bool, device: str) -> dict:
    return run_settings(QUICK if quick else FULL, device=device)


def run_settings(settings: dict, *, device: str) -> dict:
    """The benchmark with explicit settings (keys as in FULL)."""
    gen = torch.Generator().manual_seed(0)
    train_x, _ = load_mnist("train")
    test_x, test_y = load_mnist("test")
    train_x = train_x[torch.randperm(60000, generator=gen)[: settings["train"]]]
    watch = Stopwatch(device)
    rbms = greedy_pretrain(
        train_x.to(device),
        [1000, 500, 250, 30],
        hidden=["bernoulli"] * 3 + ["gaussian"],
        configs=_configs(settings, device, 0.001),
        generator=gen,
    )
    pretrain_s = watch.elapsed()
    ae = _fine_tune(rbms, train_x.to(device), settings, device)
    seconds = watch.elapsed()
    test_d = test_x.to(device)
    ae_recon = ae.reconstruct(test_d).cpu()
    ae_err = float((test_x - ae_recon).square().sum(1).mean())
    before = float((test_x - DeepAutoencoder.from_rbms(rbms).reconstruct(test_d).cpu()).square().sum(1).mean())
    pca = fit_pca(train_x, 30)
    pca_recon = pca.reconstruct(test_x)
    pca_err = float((test_x - pca_recon).square().sum(1).mean())
    if settings["map2d"] == "pca":
        codes = ae.codes(test_d).cpu()
        map2d, source = fit_pca(codes, 2).transform(codes), "first 2 principal components of the 30-D codes"
    else:
        top = greedy_pretrain(
            up_pass(rbms[:3], train_x.to(device)),
            [2],
            hidden="gaussian",
            configs=_configs(settings, device, 0.001)[3:],
            generator=gen,
        )
        ae2 = _fine_tune(rbms[:3] + top, train_x.to(device), settings, device)
        map2d, source = ae2.codes(test_d).cpu(), "784-1000-500-250-2 autoencoder"
    pictures = _pictures(test_x, test_y, ae_recon.clamp(0, 1), pca_recon.clamp(0, 1), map2d.numpy(), source)
    settings_note = f"{settings['train']} training images, {settings['pre_epochs']} pretraining epochs per layer, "
    settings_note += f"{settings['fine_epochs']} fine-tuning epochs (momentum SGD, lr {settings['fine_lr']})"
    rows = [
        row("autoencoder-30 test squared error", ae_err, 3.00, "lower"),
        row("PCA-30 test squared error (same run)", pca_err, 13.87, "lower"),
        row("unrolled, before fine-tuning", before, None, "lower"),
        row("train seconds (pretrain + fine-tune)", seconds, None, "lower"),
    ]
    model = save_model(ae, "mnist_autoencoder.safetensors")
    return {"rows": rows, "settings": settings_note, "pretrain_seconds": pretrain_s, "pictures": pictures,
            "model": model}
