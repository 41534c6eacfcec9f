"""Checkpoints: exact round trips, atomic writes, and refusal of anything that is not a crbm checkpoint."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from engine_helpers import DT, random_rbm
from safetensors.torch import save as st_save

import crbm
import crbm.engine.checkpoint as ckpt
from crbm import RBM, FormatError, load_checkpoint, load_model, save_checkpoint
from crbm.engine.errors import CRBMError
from crbm.engine.units import Concat, Softmax

MODELS = {
    "bernoulli": lambda: random_rbm(5, 3, seed=1),
    "gaussian-learn-sigma": lambda: random_rbm(4, 3, visible="gaussian", learn_sigma=True, seed=2),
    "gaussian-fixed-sigma": lambda: random_rbm(4, 3, visible="gaussian", seed=3),
    "softmax-groups": lambda: random_rbm(6, 4, visible=Softmax(3), hidden=Softmax(2), seed=4),
    "concat-relu": lambda: random_rbm(5, 3, visible=Concat([("bernoulli", 2), (Softmax(), 3)]), hidden="relu", seed=5),
    "replicated-softmax": lambda: random_rbm(4, 2, visible="replicated_softmax", seed=6),
    "float32": lambda: RBM(5, 3, generator=torch.Generator().manual_seed(7), init_std=1.0),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_is_exact(tmp_path, name):
    model = MODELS[name]()
    path = save_checkpoint(tmp_path / "m.crbm", model, extra={"preprocess": {"mean": [1.5, 2.0]}})
    back = load_model(path)
    assert type(back) is RBM and back.config() == model.config()
    assert back.weight.dtype == model.weight.dtype
    for k, t in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], t), k
    assert isinstance(back.weight, torch.nn.Parameter)
    if name == "gaussian-learn-sigma":
        assert "log_sigma" in dict(back.named_parameters())
    if model.visible.name != "replicated_softmax":
        v = model.sample(3, steps=1, generator=torch.Generator().manual_seed(0))
    else:
        v = torch.tensor([[1, 0, 2, 0]], dtype=DT)
    assert torch.equal(back.free_energy(v), model.free_energy(v))
    assert load_checkpoint(path).extra == {"preprocess": {"mean": [1.5, 2.0]}}


def test_trainer_state_round_trip(tmp_path):
    model = random_rbm(5, 3, seed=8)
    gen = torch.Generator().manual_seed(3)
    gen_state = gen.get_state()
    trainer = {
        "velocity/weight": torch.randn(5, 3, dtype=DT),
        "state/chain": torch.ones(7, 5),
        "rng/generator": gen_state,
    }
    meta = {"epoch": 4, "history": [{"epoch": 1, "recon_error": 0.5}], "config": {"k": 1}}
    save_checkpoint(tmp_path / "t.crbm", model, trainer=trainer, trainer_meta=meta)
    ck = load_checkpoint(tmp_path / "t.crbm")
    assert ck.trainer_meta == meta
    assert set(ck.trainer) == set(trainer)
    assert all(torch.equal(ck.trainer[k], t) for k, t in trainer.items())
    resumed = torch.Generator().manual_seed(0)
    resumed.set_state(ck.trainer["rng/generator"])
    assert torch.equal(torch.rand(4, generator=resumed), torch.rand(4, generator=gen))


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.crbm"
    save_checkpoint(path, random_rbm(5, 3, seed=1))
    save_checkpoint(path, random_rbm(5, 3, seed=2))  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.crbm"]
    assert torch.equal(load_model(path).weight, random_rbm(5, 3, seed=2).weight)

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, random_rbm(5, 3, seed=3))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.crbm"]  # no temp file left behind
    assert torch.equal(load_model(path).weight, random_rbm(5, 3, seed=2).weight)  # the old file is intact
    save_checkpoint(tmp_path / "new" / "deeper" / "m.crbm", random_rbm(2, 2))  # creates the folder


def _good_parts() -> tuple[dict, dict]:
    model = random_rbm(5, 3, seed=1)
    meta = {
        "format": ckpt.FORMAT,
        "kind": "RBM",
        "config": model.config(),
        "dtype": "float64",
        "trainer": {},
        "extra": {},
    }
    return meta, {f"model/{k}": v for k, v in model.state_dict().items()}


def _write(path, tensors, meta) -> None:
    path.write_bytes(st_save(tensors, metadata={"crbm": json.dumps(meta) if isinstance(meta, dict) else meta}))


@pytest.mark.parametrize(
    "case,expected",
    [
        ("pickle", "not a readable safetensors checkpoint"),
        ("torch.save", "not a readable safetensors checkpoint"),
        ("random bytes", "not a readable safetensors checkpoint"),
        ("empty", "not a readable safetensors checkpoint"),
        ("truncated", "not a readable safetensors checkpoint"),
        ("missing file", "no such checkpoint file"),
        ("plain safetensors", "no 'crbm' metadata"),
        ("metadata not json", "metadata is not valid JSON"),
        ("wrong format", "expected checkpoint format 'crbm-checkpoint/1', got 'other/9'"),
        ("unknown kind", "unknown model kind 'Transformer'; expected one of"),
        ("bad dtype", "unknown dtype 'float99'"),
        ("bad config", "invalid RBM config"),
        ("wrong shape", r"tensor 'weight' has shape \(5, 4\), the config needs \(5, 3\)"),
        ("missing tensor", r"missing \['hidden_bias'\]"),
        ("extra tensor", r"unexpected \['rogue'\]"),
        ("config disagrees", r"has shape \(5, 3\), the config needs \(5, 9\)"),
    ],
)
def test_anything_else_is_refused_with_format_error(tmp_path, case, expected):
    path = tmp_path / "x.crbm"
    meta, tensors = _good_parts()
    if case == "pickle":
        path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    elif case == "torch.save":
        torch.save(random_rbm(5, 3).state_dict(), path)
    elif case == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        _write(path, tensors, meta)
        path.write_bytes(path.read_bytes()[:-20])
    elif case == "plain safetensors":
        path.write_bytes(st_save(tensors))
    elif case == "metadata not json":
        _write(path, tensors, "{not json")
    elif case == "wrong format":
        _write(path, tensors, {**meta, "format": "other/9"})
    elif case == "unknown kind":
        _write(path, tensors, {**meta, "kind": "Transformer"})
    elif case == "bad dtype":
        _write(path, tensors, {**meta, "dtype": "float99"})
    elif case == "bad config":
        _write(path, tensors, {**meta, "config": {**meta["config"], "visible": "quantum"}})
    elif case == "wrong shape":
        _write(path, {**tensors, "model/weight": torch.zeros(5, 4, dtype=DT)}, meta)
    elif case == "missing tensor":
        _write(path, {k: t for k, t in tensors.items() if k != "model/hidden_bias"}, meta)
    elif case == "extra tensor":
        _write(path, {**tensors, "model/rogue": torch.zeros(1)}, meta)
    elif case == "config disagrees":
        _write(path, tensors, {**meta, "config": {**meta["config"], "n_hidden": 9}})
    with pytest.raises(FormatError, match=expected) as err:
        load_checkpoint(path)
    assert err.value.path == str(path)
    assert isinstance(err.value, ValueError)


def test_the_good_reference_file_loads(tmp_path):
    meta, tensors = _good_parts()
    _write(tmp_path / "ok.crbm", tensors, meta)
    assert torch.equal(load_model(tmp_path / "ok.crbm").weight, tensors["model/weight"])


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.crbm", random_rbm(5, 3, seed=1))

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a checkpoint must not unpickle")

    for mod, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(mod, name, forbidden)
    assert load_model(path).weight.shape == (5, 3)


def test_unregistered_models_are_refused(tmp_path):
    with pytest.raises(CRBMError, match="not a registered crbm model kind"):
        save_checkpoint(tmp_path / "x", torch.nn.Linear(2, 2))


def test_every_model_kind_is_read_through_the_module_that_defines_it():
    """``KIND_MODULES`` names, for every kind the package registers, the module whose import registers it
    (a checkpoint is read by importing that module only), and names nothing else."""
    registered = {kind: cls.__module__ for kind, cls in ckpt.MODEL_KINDS.items() if cls.__module__.startswith("crbm.")}
    assert registered == ckpt.KIND_MODULES


def test_shipped_models_are_found_by_name(tmp_path):
    demo = ckpt.model_path("demo")
    assert demo.name == "demo-walk-run.safetensors" and demo.parent.name == "pretrained"
    assert demo.parent.parent == Path(crbm.__file__).parent and demo.is_file()
    assert ckpt.model_path(tmp_path / "m.safetensors") == tmp_path / "m.safetensors"
