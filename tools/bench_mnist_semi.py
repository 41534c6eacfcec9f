"""mnist-semi: MNIST test error with few labels (the table of Salakhutdinov & Hinton's DBM talk): generative
pretraining on all 60,000 training images without their labels, then discriminative fine-tuning on a
class-balanced labelled fraction (1 %, 5 %, 10 %, 100 %; a fixed draw) only.

Rows, all from the same run: a DBN (784-500-500-2000 RBM stack, ``crbm.greedy_pretrain``, CD-1) and a deep
sparse autoencoder (784-500-500-2000 logistic one-layer autoencoders trained greedily with a KL sparsity
penalty, ``crbm.static.autoencoder.greedy_autoencoders``), each turned into a 784-500-500-2000-10 network and
fine-tuned by backprop on the labelled images (``crbm.static.classifier.fine_tune_backprop``); a two-layer DBM
(784-500-1000, ``crbm.pretrain_dbm`` then joint training, ``bench_mnist_dbm.train_dbm``) fine-tuned as
Salakhutdinov & Hinton (2009, section 4) do: each image's mean-field marginals q(h2 | v) are computed once
(``crbm.static.classifier.dbm_inputs``) and appended to it, and the network [v, q(h2)] -> 500 -> 1000 -> 10
starts from the DBM's weights (``DBNClassifier.from_dbm``: W1 and W2^T into the first layer, W2 into the
second) and is fine-tuned like the others; and a KNN classifier on the labelled pixels (Euclidean,
scikit-learn). Published beside them (the talk's table): two-layer DBM 4.82 / 2.72 / 2.46 / 0.95 %,
autoencoder 9.62 / 5.18 / 4.46 / 2.41 %, KNN 13.74 / 7.19 / 5.87 / 3.09 % at 1 / 5 / 10 / 100 %. The goals
(issue 29): the DBN rows below the published autoencoder's at every fraction (their ``published`` is that
figure); crbm's DBM rows below the published two-layer DBM's at 1 % and 10 % (their ``published`` is the
talk's DBM figure at every fraction, ``published_is`` says whether it is the goal there; ``peer`` is the DBN's
test error from the same run).

Settings chosen by cross-validation on the labelled fraction only: its images are dealt, class by class in a
fixed random order, into ``settings()["folds"]`` folds (5; class-balanced to within one image); each network
is fine-tuned on all folds but one with each learning rate of ``settings()["lrs"]`` and each (input, hidden)
dropout of ``settings()["dropouts"]`` (none, or Hinton et al. 2012's 0.2 / 0.5), its error on the fold left
out read every ``eval_every`` epochs; the rate, dropout and epoch count with the lowest error pooled over the
folds (every labelled image counted once; ties: the first tried, the earlier epoch) are retrained on the
whole labelled fraction and the test set is read once. KNN: k chosen the same way. (At 1 % a single 20 %
split would hold 120 images, one image 0.83 points of error; pooled over the folds, all 600 count.)
Pretraining (ours, not tuned): RBMs with ``rbm.m``'s settings (rate 0.1, momentum 0.5 then 0.9, weight decay
2e-4, batches of 100); sparse layers with target 0.1, KL cost 3, rate 0.1, initial scale 0.1
(``bench_mnist_sparse``'s). DBM (``settings()["dbm"]``): ``bench_mnist_dbm``'s full-run settings, trained on
the grey levels: each pretraining RBM 100 epochs of CD-1 at rate 0.05, then 300 epochs of joint training at rate
0.001 decayed linearly to 0.0001, 100 persistent chains, 5 Gibbs steps per update, 10 mean-field updates per
batch; q(h2 | v) for the classifier's input with 30 mean-field updates. ``CRBM_BENCH_DBM_BUDGET=short``: 30
pretraining and 30 joint epochs instead (a tenth of the joint budget); ``long``: 500 joint epochs (the rate
decayed linearly over all 500), the same pretraining. With ``CRBM_BENCH_MODELS``, the DBM's
pretrained state and its joint training's checkpoint (every epoch) are kept in that folder too, so a stopped
run continues where it was.
``CRBM_BENCH_PARTS=DBM`` (any of DBN, sparse, DBM, KNN, comma-separated; default all) pretrains and fine-tunes
only those rows, and ``CRBM_BENCH_FRACTIONS=0.01,0.1`` (default all four) runs only those fractions; every row
run is the same computation as in a whole run (the same seeds). ``CRBM_BENCH_MODELS=FOLDER``: the pretrained
models (RBM stack, sparse autoencoder layers, DBM) are kept there and reused by later runs of the same size.
``--quick``: a pool of 3,000 training images for everything (fractions of that pool), 1,000 test images,
2 pretraining epochs (2 + 2 + 2 for the DBM, joint rate 0.005, q with 10 updates) and up to 8 fine-tuning
epochs, 2 folds (a smoke test; the figures are not claims).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from bench_mnist_dbm import settings as mnist_dbm_settings
from bench_mnist_dbm import train_dbm
from bench_mnist_sparse import SPARSE, SPARSE_INIT
from benchkit import Stopwatch, row

import crbm
from crbm.data.mnist import load_mnist
from crbm.static.autoencoder import DeepAutoencoder, greedy_autoencoders
from crbm.static.classifier import DBNClassifier, dbm_inputs, fine_tune_backprop

SIZES = [500, 500, 2000]
DBM_SIZES = (500, 1000)
DBM_GOAL = (0.01, 0.10)  # the fractions where crbm's DBM is to be below the talk's DBM
FRACTIONS = (0.01, 0.05, 0.10, 1.0)
PUBLISHED = {
    "DBM": {0.01: 4.82, 0.05: 2.72, 0.10: 2.46, 1.0: 0.95},
    "autoencoder": {0.01: 9.62, 0.05: 5.18, 0.10: 4.46, 1.0: 2.41},
    "KNN": {0.01: 13.74, 0.05: 7.19, 0.10: 5.87, 1.0: 3.09},
}


PARTS = {"DBN": "DBN", "sparse": "sparse autoencoder", "DBM": "two-layer DBM", "KNN": "KNN"}


def chosen() -> tuple[list[str], list[float]]:
    """The rows (``CRBM_BENCH_PARTS``) and fractions (``CRBM_BENCH_FRACTIONS``) to run; exits with a one-line
    message on an unknown part or fraction."""
    parts = [p.strip() for p in os.environ.get("CRBM_BENCH_PARTS", ",".join(PARTS)).split(",") if p.strip()]
    if not parts or set(parts) - set(PARTS):
        raise SystemExit(f"CRBM_BENCH_PARTS: expected some of {', '.join(PARTS)}, got {parts}")
    text = [f.strip() for f in os.environ.get("CRBM_BENCH_FRACTIONS", "").split(",") if f.strip()]
    try:
        fractions = [float(f) for f in text] or list(FRACTIONS)
    except ValueError:
        fractions = []
    if not fractions or set(fractions) - set(FRACTIONS):
        raise SystemExit(f"CRBM_BENCH_FRACTIONS: expected some of {', '.join(map(str, FRACTIONS))}, got {text}")
    return [PARTS[p] for p in parts], sorted(fractions)


def pretrained(key: str, train, quick: bool) -> list:
    """``train()`` (a list of models); with ``CRBM_BENCH_MODELS`` set, the models are kept in that folder as
    ``<key>-<k>.safetensors`` and loaded from there when they are already trained."""
    folder = os.environ.get("CRBM_BENCH_MODELS")
    if not folder:
        return train()
    stem = f"mnist-semi-{'quick-' if quick else ''}{key}"
    found = sorted(Path(folder).glob(f"{stem}-*.safetensors"))
    if found and found == [Path(folder) / f"{stem}-{k}.safetensors" for k in range(len(found))]:
        return [crbm.load_model(path) for path in found]
    models = train()
    for k, model in enumerate(models):
        crbm.save_checkpoint(Path(folder) / f"{stem}-{k}.safetensors", model)
    return models


def settings(quick: bool) -> dict:
    if quick:
        return {"pool": 3000, "n_test": 1000, "pre_epochs": 2, "fine_epochs": 8, "top_only": 2, "eval_every": 1,
                "folds": 2, "lrs": (0.1,), "dropouts": ((0.0, 0.0), (0.2, 0.5)), "ks": (1, 3, 5),
                "dbm": {"pretrain": {"epochs": 2, "learning_rate": 0.05},
                        "joint": {"epochs": 2, "learning_rate": 0.005, "k": 5, "n_chains": 100}, "q_steps": 10}}
    budget = os.environ.get("CRBM_BENCH_DBM_BUDGET", "full")
    if budget not in ("full", "short", "long"):
        raise SystemExit(f"CRBM_BENCH_DBM_BUDGET: expected full, short or long, got {budget!r}")
    full = mnist_dbm_settings(quick=False)
    dbm = {"pretrain": full["pretrain"], "joint": full["dbm"]}
    if budget == "short":
        dbm = {"pretrain": {**full["pretrain"], "epochs": 30}, "joint": {**full["dbm"], "epochs": 30}}
    elif budget == "long":
        dbm = {"pretrain": full["pretrain"], "joint": {**full["dbm"], "epochs": 500}}
    return {"pool": 60000, "n_test": 10000, "pre_epochs": 30, "fine_epochs": 100, "top_only": 5, "eval_every": 5,
            "folds": 5, "lrs": (0.1, 0.03), "dropouts": ((0.0, 0.0), (0.2, 0.5)), "ks": (1, 3, 5, 7),
            "dbm": {**dbm, "q_steps": 30}}


def labelled_subset(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Indices of a class-balanced labelled subset: round(fraction * N / 10) random examples of each class
    (all examples when fraction is 1), sorted."""
    per_class = round(fraction * labels.shape[0] / 10)
    perm = torch.randperm(labels.shape[0], generator=generator)
    pick = [perm[labels[perm] == c][: (None if fraction == 1.0 else per_class)] for c in range(10)]
    return torch.cat(pick).sort().values


