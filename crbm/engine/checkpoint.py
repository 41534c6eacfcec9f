"""Code-free, atomic checkpoints: one safetensors file holding the tensors, with the model's kind and
config, the trainer's state and any fitted preprocessing as JSON in the file's metadata.

Loading never executes code: safetensors holds raw tensors only, and the model is rebuilt from its JSON
config through a table of known model kinds (``MODEL_KINDS``; a kind's module, named in ``KIND_MODULES``,
is imported when a file of that kind is read). Shapes are checked against the config on a
meta device before any real allocation, so a file whose tensors disagree with its config is refused.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save

from crbm.engine.atomic import write_bytes
from crbm.engine.errors import CRBMError, FormatError
from crbm.engine.limits import load_json

FORMAT = "crbm-checkpoint/1"
_UNREADABLE = "not a readable safetensors checkpoint"  # how every refusal of the file's container begins
MODEL_KINDS: dict[str, type] = {}
# the module defining each model kind (it registers the class when imported): a checkpoint is read by
# importing its own kind's module only
KIND_MODULES = {
    "RBM": "crbm.engine.rbm",
    "DBN": "crbm.static.dbn",
    "DBNClassifier": "crbm.static.classifier",
    "DeepAutoencoder": "crbm.static.autoencoder",
    "DBM": "crbm.static.dbm",
    "RatingRBM": "crbm.static.collaborative",
    "BiasedMF": "crbm.static.collaborative",
    "CRBM": "crbm.motion.conditional",
    "TwoLayerCRBM": "crbm.motion.conditional",
    "LabelCRBM": "crbm.motion.factored",
    "FCRBM": "crbm.motion.factored",
    "MixtureCRBM": "crbm.motion.mixture",
}
# models shipped in the package's pretrained/ folder, by the name a user gives instead of a path
SHIPPED_MODELS = {"demo": "demo-walk-run.safetensors"}


def register_model(cls: type) -> type:
    """Class decorator: make a model kind loadable (``cls.kind``, ``cls.config()``, ``cls.from_config``)."""
    MODEL_KINDS[cls.kind] = cls
    return cls


@dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns."""

    model: torch.nn.Module
    trainer: dict[str, torch.Tensor] = field(default_factory=dict)
    trainer_meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike,
    model: torch.nn.Module,
    *,
    trainer: dict[str, torch.Tensor] | None = None,
    trainer_meta: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``model`` (and optionally the trainer's tensors and JSON state, and ``extra`` JSON such as
    fitted preprocessing) to ``path`` atomically."""
    if getattr(model, "kind", None) not in MODEL_KINDS:
        raise CRBMError(f"cannot checkpoint a {type(model).__name__}: not a registered crbm model kind")
    tensors = {f"model/{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in (trainer or {}).items():
        tensors[f"trainer/{k}"] = v.detach().contiguous().cpu()
    meta = {
        "format": FORMAT,
        "kind": model.kind,
        "config": model.config(),
        "dtype": str(next(iter(model.state_dict().values())).dtype).removeprefix("torch."),
        "trainer": trainer_meta or {},
        "extra": extra or {},
    }
    return write_bytes(path, st_save(tensors, metadata={"crbm": json.dumps(meta)}))


def model_path(name_or_path: str | os.PathLike) -> Path:
    """The file of a shipped model for its name in ``SHIPPED_MODELS`` (``"demo"``: the walk/run model that
    ``tools/train_demo.py`` trains), else ``name_or_path`` as a path."""
    shipped = SHIPPED_MODELS.get(str(name_or_path))
    return Path(__file__).resolve().parents[1] / "pretrained" / shipped if shipped else Path(name_or_path)


def _model_class(kind: str) -> type | None:
    """The registered class of ``kind``, importing the module that defines it (``KIND_MODULES``)."""
    if kind not in MODEL_KINDS and kind in KIND_MODULES:
        importlib.import_module(KIND_MODULES[kind])
    return MODEL_KINDS.get(kind)


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device | None = None) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; raises FormatError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "no such checkpoint file")
    _check_header(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get("crbm")
            if raw is None:
                raise FormatError(path, "not a crbm checkpoint (no 'crbm' metadata in the safetensors header)")
            meta = load_json(path, raw, "checkpoint metadata")
            if not isinstance(meta, dict):
                raise FormatError(path, f"checkpoint metadata must be a JSON object, got {type(meta).__name__}")
            if meta.get("format") != FORMAT:
                raise FormatError(path, f"expected checkpoint format {FORMAT!r}, got {meta.get('format')!r}")
            cls = _model_class(meta["kind"]) if isinstance(meta.get("kind"), str) else None
            if cls is None:
                kinds = sorted(set(MODEL_KINDS) | set(KIND_MODULES))
                raise FormatError(path, f"unknown model kind {meta.get('kind')!r}; expected one of {kinds}")
            dtype = getattr(torch, str(meta.get("dtype", "float32")), None)
            if not isinstance(dtype, torch.dtype):
                raise FormatError(path, f"unknown dtype {meta.get('dtype')!r}")
            skeleton = _build(path, cls, meta, dtype, "meta")
            expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
            names = set(f.keys())
            stored = {k[len("model/") :]: tuple(f.get_slice(k).get_shape()) for k in names if k.startswith("model/")}
            if set(stored) != set(expected):
                missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
                raise FormatError(
                    path, f"tensors do not match the {meta['kind']} config: missing {missing}, unexpected {unexpected}"
                )
            for k, shape in expected.items():
                if stored[k] != shape:
                    raise FormatError(path, f"tensor {k!r} has shape {stored[k]}, the config needs {shape}")
                kept = f.get_slice("model/" + k).get_dtype()
                if kept != _SAFETENSORS_DTYPES.get(dtype):
                    raise FormatError(path, f"tensor {k!r} is stored as {kept}; the checkpoint's dtype is {dtype}")
            for key in ("trainer", "extra"):
                if not isinstance(meta.get(key, {}), dict):
                    raise FormatError(path, f"checkpoint metadata {key!r} must be a JSON object")
            state = {k: f.get_tensor("model/" + k) for k in expected}
            trainer = {k[len("trainer/") :]: f.get_tensor(k) for k in names if k.startswith("trainer/")}
    except SafetensorError as err:
        if "not fully covered" in str(err):
            message = f"{_UNREADABLE}: the tensor data does not match the header's offsets (truncated or corrupt)"
        else:
            message = f"{_UNREADABLE} ({err})"
        raise FormatError(path, message) from None
    except (OSError, ValueError) as err:
        if isinstance(err, CRBMError):
            raise
        raise FormatError(path, f"{_UNREADABLE} ({err})") from None
    model = _build(path, cls, meta, dtype, device)  # (a config may pass on the meta device and fail here)
    model.load_state_dict({k: v.to(model.state_dict()[k].device) for k, v in state.items()})
    return Checkpoint(model, trainer, meta.get("trainer", {}), meta.get("extra", {}))


def _build(path: Path, cls: type, meta: dict, dtype: torch.dtype, device) -> torch.nn.Module:
    """``cls.from_config(meta["config"])`` on ``device``; any failure of the config is a FormatError."""
    try:
        return cls.from_config(meta["config"], dtype=dtype, device=device)
    except (CRBMError, TypeError, KeyError, ValueError, RuntimeError, OverflowError, AttributeError) as err:
        reason = str(err) if isinstance(err, CRBMError) else f"{type(err).__name__}: {err}"
        raise FormatError(path, f"invalid {meta['kind']} config: {reason}") from None


_SAFETENSORS_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64"}


def _check_header(path: Path) -> None:
    """Clear refusals of pickles (``torch.save``/``pickle.dump`` files: loading them can execute code) and of
    files too short for the header they declare (safetensors: 8-byte little-endian length, then JSON)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        raise FormatError(
            path,
            f"{_UNREADABLE}: this is a pickle (torch.save) file, refused because loading it can run arbitrary "
            "code; expected a safetensors file written by crbm.save_checkpoint",
        )
    if len(head) < 8:
        raise FormatError(path, f"{_UNREADABLE}: the file holds {size} bytes; it starts with an 8-byte header size")
    declared = int.from_bytes(head, "little")
    if size - 8 < declared < 100_000_000:  # (larger declared sizes are garbage, refused by safetensors itself)
        raise FormatError(
            path, f"{_UNREADABLE}: truncated, the header declares {declared} bytes but only {size - 8} follow"
        )


def load_model(path: str | os.PathLike, *, device: str | torch.device | None = None) -> torch.nn.Module:
    """The model stored in a checkpoint."""
    return load_checkpoint(path, device=device).model
