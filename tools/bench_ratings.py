"""ratings: collaborative filtering on MovieLens 100K, test RMSE over the five canonical folds u1..u5 (mean and
spread across folds) of the RBMs of Salakhutdinov, Mnih & Hinton (2007), beside a global mean, the bias
baseline, a biased matrix factorisation and a truncated SVD of the centred matrix, all in the same run.

Models (``crbm.static.collaborative``): U-RBM (a user is an RBM over the items it rated), conditional U-RBM (also
conditioned on which items the user rated, the test items included: the paper's protocol, information the
other rows do not use), I-RBM (an item is an RBM over the users who rated it), conditional I-RBM; biased MF
(Funk's SGD through ``crbm.fit``); SVD (rank-r truncated SVD of the bias baseline's residuals, missing = 0);
bias baseline (Koren's regularised closed form); global mean.

Candidates (full run): SVD rank 2 / 5 / 10 / 20; bias regularisers (item / user) 25 / 10, 10 / 5, 50 / 25; MF with
50 or 100 factors, per-rating penalty 0.1 or 0.15, rate 0.001, momentum 0.9, batches of 100 ratings, up to 60
epochs; each RBM with 100 or 200 hidden units at rate 0.02 (up to 30 epochs) or 200 at rate 0.01 (up to 40),
weight decay 0.001, batches of 20 cases, CD-1, momentum 0.5 then 0.9. (Ranges picked on fold u1's validation
split: weight decay 0.003 / 0.01 / 0.03 and 500 hidden units did not help the I-RBM; MF penalty 0.05 / 0.07
overfitted.)

Protocol, per fold: a validation split (10 % of ``uK.base``, seeded) is carved out; every candidate setting of
a model (``candidates``) is trained on the other 90 % and its validation RMSE read every ``eval_every`` epochs;
the setting and epoch count with the lowest validation RMSE are chosen; the model is retrained with them on all
of ``uK.base`` and evaluated once on ``uK.test``. ``uK.test`` is read by nothing else.

Published figures beside the rows are on MovieLens 1M, not 100K (no RBM figure on the 100K folds was found):
U-RBM 0.881, I-RBM 0.854, biased MF 0.845 (Sedhain et al. 2015, AutoRec, random 90 / 10 splits). With
``CRBM_BENCH_RATINGS=ml-1m`` the benchmark runs on MovieLens 1M (``ratings/ml-1m/ratings.dat`` in the data
folder) with five seeded 90 / 10 splits instead of the folds, the protocol of those figures.
``--quick``: fold u1 only, one candidate per model, a few epochs (a smoke test; figures are not claims).
Data: ``CRBM_DATA`` (its ``ratings/``) or ``~/.cache/crbm``.
"""

from __future__ import annotations

import json
import os

import numpy as np
from benchkit import Stopwatch, out_dir, row

import crbm
from crbm.data.movielens import load_movielens, split_ratings
from crbm.engine.atomic import write_bytes
from crbm.static.collaborative import BiasRecommender, MFRecommender, RBMRecommender, SVDRecommender

PUBLISHED = {"U-RBM": 0.881, "I-RBM": 0.854, "biased MF": 0.845}  # ML-1M, Sedhain et al. 2015
PUBLISHED_ON = {  # data set of the run -> where the published figures beside its rows come from
    "ml-100k": "ML-1M (Sedhain et al. 2015)",
    "ml-1m": "ML-1M, random 90 / 10 splits (Sedhain et al. 2015): this run's data and protocol",
}
_RBMS = {"U-RBM": ("user", False), "conditional U-RBM": ("user", True), "I-RBM": ("item", False),
         "conditional I-RBM": ("item", True)}


def candidates(quick: bool) -> dict[str, list[dict]]:
    """Model name -> the settings tried on validation (``make``'s specs). ``epochs`` is the longest run; the
    best epoch (a multiple of the evaluation interval) is chosen on validation."""
    if quick:
        rbm = [{"n_hidden": 100, "lr": 0.02, "decay": 0.001, "epochs": 3, "batch": 20}]
        return {
            "global mean": [{"model": "mean"}],
            "bias baseline": [{"model": "bias", "reg_item": 25, "reg_user": 10}],
            "truncated SVD": [{"model": "svd", "rank": 5}],
            "biased MF": [{"model": "mf", "n_factors": 50, "reg": 0.1, "lr": 0.001, "epochs": 3}],
            **_rbm_specs(rbm),
        }
    rbm = [{"n_hidden": h, "lr": lr, "decay": 0.001, "epochs": epochs, "batch": 20}
           for h, lr, epochs in ((100, 0.02, 30), (200, 0.02, 30), (200, 0.01, 40))]
    return {
        "global mean": [{"model": "mean"}],
        "bias baseline": [{"model": "bias", "reg_item": a, "reg_user": b} for a, b in ((25, 10), (10, 5), (50, 25))],
        "truncated SVD": [{"model": "svd", "rank": r} for r in (2, 5, 10, 20)],
        "biased MF": [{"model": "mf", "n_factors": f, "reg": reg, "lr": 0.001, "epochs": 60}
                      for f in (50, 100) for reg in (0.1, 0.15)],
        **_rbm_specs(rbm),
    }


def _rbm_specs(settings: list[dict]) -> dict[str, list[dict]]:
    """The four RBM rows' candidates: each setting for each of _RBMS."""
    return {name: [{"model": "rbm", "by": by, "conditional": c, **s} for s in settings]
            for name, (by, c) in _RBMS.items()}