def folds(idx: torch.Tensor, labels: torch.Tensor, generator: torch.Generator, k: int) -> list:
    """``k`` cross-validation splits [(train, valid), ...] of ``idx``: each class's members in a random order,
    the classes one after another, dealt round-robin to ``k`` folds (so every fold holds each class to within
    one image); split i validates on fold i and trains on the others. Indices sorted."""
    perm = idx[torch.randperm(idx.shape[0], generator=generator)]
    ordered = torch.cat([perm[labels[perm] == c] for c in range(10)])
    fold = torch.arange(ordered.shape[0], device=ordered.device) % k
    return [(ordered[fold != i].sort().values, ordered[fold == i].sort().values) for i in range(k)]


def _fine_config(lr: float, epochs: int, n: int, device: str) -> crbm.TrainConfig:
    """Backprop settings: batches of 100 labelled images, fewer for small fractions (at least 10 batches an epoch),
    momentum 0.9, no weight decay."""
    return crbm.TrainConfig(epochs=epochs, batch_size=max(1, min(100, n // 10)), learning_rate=lr, momentum=0.9,
                            final_momentum=0.9, weight_decay=0.0, device=device, verbose=False, seed=5)


def _fine_tune(make, x, y, s: dict, lr: float, epochs: int, device: str, callbacks=(), **dropout):
    clf = make(**dropout)
    fine_tune_backprop(clf, x, y, _fine_config(lr, epochs, x.shape[0], device),
                       top_only_epochs=min(s["top_only"], epochs - 1), callbacks=callbacks)
    return clf


def select_and_test(make, x, y, splits: list, test_x, test_y, s: dict, device: str) -> dict:
    """Choose (rate, dropout, epochs) by the validation error pooled over the cross-validation ``splits``
    (see ``folds``), retrain on all their images with them, read the test error once. ``make(**kw)`` builds a
    fresh network with the dropout keywords ``kw``."""
    best = None
    curves = {}
    labelled = torch.cat(splits[0])
    for lr in s["lrs"]:
        for q_in, q_hid in s["dropouts"]:
            wrong: dict[int, float] = {}  # epoch -> validation mistakes summed over the folds
            drop = {"input_dropout": q_in, "hidden_dropout": q_hid}
            for tr, va in splits:
                def measure(epoch, figures, clf, va=va, wrong=wrong):
                    if epoch % s["eval_every"] == 0:
                        wrong[epoch] = wrong.get(epoch, 0.0) + clf.error_rate(x[va], y[va]) * va.shape[0]

                _fine_tune(make, x[tr], y[tr], s, lr, s["fine_epochs"], device, callbacks=[measure], **drop)
            curve = [(epoch, n / labelled.shape[0]) for epoch, n in sorted(wrong.items())]
            curves[f"rate {lr}, dropout {q_in}/{q_hid}"] = curve
            epoch, err = min(curve, key=lambda p: (p[1], p[0]))
            if best is None or err < best[3]:
                best = (lr, drop, epoch, err)
    lr, drop, epochs, val = best
    clf = _fine_tune(make, x[labelled], y[labelled], s, lr, epochs, device, **drop)
    return {"lr": lr, **drop, "epochs": epochs, "valid_error": val, "test_error": clf.error_rate(test_x, test_y),
            "curves": curves}


def knn(x, y, splits: list, test_x, test_y, ks) -> dict:
    """KNN on pixels: k chosen by the error pooled over the cross-validation ``splits``, then all labelled
    images as the reference set."""
    from sklearn.neighbors import KNeighborsClassifier

    def error(ref, k, qx, qy):
        model = KNeighborsClassifier(n_neighbors=min(k, len(ref)), algorithm="brute")
        model.fit(x[ref].numpy(), y[ref].numpy())
        return float((torch.from_numpy(model.predict(qx.numpy())) != qy).double().mean())

    n = sum(va.shape[0] for _, va in splits)
    scores = {k: sum(error(tr, k, x[va], y[va]) * va.shape[0] for tr, va in splits) / n for k in ks}
    k = min(scores, key=lambda k: (scores[k], k))
    return {"k": k, "valid_error": scores[k], "test_error": error(torch.cat(splits[0]), k, test_x, test_y)}


def run(*, quick: bool, device: str) -> dict:
    s = settings(quick)
    g = torch.Generator().manual_seed(0)
    x, y = load_mnist(split="train")
    test_x, test_y = load_mnist(split="test")
    if quick:
        pool = torch.randperm(60000, generator=g)[: s["pool"]]
        x, y = x[pool], y[pool]
        test_x, test_y = test_x[: s["n_test"]], test_y[: s["n_test"]]
    x, y, test_x, test_y = x.to(device), y.to(device), test_x.to(device), test_y.to(device)

    names, fractions = chosen()
    watch = Stopwatch(device)
    makers = {}  # name -> (a fresh network, its training inputs, its test inputs)
    pretrain_seconds = {}

    def out_init() -> torch.Generator:  # the same output layer draw for every network
        return torch.Generator().manual_seed(3)

    if "DBN" in names:
        rbm_cfg = crbm.TrainConfig(epochs=s["pre_epochs"], batch_size=100, learning_rate=0.1, device=device,
                                   verbose=False, seed=1)
        rbms = pretrained("rbm", lambda: crbm.greedy_pretrain(x, SIZES, configs=rbm_cfg,
                                                             generator=torch.Generator().manual_seed(1)), quick)
        makers["DBN"] = (lambda **kw: DBNClassifier.from_rbms(rbms, 10, generator=out_init(), **kw), x, test_x)
        pretrain_seconds["DBN"] = watch.elapsed()
    if "sparse autoencoder" in names:
        watch.restart()
        ae_cfg = crbm.TrainConfig(epochs=s["pre_epochs"], batch_size=100, device=device, verbose=False, seed=2,
                                  **SPARSE)
        layers = pretrained("sparse", lambda: greedy_autoencoders(x, SIZES, configs=ae_cfg, init_std=SPARSE_INIT,
                                                                  generator=torch.Generator().manual_seed(2)), quick)
        sparse = DeepAutoencoder.stack(layers)
        makers["sparse autoencoder"] = (
            lambda **kw: DBNClassifier.from_autoencoder(sparse, 10, generator=out_init(), **kw), x, test_x)
        pretrain_seconds["sparse autoencoder"] = watch.elapsed()
    if "two-layer DBM" in names:
        watch.restart()
        d = s["dbm"]
        common = crbm.TrainConfig(device=device, verbose=False)  # batches of 100, momentum 0.5 then 0.9, decay 2e-4
        key = f"dbm-e{d['joint']['epochs']}"  # the joint-training budget names the kept model
        folder = os.environ.get("CRBM_BENCH_MODELS")
        keep = Path(folder) / f"mnist-semi-{'quick-' if quick else ''}{key}" if folder else None
        (dbm,) = pretrained(key, lambda: [train_dbm(x, *DBM_SIZES, dataclasses.replace(common, **d["pretrain"]),
                                                    dataclasses.replace(common, **d["joint"], seed=1), keep=keep)],
                            quick)
        aug_x, aug_test = (dbm_inputs(dbm, images, steps=d["q_steps"]) for images in (x, test_x))  # [v, q(h2|v)]
        makers["two-layer DBM"] = (lambda **kw: DBNClassifier.from_dbm(dbm, 10, generator=out_init(), **kw),
                                   aug_x, aug_test)
        pretrain_seconds["two-layer DBM"] = watch.elapsed()
    print("pretraining: " + ", ".join(f"{k} {v:.0f} s" for k, v in pretrain_seconds.items()), flush=True)
    rows, details = [], {"pretrain_seconds": pretrain_seconds, "fractions": {}}
    for fraction in fractions:
        labelled = labelled_subset(y.cpu(), fraction, torch.Generator().manual_seed(10)).to(device)
        splits = folds(labelled.cpu(), y.cpu(), torch.Generator().manual_seed(11), s["folds"])
        on_device = [(tr.to(device), va.to(device)) for tr, va in splits]
        pct = f"{100 * fraction:g} % ({labelled.shape[0]} labels)"
        found = {}
        for name, (make, inputs, test_inputs) in makers.items():
            watch.restart()
            found[name] = {**select_and_test(make, inputs, y, on_device, test_inputs, test_y, s, device),
                           "seconds": watch.elapsed()}
        if "KNN" in names:
            found["KNN"] = knn(x.cpu(), y.cpu(), splits, test_x.cpu(), test_y.cpu(), s["ks"])
        for name, r in found.items():  # progress for a long run: the log keeps what a stopped run found
            picked = (f"k {r['k']}" if "k" in r else f"rate {r['lr']}, dropout {r['input_dropout']}/"
                      f"{r['hidden_dropout']}, {r['epochs']} epochs")
            print(f"{pct} {name}: {picked}, validation {100 * r['valid_error']:.2f} %, "
                  f"test {100 * r['test_error']:.2f} %", flush=True)
        details["fractions"][str(fraction)] = found
        goal = PUBLISHED["autoencoder"][fraction]
        published = {"DBN": goal, "sparse autoencoder": goal, "two-layer DBM": PUBLISHED["DBM"][fraction],
                     "KNN": PUBLISHED["KNN"][fraction]}
        compared = {  # name -> (the peer from this run, what the published figure is)
            "DBN": ("sparse autoencoder", "the talk's autoencoder row (the goal)"),
            "two-layer DBM": ("DBN", "the talk's two-layer DBM row (" + (
                "the goal)" if fraction in DBM_GOAL else "no goal at this fraction)")),
        }
        for name, result in found.items():
            entry = row(f"{name}, {pct}, test error %", round(100 * result["test_error"], 2), published[name], "lower")
            if name in compared:
                if compared[name][0] in found:
                    entry["peer"] = round(100 * found[compared[name][0]]["test_error"], 2)
                entry["published_is"] = compared[name][1]
            rows.append(entry)
    details["settings"] = s
    details["sparse"] = SPARSE
    return {"rows": rows, **details}

