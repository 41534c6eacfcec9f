"""The catalogue of bad inputs: every one is refused with one of the package's exceptions and a one-line
message that names the file or argument, the place and what was expected.

``CASES`` is one table (id, the input in words, a callable that triggers it given a scratch folder, the
exception type, a regex the message must match). ``tools/bad_input_table.py`` runs the same table and prints
the table of docs/errors.md with the real messages.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save as st_save

import crbm
from crbm import CRBMError, FormatError, TrainConfig
from crbm.cli import _parse_schedule
from crbm.engine.checkpoint import MODEL_KINDS, register_model
from crbm.engine.noise import set_source

# ------------------------------------------------------------------------------------------ tiny valid inputs

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 0 0 0 0 0 0 0 0
1 1 1 1 1 1 1 1 1
"""

ASF = """:version 1.10
:name tiny
:units
  mass 1.0
  length 0.45
  angle deg
:root
  order TX TY TZ RX RY RZ
  axis XYZ
  position 0 0 0
  orientation 0 0 0
:bonedata
  begin
    id 1
    name lfemur
    direction 0 -1 0
    length 7
    axis 0 0 20 XYZ
    dof rx ry rz
  end
  begin
    id 2
    name ltibia
    direction 0 -1 0
    length 7
    axis 0 0 20 XYZ
    dof rx
  end
:hierarchy
  begin
    root lfemur
    lfemur ltibia
  end
"""

AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
lfemur 1 2 3
ltibia 4
2
root 1 1 1 1 1 1
lfemur 1 2 3
ltibia 5
"""

QUIET = dict(device="cpu", verbose=False, progress=False)


def _file(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


def _garbage(n: int = 4096, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _bvh(tmp: Path, old: str = "", new: str = "", *, name: str = "bad.bvh") -> Path:
    assert old in BVH
    return _file(tmp, name, BVH.replace(old, new, 1))


def _asf(tmp: Path, old: str = "", new: str = "", *, name: str = "bad.asf") -> Path:
    assert old in ASF
    return _file(tmp, name, ASF.replace(old, new, 1))


def _amc(tmp: Path, old: str = "", new: str = "", *, asf: Path | None = None):
    assert old in AMC
    path = _file(tmp, "bad.amc", AMC.replace(old, new, 1))
    return crbm.read_amc(path, crbm.read_asf(asf or _asf(tmp, name="tiny.asf")))


def _motion(tmp: Path) -> crbm.Motion:
    return crbm.read_bvh(_bvh(tmp, name="good.bvh"))


def _still(tmp: Path) -> crbm.Motion:
    """The tiny AMC clip's first frame held for 40 frames (a rig that stands: its root above its foot)."""
    clip = _amc(tmp)
    return clip.replace(frames=np.repeat(clip.frames[:1], 40, axis=0), name="still")


def _parquet(tmp: Path, edit: Callable[[pa.Table], pa.Table]) -> list:
    """A valid file written by crbm, with its table edited and the 'crbm' metadata kept."""
    good = tmp / "good.parquet"
    crbm.write_parquet(_motion(tmp), good)
    table = pq.read_table(good)
    meta = table.schema.metadata
    edited = edit(table)
    pq.write_table(edited.replace_schema_metadata(meta), tmp / "bad.parquet")
    return crbm.read_parquet(tmp / "bad.parquet")


def _parquet_fps(tmp: Path, fps: float, name: str = "bad.parquet") -> Path:
    """A valid file written by crbm whose metadata gives its clip the frame rate ``fps``."""
    good = tmp / "good.parquet"
    crbm.write_parquet(_motion(tmp), good)
    table = pq.read_table(good)
    meta = dict(table.schema.metadata)
    info = json.loads(meta[b"crbm"])
    info["clips"][0]["fps"] = fps
    meta[b"crbm"] = json.dumps(info).encode()
    pq.write_table(table.replace_schema_metadata(meta), tmp / name)
    return tmp / name


def _set_value(table: pa.Table, column: str, row: int, value: float) -> pa.Table:
    values = table.column(column).to_numpy().copy()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def _nan_after_construction(motion: crbm.Motion) -> crbm.Motion:
    motion.frames[1, 2] = np.nan  # (the array stays writable: a Motion checks its values when it is made)
    return motion


def _plain_parquet(tmp: Path) -> Path:
    pd.DataFrame({"Hips.Xposition": [1.0, 2.0]}).to_parquet(tmp / "bad.parquet")
    return tmp / "bad.parquet"


