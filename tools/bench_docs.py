"""Document retrieval: 20 Newsgroups and Reuters-21578 (Hinton & Salakhutdinov 2006; Salakhutdinov & Hinton 2009).

Data: the ready 2000-word bags of words in ``docs/`` (``crbm.data.documents.load_bag_of_words``); our own
tokenisation of the raw 20 Newsgroups tarball reproduces them exactly (tests/test_documents.py), so the
benchmark reads the shipped matrices. Reuters is Reuters-21578 ModApte, not the RCV1-v2 of the papers;
its test stories without a topic (280) are neither queries nor relevant.

Model: a 2000-500 replicated-softmax RBM (visible biases started at the log word frequencies;
learning rate 0.01, and 0.01 of that for the hidden biases, whose statistics are N times larger),
500-250 and 250-125 binary RBMs (0.1) and a 125-10 RBM with linear (Gaussian) code units (0.01),
unrolled into a 2000-500-250-125-10 autoencoder and fine-tuned on the cross-entropy of word proportions
(momentum SGD through the one trainer, learning rate 0.01). The layers must leave their initial weights
(std 0.01) behind before the stack carries anything: each layer still at its initial weights shrinks the
variation of the activities across documents about tenfold, so the 10-D codes become a constant (the
code biases) plus noise, and the gradient of fine-tuning through four such layers vanishes. The earlier
settings (1e-4 for the replicated-softmax RBM, 0.001 for the code layer, 2 epochs in the quick run) left
every layer there; fine-tuning at 0.1 made the pretrained codes worse.

Semantic hashing: the same three bottom RBMs under a 125-20 or 125-32 RBM
with logistic code units, fine-tuned with deterministic Gaussian noise (std 4, drawn once per document)
added to the code inputs; codes thresholded at 0.5. The settings of the full run are ours (the papers
give no per-layer schedule for documents): 50 pretraining epochs per layer, 200 fine-tuning epochs.

Evaluation: every test document is a query against the other test documents; precision at recall
0.001 ... 1.0 by cosine of the 10-D codes (before and after fine-tuning), of the replicated-softmax RBM's
500 hidden probabilities (centred by their training mean: a check of the first layer), of LSA-10 and
LSA-50 (log(1 + counts), fitted on the training set) and of TF-IDF vectors; hashing by Hamming-distance
ranking (ties in random order), by Hamming distance with TF-IDF re-ranking inside each distance, and by a
Hamming ball of radius 2 around the query's address in a hash table, with query times against
brute-force scans.

``CRBM_BENCH_HOLDOUT=N``: the validation split on which fine-tuning lengths are chosen. N random training
documents of each corpus (a fixed draw) replace its test set as the queries and the retrieved, the models
and LSA are fitted on the other training documents, hashing is skipped, and the 10-D codes' precision at
every recall level is measured every 10 fine-tuning epochs into ``docs_<corpus>_holdout_progress.json``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from benchkit import Stopwatch, fine_tune_config, holdout_count, progress_log, row, save_png, timed

from crbm import RBM, DeepAutoencoder, TensorData, TrainConfig, fit, greedy_pretrain, up_pass
from crbm.data.documents import docs_dir, load_bag_of_words, word_log_frequencies
from crbm.static.hashing import (
    HashTable,
    binary_codes,
    hamming_distances,
    hamming_then_cosine,
    negative_hamming,
    pack_bits,
)
from crbm.static.pca import fit_pca
from crbm.static.retrieval import (
    RECALL_LEVELS,
    fit_lsa,
    inverse_document_frequency,
    lsa_codes,
    retrieval_curve,
    tfidf,
)

# 200 fine-tuning epochs, chosen on validation splits of 1,000 training documents (20 Newsgroups:
# CRBM_BENCH_HOLDOUT=1000, the 10-D codes' precision rose until about 200 epochs and by at most 0.004 more up
# to 300; Reuters: an earlier split, passing LSA-50 at every level from 75 epochs on and still rising at 200)
FULL = {"train": None, "pre_epochs": 50, "fine_epochs": 200}
QUICK = {"train": 3000, "pre_epochs": 20, "fine_epochs": 8}
RSM_LR, RBM_LR, CODE_LR, FINE_LR = 1e-2, 0.1, 0.01, 0.01
NOISE_STD, RADIUS = 4.0, 2
ROW_LEVELS = (0.004, 0.032, 0.256)


def _pretrain_config(settings, device, lr, seed):
    return TrainConfig(
        epochs=settings["pre_epochs"], batch_size=100, learning_rate=lr, device=device, verbose=False, seed=seed
    )


def _fine_tune(rbms, data, settings, device, callbacks=()) -> DeepAutoencoder:
    """Unroll ``rbms`` and fine-tune on ``data`` (a tensor, or TensorData(counts, code noise))."""
    ae = DeepAutoencoder.from_rbms(rbms)
    cfg = fine_tune_config(epochs=settings["fine_epochs"], learning_rate=FINE_LR, device=device, seed=3)
    fit(ae, data, cfg, callbacks=callbacks)
    return ae


def _hash_figures(bits: np.ndarray, topics: np.ndarray, weights: torch.Tensor) -> dict:
    """Hamming-ball retrieval and query times (seconds per query) for a hash table of the test codes."""
    addresses = pack_bits(bits)
    table = HashTable(addresses, bits.shape[1])
    has_topic = topics.any(1)
    queries = np.flatnonzero(has_topic)
    precision, recall, found_count = [], [], []
    found_all, ball_s = timed(lambda: [table.lookup(addresses[q], RADIUS) for q in queries])
    ball_s /= len(queries)
    with Stopwatch() as scan:
        for q in queries:
            np.flatnonzero(hamming_distances(addresses[q], addresses) <= RADIUS)
    scan_s = scan.seconds / len(queries)
    with Stopwatch() as tfidf:
        for q in queries[:500]:
            torch.topk(weights @ weights[q], 100)
    tfidf_s = tfidf.seconds / min(500, len(queries))
    topics_f = topics.astype(np.float32)
    for q, found in zip(queries, found_all):
        found = found[found != q]
        relevant_all = (topics_f @ topics_f[q] > 0).sum() - 1
        hits = int((topics_f[found] @ topics_f[q] > 0).sum()) if len(found) else 0
        found_count.append(len(found))
        if len(found):
            precision.append(hits / len(found))
        recall.append(hits / max(relevant_all, 1))
    return {
        "ball_precision": float(np.mean(precision)) if precision else float("nan"),
        "ball_recall": float(np.mean(recall)),
        "ball_mean_found": float(np.mean(found_count)),
        "ball_empty_fraction": float(np.mean(np.array(found_count) == 0)),
        "ball_seconds": ball_s,
        "hamming_scan_seconds": scan_s,
        "tfidf_scan_seconds": tfidf_s,
        "distinct_addresses": len(table.buckets),
    }


def _corpus(name: str, settings: dict, device: str, gen: torch.Generator, holdout: int = 0) -> dict:
    """Train and evaluate on one corpus; with ``holdout`` documents held out of its training set, those are
    the test set (see the module's ``CRBM_BENCH_HOLDOUT``)."""
    folder = docs_dir()
    train, test = (load_bag_of_words(name, s, path=folder) for s in ("train", "test"))
    if settings["train"] is not None:
        train = train.subset(np.sort(torch.randperm(len(train), generator=gen)[: settings["train"]].numpy()))
    if holdout:
        if holdout >= len(train):
            raise SystemExit(f"CRBM_BENCH_HOLDOUT: expected fewer than the {len(train)} {name} training documents")
        held = np.zeros(len(train), dtype=bool)
        held[torch.randperm(len(train), generator=torch.Generator().manual_seed(12))[:holdout].numpy()] = True
        train, test = train.subset(~held), train.subset(held)
    x = train.tensor(device=device)
    xt = test.tensor(device=device)
    topics = test.topics
    watch = Stopwatch(device)
    rsm = RBM(2000, 500, visible="replicated_softmax", generator=gen)
    with torch.no_grad():
        rsm.visible_bias.copy_(word_log_frequencies(x.cpu()))
    # the hidden biases are multiplied by the document length N, so their statistics are N times larger
    # than the weights'; without this scale they race ahead and the features encode length, not topic
    rsm_config = dataclasses.replace(_pretrain_config(settings, device, RSM_LR, 1), lr_scale={"hidden_bias": 0.01})
    fit(rsm, x, rsm_config)
    configs = [_pretrain_config(settings, device, RBM_LR, seed) for seed in (2, 3)]
    bottom = [rsm, *greedy_pretrain(up_pass([rsm], x), [250, 125], configs=configs, generator=gen)]
    h3 = up_pass(bottom, x)
    top10 = greedy_pretrain(
        h3, [10], hidden="gaussian", configs=_pretrain_config(settings, device, CODE_LR, 4), generator=gen
    )
    measure = (
        (lambda model: {"precision": retrieval_curve(model.codes(xt).cpu(), topics).tolist()}) if holdout else None
    )
    curve = progress_log(f"docs_{name}{'_holdout' if holdout else ''}_progress.json", measure)
    ae = _fine_tune(bottom + top10, x, settings, device, callbacks=[curve])
    train_s = watch.elapsed()
    curves = {"autoencoder-10": retrieval_curve(ae.codes(xt).cpu(), topics, generator=torch.Generator().manual_seed(5))}
    curves["unrolled-10 (no fine-tuning)"] = retrieval_curve(
        DeepAutoencoder.from_rbms(bottom + top10).codes(xt).cpu(), topics
    )
    features, train_mean = up_pass([rsm], xt).cpu(), up_pass([rsm], x).mean(0).cpu()
    curves["RSM-500 features (centred)"] = retrieval_curve(features - train_mean, topics)
    for k in (10, 50):
        curves[f"LSA-{k}"] = retrieval_curve(lsa_codes(test.counts, fit_lsa(train.counts, k)), topics)
    weights = tfidf(test.counts, inverse_document_frequency(train.counts))
    curves["TF-IDF"] = retrieval_curve(weights, topics)
    hashing = {}
    for bits in () if holdout else (20, 32):
        top = greedy_pretrain(h3, [bits], configs=_pretrain_config(settings, device, RBM_LR, 5 + bits), generator=gen)
        noise = torch.randn(len(x), bits, generator=gen).to(device) * NOISE_STD  # fixed per document
        activity = _fine_tune(bottom + top, TensorData(x, noise), settings, device).codes(xt).cpu()
        code_bits = binary_codes(activity)
        b = torch.as_tensor(code_bits, dtype=torch.float32)
        curves[f"hash-{bits} Hamming"] = retrieval_curve(
            b, topics, similarity=negative_hamming, generator=torch.Generator().manual_seed(6)
        )
        curves[f"hash-{bits} + TF-IDF"] = retrieval_curve(
            torch.cat([b, weights], 1), topics, similarity=hamming_then_cosine(bits)
        )
        hashing[bits] = _hash_figures(code_bits, topics, weights)
        hashing[bits]["binary_fraction"] = float(((activity - 0.5).abs() > 0.4).float().mean())
    codes2d = fit_pca(ae.codes(xt).cpu(), 2).transform(ae.codes(xt).cpu()).numpy()
    return {"curves": curves, "hashing": hashing, "train_seconds": train_s, "codes2d": codes2d, "test": test}


def _pictures(name: str, result: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for label, curve in result["curves"].items():
        ax.plot(RECALL_LEVELS, curve.numpy(), marker="o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{name}: test documents as queries against the other test documents", fontsize=9)
    ax.legend(fontsize=7)
    paths = [save_png(fig, f"docs_{name}_precision_recall.png")]
    test = result["test"]
    labels = test.labels if test.labels.ndim == 1 else np.where(test.topics.any(1), test.topics.argmax(1), -1)
    keep = labels >= 0
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.scatter(*result["codes2d"][keep].T, c=labels[keep], cmap="tab20", s=2)
    ax.set_title(f"{name} test documents: first 2 principal components of the 10-D codes", fontsize=9)
    paths.append(save_png(fig, f"docs_{name}_map2d.png"))
    return paths


def run(*, quick: bool, device: str) -> dict:
    return run_settings(QUICK if quick else FULL, device=device)


def run_settings(settings: dict, *, device: str, corpora: tuple[str, ...] = ("20news", "reuters")) -> dict:
    """The benchmark with explicit settings (keys as in FULL) on some of the corpora."""
    gen = torch.Generator().manual_seed(0)
    rows, report, pictures = [], {}, []
    holdout = holdout_count()
    for name in corpora:
        result = _corpus(name, settings, device, gen, holdout)
        curves = result["curves"]
        ae, lsa10 = curves["autoencoder-10"], curves["LSA-10"]
        for i, level in enumerate(RECALL_LEVELS):
            rows.append(
                row(f"{name} P@R={level} AE-10 vs LSA-10", float(ae[i]), float(lsa10[i]), "higher")
            )
        for i, level in ((RECALL_LEVELS.index(r), r) for r in ROW_LEVELS):
            for peer in ("LSA-50", "TF-IDF"):
                rows.append(
                    row(f"{name} P@R={level} AE-10 vs {peer}", float(ae[i]), float(curves[peer][i]), "higher")
                )
            for bits in result["hashing"]:
                rows.append(
                    row(f"{name} P@R={level} hash-{bits} Hamming vs LSA-10", float(curves[f"hash-{bits} Hamming"][i]),
                        float(lsa10[i]), "higher")
                )
        for bits, h in result["hashing"].items():
            rows.append(
                row(f"{name} hash-{bits} ball r={RADIUS} precision", h["ball_precision"], None, "higher")
            )
            rows.append(
                row(f"{name} hash-{bits} ball r={RADIUS} query us vs Hamming scan", 1e6 * h["ball_seconds"],
                    1e6 * h["hamming_scan_seconds"], "lower")
            )
            rows.append(
                row(f"{name} hash-{bits} ball r={RADIUS} query us vs TF-IDF scan", 1e6 * h["ball_seconds"],
                    1e6 * h["tfidf_scan_seconds"], "lower")
            )
        pictures += _pictures(name + ("_holdout" if holdout else ""), result)
        report[name] = {
            "curves": {k: [round(float(p), 4) for p in v] for k, v in curves.items()},
            "hashing": result["hashing"],
            "train_seconds": result["train_seconds"],
        }
    settings_note = (
        f"{'all' if settings['train'] is None else settings['train']} training documents, "
        f"{settings['pre_epochs']} pretraining epochs per layer, {settings['fine_epochs']} fine-tuning epochs"
    )
    return {
        "rows": rows,
        "recall_levels": list(RECALL_LEVELS),
        "settings": settings_note,
        "pictures": pictures,
        **report,
    }
