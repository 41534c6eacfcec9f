"""Property-based fuzzing of every reader: BVH, ASF, AMC, Parquet, checkpoints and motion-model checkpoints.

Each case mutates a valid file (bytes replaced, inserted, deleted, repeated, cut; special tokens such as a
4,301-digit integer, ``nan``, ``1e-310``, deep nesting; for Parquet and checkpoints also the JSON metadata
edited as a tree and as text, and the table's columns). A case passes when the reader either returns a
consistent value or raises one of crbm's errors with a one-line message naming the file, within 2 s of CPU.

The default run tries a few hundred cases in all (about 15 s). ``pytest -m fuzz`` runs the same properties
on 10,000 cases per format (the nightly size; about 15 minutes on one core).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save
from test_bad_inputs import AMC, ASF, BVH

import crbm
from crbm import CRBMError
from crbm.motion.model import demo_model_path

SECONDS = 2.0  # the most CPU time one case may take
_COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=60, **_COMMON)
NIGHTLY = settings(max_examples=10_000, **_COMMON)


@pytest.fixture(autouse=True)
def _nightly_only_when_asked(request):
    if request.node.get_closest_marker("fuzz") and "fuzz" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("10,000-case fuzzing: run it with pytest -m fuzz")


def both_sizes(strategy):
    """Turn ``check(case)`` into the quick test and its ``fuzz``-marked nightly twin (10,000 cases)."""

    def make(check):
        quick = QUICK(given(strategy)(check))
        nightly = pytest.mark.fuzz(NIGHTLY(given(strategy)(check)))
        return quick, nightly

    return make


def refused_or_read(read, path: Path):
    """``read(path)``'s value, or None when it raised a CRBMError whose message is one line naming ``path``;
    anything else (another exception, a slow case) fails the test."""
    t0 = time.process_time()  # (CPU time: a busy machine's waits for a core are not the reader's)
    try:
        value = read(path)
    except CRBMError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message, message
        assert str(path) in message, f"the message does not name the file: {message}"
        value = None
    seconds = time.process_time() - t0
    assert seconds < SECONDS, f"one case took {seconds:.2f} s of CPU time"
    return value


# ------------------------------------------------------------------------------------------ byte mutations

SPECIAL = [
    b"1" * 4301, b"9" * 25, b"0", b"-1", b"7", b"nan", b"inf", b"-inf", b"1e999", b"1e-310", b"1_0", b"0x1p3",
    b"\x00", b"\xff", "\u00e9".encode(), b"\r", b"\n", b"\t", b" ", b"{", b"}", b"(", b")", b":", b"#", b"x",
    b"JOINT j\n{\nOFFSET 0 0 0\nCHANNELS 1 Xrotation\n", b"End Site\n{\nOFFSET 0 0 0\n}\n", b"MOTION\n",
    b"Frames: ", b"Frame Time: ", b"CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation",
    b"root 1 1 1 1 1 1\n", b"lfemur 1 2 3\n", b"begin\nname b\ndirection 0 1 0\nlength 1\naxis 0 0 0 XYZ\nend\n",
    b":hierarchy\n", b":bonedata\n", b"limits (-inf inf)", b"(" * 200, b"11 " * 64,
]
_EDIT = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "cut", "repeat"]),
    st.floats(0, 1),
    st.sampled_from(SPECIAL) | st.binary(max_size=8),
    st.integers(1, 40),
    st.sampled_from([2, 3, 10, 1000]),
)
EDITS = st.lists(_EDIT, min_size=1, max_size=4)


def mutate(data: bytes, edits) -> bytes:
    """Apply byte edits at relative positions: replace/insert a payload, delete or repeat a span, cut the end."""
    for op, where, payload, length, times in edits:
        at = int(where * len(data))
        if op == "replace":
            data = data[:at] + payload + data[at + len(payload) :]
        elif op == "insert":
            data = data[:at] + payload + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + length :]
        elif op == "cut":
            data = data[:at]
        else:
            data = data[:at] + data[at : at + length] * times + data[at + length :]
    return data


def with_file(name: str, data: bytes, read):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return refused_or_read(read, path)


def _check_motion(m: crbm.Motion | None) -> None:
    if m is not None:
        assert m.frames.shape == (m.n_frames, len(m.channel_names)) and np.isfinite(m.frames).all()


# ------------------------------------------------------------------------------------------ BVH, ASF, AMC

def _tiny_skeleton() -> crbm.Skeleton:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tiny.asf"
        path.write_text(ASF)
        return crbm.read_asf(path)


SKELETON = _tiny_skeleton()


@both_sizes(EDITS)
def _bvh(edits):
    _check_motion(with_file("fuzz.bvh", mutate(BVH.encode(), edits), crbm.read_bvh))


test_bvh_mutations, test_bvh_mutations_nightly = _bvh


@both_sizes(EDITS)
def _asf(edits):
    skeleton = with_file("fuzz.asf", mutate(ASF.encode(), edits), crbm.read_asf)
    assert skeleton is None or skeleton.kind == "asf"


test_asf_mutations, test_asf_mutations_nightly = _asf


@both_sizes(EDITS)
def _amc(edits):
    _check_motion(with_file("fuzz.amc", mutate(AMC.encode(), edits), lambda p: crbm.read_amc(p, SKELETON)))


test_amc_mutations, test_amc_mutations_nightly = _amc


# ------------------------------------------------------------------------------------------ JSON metadata

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
    | st.sampled_from(["__deep__", "__huge_int__", 10**30, -1, 0, 1e-310, float("inf"), "XYZ", "bvh", "asf"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def edit_tree(doc, data: st.DataObject):
    """Replace, delete or wrap one node of a JSON document, chosen by walking down from the root."""
    path = []
    node = doc
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    action = data.draw(st.sampled_from(["replace", "delete", "wrap"]))
    if not path:
        return data.draw(JSON) if action != "wrap" else [doc]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON) if action == "replace" else [parent[path[-1]]]
    return doc


def dump(doc) -> str:
    """JSON text of ``doc``, with the placeholders "__deep__" (100,000 nested lists) and "__huge_int__" (an
    integer of 4,301 digits) spelled out."""
    return json.dumps(doc).replace('"__deep__"', "[" * 100_000 + "]" * 100_000).replace('"__huge_int__"', "1" * 4301)


# ------------------------------------------------------------------------------------------ Parquet


def _parquet_seed(clips: int) -> tuple[bytes, pa.Table, dict]:
    with tempfile.TemporaryDirectory() as folder:
        bvh = Path(folder) / "seed.bvh"
        bvh.write_text(BVH)
        m = crbm.read_bvh(bvh)
        path = Path(folder) / "seed.parquet"
        crbm.write_parquet([m.replace(name=f"c{i}") for i in range(clips)], path)
        table = pq.read_table(path)
        return path.read_bytes(), table.replace_schema_metadata(None), json.loads(table.schema.metadata[b"crbm"])


PARQUET = {n: _parquet_seed(n) for n in (1, 2)}


def _write_table(table: pa.Table, meta_text: str | None) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.parquet"
        if meta_text is not None:
            table = table.replace_schema_metadata({b"crbm": meta_text.encode("utf-8", "surrogatepass")})
        pq.write_table(table, path)
        return path.read_bytes()


def _table_edit(table: pa.Table, data: st.DataObject) -> pa.Table:
    k = data.draw(st.integers(0, table.num_columns - 1))
    name = table.column_names[k]
    action = data.draw(st.sampled_from(["duplicate", "drop", "rename", "strings", "null", "inf", "reverse"]))
    if action == "duplicate":
        return table.append_column(name, table.column(k))
    if action == "drop":
        return table.remove_column(k)
    if action == "rename":
        return table.rename_columns([data.draw(st.sampled_from(["frame", "clip", "x", name + "x"])) if i == k else c
                                     for i, c in enumerate(table.column_names)])
    if action == "strings":
        return table.set_column(k, name, pa.array([str(v) for v in table.column(k).to_pylist()]))
    if action == "null":
        return table.set_column(k, name, pa.array([None] * table.num_rows, type=table.schema.field(k).type))
    if action == "inf":
        return table.set_column(k, name, pa.array([float("inf")] * table.num_rows))
    return table.take(list(range(table.num_rows))[::-1])


@st.composite
def parquet_files(draw):
    raw, table, meta = PARQUET[draw(st.sampled_from([1, 2]))]
    kind = draw(st.sampled_from(["bytes", "tree", "text", "table"]))
    if kind == "bytes":
        return mutate(raw, draw(EDITS))
    data = draw(st.data())
    if kind == "tree":
        return _write_table(table, dump(edit_tree(json.loads(json.dumps(meta)), data)))
    if kind == "text":
        return _write_table(table, mutate(json.dumps(meta).encode(), draw(EDITS)).decode("utf-8", "surrogateescape"))
    return _write_table(_table_edit(table, data), json.dumps(meta))


@both_sizes(parquet_files())
def _parquet(data):
    clips = with_file("fuzz.parquet", data, crbm.read_parquet)
    for m in clips or ():
        _check_motion(m)


test_parquet_mutations, test_parquet_mutations_nightly = _parquet


# ------------------------------------------------------------------------------------------ checkpoints


def _checkpoint_seed(path: Path) -> tuple[dict, dict]:
    header = json.loads(path.read_bytes()[8 : 8 + int.from_bytes(path.read_bytes()[:8], "little")])
    return load_file(path), json.loads(header["__metadata__"]["crbm"])


def _rbm_checkpoint() -> Path:
    folder = Path(tempfile.mkdtemp())
    model = crbm.RBM(3, 2, visible="gaussian", learn_sigma=True, generator=torch.Generator().manual_seed(0))
    return crbm.save_checkpoint(folder / "rbm.safetensors", model, trainer={"velocity/weight": torch.ones(3, 2)},
                                trainer_meta={"epoch": 1}, extra={"note": "x"})


CHECKPOINTS = {"rbm": _checkpoint_seed(_rbm_checkpoint()), "motion": _checkpoint_seed(demo_model_path())}


@st.composite
def checkpoint_files(draw, which: str):
    tensors, meta = CHECKPOINTS[which]
    data = draw(st.data())
    if which == "motion":  # edit inside the motion-model entry most of the time
        meta = json.loads(json.dumps(meta))
        if draw(st.booleans()):
            meta["extra"]["motion_model"] = edit_tree(meta["extra"]["motion_model"], data)
            return save(tensors, metadata={"crbm": dump(meta)})
    kind = draw(st.sampled_from(["tree", "text", "config", "bytes"]))
    if kind == "bytes":
        return mutate(save(tensors, metadata={"crbm": json.dumps(meta)}), draw(EDITS))
    if kind == "text":
        text = mutate(json.dumps(meta).encode(), draw(EDITS)).decode("utf-8", "surrogateescape")
        return save(tensors, metadata={"crbm": text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")})
    meta = json.loads(json.dumps(meta))
    if kind == "config":
        key = draw(st.sampled_from(sorted(meta["config"])))
        meta["config"][key] = draw(st.sampled_from([10**30, 1e30, -1, 0, None, "x", [], float("inf"), True]))
        return save(tensors, metadata={"crbm": json.dumps(meta)})
    return save(tensors, metadata={"crbm": dump(edit_tree(meta, data))})


def _consistent(ck) -> None:
    if ck is not None:
        model = ck.model
        skeleton = type(model).from_config(model.config(), device="meta")
        assert {k: v.shape for k, v in model.state_dict().items()} == {
            k: v.shape for k, v in skeleton.state_dict().items()}


@both_sizes(checkpoint_files("rbm"))
def _checkpoint(data):
    _consistent(with_file("fuzz.safetensors", data, crbm.load_checkpoint))


test_checkpoint_mutations, test_checkpoint_mutations_nightly = _checkpoint


@both_sizes(checkpoint_files("motion"))
def _motion_model(data):
    _consistent(with_file("fuzz.safetensors", data, crbm.MotionModel.load))


test_motion_model_mutations, test_motion_model_mutations_nightly = _motion_model
