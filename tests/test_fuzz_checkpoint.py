"""Fuzzing the checkpoint reader: random bytes, valid checkpoints with flipped header bytes, truncated at any
point, or with metadata fields replaced by arbitrary JSON. The only exception allowed is the package's
FormatError (a CRBMError); anything that loads must be a consistent model."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save

import crbm
from crbm import FormatError

TENSORS = {  # the tensors of _valid_checkpoint's model
    "model/weight": torch.zeros(3, 2),
    "model/visible_bias": torch.zeros(3),
    "model/hidden_bias": torch.zeros(2),
    "model/log_sigma": torch.zeros(3),
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_checkpoint() -> bytes:
    model = crbm.RBM(3, 2, visible="gaussian", learn_sigma=True, generator=torch.Generator().manual_seed(0))
    folder = Path(tempfile.mkdtemp())
    path = crbm.save_checkpoint(folder / "ok.safetensors", model, trainer={"velocity/weight": torch.ones(3, 2)},
                                trainer_meta={"epoch": 1}, extra={"note": "x"})
    return path.read_bytes()


VALID = _valid_checkpoint()
HEADER_END = 8 + struct.unpack("<Q", VALID[:8])[0]


def _load(data: bytes) -> crbm.Checkpoint | None:
    """Load ``data`` from a file; None when it was refused with FormatError (anything else propagates)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.safetensors"
        path.write_bytes(data)
        try:
            ck = crbm.load_checkpoint(path)
        except FormatError as err:
            assert str(path) in str(err) and "\n" not in str(err)
            return None
    skeleton = type(ck.model).from_config(ck.model.config(), device="meta")
    assert {k: v.shape for k, v in ck.model.state_dict().items()} == {
        k: v.shape for k, v in skeleton.state_dict().items()
    }
    assert isinstance(ck.trainer_meta, dict) and isinstance(ck.extra, dict)
    return ck


def test_the_valid_checkpoint_loads():
    assert _load(VALID) is not None


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    assert _load(data) is None


@FUZZ
@given(st.binary(min_size=1, max_size=256).map(lambda head: struct.pack("<Q", len(head)) + head))
def test_random_header_with_a_consistent_length(data):
    assert _load(data) is None


@FUZZ
@given(st.integers(0, len(VALID) - 1))
def test_truncated_anywhere(end):
    assert _load(VALID[:end]) is None


@FUZZ
@given(st.lists(st.tuples(st.integers(0, HEADER_END - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_flipped_header_bytes(flips):
    data = bytearray(VALID)
    for at, mask in flips:
        data[at] ^= mask
    _load(bytes(data))  # refused with FormatError, or loads a consistent model


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.sampled_from(["RBM", "float64", "int8", "bernoulli", "gaussian", "softmax", "relu", "concat",
                       "replicated_softmax", "crbm-checkpoint/1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["format", "kind", "dtype", "trainer", "extra", "config", "config.n_visible", "config.n_hidden",
          "config.visible", "config.hidden", "config.learn_sigma", "config.init_std"]


@FUZZ
@given(st.sampled_from(FIELDS), JSON)
def test_metadata_field_replaced_by_arbitrary_json(field, value):
    header = json.loads(VALID[8:HEADER_END])
    meta = json.loads(header["__metadata__"]["crbm"])
    where, _, key = field.partition(".")
    if key:
        meta[where][key] = value
    else:
        meta[where] = value
    _load(st_save(TENSORS, metadata={"crbm": json.dumps(meta)}))


TRAINER_KEYS = ["velocity/weight", "velocity/hidden_bias", "state/chain", "rng/generator", "epoch/order",
                "sums/recon_error", "velocity/nonsense"]
DTYPES = [torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]


@settings(FUZZ, max_examples=30)
@given(st.sampled_from(TRAINER_KEYS), st.lists(st.integers(0, 9), max_size=3), st.sampled_from(DTYPES))
def test_resume_with_a_mangled_trainer_tensor(key, shape, dtype):
    """A resume checkpoint whose trainer tensor has any shape and dtype: refused with CRBMError, or resumed."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.safetensors"
        data = (torch.rand(8, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
        model = crbm.RBM(3, 2, generator=torch.Generator().manual_seed(0))
        cfg = crbm.TrainConfig(epochs=2, batch_size=4, persistent=True, device="cpu", verbose=False, progress=False)
        trainer = {
            "velocity/weight": torch.zeros(3, 2),
            "state/chain": data[:4].clone(),
            "rng/generator": torch.Generator().get_state(),
            "epoch/order": torch.randperm(8),
            "sums/recon_error": torch.tensor(0.5),
        }
        trainer[key] = torch.zeros(shape, dtype=dtype)
        crbm.save_checkpoint(path, model, trainer=trainer, trainer_meta={"epoch": 1, "step": 1, "history": []})
        try:
            crbm.fit(crbm.RBM(3, 2), data, cfg, resume=path)
        except crbm.CRBMError:
            pass
