"""Olivetti faces deep autoencoder (Hinton & Salakhutdinov 2006): 625-2000-1000-500-30, Gaussian visibles.

Data (our reading of the paper's protocol): each of the 400 64x64 faces is randomly rotated (-90 to 90
degrees), scaled (1.4 to 1.8), cropped and subsampled to 25x25 pixels, 414 times (165,600 images); the 30
first people are the training set, the 10 last the test set (different people); every pixel is z-scored
with the training set's mean and standard deviation, so the Gaussian visible units have unit variance.
Pretraining: a Gaussian-visible 625-2000 RBM (learning rate 0.001), binary 2000-1000 and 1000-500 RBMs
(0.1) and a 500-30 RBM with linear code units (0.001); fine-tuned on squared error by momentum SGD.
Reported: the average over test images of sum_i (x_i - x^_i)^2 in z-scored units, beside PCA with 30
components fitted in the same run (published 126 vs 135).
"""

from __future__ import annotations

import torch
from benchkit import Stopwatch, fine_tune_config, progress_log, row, save_model, save_png

from crbm import DeepAutoencoder, TrainConfig, face_patches, fit, greedy_pretrain, load_olivetti
from crbm.static.pca import fit_pca

FULL = {"variants": 414, "pre_epochs": 50, "fine_epochs": 200, "fine_lr": 1e-3}
QUICK = {"variants": 25, "pre_epochs": 2, "fine_epochs": 6, "fine_lr": 1e-3}


def run(*, quick: bool, device: str) -> dict:
    settings = QUICK if quick else FULL
    gen = torch.Generator().manual_seed(0)
    images, person = load_olivetti()
    train = face_patches(images[person < 30], settings["variants"], generator=gen)
    test = face_patches(images[person >= 30], settings["variants"], generator=gen)
    mean, std = train.mean(0), train.std(0)
    train, test = (train - mean) / std, (test - mean) / std
    watch = Stopwatch(device)
    base = dict(epochs=settings["pre_epochs"], batch_size=100, device=device, verbose=False)
    rbms = greedy_pretrain(
        train.to(device),
        [2000, 1000, 500, 30],
        visible="gaussian",
        hidden=["bernoulli"] * 3 + ["gaussian"],
        configs=[TrainConfig(learning_rate=lr, seed=i, **base) for i, lr in enumerate((0.001, 0.1, 0.1, 0.001))],
        generator=gen,
    )
    ae = DeepAutoencoder.from_rbms(rbms)
    cfg = fine_tune_config(epochs=settings["fine_epochs"], learning_rate=settings["fine_lr"], device=device, seed=9)
    before = float((test - ae.reconstruct(test.to(device)).cpu()).square().sum(1).mean())
    test_dev = test.to(device)

    def test_error(model) -> dict:
        return {"test_squared_error": float((test_dev - model.reconstruct(test_dev)).square().sum(1).mean())}

    curve = progress_log(f"faces{'_quick' if quick else ''}_progress.json", test_error)
    fit(ae, train.to(device), cfg, callbacks=[curve])
    seconds = watch.elapsed()
    ae_recon = ae.reconstruct(test.to(device)).cpu()
    pca_recon = fit_pca(train, 30).reconstruct(test)
    ae_err = float((test - ae_recon).square().sum(1).mean())
    pca_err = float((test - pca_recon).square().sum(1).mean())
    pictures = [_picture(test, ae_recon, pca_recon, mean, std)]
    rows = [
        row("autoencoder-30 test squared error", ae_err, 126.0, "lower"),
        row("PCA-30 test squared error (same run)", pca_err, 135.0, "lower"),
        row("unrolled, before fine-tuning", before, None, "lower"),
        row("train seconds (pretrain + fine-tune)", seconds, None, "lower"),
    ]
    note = f"{len(train)} training / {len(test)} test patches, {settings['pre_epochs']} pretraining epochs, "
    note += f"{settings['fine_epochs']} fine-tuning epochs (momentum SGD, lr {settings['fine_lr']})"
    curve_rows = [
        {"epoch": e["epoch"], "test_squared_error": e["test_squared_error"]}
        for e in curve.entries
        if "test_squared_error" in e
    ]
    model = save_model(ae, f"faces_autoencoder{'_quick' if quick else ''}.safetensors")
    return {"rows": rows, "settings": note, "curve": curve_rows, "pictures": pictures, "model": model}


def _picture(test, ae_recon, pca_recon, mean, std) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 10, figsize=(10, 3.3))
    picks = torch.linspace(0, len(test) - 1, 10).long()
    for r, (title, x) in enumerate([("test", test), ("autoencoder", ae_recon), ("PCA-30", pca_recon)]):
        for col, i in enumerate(picks):
            ax = axes[r, col]
            ax.imshow((x[i] * std + mean).reshape(25, 25).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=8)
    return save_png(fig, "faces_reconstructions.png")
