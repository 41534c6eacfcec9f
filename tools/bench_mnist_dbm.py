"""mnist-dbm: a 784-500-1000 deep Boltzmann machine on binarised MNIST; AIS log Z and the mean test ELBO.

Published: Salakhutdinov & Hinton (2009), "Deep Boltzmann Machines", table 1: the two-layer DBM's estimated
test log-probability, -84.62 nats per image (a variational lower bound with an AIS estimate of log Z).
Data: MNIST binarised stochastically (each pixel on with probability equal to its intensity), one fixed draw
for the test images. The training images are that draw too, or with the setting ``train_on="intensities"``
the grey levels themselves, used as the probabilities of the visible units (the statistics' expectation over
fresh binarisations, as far as they are linear in v); the test draw is the same either way.

Pipeline (``crbm.pretrain_dbm``, then ``crbm.fit`` on the ``DBM``): RBM 784-500 with doubled bottom-up input,
RBM 500-1000 with doubled top-down input, composed into the DBM; joint training with 10 mean-field updates per
batch and persistent block-Gibbs chains on the joint RBM over [v, h2] x h1; AIS on that joint RBM (h1 summed
out) from the base model ``DBM.ais_base_bias(train)``; the test figure is the mean over test images of the
ELBO with 30 mean-field updates. The pretrained DBM (before joint training) is evaluated the same way, and a
784-20-10 DBM from the same pipeline checks the AIS settings against its exact log Z (h1 enumerated).

Full-run settings (ours: the paper's learning rates and epoch counts were not checked here): 60,000 images,
trained on as intensities (``train_on="intensities"``; a full run on the binarised draw ended 5.8 nats lower),
batches of 100; pretraining CD-1, 100 epochs per RBM, learning rate 0.05, momentum 0.5 then 0.9, weight decay
2e-4; DBM 300 epochs, learning rate 0.001 (Salakhutdinov's released code's; 0.005 blew up in a full run) decayed
linearly to 0.0001, momentum 0.5 then 0.9, weight decay 2e-4, 100 persistent chains, k = 5 Gibbs steps per
update; AIS with 1,000 chains and 20,000 betas
(``crbm.engine.evaluate.ais_betas``; on the 5 Dec model, ``tools/dbm_ais.py``: 100 chains gave log Z 502.41 / 502.69 /
502.67 at 20,000 / 100,000 / 200,000 betas, 1,000 and 3,000 chains of 20,000 gave 503.64 +- 0.62 and
502.61 +- 0.04: one run can move by a nat on a rare heavy weight, so more chains, not more betas); all
10,000 test images. ``--quick``: 3,000 training images (the binarised draw), 3 epochs of each stage, 1,000
AIS betas, 1,000 test images (smoke-test figures, not claims).

The jointly trained model is written (``mnist_dbm[_quick].safetensors`` in ``$CRBM_BENCH_OUT``) as soon as
training ends, before the hour-long evaluation, so that a run stopped there keeps it.

Data: ``CRBM_DATA`` (its ``mnist/`` folder) or ``~/.cache/crbm/mnist``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from benchkit import progress_log, row, save_model

import crbm
from crbm.data.mnist import binarize, load_mnist

PUBLISHED = -84.62


def settings(quick: bool) -> dict:
    """The run's sizes and the TrainConfig fields of each stage."""
    if quick:
        return {
            "n_train": 3000,
            "n_test": 1000,
            "n_betas": 1000,
            "n_chains": 100,
            "pretrain": {"epochs": 3, "learning_rate": 0.05},
            "dbm": {"epochs": 3, "learning_rate": 0.005, "k": 5, "n_chains": 100},
        }
    return {
        "n_train": 60000,
        "n_test": 10000,
        "n_betas": 20000,
        "n_chains": 1000,
        "train_on": "intensities",
        "pretrain": {"epochs": 100, "learning_rate": 0.05},
        "dbm": {
            "epochs": 300,
            "learning_rate": 0.001,
            "lr_schedule": "linear",
            "lr_final": 0.1,
            "k": 5,
            "n_chains": 100,
        },
    }


def evaluate(dbm: crbm.DBM, train: torch.Tensor, test: torch.Tensor, s: dict, device: str, *, seed: int = 2) -> dict:
    """AIS log Z (``s["n_chains"]`` chains, ``s["n_betas"]`` betas, base model from the training data, generator
    seeded ``seed``) and the mean test ELBO (30 mean-field updates)."""
    z = crbm.ais(
        dbm.joint_rbm,
        n_chains=s["n_chains"],
        n_betas=s["n_betas"],
        base_bias=dbm.ais_base_bias(train.to(device)),
        generator=torch.Generator(device=device).manual_seed(seed),
    )
    elbo = float(torch.cat([dbm.elbo(x, z.log_z, steps=30) for x in torch.split(test, 1000)]).mean())
    return {"elbo": elbo, "log_z": z.log_z, "log_z_std": z.log_z_std}