def _dataframe(tmp: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> crbm.Motion:
    motion = _motion(tmp)
    return crbm.motion_from_dataframe(edit(crbm.motion_to_dataframe(motion)), motion.skeleton, fps=25.0)


def _mat(tmp: Path, **variables) -> Path:
    import scipy.io

    scipy.io.savemat(tmp / "walkjog.mat", variables)
    return tmp / "walkjog.mat"


def _rbm(**kw) -> crbm.RBM:
    return crbm.RBM(4, 3, generator=torch.Generator().manual_seed(0), **kw)


def _v(rows: int = 8) -> torch.Tensor:
    return (torch.rand(rows, 4, generator=torch.Generator().manual_seed(1)) < 0.5).float()


def _fit(data=None, model=None, **cfg):
    settings = {"epochs": 1, "batch_size": 4, **QUIET, **cfg}
    return crbm.fit(model or _rbm(), _v() if data is None else data, TrainConfig(**settings))


def _checkpoint(tmp: Path, *, tensors: dict | None = None, name: str = "bad.safetensors", **changes) -> Path:
    """A checkpoint of ``_rbm()`` with its tensors and/or metadata fields replaced."""
    model = _rbm()
    meta = {
        "format": "crbm-checkpoint/1",
        "kind": "RBM",
        "config": model.config(),
        "dtype": "float32",
        "trainer": {},
        "extra": {},
    }
    meta.update(changes)
    if tensors is None:
        tensors = {f"model/{k}": v.contiguous() for k, v in model.state_dict().items()}
    return _file(tmp, name, st_save(tensors, metadata={"crbm": json.dumps(meta)}))


def _load(tmp: Path, **kw):
    return crbm.load_checkpoint(_checkpoint(tmp, **kw))


def _resume_mid_epoch_with_other_data(tmp: Path):
    path = tmp / "run.safetensors"
    model, calls = _rbm(), []
    gradient = model.gradient

    def dying_gradient(*args, **kwargs):  # the run is killed in batch 2 of 2, after the checkpoint of batch 1
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return gradient(*args, **kwargs)

    model.gradient = dying_gradient
    with pytest.raises(KeyboardInterrupt):
        _fit(model=model, checkpoint=str(path), checkpoint_every_steps=1)
    return crbm.fit(_rbm(), _v(12), TrainConfig(epochs=1, batch_size=4, **QUIET), resume=path)


def _resume_from_other_kind(tmp: Path):
    @register_model
    class Other(torch.nn.Module):  # a second model kind, registered for this case only
        kind = "test-other"

        def __init__(self, n: int = 2, *, dtype=torch.float32, device=None):
            super().__init__()
            self.n = n
            self.w = torch.nn.Parameter(torch.zeros(n, dtype=dtype, device=device), requires_grad=False)

        def config(self) -> dict:
            return {"n": self.n}

        @classmethod
        def from_config(cls, config, *, dtype=torch.float32, device=None):
            return cls(**config, dtype=dtype, device=device)

    try:
        path = tmp / "other.safetensors"
        crbm.save_checkpoint(path, Other(), trainer={"rng/generator": torch.Generator().get_state()})
        return crbm.fit(_rbm(), _v(), TrainConfig(epochs=1, batch_size=4, **QUIET), resume=path)
    finally:
        MODEL_KINDS.pop("test-other", None)


def _torch_save(tmp: Path) -> Path:
    buf = io.BytesIO()
    torch.save(_rbm().state_dict(), buf)
    return _file(tmp, "model.pt", buf.getvalue())


def _parquet_metadata(tmp: Path, old: str, new: str) -> list:
    """A valid file written by crbm whose 'crbm' metadata text has ``old`` replaced by ``new`` (first place)."""
    good = tmp / "good.parquet"
    crbm.write_parquet(_motion(tmp), good)
    table = pq.read_table(good)
    text = table.schema.metadata[b"crbm"].decode()
    assert old in text
    pq.write_table(table.replace_schema_metadata({b"crbm": text.replace(old, new, 1)}), tmp / "bad.parquet")
    return crbm.read_parquet(tmp / "bad.parquet")


def demo_with_entry(tmp: Path, change: Callable[[dict], object], name: str = "bad.safetensors"):
    """Load the shipped demo model re-saved as ``tmp / name`` with ``change`` applied to its 'motion_model' entry."""
    from safetensors.torch import load_file

    demo = crbm.motion.model.demo_model_path()
    header = json.loads(demo.read_bytes()[8 : 8 + int.from_bytes(demo.read_bytes()[:8], "little")])
    meta = json.loads(header["__metadata__"]["crbm"])
    change(meta["extra"]["motion_model"])
    return crbm.MotionModel.load(_file(tmp, name, st_save(load_file(demo), metadata={"crbm": json.dumps(meta)})))


DEEP = "[" * 100_000 + "]" * 100_000  # JSON nested 100,000 levels deep


def _cli_outputs(tmp: Path, argv: list[str]):
    """The check ``crbm`` makes before any work that no output is one of the command's inputs, for ``argv``
    run in ``tmp`` holding the tiny ASF/AMC pair (tiny.asf, walk.amc)."""
    from crbm.cli import _check_outputs, build_parser

    _file(tmp, "tiny.asf", ASF)
    _file(tmp, "walk.amc", AMC)
    here = os.getcwd()
    os.chdir(tmp)
    try:
        _check_outputs(build_parser().parse_args(argv))
    finally:
        os.chdir(here)


def _cut_off_mp4(tmp: Path):
    """What ffmpeg leaves on a full disk: the file type box and part of the frames, no index ('moov')."""
    from crbm.mocap.render import check_mp4

    ftyp = (24).to_bytes(4, "big") + b"ftypisom" + bytes(4) + b"isomiso2"
    mdat = (4096).to_bytes(4, "big") + b"mdat" + bytes(4088)
    return check_mp4(_file(tmp, "anim.mp4", ftyp + mdat[:4072]))


def _tampered_data_file(tmp: Path):
    (tmp / "mocap" / "gpmat").mkdir(parents=True)
    _file(tmp, "mocap/gpmat/cmu35WalkJog.mat", b"MATLAB 5.0")
    return crbm.data_path("mocap/gpmat/cmu35WalkJog.mat", path=tmp)


def _sigma_overflow(tmp: Path):
    """A Gaussian RBM with a learned sigma, on unnormalised data at a high rate, checkpointing every batch."""
    model = crbm.RBM(6, 5, visible="gaussian", learn_sigma=True, generator=torch.Generator().manual_seed(1))
    data = torch.randn(60, 6, generator=torch.Generator().manual_seed(0)) * 20
    return crbm.fit(model, data, TrainConfig(epochs=5, batch_size=10, learning_rate=0.5, checkpoint_every_steps=1,
                                             checkpoint=str(tmp / "run.safetensors"), **QUIET))


def _truncated_checkpoint(tmp: Path, end: int) -> Path:
    good = crbm.save_checkpoint(tmp / "good.safetensors", _rbm())
    return _file(tmp, "bad.safetensors", good.read_bytes()[:end])


# ------------------------------------------------------------------------------------------ the catalogue


@dataclass(frozen=True)
class Case:
    id: str
    input: str  # the bad input, in words (the first column of docs/errors.md)
    trigger: Callable[[Path], object]  # given a scratch folder, does what a user would do
    error: type[Exception]
    match: str  # regex the message must match (searched)


CASES = [
    # ---- BVH
    Case("bvh-truncated-hierarchy", "BVH cut off inside the hierarchy",
         lambda t: crbm.read_bvh(_file(t, "bad.bvh", BVH[:120])), FormatError,
         r"bad\.bvh:\d+: the hierarchy ends early; expected"),
    Case("bvh-truncated-motion", "BVH cut off in the MOTION section (a frame line missing)",
         lambda t: crbm.read_bvh(_bvh(t, "1 1 1 1 1 1 1 1 1\n")), FormatError,
         r"bad\.bvh:19: 'Frames: 2' but the MOTION section has 1 frame lines \(file truncated\?\)"),
    Case("bvh-huge-frame-count", "BVH declaring `Frames: 999999999999` with two frame lines",
         lambda t: crbm.read_bvh(_bvh(t, "Frames: 2", "Frames: 999999999999")), FormatError,
         r"bad\.bvh:20: 'Frames: 999999999999' but the MOTION section has 2 frame lines"),
    Case("bvh-value-count", "BVH frame line with 8 values for 9 channels",
         lambda t: crbm.read_bvh(_bvh(t, "1 1 1 1 1 1 1 1 1", "1 1 1 1 1 1 1 1")), FormatError,
         r"bad\.bvh:20: expected 9 values on a MOTION line \(one per channel\), got 8"),
    Case("bvh-not-a-number", "BVH frame line holding a word",
         lambda t: crbm.read_bvh(_bvh(t, "1 1 1 1 1 1 1 1 1", "1 1 1 1 oops 1 1 1 1")), FormatError,
         r"bad\.bvh:20: expected a number in the MOTION section, got 'oops'"),
    Case("bvh-nan", "BVH frame line holding `nan`",
         lambda t: crbm.read_bvh(_bvh(t, "1 1 1 1 1 1 1 1 1", "1 1 nan 1 1 1 1 1 1")), FormatError,
         r"bad\.bvh:20: expected (finite numbers|a number).*nan"),
    Case("bvh-unknown-channel", "BVH joint with an unknown channel name",
         lambda t: crbm.read_bvh(_bvh(t, "CHANNELS 3 Zrotation", "CHANNELS 3 Wrotation")), FormatError,
         r"bad\.bvh:9: joint 'Chest': expected a channel name among \('Xposition', .*\), got 'Wrotation'"),
    Case("bvh-no-motion", "BVH with a hierarchy and no MOTION section",
         lambda t: crbm.read_bvh(_file(t, "bad.bvh", BVH.split("MOTION")[0])), FormatError,
         r"bad\.bvh: no MOTION section found; expected a line 'MOTION'"),
    Case("bvh-negative-frame-time", "BVH with `Frame Time: -0.04`",
         lambda t: crbm.read_bvh(_bvh(t, "Frame Time: 0.04", "Frame Time: -0.04")), FormatError,
         r"bad\.bvh:18: expected a positive Frame Time, got '-0\.04'"),
    Case("bvh-zero-frame-time", "BVH with `Frame Time: 0`",
         lambda t: crbm.read_bvh(_bvh(t, "Frame Time: 0.04", "Frame Time: 0")), FormatError,
         r"bad\.bvh:18: expected a positive Frame Time, got '0'"),
    Case("bvh-nan-frame-time", "BVH with `Frame Time: nan`",
         lambda t: crbm.read_bvh(_bvh(t, "Frame Time: 0.04", "Frame Time: nan")), FormatError,
         r"bad\.bvh:18: expected a number for 'Frame Time:', got 'nan'"),
    Case("bvh-absurd-frame-rate", "BVH with `Frame Time: 0.00001` (100,000 fps)",
         lambda t: crbm.read_bvh(_bvh(t, "Frame Time: 0.04", "Frame Time: 0.00001")), FormatError,
         r"bad\.bvh:18: Frame Time 0\.00001 s is 100,000 fps; expected a frame rate of at most 10,000 fps"),
    Case("parquet-nan-fps", "Parquet whose metadata gives a clip fps NaN",
         lambda t: crbm.read_parquet(_parquet_fps(t, float("nan"))), FormatError,
         r"bad\.parquet: metadata 'crbm': clip 'good' has bad fps nan; expected a frame rate above 0 and at most "
         r"10,000 fps"),
    Case("parquet-absurd-fps", "Parquet whose metadata gives a clip 1,000,000 fps",
         lambda t: crbm.read_parquet(_parquet_fps(t, 1e6)), FormatError,
         r"bad\.parquet: metadata 'crbm': clip 'good' has bad fps 1000000\.0"),
    Case("motion-fps-override-negative", "`read_motions(path, fps=-30)`",
         lambda t: crbm.read_motions(_bvh(t, name="good.bvh"), fps=-30), CRBMError,
         r"good\.bvh: fps: expected a frame rate above 0 and at most 10,000 fps, got -30"),
    Case("amc-fps-nan", "an `.amc` read with `fps=nan`",
         lambda t: crbm.read_motions(_file(t, "bad.amc", AMC), asf=_asf(t, name="tiny.asf"), fps=float("nan")),
         CRBMError, r"bad\.amc: fps: expected a frame rate above 0 and at most 10,000 fps, got nan"),
    Case("motion-zero-fps", "a Motion built at 0 fps",
         lambda t: crbm.Motion(_motion(t).skeleton, np.zeros((2, 9)), 0.0),
         CRBMError, r"motion '': fps: expected a frame rate above 0 and at most 10,000 fps, got 0\.0"),
    Case("resample-absurd-fps", "`resample(clip, 20000)`", lambda t: crbm.resample(_motion(t), 20_000), CRBMError,
         r"clip 'good': resampling rate: expected a frame rate above 0 and at most 10,000 fps, got 20000"),
    Case("bvh-unknown-unit", "`read_bvh(path, units=\"ft\")`",
         lambda t: crbm.read_bvh(_bvh(t, name="good.bvh"), units="ft"), CRBMError,
         r"good\.bvh: unknown length unit 'ft'; expected one of mm, cm, m, in, cmu"),
    Case("write-unknown-unit", "`write_motion(clip, \"out.bvh\", units=\"feet\")`",
         lambda t: crbm.write_motion(_motion(t), t / "out.bvh", units="feet"), CRBMError,
         r"out\.bvh: unknown length unit 'feet'; expected one of mm, cm, m, in, cmu"),
    Case("convert-length-unknown-unit", "`convert_length(clip, \"yard\")`",
         lambda t: crbm.convert_length(_motion(t), "yard"), CRBMError,
         r"motion 'good': unknown length unit 'yard'; expected one of mm, cm, m, in, cmu"),
    Case("asf-zero-length-unit", "ASF with `:units length 0`",
         lambda t: crbm.read_asf(_asf(t, "length 0.45", "length 0")), FormatError,
         r"bad\.asf:5: expected ':units length' to be a positive number \(1 unit = 1/length inch\), got '0'"),
    Case("bvh-binary-garbage", "4 KiB of random bytes named `.bvh`",
         lambda t: crbm.read_bvh(_file(t, "bad.bvh", _garbage())), FormatError,
         r"bad\.bvh:1: the hierarchy is not valid UTF-8 text"),
    Case("bvh-empty", "an empty `.bvh` file",
         lambda t: crbm.read_bvh(_file(t, "bad.bvh", b"")), FormatError,
         r"bad\.bvh:1: the hierarchy ends early; expected 'HIERARCHY'"),
    Case("bvh-frames-4301-digits", "BVH `Frames:` count of 4,301 digits",
         lambda t: crbm.read_bvh(_bvh(t, "Frames: 2", "Frames: " + "1" * 4301)), FormatError,
         r"bad\.bvh:17: expected a whole frame count after 'Frames:' of at most 20 digits, got 4,301 digits"),
    Case("bvh-channels-4301-digits", "BVH `CHANNELS` count of 4,301 digits",
         lambda t: crbm.read_bvh(_bvh(t, "CHANNELS 3", "CHANNELS " + "1" * 4301)), FormatError,
         r"bad\.bvh:9: joint 'Chest': expected a channel count 0\.\.6, got '1{40}'"),
    Case("bvh-frame-time-1e-310", "BVH with `Frame Time: 1e-310` (a rate of infinity)",
         lambda t: crbm.read_bvh(_bvh(t, "Frame Time: 0.04", "Frame Time: 1e-310")), FormatError,
         r"bad\.bvh:18: Frame Time 1e-310 s is inf fps; expected a frame rate of at most 10,000 fps"),
    # ---- ASF / AMC
    Case("asf-truncated", "ASF cut off inside a bone",
         lambda t: crbm.read_asf(_file(t, "bad.asf", ASF[: ASF.index("dof rx ry rz")])), FormatError,
         r"bad\.asf: no ':hierarchy' section; an ASF file needs :root, :bonedata and :hierarchy"),
    Case("asf-unknown-dof", "ASF bone with dof `rq`",
         lambda t: crbm.read_asf(_asf(t, "dof rx ry rz", "dof rx rq rz")), FormatError,
         r"bad\.asf:\d+: expected dof names among .*got 'rq'"),
    Case("asf-length-dof", "ASF bone with dof `l` (Acclaim's bone-length channel)",
         lambda t: crbm.read_asf(_asf(t, "dof rx\n", "dof rx l\n")), FormatError,
         r"bad\.asf:\d+: bone 'ltibia': dof 'l' \(a bone length channel\) is not supported$"),
    Case("asf-second-parent", "ASF hierarchy giving a bone two parents",
         lambda t: crbm.read_asf(_asf(t, "lfemur ltibia\n", "lfemur ltibia\n    ltibia lfemur\n")), FormatError,
         r"bad\.asf:33: bone 'lfemur' is given a second parent \('root', 'ltibia'\)"),
    Case("asf-cycle", "ASF hierarchy with a cycle cut off from the root",
         lambda t: crbm.read_asf(_asf(t, "root lfemur\n    lfemur ltibia\n", "lfemur ltibia\n    ltibia lfemur\n")),
         FormatError, r"bad\.asf:\d+: hierarchy has a cycle"),
    Case("asf-binary-garbage", "4 KiB of random bytes named `.asf`",
         lambda t: crbm.read_asf(_file(t, "bad.asf", _garbage())), FormatError,
         r"bad\.asf:1: expected a ':keyword' section header, got '"),
    Case("amc-truncated", "AMC cut off inside the last frame",
         lambda t: _amc(t, "ltibia 5\n"), FormatError,
         r"bad\.amc:7: frame starting here misses bone 'ltibia'; expected every bone with a dof"),
    Case("amc-no-frames", "AMC with a header and no frames",
         lambda t: _amc(t, AMC[AMC.index("1\n"):]), FormatError,
         r"bad\.amc: no frames after the header; expected a frame number, then a line per bone with a dof$"),
    Case("amc-wrong-asf", "AMC read with another subject's ASF (other bone names)",
         lambda t: _amc(t, asf=_file(t, "other.asf", ASF.replace("lfemur", "rfemur").replace("ltibia", "rtibia"))),
         FormatError, r"bad\.amc:5: expected a bone of the skeleton with channels, got 'lfemur'"),
    Case("amc-wrong-dof-count", "AMC read with an ASF whose bone has fewer dofs",
         lambda t: _amc(t, asf=_asf(t, "dof rx ry rz", "dof rx ry", name="other.asf")), FormatError,
         r"bad\.amc:5: bone 'lfemur': expected 2 values \(rx ry\), got 3"),
    Case("amc-frame-skipped", "AMC frame numbers 1, 3",
         lambda t: _amc(t, "\n2\n", "\n3\n"), FormatError, r"bad\.amc:7: expected frame number 2, got 3"),
    Case("amc-not-a-number", "AMC bone line holding a word",
         lambda t: _amc(t, "lfemur 1 2 3", "lfemur 1 x 3"), FormatError,
         r"bad\.amc:5: expected a finite decimal number, got 'x'"),
    Case("amc-out-of-range", "AMC value `1e999` (beyond the float range)",
         lambda t: _amc(t, "lfemur 1 2 3", "lfemur 1 2 1e999"), FormatError,
         r"bad\.amc:5: expected a finite decimal number, got '1e999'"),
    Case("amc-frame-number-4301-digits", "AMC frame number of 4,301 digits",
         lambda t: _amc(t, "\n2\n", "\n" + "1" * 4301 + "\n"), FormatError,
         r"bad\.amc:7: expected a frame number of at most 20 digits, got 4,301 digits"),
    Case("amc-long-line", "AMC line of 2 million characters",
         lambda t: _amc(t, "lfemur 1 2 3", "lfemur 1 2 3" + " " * 2_000_000), FormatError,
         r"bad\.amc:5: a line of 2,000,012 characters; expected lines of at most 1,048,576"),
    Case("amc-without-asf", "an `.amc` read without its skeleton",
         lambda t: crbm.read_motion(_file(t, "bad.amc", AMC)), CRBMError,
         r"bad\.amc: an \.amc file needs its skeleton and its folder holds no \.asf file; pass the \.asf file"),
    Case("amc-two-asf-beside", "an `.amc` read without `--asf` from a folder with two `.asf` files",
         lambda t: (_file(t, "a.asf", ""), _file(t, "b.asf", ""), crbm.read_motion(_file(t, "bad.amc", AMC))),
         CRBMError,
         r"bad\.amc: an \.amc file needs its skeleton and its folder holds 2 \.asf files \(a\.asf, b\.asf\)"),
    Case("amc-write-other-rate", "`write_motion(clip, \"out.amc\")` of a 30 fps clip (AMC is read as 120 fps)",
         lambda t: crbm.write_motion(_amc(t).replace(fps=30.0), t / "out.amc"), CRBMError,
         r"out\.amc: AMC files store no frame rate and are read as 120 fps; this clip is 30 fps: write \.bvh or "
         r"\.parquet, or resample it to 120 fps \(--out-fps 120\)$"),
    Case("motion-unknown-suffix", "a motion file named `.txt`",
         lambda t: crbm.read_motion(_file(t, "walk.txt", BVH)), CRBMError,
         r"walk\.txt: unknown motion file type '\.txt'; expected"),
    # ---- the CMU prediction benchmark's files (crbm.read_cmubench)
    Case("cmubench-field-count", "CMU-benchmark frame line of 116 numbers (117 expected)",
         lambda t: crbm.read_cmubench(_file(t, "bad.txt", ",".join(["0"] * 116) + "\n")), FormatError,
         r"bad\.txt:1: expected 117 comma-separated numbers, got 116 fields"),
    Case("cmubench-not-finite", "CMU-benchmark value `nan`",
         lambda t: crbm.read_cmubench(_file(t, "bad.txt", ",".join(["0"] * 116 + ["nan"]) + "\n")), FormatError,
         r"bad\.txt:1: column 117: expected a finite number, got 'nan'"),
    Case("cmubench-not-a-number", "CMU-benchmark value that is a word",
         lambda t: crbm.read_cmubench(_file(t, "bad.txt", ",".join(["0"] * 116 + ["abc"]) + "\n")), FormatError,
         r"bad\.txt:1: column 117: expected a number, got 'abc'"),
    Case("cmubench-empty", "empty CMU-benchmark file",
         lambda t: crbm.read_cmubench(_file(t, "bad.txt", "")), FormatError,
         r"bad\.txt: no frames; expected lines of 117 comma-separated numbers"),
    # ---- Parquet and DataFrames
    Case("parquet-nan", "Parquet channel column holding NaN",
         lambda t: _parquet(t, lambda tb: _set_value(tb, "Chest.Xrotation", 1, np.nan)), FormatError,
         r"bad\.parquet: column 'Chest\.Xrotation' has nan at row 1; expected finite numbers"),
    Case("parquet-inf", "Parquet channel column holding +Inf",
         lambda t: _parquet(t, lambda tb: _set_value(tb, "Hips.Yposition", 0, np.inf)), FormatError,
         r"bad\.parquet: column 'Hips\.Yposition' has inf at row 0; expected finite numbers"),
    Case("parquet-renamed-column", "Parquet with a channel column renamed",
         lambda t: _parquet(t, lambda tb: tb.rename_columns([c.replace(".Y", ".W") for c in tb.column_names])),
         FormatError, r"bad\.parquet: column 'Hips\.Yposition' is missing; expected columns"),
    Case("parquet-string-column", "Parquet channel column of strings",
         lambda t: _parquet(t, lambda tb: tb.set_column(1, "Hips.Xposition", pa.array(["0", "1"]))), FormatError,
         r"bad\.parquet: column 'Hips\.Xposition' has type string; expected float64"),
    Case("parquet-no-metadata", "a plain Parquet table without crbm's metadata",
         lambda t: crbm.read_parquet(_plain_parquet(t)),
         FormatError, r"bad\.parquet: no 'crbm' key in the schema metadata; expected the skeleton"),
    Case("parquet-binary-garbage", "4 KiB of random bytes named `.parquet`",
         lambda t: crbm.read_parquet(_file(t, "bad.parquet", _garbage())), FormatError,
         r"bad\.parquet: cannot read Parquet data"),
    Case("parquet-duplicate-column", "Parquet with a channel column twice",
         lambda t: _parquet(t, lambda tb: tb.append_column("Hips.Xposition", tb.column("Hips.Xposition"))),
         FormatError, r"bad\.parquet: column 'Hips\.Xposition' appears twice; expected each column once"),
    Case("parquet-deep-metadata", "Parquet metadata nested 100,000 levels deep",
         lambda t: _parquet_metadata(t, '"version": 1', '"version": ' + DEEP), FormatError,
         r"bad\.parquet: metadata 'crbm' nests 100001 levels deep; expected at most 64"),
    Case("parquet-infinite-frame-count", "Parquet metadata `\"frames\": Infinity`",
         lambda t: _parquet_metadata(t, '"frames": 2', '"frames": Infinity'), FormatError,
         r"bad\.parquet: metadata 'crbm' is malformed \(cannot convert float infinity to integer\)"),
    Case("parquet-infinite-parent", "Parquet metadata `\"parent\": Infinity`",
         lambda t: _parquet_metadata(t, '"parent": -1', '"parent": Infinity'), FormatError,
         r"bad\.parquet: metadata 'crbm' is malformed \(malformed skeleton description: OverflowError: "
         r"cannot convert float infinity to integer\)"),
    Case("dataframe-missing-column", "DataFrame without one channel column",
         lambda t: _dataframe(t, lambda df: df.drop(columns=["Chest.Zrotation"])), CRBMError,
         r"DataFrame lacks channel column\(s\) \['Chest\.Zrotation'\]; expected one column per channel"),
    Case("dataframe-string-column", "DataFrame channel column of strings",
         lambda t: _dataframe(t, lambda df: df.assign(**{"Hips.Zrotation": ["a", "b"]})), CRBMError,
         r"column 'Hips\.Zrotation' has dtype \w+; expected numbers"),
    Case("dataframe-inf", "DataFrame channel column holding -Inf",
         lambda t: _dataframe(t, lambda df: df.assign(**{"Hips.Xposition": [0.0, -np.inf]})), CRBMError,
         r"column 'Hips\.Xposition' has a NaN or infinite value at row 1; expected finite numbers"),
    Case("motion-nan", "a Motion with a NaN in its frames",
         lambda t: crbm.Motion(_motion(t).skeleton, np.full((2, 9), np.nan), 25.0, name="walk"), CRBMError,
         r"motion 'walk': frame 0 holds nan in channel 'Hips\.Xposition'; expected finite numbers"),
    Case("motion-nan-to-bvh", "a Motion whose frames were set to NaN after it was made, written to BVH",
         lambda t: crbm.write_bvh(_nan_after_construction(_motion(t)), t / "out.bvh"), CRBMError,
         r"motion 'good': frames contain NaN or infinity; BVH cannot store them"),
    Case("motion-wrong-shape", "a Motion whose frames have 5 columns for 9 channels",
         lambda t: crbm.Motion(_motion(t).skeleton, np.zeros((2, 5)), 25.0, name="walk"), CRBMError,
         r"motion 'walk': frames must have shape \(T, 9\), got \(2, 5\)"),
    # ---- data sets
    Case("mat-binary-garbage", "4 KiB of random bytes as the MIT `motion.mat`",
         lambda t: crbm.load_mit_motion(_file(t, "motion.mat", _garbage())), FormatError,
         r"motion\.mat: not a readable MATLAB \.mat file \(v4-v7\.2 expected\)"),
    Case("mat-wrong-variables", "a `.mat` file without GPmat's variables as the walk/jog set",
         lambda t: crbm.load_gpmat_walkjog(_mat(t, x=np.zeros(3))), CRBMError,
         r"walkjog\.mat: expected variable 'Y' of shape \(None, 62\), got None"),
    Case("cmu-subject-name", "CMU subject `'abc'`",
         lambda t: crbm.cmu_trials("abc", [1], path=t), CRBMError,
         r"subject must be a CMU subject number such as 35, got 'abc'"),
    Case("cmu-trial-number", "CMU trial number -1",
         lambda t: crbm.cmu_trials(35, [1, -1], path=t), CRBMError,
         r"trials must be positive trial numbers .*, got \[-1\]"),
    Case("data-file-missing", "a data file found in no data folder",
         lambda t: crbm.data_path("mocap/none/missing.mat", path=t), CRBMError,
         r"data file 'mocap/none/missing\.mat' not found; tried .*missing\.mat \(explicit path\)"),
    # ---- the engine: shapes, dtypes, values
    Case("random-source", "`crbm.engine.noise.set_source(\"mersenne\")` (an unknown source of random numbers)",
         lambda t: set_source("mersenne"), CRBMError,
         r"random source 'mersenne': expected one of counter, torch"),
    Case("rbm-wrong-width", "RBM(4, 3).free_energy of a (8, 5) batch",
         lambda t: _rbm().free_energy(torch.rand(8, 5)), CRBMError, r"v: expected shape \(batch, 4\), got \(8, 5\)"),
    Case("rbm-cd-int-dtype", "RBM.contrastive_divergence of an int64 batch",
         lambda t: _rbm().contrastive_divergence(torch.ones(8, 4, dtype=torch.int64), generator=None), CRBMError,
         r"v: expected a floating dtype \(torch\.float32\), got torch\.int64"),
    Case("rbm-float64-into-float32", "a float64 batch into a float32 RBM.hidden_mean",
         lambda t: _rbm().hidden_mean(_v().double()), CRBMError,
         r"v: expected dtype torch\.float32 \(the model's\), got torch\.float64"),
    Case("rbm-1d-input", "RBM.gibbs of a 1-D tensor",
         lambda t: _rbm().gibbs(torch.rand(4), generator=None), CRBMError,
         r"v: expected shape \(batch, 4\), got \(4,\)"),
    Case("rbm-hidden-width", "RBM.visible_mean of a (8, 4) hidden batch (3 hidden units)",
         lambda t: _rbm().visible_mean(torch.rand(8, 4)), CRBMError, r"h: expected shape \(batch, 3\), got \(8, 4\)"),
    Case("rbm-not-a-tensor", "RBM.free_energy of a Python list",
         lambda t: _rbm().free_energy([[0.0, 1.0, 0.0, 1.0]]), CRBMError,
         r"v: expected a torch\.Tensor of shape \(batch, 4\), got list"),
    Case("fit-nan-data", "training data holding NaN",
         lambda t: _fit(_v().index_fill(0, torch.tensor([3]), float("nan"))), CRBMError, r"data: contains NaN or Inf"),
    Case("fit-bernoulli-range", "Bernoulli training data holding 2.0",
         lambda t: _fit(_v() * 2), CRBMError, r"data: Bernoulli units take values in \[0, 1\]"),
    Case("fit-numpy-data", "training data as a numpy array",
         lambda t: _fit(np.zeros((8, 4), dtype=np.float32)), CRBMError,
         r"data: expected a torch\.Tensor of shape \(N, n_visible\) or an object with __len__.*got ndarray"),
    Case("fit-valid-width", "a validation set of the wrong width",
         lambda t: crbm.fit(_rbm(), _v(), TrainConfig(epochs=1, batch_size=4, **QUIET), valid=torch.rand(3, 5)),
         CRBMError, r"valid: expected shape \(batch, 4\), got \(3, 5\)"),
    Case("dbn-1d-data", "greedy_pretrain of a 1-D tensor",
         lambda t: crbm.greedy_pretrain(torch.rand(8), [3]), CRBMError,
         r"data: expected a floating torch\.Tensor of shape \(N, n_visible\), got torch\.float32 \(8,\)"),
    Case("up-pass-width", "up_pass of a (2, 5) batch through RBM(4, 3)",
         lambda t: crbm.up_pass([_rbm()], torch.rand(2, 5)), CRBMError,
         r"v: expected shape \(batch, 4\), got \(2, 5\)"),
    # ---- names and hyper-parameters
    Case("unknown-unit", "unit family `binomial`",
         lambda t: crbm.RBM(4, 3, visible="binomial"), CRBMError,
         r"unknown unit type 'binomial'; expected one of \['bernoulli', 'gaussian'"),
    Case("zero-units", "RBM(0, 3)",
         lambda t: crbm.RBM(0, 3), CRBMError, r"n_visible must be a positive integer, got 0"),
    Case("softmax-groups", "RBM(5, 3, visible=Softmax(group=2))",
         lambda t: crbm.RBM(5, 3, visible=crbm.Softmax(group=2)), CRBMError,
         r"visible: a softmax layer of 5 units does not split into groups of 2"),
    Case("negative-learning-rate", "TrainConfig(learning_rate=-0.1)",
         lambda t: TrainConfig(learning_rate=-0.1), CRBMError,
         r"TrainConfig\.learning_rate must be a finite number >= 0, got -0\.1"),
    Case("zero-epochs", "TrainConfig(epochs=0)",
         lambda t: TrainConfig(epochs=0), CRBMError, r"TrainConfig\.epochs must be a positive integer, got 0"),
    Case("string-epochs", "TrainConfig(epochs='3')",
         lambda t: TrainConfig(epochs="3"), CRBMError, r"TrainConfig\.epochs must be a positive integer, got '3'"),
    Case("zero-k", "TrainConfig(k=0)", lambda t: TrainConfig(k=0), CRBMError,
         r"TrainConfig\.k must be a positive integer, got 0"),
    Case("cd-zero-k", "RBM.contrastive_divergence(k=0)",
         lambda t: _rbm().contrastive_divergence(_v(), k=0, generator=None), CRBMError,
         r"k \(Gibbs steps of CD-k\) must be a positive integer, got 0"),
    Case("momentum-one", "TrainConfig(momentum=1.0)",
         lambda t: TrainConfig(momentum=1.0), CRBMError, r"TrainConfig\.momentum must be in \[0, 1\), got 1\.0"),
    Case("batch-larger-than-data", "batch_size 100 for 8 examples",
         lambda t: _fit(batch_size=100), CRBMError,
         r"batch_size 100 is larger than the data \(8 examples\)"),
    Case("lr-scale-typo", "TrainConfig(lr_scale={'wieght': 0.1})",
         lambda t: _fit(lr_scale={"wieght": 0.1}), CRBMError,
         r"TrainConfig\.lr_scale names \['wieght'\], which are not parameters of the model"),
    Case("unknown-device", "TrainConfig(device='gpu0')",
         lambda t: _fit(device="gpu0"), CRBMError, r"unknown device 'gpu0'; expected e\.g\. 'cpu', 'cuda' or 'cuda:0'"),
    Case("exact-log-z-too-big", "exact_log_partition of RBM(30, 30)",
         lambda t: crbm.exact_log_partition(crbm.RBM(30, 30)), CRBMError,
         r"exact log Z enumerates a binary layer of at most 25 units; this model has 30"),
    Case("ais-betas", "ais(n_betas=1)", lambda t: crbm.ais(_rbm(), n_betas=1), CRBMError,
         r"n_betas must be at least 3, got 1"),
    # ---- checkpoints
    Case("ckpt-truncated-header", "checkpoint cut inside its JSON header",
         lambda t: crbm.load_checkpoint(_truncated_checkpoint(t, 100)), FormatError,
         r"bad\.safetensors: not a readable safetensors checkpoint: truncated, the header declares \d+ bytes but only "
         r"92 follow"),
    Case("ckpt-truncated-data", "checkpoint cut inside its tensor data",
         lambda t: crbm.load_checkpoint(_truncated_checkpoint(t, -4)), FormatError,
         r"bad\.safetensors: not a readable safetensors checkpoint: the tensor data does not match the header's "
         r"offsets \(truncated or corrupt\)"),
    Case("ckpt-pickle", "a pickle file given as a checkpoint",
         lambda t: crbm.load_checkpoint(_file(t, "bad.safetensors", pickle.dumps({"weight": [1.0]}))), FormatError,
         r"bad\.safetensors: not a readable safetensors checkpoint: this is a pickle \(torch\.save\) file, refused "
         r"because loading it can run arbitrary code"),
    Case("ckpt-torch-save", "a `torch.save` state dict given as a checkpoint",
         lambda t: crbm.load_model(_torch_save(t)), FormatError,
         r"model\.pt: not a readable safetensors checkpoint: this is a pickle \(torch\.save\) file"),
    Case("ckpt-shape-mismatch", "checkpoint whose weight is (3, 4) for a (4, 3) config",
         lambda t: _load(t, tensors={"model/weight": torch.zeros(3, 4), "model/visible_bias": torch.zeros(4),
                                     "model/hidden_bias": torch.zeros(3)}), FormatError,
         r"bad\.safetensors: tensor 'weight' has shape \(3, 4\), the config needs \(4, 3\)"),
    Case("ckpt-absurd-config", "checkpoint whose config claims 10^9 x 10^9 units (4 EB of weights)",
         lambda t: _load(t, config={**_rbm().config(), "n_visible": 10**9, "n_hidden": 10**9}), FormatError,
         r"bad\.safetensors: tensor '\w+' has shape \(\d+,( \d+)?\), the config needs \(1000000000"),
    Case("ckpt-dtype-mismatch", "checkpoint storing float64 tensors under dtype float32",
         lambda t: _load(t, tensors={f"model/{k}": v.double() for k, v in _rbm().state_dict().items()}),
         FormatError, r"bad\.safetensors: tensor '\w+' is stored as F64; the checkpoint's dtype is torch\.float32"),
    Case("ckpt-unknown-kind", "checkpoint of kind `Transformer` (not registered)",
         lambda t: _load(t, kind="Transformer"), FormatError,
         r"bad\.safetensors: unknown model kind 'Transformer'; expected one of \["),
    Case("ckpt-not-json", "checkpoint whose metadata is not JSON",
         lambda t: crbm.load_checkpoint(_file(t, "bad.safetensors", st_save(
             {"model/weight": torch.zeros(1)}, metadata={"crbm": "{not json"}))), FormatError,
         r"bad\.safetensors: checkpoint metadata is not valid JSON"),
    Case("ckpt-deep-metadata", "checkpoint metadata nested 100,000 levels deep",
         lambda t: crbm.load_checkpoint(_file(t, "bad.safetensors", st_save(
             {"model/weight": torch.zeros(1)}, metadata={"crbm": DEEP}))), FormatError,
         r"bad\.safetensors: checkpoint metadata nests 100000 levels deep; expected at most 64"),
    Case("ckpt-huge-init-std", "checkpoint whose config sets `init_std` to 10**30",
         lambda t: _load(t, config={**_rbm().config(), "init_std": 10**30}), FormatError,
         r"bad\.safetensors: checkpoint metadata holds an integer of 31 digits; expected at most 20"),
    Case("ckpt-missing", "a checkpoint path that does not exist",
         lambda t: crbm.load_checkpoint(t / "nope.safetensors"), FormatError, r"nope\.safetensors: no such checkpoint"),
    Case("resume-other-config", "resume an RBM(5, 3) run from an RBM(4, 3) checkpoint",
         lambda t: crbm.fit(crbm.RBM(5, 3), torch.rand(8, 5).round(), TrainConfig(epochs=1, batch_size=4, **QUIET),
                            resume=_checkpoint(t, trainer={}, name="run.safetensors")), CRBMError,
         r"run\.safetensors: checkpoint holds a different model, a RBM with n_visible 4 \(this run: 5\)$"),
    Case("resume-other-kind", "resume an RBM run from another model kind's checkpoint",
         _resume_from_other_kind, CRBMError,
         r"other\.safetensors: checkpoint holds a different model, a test-other; this run trains a RBM$"),
    Case("resume-model-only", "resume from a checkpoint without trainer state",
         lambda t: crbm.fit(_rbm(), _v(), TrainConfig(epochs=1, batch_size=4, **QUIET),
                            resume=_checkpoint(t, name="model.safetensors")), CRBMError,
         r"model\.safetensors: checkpoint has no trainer state"),
    Case("resume-other-data", "resume a mid-epoch checkpoint with 12 examples instead of 8",
         _resume_mid_epoch_with_other_data, CRBMError,
         r"run\.safetensors: the checkpoint's data order is torch\.int64 \(8,\); this run's data has 12 examples"),
    # motion models and the main job
    Case("crbm-order-zero", "a CRBM of order 0", lambda t: crbm.CRBM(4, 3, 0), CRBMError,
         r"^order must be a positive integer, got 0$"),
    Case("windows-widths", "training clips of different widths", lambda t: crbm.Windows(
        [torch.zeros(10, 4), torch.zeros(10, 5)], 2), CRBMError, r"clip 1: expected a tensor \(frames, 4\)"),
    Case("fit-sigma-overflow", "a learned sigma that overflows (Gaussian RBM, unnormalised data, rate 0.5)",
         _sigma_overflow, crbm.DivergenceError,
         r"^training diverged at epoch 1: sigma became NaN/Inf; lower the learning rate"),
    Case("windows-nan", "training clips holding a NaN", lambda t: crbm.Windows(
        [torch.zeros(10, 4), torch.zeros(10, 4).index_fill(0, torch.tensor([7]), float("nan"))], 2), CRBMError,
         r"^clip 1: frame 7 holds nan in column 0; expected finite numbers$"),
    Case("windows-short", "clips too short for the model's order", lambda t: crbm.Windows([torch.zeros(2, 4)], 3),
         CRBMError, r"no clip has more than 3 frames: no training window of order 3"),
    Case("generate-short-seed", "generation seeded with fewer frames than the order",
         lambda t: crbm.generate(crbm.CRBM(4, 3, 2), torch.zeros(1, 4), 5, generator=None), CRBMError,
         r"seed: a model of order 2 needs at least 2 seed frames, got 1"),
    Case("generate-seed-width", "generation seeded with frames of the wrong width",
         lambda t: crbm.generate(crbm.CRBM(4, 3, 2), torch.zeros(3, 5), 5, generator=None), CRBMError,
         r"seed: expected frames of 4 values, got 5"),
    Case("generate-label-width", "a style schedule with 3 labels for a 2-style model",
         lambda t: crbm.generate(crbm.LabelCRBM(4, 3, 2, 2), torch.zeros(3, 4), 5, labels=torch.zeros(5, 3),
                                 generator=None), CRBMError, r"labels: expected shape \(batch, 2\), got \(1, 3\)"),
    Case("fill-mask-shape", "a missing-data mask of the wrong shape",
         lambda t: crbm.fill_missing(crbm.CRBM(4, 3, 2), torch.zeros(6, 4), torch.zeros(6, 3, dtype=torch.bool),
                                     generator=None),
         CRBMError, r"missing \(T, D\) must match; got \(6, 4\), \(6, 3\)"),
    Case("denoise-noise-level", "a noise level that is negative or not finite (`--noise-std -1`, `nan`)",
         lambda t: crbm.motion.cleanup.denoise_motion(_motion(t), noise_std=-1.0), CRBMError,
         r"^noise_std: expected a finite number >= 0, got -1.0$"),
    Case("fill-empty-gap", "a gap whose start is not before its end (`--gap Chest:1:1`)",
         lambda t: crbm.motion.cleanup.fill_motion(_motion(t), [crbm.motion.cleanup.Gap(("Chest",), 1, 1)]), CRBMError,
         r"^gap Chest:1:1: expected 0 <= start < end <= 2 \(frames of clip 'good', end exclusive\)$"),
    Case("fill-gap-outside", "a gap outside the clip (`--missing Chest --start 0 --end 5` on 2 frames)",
         lambda t: crbm.motion.cleanup.fill_motion(_motion(t), [crbm.motion.cleanup.Gap(("Chest",), 0, 5)]), CRBMError,
         r"^gap Chest:0:5: expected 0 <= start < end <= 2 \(frames of clip 'good', end exclusive\)$"),
    Case("fill-unknown-joint", "a gap naming a joint the clip (or the model) does not have",
         lambda t: crbm.motion.cleanup.fill_motion(_motion(t), [crbm.motion.cleanup.Gap(("Tail",), 0, 1)]), CRBMError,
         r"^gap Tail:0:1: unknown joints \['Tail'\]; clip 'good' has \['Hips', 'Chest'\]$"),
    Case("stream-mid-frame", "a frame stream (`crbm denoise --online -`) that ends mid-frame",
         lambda t: list(crbm.motion.cleanup.read_frames(["0 0 0 0 0 0 0 0 0", "0 0 0"], 9)), CRBMError,
         r"^standard input, line 2: 3 values, expected 9 \(one frame of the skeleton's channels per line; "
         r"a stream must not end mid-frame\)$"),
    Case("retarget-missing-joint", "a clip on a skeleton that lacks a joint the model (or target rig) needs",
         lambda t: crbm.retarget(_motion(t), crbm.Skeleton((*_motion(t).skeleton.joints,
                                                           crbm.Joint("Head", 1, (0.0, 1.0, 0.0))))), CRBMError,
         r"clip 'good' lacks joints \['Head'\] that the target skeleton needs; expected a skeleton with the same "
         r"joint names"),
    Case("rig-not-standing", "a model trained on a rig whose root is not above its feet (neither Y-up nor Z-up)",
         lambda t: crbm.leg_length(crbm.Skeleton((crbm.Joint("Hips", -1, (0.0, 0.0, 0.0)),
                                                  crbm.Joint("Up", 0, (0.0, 1.0, 0.0))))), CRBMError,
         r"skeleton with root 'Hips': its root is not above its feet in the rest pose \(expected a Y-up or Z-up "
         r"rig"),
    Case("train-still-clip", "a model trained on a clip that holds one pose throughout (40 identical frames)",
         lambda t: crbm.train_motion_model([_still(t)], epochs=1), CRBMError,
         r"^every channel of the clips 'still' holds one value throughout \(a still pose\): nothing moves, so "
         r"there is no motion to learn$"),
    Case("train-unknown-kind", "`train_motion_model(kind=\"lstm\")`",
         lambda t: crbm.train_motion_model([_motion(t)], kind="lstm"), CRBMError,
         r"unknown model kind 'lstm'; expected one of \['crbm', 'two-layer', 'label', 'fcrbm', 'mixture'\]"),
    Case("train-label-without-styles", "a style model trained without style names",
         lambda t: crbm.train_motion_model([_motion(t)], kind="label"), CRBMError,
         r"kind 'label' needs one style name per clip \(got 0\)"),
    Case("cli-style-schedule", "`crbm generate --style walk-120`", lambda t: _parse_schedule("walk-120"), CRBMError,
         r"--style 'walk-120': expected STYLE:FRAMES pairs like walk:120,run:120"),
    Case("motion-model-from-rbm", "a plain RBM checkpoint given where a motion model is expected",
         lambda t: crbm.MotionModel.load(crbm.save_checkpoint(t / "rbm.safetensors", crbm.RBM(3, 2))), CRBMError,
         r"rbm\.safetensors: a RBM checkpoint without motion data \(not written by crbm train\)"),
    Case("cli-convert-over-skeleton", "`crbm convert walk.amc tiny.amc --asf tiny.asf` (would rewrite tiny.asf)",
         lambda t: _cli_outputs(t, ["convert", "walk.amc", "tiny.amc", "--asf", "tiny.asf"]), CRBMError,
         r"^tiny\.asf: the output would overwrite the input tiny\.asf; choose another name$"),
    Case("cli-denoise-over-input", "`crbm denoise demo walk.amc --out ./walk.amc`",
         lambda t: _cli_outputs(t, ["denoise", "demo", "walk.amc", "--out", "./walk.amc"]), CRBMError,
         r"^walk\.amc: the output would overwrite the input walk\.amc; choose another name$"),
    Case("cli-evaluate-json-over-clip", "`crbm evaluate demo walk.amc --json walk.amc`",
         lambda t: _cli_outputs(t, ["evaluate", "demo", "walk.amc", "--json", "walk.amc"]), CRBMError,
         r"^walk\.amc: the output would overwrite the input walk\.amc"),
    Case("show-zero-frames", "`crbm show` of a clip with no frames",
         lambda t: crbm.animate(crbm.read_bvh(_bvh(t, "Frames: 2\nFrame Time: 0.04\n0 0 0 0 0 0 0 0 0\n"
                                                   "1 1 1 1 1 1 1 1 1", "Frames: 0\nFrame Time: 0.04")),
                                t / "anim.gif"), CRBMError,
         r"^motion 'bad' has no frames: nothing to draw$"),
    Case("mp4-cut-off", "an MP4 the encoder cut off (full disk), checked before it replaces the old file",
         _cut_off_mp4, CRBMError,
         r"cannot write \S*anim\.mp4: the encoder's MP4 is cut off at byte 24 of 4096 \(disk full\?\); the old file, "
         r"if any, is kept$"),
    Case("data-file-tampered", "a data file changed in the data folder (`mocap/gpmat/cmu35WalkJog.mat`)",
         _tampered_data_file, CRBMError,
         r"cmu35WalkJog\.mat: holds 10 bytes, the published mocap/gpmat/cmu35WalkJog\.mat 1,073,738: it is cut off, "
         r"damaged or another file; delete it and fetch it again \(crbm fetch, or download=True\) from https://"),
    Case("motion-model-empty-entry", "a motion-model checkpoint whose `motion_model` entry is `{}`",
         lambda t: demo_with_entry(t, dict.clear), FormatError,
         r"bad\.safetensors: the 'motion_model' entry is malformed \(KeyError: 'pipeline'\); expected the "
         r"preprocessing, skeleton, fps, styles, seeds and AR fit that crbm train writes"),
]


def test_the_catalogue_is_large_and_unique():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_clearly(case, tmp_path):
    with pytest.raises(case.error) as info:
        case.trigger(tmp_path)
    err = info.value
    assert isinstance(err, CRBMError), f"{type(err).__name__} is not a crbm.CRBMError"
    message = str(err)
    assert "\n" not in message, "messages are one line"
    assert re.search(case.match, message), f"{message!r} does not match {case.match!r}"


def test_huge_declared_frame_count_fails_fast_without_allocating(tmp_path):
    path = _bvh(tmp_path, "Frames: 2", "Frames: 999999999999")
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match="999999999999"):
        crbm.read_bvh(path)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 1.0
    assert peak < 1 << 20  # numpy reports its buffers to tracemalloc: nothing near T x channels was allocated


def test_absurd_checkpoint_config_is_refused_before_allocation(tmp_path):
    """A (10^9, 10^9) float32 weight is 4 EB: allocating it would raise torch's out-of-memory RuntimeError,
    so a FormatError naming the shapes shows the sizes were checked (on the meta device) first."""
    path = _checkpoint(tmp_path, config={**_rbm().config(), "n_visible": 10**9, "n_hidden": 10**9})
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match=r"the config needs \(1000000000, 1000000000\)"):
        crbm.load_checkpoint(path)
    assert time.perf_counter() - t0 < 1.0
