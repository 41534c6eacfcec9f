"""Loading runs no code and allocates nothing a file merely claims: no pickle anywhere in the package, and
hostile safetensors headers are refused while the model exists only on the meta device."""

from __future__ import annotations

import ast
import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

import crbm
from crbm import FormatError
from crbm.engine.rbm import RBM

PACKAGE = Path(crbm.__file__).resolve().parent
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "_pickle"}


def _unsafe_uses(tree: ast.AST) -> list[str]:
    """Imports of pickle-like modules, torch.load / numpy.load(allow_pickle=True), eval / exec calls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(node.module)
        elif isinstance(node, ast.Call):
            f = node.func
            name = ast.unparse(f)
            if name in ("eval", "exec", "torch.load", "pickle.load", "pickle.loads"):
                found.append(name)
            pickles = [k for k in node.keywords if k.arg == "allow_pickle"]
            if name.endswith(".load") and any(
                not (isinstance(k.value, ast.Constant) and k.value.value is False) for k in pickles
            ):
                found.append(f"{name}(allow_pickle=...)")
    return found


def test_the_package_never_unpickles():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    offenders = {str(p.relative_to(PACKAGE)): u for p in files if (u := _unsafe_uses(ast.parse(p.read_text())))}
    assert offenders == {}


def test_the_scan_finds_what_it_looks_for():
    code = (
        "import pickle\nfrom dill import loads\nimport torch\ntorch.load('x')\nimport numpy as np\n"
        "np.load('y', allow_pickle=True)\neval('1')\n"
    )
    assert _unsafe_uses(ast.parse(code)) == ["pickle", "dill", "torch.load", "np.load(allow_pickle=...)", "eval"]


def _raw(header: dict, data: bytes = b"") -> bytes:
    """A safetensors file by hand: 8-byte little-endian header size, JSON header, data."""
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _meta(**changes) -> dict:
    meta = {
        "format": "crbm-checkpoint/1",
        "kind": "RBM",
        "config": RBM(4, 3).config(),
        "dtype": "float32",
        "trainer": {},
        "extra": {},
    }
    meta.update(changes)
    return {"crbm": json.dumps(meta)}


def _small_tensors() -> dict[str, torch.Tensor]:
    return {f"model/{k}": v.contiguous() for k, v in RBM(4, 3).state_dict().items()}


@pytest.fixture
def real_builds(monkeypatch) -> list:
    """The devices RBM.from_config is called with while loading (anything but 'meta' allocates)."""
    devices = []
    original = RBM.from_config.__func__

    def spy(cls, config, *, dtype=torch.float32, device=None):
        devices.append(str(device))
        return original(cls, config, dtype=dtype, device=device)

    monkeypatch.setattr(RBM, "from_config", classmethod(spy))
    return devices


HOSTILE = {
    "config-claims-1e9-squared-units": (
        lambda: st_save(
            _small_tensors(), metadata=_meta(config={**RBM(4, 3).config(), "n_visible": 10**9, "n_hidden": 10**9})
        ),
        r"tensor 'weight' has shape \(4, 3\), the config needs \(1000000000, 1000000000\)",
    ),
    "config-overflows-int64": (
        lambda: st_save(
            _small_tensors(), metadata=_meta(config={**RBM(4, 3).config(), "n_visible": 10**12, "n_hidden": 10**12})
        ),
        r"invalid RBM config: .*overflow",
    ),
    "concat-claims-1e12-units": (
        lambda: st_save(
            _small_tensors(),
            metadata=_meta(config={**RBM(4, 3).config(), "visible": {"concat": [["bernoulli", 10**12]]}}),
        ),
        r"the Concat blocks hold 1000000000000 units but the layer has 4",
    ),
    "unknown-dtype-in-metadata": (
        lambda: st_save(_small_tensors(), metadata=_meta(dtype="quaternion128")),
        r"unknown dtype 'quaternion128'",
    ),
    "integer-dtype-in-metadata": (
        lambda: st_save(_small_tensors(), metadata=_meta(dtype="int64")),
        r"dtype must be a floating dtype, got torch\.int64",
    ),
    "metadata-not-json": (
        lambda: st_save(_small_tensors(), metadata={"crbm": "{'kind': 'RBM'"}),
        r"checkpoint metadata is not valid JSON",
    ),
    "metadata-a-json-list": (
        lambda: st_save(_small_tensors(), metadata={"crbm": "[]"}),
        r"checkpoint metadata must be a JSON object, got list",
    ),
    "tensor-dtype-unknown-to-safetensors": (
        lambda: _raw(
            {"model/weight": {"dtype": "X99", "shape": [4, 3], "data_offsets": [0, 48]}, "__metadata__": _meta()},
            bytes(48),
        ),
        r"not a readable safetensors checkpoint",
    ),
    "header-claims-a-1e12-element-tensor": (
        lambda: _raw(
            {
                "model/weight": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]},
                "__metadata__": _meta(),
            },
            bytes(64),
        ),
        r"not a readable safetensors checkpoint",
    ),
    "header-size-claims-2-62-bytes": (
        lambda: struct.pack("<Q", 2**62) + b"{}",
        r"not a readable safetensors checkpoint \(.*header too large",
    ),
    "header-size-beyond-the-file": (
        lambda: struct.pack("<Q", 5000) + b"{}",
        r"truncated, the header declares 5000 bytes but only 2 follow",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_checkpoint_refused_before_allocation(tmp_path, real_builds, name):
    build, pattern = HOSTILE[name]
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(build())
    with pytest.raises(FormatError, match=pattern):
        crbm.load_checkpoint(path)
    assert all(d == "meta" for d in real_builds), real_builds  # the model was never built for real


def test_a_valid_checkpoint_is_built_on_meta_first(tmp_path, real_builds):
    path = crbm.save_checkpoint(tmp_path / "ok.safetensors", RBM(4, 3))
    crbm.load_checkpoint(path, device="cpu")
    assert real_builds == ["meta", "cpu"]
