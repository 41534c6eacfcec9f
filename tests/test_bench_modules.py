"""Every benchmark module under tools/ imports and defines ``run(*, quick, device)`` (tools/bench.py's contract).

Nothing is run: importing catches the breakage a merge can cause (a helper renamed in the package)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import crbm

TOOLS = Path(__file__).resolve().parents[1] / "tools"
NAMES = sorted(p.stem for p in TOOLS.glob("bench_*.py"))


def test_there_are_benchmarks():
    assert "bench_docs" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_module_imports_and_has_run(name, monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    module = importlib.import_module(name)
    try:
        params = inspect.signature(module.run).parameters
        assert {"quick", "device"} <= set(params)
        assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("quick", "device"))
    finally:
        sys.modules.pop(name, None)


def test_progress_log_rewrites_the_curve_after_every_epoch(tmp_path, monkeypatch):
    import json

    import torch

    import crbm

    monkeypatch.syspath_prepend(str(TOOLS))
    monkeypatch.setenv("CRBM_BENCH_OUT", str(tmp_path))
    benchkit = importlib.import_module("benchkit")
    seen = []

    def measure(model):
        seen.append(len(json.loads((tmp_path / "curve.json").read_text())) if seen else 0)
        return {"weight_norm": float(model.weight.norm())}

    log = benchkit.progress_log("curve.json", measure)
    x = torch.bernoulli(torch.full((40, 6), 0.3), generator=torch.Generator().manual_seed(0))
    rbm = crbm.RBM(6, 3, generator=torch.Generator().manual_seed(1))
    crbm.fit(rbm, x, crbm.TrainConfig(epochs=12, batch_size=10, verbose=False), callbacks=[log])
    entries = json.loads((tmp_path / "curve.json").read_text())
    assert [e["epoch"] for e in entries] == list(range(1, 13))
    assert [e["epoch"] for e in entries if "weight_norm" in e] == [1, 10]
    assert seen == [0, 9]  # measured before its own epoch is written, after the nine before it
    assert entries[9]["weight_norm"] != entries[0]["weight_norm"]  # measured on the model as it trains
    assert log.entries == entries


def test_progress_log_numbers_entries_by_the_callers_epoch(tmp_path, monkeypatch):
    """fine_tune_backprop numbers epochs across its two phases; the log keeps that count, not fit's own."""
    monkeypatch.syspath_prepend(str(TOOLS))
    monkeypatch.setenv("CRBM_BENCH_OUT", str(tmp_path))
    log = importlib.import_module("benchkit").progress_log("curve.json")
    log(7, {"epoch": 1, "loss": 0.5}, None)
    assert log.entries == [{"epoch": 7, "loss": 0.5}]


def test_dbm_ais_names_a_checkpoint_that_is_not_a_dbm(tmp_path, monkeypatch):
    import crbm

    monkeypatch.syspath_prepend(str(TOOLS))
    dbm_ais = importlib.import_module("dbm_ais")
    path = crbm.save_checkpoint(tmp_path / "rbm.safetensors", crbm.RBM(4, 3))
    with pytest.raises(SystemExit, match=r"rbm\.safetensors: expected a DBM checkpoint, got a RBM"):
        dbm_ais.main([str(path)])
    with pytest.raises(SystemExit, match="not a readable safetensors checkpoint"):
        dbm_ais.main([str(TOOLS / "bench.py")])


def test_dbn_validation_split_is_disjoint_from_the_balanced_subset(monkeypatch):
    import torch

    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_mnist_dbn")
    labels = torch.arange(200) % 10
    order = bench.balanced_subset(labels, 6, torch.Generator().manual_seed(0))
    assert order.shape == (60,) and len(set(order.tolist())) == 60
    assert all(sorted(labels[order[i : i + 10]].tolist()) == list(range(10)) for i in range(0, 60, 10))
    pick = bench.validation_pick(200, order, 50)
    assert pick.shape == (50,) and not set(pick.tolist()) & set(order.tolist())
    assert torch.equal(pick, bench.validation_pick(200, order, 50))  # a fixed draw
    with pytest.raises(SystemExit, match="expected at most 140 images for up-down, got 141"):
        bench.validation_pick(200, order, 141)