def train_dbm(train: torch.Tensor, n_h1: int, n_h2: int, pre_cfg, dbm_cfg, *, before=None, callbacks=(),
              keep: Path | None = None) -> crbm.DBM:
    """Pretrain, call ``before(dbm)`` on the composed model, then train jointly (``callbacks`` go to
    ``crbm.fit``); returns the DBM. ``keep``: a path stem under which the pretrained DBM
    (``<keep>-pretrained.safetensors``) and the joint training's checkpoint (``<keep>-joint.safetensors``,
    every epoch) are kept, so that a run stopped at any point continues from where it was (the same figures
    as an uninterrupted run)."""
    if keep is None:
        dbm = crbm.pretrain_dbm(train, n_h1, n_h2, pre_cfg, generator=torch.Generator().manual_seed(1))
        if before is not None:
            before(dbm)
        crbm.fit(dbm, train, dbm_cfg, callbacks=callbacks)
        return dbm
    start, ck = Path(f"{keep}-pretrained.safetensors"), Path(f"{keep}-joint.safetensors")
    if start.exists():
        dbm = crbm.load_model(start)
    else:
        dbm = crbm.pretrain_dbm(train, n_h1, n_h2, pre_cfg, generator=torch.Generator().manual_seed(1))
        crbm.save_checkpoint(start, dbm)
    if before is not None:
        before(dbm)
    crbm.fit(dbm, train, dataclasses.replace(dbm_cfg, checkpoint=str(ck)), callbacks=callbacks,
             resume=ck if ck.exists() else None)
    return dbm


def mnist_draws(n_train: int, n_test: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The benchmark's data: (training intensities, their binarised draw, the binarised test draw), from one
    generator seeded 0, the training draw first (so the test draw does not depend on ``train_on``)."""
    g = torch.Generator().manual_seed(0)
    intensities = load_mnist(split="train")[0][:n_train]
    train = binarize(intensities, generator=g)
    test = binarize(load_mnist(split="test")[0][:n_test], generator=g)
    return intensities, train, test


def run(*, quick: bool, device: str) -> dict:
    s = settings(quick)
    intensities, train, test = mnist_draws(s["n_train"], s["n_test"])
    test = test.to(device)
    if s.get("train_on") == "intensities":
        train = intensities
    # batches of 100, momentum 0.5 then 0.9 after 5 epochs, weight decay 2e-4: TrainConfig's defaults
    common = crbm.TrainConfig(
        device=device,
        verbose=False,
    )
    pre_cfg = dataclasses.replace(common, **s["pretrain"])
    dbm_cfg = dataclasses.replace(common, **s["dbm"], seed=1)
    figures = {}

    def pretrained(dbm: crbm.DBM) -> None:
        figures["pretrained"] = evaluate(dbm, train, test, s, device)

    log = progress_log(f"mnist_dbm{'_quick' if quick else ''}_progress.json")
    dbm = train_dbm(train, 500, 1000, pre_cfg, dbm_cfg, before=pretrained, callbacks=[log])
    model = save_model(dbm, f"mnist_dbm{'_quick' if quick else ''}.safetensors")  # before the long evaluation
    figures["trained"] = evaluate(dbm, train, test, s, device)
    rows = [
        row(f"DBM 784-500-1000 {label} test ELBO (nats)", round(figures[key]["elbo"], 2),
            PUBLISHED if key == "trained" else None, "higher", log_z=round(figures[key]["log_z"], 3),
            log_z_std=round(figures[key]["log_z_std"], 3))
        for key, label in (("pretrained", "pretrained only,"), ("trained", "jointly trained,"))
    ]
    # the AIS settings checked where log Z is exact: a 784-20-10 DBM from the same pipeline (h1 enumerated)
    small = train_dbm(train, 20, 10, pre_cfg, dbm_cfg)
    est = evaluate(small, train, test[:1], s, device)
    exact = crbm.exact_log_partition(small.joint_rbm)
    rows.append(
        row("AIS log Z error on a 784-20-10 DBM (nats)", round(abs(est["log_z"] - exact), 3), None, "lower",
            log_z=round(est["log_z"], 3), log_z_std=round(est["log_z_std"], 3), exact_log_z=round(exact, 3))
    )
    config = {k: v for k, v in s.items() if k not in ("pretrain", "dbm")}
    config |= {"pretrain": pre_cfg.to_json(), "dbm": dbm_cfg.to_json()}
    return {"rows": rows, "config": config, "model": model}
