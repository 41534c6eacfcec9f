"""mnist-sparse: a deep sparse autoencoder 784-1000-500-250-30 trained greedily layer by layer (one-layer
autoencoders with a KL sparsity penalty, ``crbm.static.autoencoder.greedy_autoencoders``), stacked and fine-tuned,
against the RBM-pretrained deep autoencoder of Hinton & Salakhutdinov (2006) with the same sizes, data and
fine-tuning in the same run. Reported: the mean over test images of sum_i (x_i - x^_i)^2 (the deep
autoencoder's published 3.00 is for 60,000 images and 200 fine-tuning epochs), before and after fine-tuning,
and the mean activity of the sparse stack's first hidden layer on the test images; the first 100 filters of
the sparse first layer are drawn as an image grid (``mnist_sparse_filters.png``).

Sparse layers (ours, picked on quick runs, never on the test images): logistic hidden units with target mean
activity 0.1 and KL cost 3 (the code layer is linear: no penalty), weights ~ N(0, 0.1^2), momentum SGD through
``crbm.fit`` (rate 0.1, batches of 100, momentum 0.5 then 0.9, weight decay 2e-4). Chosen on a one-layer 784-1000
sparse autoencoder (target 0.05, 3,000 training images, 5 epochs, training-set squared error): rate 0.1 gave 19.7 /
24.3 / 26.5 at initial scales 0.1 / 0.05 / 0.03, rate 0.05 gave 25.5 at 0.1, and rate 0.01 at scale 0.01 gave 56.5
with every filter alike. Target 0.1 against 0.05, the quick run's whole pipeline measured on 5,000 held-out
training images: 51.8 / 54.5 before fine-tuning, 42.3 / 53.0 after (with 0.05 the three sparse logistic layers pass
back little gradient: fine-tuning barely moves them). Fine-tuning keeps the sparsity penalty for the sparse stack;
both stacks are fine-tuned with the deep autoencoder benchmark's settings (``benchkit.fine_tune_config``). The RBM
stack uses that benchmark's pretraining (``bench_mnist_autoencoder``).
``--quick``: 3,000 training images, 2 pretraining and 3 fine-tuning epochs (a smoke test, not a claim).
"""

from __future__ import annotations

import torch
from bench_mnist_autoencoder import _configs, load_mnist
from benchkit import Stopwatch, fine_tune_config, out_dir, row

from crbm import DeepAutoencoder, TrainConfig, fit, greedy_pretrain
from crbm.static.autoencoder import greedy_autoencoders
from crbm.static.dbn import save_image_grid

SIZES = [1000, 500, 250, 30]
HIDDEN = ["bernoulli"] * 3 + ["gaussian"]
FULL = {"train": 60000, "pre_epochs": 20, "fine_epochs": 50, "fine_lr": 0.01}
QUICK = {"train": 3000, "pre_epochs": 2, "fine_epochs": 3, "fine_lr": 0.01}
SPARSE = {"sparsity_target": 0.1, "sparsity_cost": 3.0, "learning_rate": 0.1}
SPARSE_INIT = 0.1  # initial weight scale of the sparse layers


def sparse_config(epochs: int, device: str) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=100, device=device, verbose=False, seed=1, **SPARSE)


def test_error(ae: DeepAutoencoder, test_x: torch.Tensor, device: str) -> float:
    return float((test_x - ae.reconstruct(test_x.to(device)).cpu()).square().sum(1).mean())


def run(*, quick: bool, device: str) -> dict:
    s = QUICK if quick else FULL
    gen = torch.Generator().manual_seed(0)
    train_x, _ = load_mnist("train")
    test_x, _ = load_mnist("test")
    train_x = train_x[torch.randperm(60000, generator=gen)[: s["train"]]].to(device)
    fine = fine_tune_config(epochs=s["fine_epochs"], learning_rate=s["fine_lr"], device=device, seed=2)

    watch = Stopwatch(device)
    layers = greedy_autoencoders(train_x, SIZES, hidden=HIDDEN, configs=sparse_config(s["pre_epochs"], device),
                                 init_std=SPARSE_INIT, generator=gen)
    sparse = DeepAutoencoder.stack(layers)
    sparse_before = test_error(sparse, test_x, device)
    fit(sparse, train_x, TrainConfig(**{**fine.to_json(), "sparsity_target": SPARSE["sparsity_target"],
                                        "sparsity_cost": SPARSE["sparsity_cost"]}))
    sparse_s = watch.elapsed()
    with torch.no_grad():
        activity = float(sparse.activities(test_x.to(device))[0].mean())

    watch.restart()
    settings = {"pre_epochs": s["pre_epochs"]}
    rbms = greedy_pretrain(train_x, SIZES, hidden=HIDDEN, configs=_configs(settings, device, 0.001), generator=gen)
    deep = DeepAutoencoder.from_rbms(rbms)
    deep_before = test_error(deep, test_x, device)
    fit(deep, train_x, fine)
    deep_s = watch.elapsed()

    picture = out_dir() / f"mnist_sparse_filters{'_quick' if quick else ''}.png"
    save_image_grid(picture, sparse.filters()[:100].cpu(), n_cols=10,
                    title=f"sparse autoencoder, first-layer filters (target {SPARSE['sparsity_target']})")
    deep_after = test_error(deep, test_x, device)
    rows = [
        row("sparse autoencoder-30 test squared error", test_error(sparse, test_x, device), deep_after, "lower",
            peer="RBM-pretrained deep autoencoder, same run"),
        row("RBM-pretrained autoencoder-30 (same run)", deep_after, 3.00, "lower"),
        row("sparse stack before fine-tuning", sparse_before, deep_before, "lower",
            peer="RBM stack unrolled, before fine-tuning"),
        row("sparse layer-1 mean activity (test)", activity, SPARSE["sparsity_target"], "-", peer="the target"),
        row("seconds: sparse (pretrain + fine-tune)", sparse_s, deep_s, "lower",
            peer="the RBM-pretrained autoencoder's"),
    ]
    settings_note = (f"{s['train']} training images, {s['pre_epochs']} pretraining epochs per layer, "
                     f"{s['fine_epochs']} fine-tuning epochs (momentum SGD, lr {s['fine_lr']})")
    return {"rows": rows, "settings": settings_note, "sparse": SPARSE, "pictures": [str(picture)]}