def test_dbn_greedy_variants_parse_and_bad_ones_are_named(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    tool = importlib.import_module("dbn_greedy")
    assert tool.parse_variant("top_k=3,weight_decay=0") == {"top_k": 3, "weight_decay": 0.0}
    assert tool.parse_variant("") == {}
    assert tool.parse_variant("low_k=3,low_epochs=60,low_lr=0.05") == {"low_k": 3, "low_epochs": 60, "low_lr": 0.05}
    assert tool.parse_variant("top_lr=0.05,top_decay=1e-4") == {"top_lr": 0.05, "top_decay": 1e-4}
    low, mid, top = tool.variant_configs({"weight_decay": 5e-4, "top_decay": 1e-4, "top_lr": 0.05, "low_k": 3}, 7)
    assert (low.weight_decay, low.k, low.learning_rate, low.seed) == (5e-4, 3, 0.1, 7) and mid == low
    assert (top.weight_decay, top.learning_rate, top.k, top.seed) == (1e-4, 0.05, 10, 7)
    assert [(c.k, c.weight_decay) for c in tool.variant_configs({}, 0)] == [(10, 1e-4)] * 3
    assert [c.weight_decay for c in tool.variant_configs({"weight_decay": 2e-4}, 0)] == [2e-4] * 3
    with pytest.raises(SystemExit, match="KEY one of .* got 'top_k3'"):
        tool.parse_variant("top_k3")
    with pytest.raises(SystemExit, match="top_k expects an integer, got 'x'"):
        tool.parse_variant("top_k=x")
    with pytest.raises(SystemExit, match="precision expects one of"):
        tool.parse_variant("precision=fp8")


def test_semi_supervised_subsets_and_folds_are_class_balanced_and_validate_each_image_once(monkeypatch):
    import torch

    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_mnist_semi")
    labels = torch.arange(1000) % 10
    idx = bench.labelled_subset(labels, 0.05, torch.Generator().manual_seed(0))
    assert idx.shape == (50,) and torch.bincount(labels[idx]).tolist() == [5] * 10
    assert torch.equal(idx, bench.labelled_subset(labels, 0.05, torch.Generator().manual_seed(0)))
    assert bench.labelled_subset(labels, 1.0, torch.Generator()).tolist() == list(range(1000))
    splits = bench.folds(idx, labels, torch.Generator().manual_seed(1), 5)
    for tr, va in splits:
        assert torch.bincount(labels[va]).tolist() == [1] * 10 and torch.bincount(labels[tr]).tolist() == [4] * 10
        assert sorted(tr.tolist() + va.tolist()) == idx.tolist()
    assert sorted(i for _, va in splits for i in va.tolist()) == idx.tolist()  # each image validated once
    uneven = bench.folds(idx[:23], labels, torch.Generator().manual_seed(1), 4)  # 3 or 2 of each class
    for _, va in uneven:
        assert 5 <= va.shape[0] <= 6 and torch.bincount(labels[va], minlength=10).max() <= 1


def test_semi_supervised_parts_and_fractions_are_chosen_by_name(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_mnist_semi")
    assert bench.chosen() == (["DBN", "sparse autoencoder", "two-layer DBM", "KNN"], [0.01, 0.05, 0.1, 1.0])
    monkeypatch.setenv("CRBM_BENCH_PARTS", "DBM, KNN")
    monkeypatch.setenv("CRBM_BENCH_FRACTIONS", "0.1,0.01")
    assert bench.chosen() == (["two-layer DBM", "KNN"], [0.01, 0.1])
    monkeypatch.setenv("CRBM_BENCH_FRACTIONS", "0.2")
    with pytest.raises(SystemExit, match="CRBM_BENCH_FRACTIONS: expected some of 0.01, 0.05, 0.1, 1.0, got"):
        bench.chosen()
    monkeypatch.setenv("CRBM_BENCH_PARTS", "RBM")
    with pytest.raises(SystemExit, match="CRBM_BENCH_PARTS: expected some of DBN, sparse, DBM, KNN, got"):
        bench.chosen()


def test_semi_supervised_dbm_budget_is_the_dbm_benchmarks_a_tenth_or_longer(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_mnist_semi")
    full = importlib.import_module("bench_mnist_dbm").settings(quick=False)
    assert bench.settings(quick=False)["dbm"]["joint"] == full["dbm"]
    assert bench.settings(quick=False)["dbm"]["pretrain"] == full["pretrain"]
    monkeypatch.setenv("CRBM_BENCH_DBM_BUDGET", "short")
    short = bench.settings(quick=False)["dbm"]
    assert (short["pretrain"]["epochs"], short["joint"]["epochs"]) == (30, 30)
    monkeypatch.setenv("CRBM_BENCH_DBM_BUDGET", "long")
    long = bench.settings(quick=False)["dbm"]
    assert long["pretrain"] == full["pretrain"] and long["joint"] == {**full["dbm"], "epochs": 500}
    monkeypatch.setenv("CRBM_BENCH_DBM_BUDGET", "huge")
    with pytest.raises(SystemExit, match="CRBM_BENCH_DBM_BUDGET: expected full, short or long, got 'huge'"):
        bench.settings(quick=False)


def test_dbm_training_kept_in_a_folder_continues_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_mnist_dbm")
    data = (torch.rand(60, 12, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    pre = crbm.TrainConfig(epochs=1, batch_size=20, verbose=False, progress=False)
    joint = crbm.TrainConfig(epochs=3, batch_size=20, k=2, n_chains=20, verbose=False, progress=False, seed=1)
    whole = bench.train_dbm(data, 6, 4, pre, joint, keep=tmp_path / "whole")
    stopped = bench.train_dbm(data, 6, 4, pre, joint, keep=tmp_path / "cut", callbacks=[lambda e, f, m: e >= 0])
    assert not torch.equal(stopped.joint_rbm.weight, whole.joint_rbm.weight)  # one epoch of three
    again = bench.train_dbm(data, 6, 4, pre, joint, keep=tmp_path / "cut")
    assert torch.equal(again.joint_rbm.weight, whole.joint_rbm.weight)
    assert (tmp_path / "cut-pretrained.safetensors").exists() and (tmp_path / "cut-joint.safetensors").exists()


def test_ratings_folds_read_ml1m_as_seeded_holdouts(tmp_path, monkeypatch):
    folder = tmp_path / "ratings" / "ml-1m"
    folder.mkdir(parents=True)
    lines = [f"{u}::{i}::{1 + (u + i) % 5}::0\n" for u in range(1, 9) for i in range(5)]
    (folder / "ratings.dat").write_text("".join(lines))
    monkeypatch.setenv("CRBM_DATA", str(tmp_path))
    monkeypatch.setenv("CRBM_BENCH_RATINGS", "ml-1m")
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_ratings")
    folds = bench.folds(quick=False)
    assert [f[0] for f in folds] == [f"seed {s}" for s in range(5)]
    assert all((len(train), len(test)) == (36, 4) for _, train, test in folds)
    monkeypatch.setenv("CRBM_BENCH_RATINGS", "ml-20m")
    with pytest.raises(SystemExit, match="CRBM_BENCH_RATINGS: expected ml-100k or ml-1m"):
        bench.folds(quick=True)
    spec = bench.candidates(quick=True)["conditional I-RBM"][0]
    model = bench.make(spec, device="cpu", seed=0)
    assert (model.by, model.conditional, model.n_hidden) == ("item", True, spec["n_hidden"])


def test_ratings_on_ml1m_put_its_published_rbm_figures_beside_the_rows(tmp_path, monkeypatch):
    """The quick run on a small file in ML-1M's format: I-RBM 0.854 and U-RBM 0.881 (Sedhain et al. 2015) stand
    beside the RBM rows, marked as this data set's figures."""
    folder = tmp_path / "ratings" / "ml-1m"
    folder.mkdir(parents=True)
    lines = [f"{u}::{i}::{1 + (u * i) % 5}::97830{u:04d}\n" for u in range(1, 31) for i in range(1, 41)]
    (folder / "ratings.dat").write_text("".join(lines))
    monkeypatch.setenv("CRBM_DATA", str(tmp_path))
    monkeypatch.setenv("CRBM_BENCH_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("CRBM_BENCH_RATINGS", "ml-1m")
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_ratings")
    report = bench.run(quick=True, device="cpu")
    rows = {r["name"]: r for r in report["rows"]}
    assert report["data"] == "ml-1m" and len(rows) == 8
    assert (rows["I-RBM test RMSE"]["published"], rows["U-RBM test RMSE"]["published"]) == (0.854, 0.881)
    assert rows["I-RBM test RMSE"]["published_on"].endswith("this run's data and protocol")
    assert rows["conditional I-RBM test RMSE"]["published"] is None
    assert all(0 < r["ours"] < 4 for r in rows.values())
    assert [r["fold"] for r in report["folds"]["I-RBM"]] == ["seed 0"]


def _cmubench_file(path: Path, rows: int, phase: float) -> None:
    """A file in the benchmark's 117-column format: the root still, the varying joints of the benchmark's
    training files swinging slowly (a few tenths of a radian)."""
    t = np.arange(rows)[:, None] / 120.0
    frames = np.zeros((rows, 117))
    frames[:, 3:] = 0.3 * np.sin(2 * np.pi * 0.8 * t + phase + np.arange(114) / 7.0)
    frames[:, 6:9] = frames[:, 21:24] = frames[:, 24:27] = 0  # joints fixed to their parents
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, frames, fmt="%.6f", delimiter=",")


def test_cmu_prediction_runs_on_the_actions_present(tmp_path, monkeypatch):
    """The benchmark measures every action whose files are there, not a fixed list: a folder holding only
    washwindow (one of the benchmark's eight that the project's copy lacks) gives washwindow's rows and a mean
    over it, with no protocol figure for zero velocity to compare with."""
    for k in (1, 2):
        _cmubench_file(tmp_path / f"mocap/cmu-bench/train/washwindow/washwindow_{k}.txt", 480, phase=k)
    _cmubench_file(tmp_path / "mocap/cmu-bench/test/washwindow/washwindow_1.txt", 480, phase=0.5)
    monkeypatch.setenv("CRBM_DATA", str(tmp_path))
    monkeypatch.setenv("CRBM_BENCH_VARIANTS", "differences")
    monkeypatch.syspath_prepend(str(TOOLS))
    bench = importlib.import_module("bench_cmu_prediction")
    assert bench.actions() == ["washwindow"]
    monkeypatch.setattr(bench, "EPOCHS", 5)
    report = bench.run(quick=False, device="cpu")
    rows = {r["name"]: r for r in report["rows"]}
    assert report["actions"] == ["washwindow"] and "zero_velocity_matches_protocol" not in report
    assert rows["euler_mean_400"]["ours"] == rows["euler_washwindow_400"]["ours"] > 0
    assert rows["zero_velocity_euler_washwindow_400"]["published"] is None
    assert not any("walking" in name for name in rows)
    monkeypatch.setenv("CRBM_DATA", str(tmp_path / "nothing"))
    with pytest.raises(SystemExit, match="no action of the CMU-mocap benchmark found"):
        bench.actions()