def make(spec: dict, *, device: str, seed: int):
    """An unfitted recommender from a candidate spec."""
    kind = spec["model"]
    if kind == "mean":
        return BiasRecommender(biases=False)
    if kind == "bias":
        return BiasRecommender(reg_item=spec["reg_item"], reg_user=spec["reg_user"])
    if kind == "svd":
        return SVDRecommender(spec["rank"], seed=seed)
    if kind == "mf":
        cfg = crbm.TrainConfig(epochs=spec["epochs"], batch_size=100, learning_rate=spec["lr"], momentum=0.9,
                               momentum_epochs=0, device=device, seed=seed, verbose=False)
        return MFRecommender(spec["n_factors"], reg=spec["reg"], config=cfg)
    cfg = crbm.TrainConfig(epochs=spec["epochs"], batch_size=spec["batch"], learning_rate=spec["lr"],
                           weight_decay=spec["decay"], device=device, seed=seed, verbose=False)
    return RBMRecommender(spec["n_hidden"], conditional=spec["conditional"], by=spec["by"], config=cfg)


def label(spec: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in spec.items() if k not in ("model", "by", "conditional", "epochs")) or "-"


def data_set() -> str:
    """``CRBM_BENCH_RATINGS``: "ml-100k" (the default) or "ml-1m"; exits with a one-line message otherwise."""
    name = os.environ.get("CRBM_BENCH_RATINGS", "ml-100k")
    if name not in PUBLISHED_ON:
        raise SystemExit(f"CRBM_BENCH_RATINGS: expected ml-100k or ml-1m, got {name!r}")
    return name


def folds(quick: bool) -> list[tuple[str, object, object]]:
    """(label, train table, test table) of each fold: ML-100K u1..u5, or five seeded 90 / 10 splits of
    ML-1M when ``CRBM_BENCH_RATINGS=ml-1m``."""
    if data_set() == "ml-100k":
        return [(f"u{k}", *load_movielens("ml-100k", split=f"u{k}")) for k in ([1] if quick else range(1, 6))]
    everything = load_movielens("ml-1m")
    return [(f"seed {s}", *split_ratings(everything, 0.1, seed=s)) for s in ([0] if quick else range(5))]


def _fit(spec: dict, train, *, device: str, known, measure=None):
    """A recommender fitted on ``train``; ``measure(model, epoch)`` after every epoch of the models trained by
    crbm.fit; ``known``: (user, item) pairs for the conditional RBMs."""
    model = make(spec, device=device, seed=0)
    kw = {}
    if measure is not None and isinstance(model, (RBMRecommender, MFRecommender)):
        kw["callbacks"] = [lambda epoch, figures, m: measure(model, epoch)]
    if isinstance(model, RBMRecommender) and model.conditional:
        kw["known"] = known
    return model.fit(train, **kw)


def select(specs: list[dict], train, valid, *, device: str, known, eval_every: int) -> tuple[dict, float, dict]:
    """The spec (its epochs set to the best epoch) with the lowest validation RMSE, that RMSE, and every
    spec's validation curve [(epoch, rmse)] by label."""
    curves, best = {}, None
    for spec in specs:
        curve: list[tuple[int, float]] = []

        def measure(model, epoch, curve=curve):
            if epoch % eval_every == 0:
                curve.append((epoch, model.rmse(valid)))

        model = _fit(spec, train, device=device, known=known, measure=measure)
        curve = curve or [(0, model.rmse(valid))]
        curves[label(spec)] = curve
        epoch, rmse = min(curve, key=lambda p: p[1])
        if best is None or rmse < best[1]:
            best = ({**spec, "epochs": epoch} if "epochs" in spec else spec, rmse)
    return best[0], best[1], curves


def _pairs(table):
    return table[["user", "item"]]


def run(*, quick: bool, device: str) -> dict:
    import pandas as pd

    eval_every = 1 if quick else 5
    name_of_data = data_set()
    models = candidates(quick)
    results: dict[str, list[dict]] = {name: [] for name in models}
    for fold, base, test in folds(quick):
        train, valid = split_ratings(base, 0.1, seed=100)
        known = pd.concat([_pairs(valid), _pairs(test)])
        for name, specs in models.items():
            watch = Stopwatch(device)
            # the conditional models know which items were rated in validation and test (not the ratings)
            spec, val, curves = select(specs, train, valid, device=device, known=known, eval_every=eval_every)
            final = _fit(spec, base, device=device, known=_pairs(test))
            rmse = final.rmse(test)
            epoch = spec.get("epochs")
            results[name].append({"fold": fold, "setting": label(spec), "epochs": epoch, "valid_rmse": val,
                                  "test_rmse": rmse, "seconds": watch.elapsed(), "validation_curves": curves})
            print(f"{fold} {name}: {label(spec)}, {epoch} epochs, valid {val:.4f}, test {rmse:.4f}", flush=True)
    rows = []
    for name, per_fold in results.items():
        scores = np.array([r["test_rmse"] for r in per_fold])
        rows.append(row(f"{name} test RMSE", float(scores.mean()), PUBLISHED.get(name), "lower",
                        spread=float(scores.std(ddof=1)) if len(scores) > 1 else None,
                        folds=[round(float(s), 4) for s in scores],
                        published_on=PUBLISHED_ON[name_of_data] if name in PUBLISHED else None))
    report = {"rows": rows, "data": name_of_data, "folds": results,
              "protocol": "settings and epochs chosen on a 10 % validation split of each training fold; test "
                          "read once per fold with the chosen setting, retrained on the whole training fold"}
    write_bytes(out_dir() / f"ratings{'_quick' if quick else ''}_folds.json", json.dumps(results, indent=1).encode())
    return report
