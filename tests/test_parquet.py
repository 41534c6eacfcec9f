"""The Parquet layout: lossless round trips, readable without crbm, streaming, bad files, fuzzing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crbm import (
    CRBMError,
    FormatError,
    Joint,
    Motion,
    Skeleton,
    iter_parquet_clips,
    iter_parquet_frames,
    motion_from_dataframe,
    motion_to_dataframe,
    read_amc,
    read_asf,
    read_bvh,
    read_parquet,
    read_parquet_skeleton,
    write_bvh,
    write_parquet,
)
from crbm.mocap import parquet as parquet_module


def _tiny_asf() -> Skeleton:
    joints = (
        Joint("root", -1, (0.0, 0.5, 0.0), ("tx", "ty", "tz", "rz", "ry", "rx"), axis=(0.0, 0.0, 1.5)),
        Joint(
            "femur",
            0,
            (0.1, -7.25, 1e-17),
            ("rx", "rz"),
            axis=(0.0, 0.0, 20.0),
            axis_order="XZY",
            limits=((-160.0, 20.0), (-np.inf, np.inf)),
        ),
    )
    return Skeleton(
        joints,
        kind="asf",
        units={"mass": 1.0, "length": 0.45, "angle": "deg"},
        meta={"name": "TINY", "documentation": "line 1\nline 2"},
    )


def _clips(n=3) -> list[Motion]:
    rng = np.random.default_rng(11)
    return [
        Motion(_tiny_asf(), rng.normal(size=(5 + 7 * k, 8)), fps=120.0 / (k + 1), name=f"clip{k}")
        for k in range(n)
    ]


def _same(a: Motion, b: Motion) -> None:
    assert a.skeleton == b.skeleton and a.fps == b.fps and a.name == b.name
    np.testing.assert_array_equal(a.frames, b.frames)


def test_round_trip_many_clips_bit_exact(tmp_path):
    clips = _clips()
    write_parquet(clips, tmp_path / "m.parquet")
    back = read_parquet(tmp_path / "m.parquet")
    assert len(back) == 3
    for a, b in zip(clips, back, strict=True):
        _same(a, b)
    skeleton, info = read_parquet_skeleton(tmp_path / "m.parquet")
    assert skeleton == clips[0].skeleton
    assert info == [{"name": c.name, "fps": c.fps, "frames": c.n_frames} for c in clips]


def test_single_clip_has_no_clip_column(tmp_path):
    m = _clips(1)[0]
    write_parquet(m, tmp_path / "one.parquet")
    df = pd.read_parquet(tmp_path / "one.parquet")
    assert list(df.columns) == ["frame", *m.channel_names]
    _same(read_parquet(tmp_path / "one.parquet")[0], m)


def test_pandas_and_pyarrow_read_the_layout_without_crbm(tmp_path):
    clips = _clips()
    write_parquet(clips, tmp_path / "m.parquet")
    df = pd.read_parquet(tmp_path / "m.parquet")
    assert list(df.columns) == ["clip", "frame", *clips[0].channel_names]
    assert df["frame"].dtype == np.int64 and all(df[c].dtype == np.float64 for c in clips[0].channel_names)
    assert df["clip"].tolist() == [c.name for c in clips for _ in range(c.n_frames)]
    assert df["frame"].tolist() == [k for c in clips for k in range(c.n_frames)]
    np.testing.assert_array_equal(
        df[clips[0].channel_names].to_numpy(), np.concatenate([c.frames for c in clips])
    )
    schema = pq.read_schema(tmp_path / "m.parquet")
    meta = json.loads(schema.metadata[b"crbm"])
    assert meta["format"] == "crbm.motion" and meta["version"] == 1
    assert meta["clips"][1] == {"name": "clip1", "fps": 60.0, "frames": 12}
    assert meta["skeleton"]["joints"][1]["offset"] == [0.1, -7.25, 1e-17]
    assert meta["skeleton"]["units"] == {"mass": 1.0, "length": 0.45, "angle": "deg"}
    pf = pq.ParquetFile(tmp_path / "m.parquet")
    assert [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)] == [5, 12, 19]


def test_bvh_parquet_bvh_identical(data_root, tmp_path):
    original = read_bvh(data_root / "mocap/samples/bvhtoolbox-0.1.3/test_freebvh.bvh")
    write_parquet(original, tmp_path / "a.parquet")
    (m,) = read_parquet(tmp_path / "a.parquet")
    write_bvh(m, tmp_path / "b.bvh")
    back = read_bvh(tmp_path / "b.bvh")
    assert back.skeleton == original.skeleton and back.fps == original.fps
    np.testing.assert_allclose(back.frames, original.frames, rtol=0, atol=1e-6)


def test_amc_parquet_round_trip(data_root, tmp_path):
    sk = read_asf(data_root / "mocap/cmu/35/35.asf")
    clips = [read_amc(data_root / f"mocap/cmu/35/35_0{k}.amc", sk) for k in (1, 2)]
    write_parquet(clips, tmp_path / "cmu.parquet")
    for a, b in zip(clips, read_parquet(tmp_path / "cmu.parquet"), strict=True):
        _same(a, b)


def test_streaming_frames_and_clips(tmp_path, monkeypatch):
    clips = _clips()
    monkeypatch.setattr(parquet_module, "ROW_GROUP_FRAMES", 4)  # several row groups per clip
    write_parquet(clips, tmp_path / "m.parquet")
    assert pq.ParquetFile(tmp_path / "m.parquet").num_row_groups == 2 + 3 + 5
    for a, b in zip(clips, iter_parquet_clips(tmp_path / "m.parquet"), strict=True):
        _same(a, b)
    blocks = list(iter_parquet_frames(tmp_path / "m.parquet", batch_frames=3))
    assert max(len(f) for _, f in blocks) <= 3
    for c in clips:
        np.testing.assert_array_equal(np.concatenate([f for n, f in blocks if n == c.name]), c.frames)


def test_dataframe_round_trip_and_column_order(tmp_path):
    m = _clips(1)[0]
    df = motion_to_dataframe(m)
    assert list(df.columns) == ["frame", *m.channel_names]
    shuffled = df[df.columns[::-1]].iloc[::-1]  # columns reversed, rows reversed: 'frame' restores order
    back = motion_from_dataframe(shuffled, m.skeleton, fps=m.fps, name=m.name)
    _same(back, m)
    plain = motion_from_dataframe(df.drop(columns="frame").assign(clip="walk"), m.skeleton, fps=30.0)
    assert plain.name == "walk"
    np.testing.assert_array_equal(plain.frames, m.frames)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda df: df.drop(columns="femur.rz"), "femur.rz"),
        (lambda df: df.assign(extra=1.0), "extra"),
        (lambda df: df.assign(**{"femur.rx": np.nan}), "'femur.rx' has a NaN"),
        (lambda df: df.assign(**{"femur.rx": "a"}), "'femur.rx' has dtype"),
        (lambda df: df.assign(frame=0), "repeated"),
        (lambda df: df.assign(clip=["a", "b"] * (len(df) // 2) + ["a"] * (len(df) % 2)), "2 clips"),
    ],
)
def test_dataframe_errors(change, expected):
    m = _clips(1)[0]
    with pytest.raises(CRBMError) as info:
        motion_from_dataframe(change(motion_to_dataframe(m)), m.skeleton, fps=30.0)
    assert expected in str(info.value)


def test_writer_errors_leave_no_file(tmp_path):
    a, b = _clips(2)
    other = Motion(Skeleton((Joint("r", -1, (0.0, 0.0, 0.0), ("Xposition",)),)), np.zeros((2, 1)), fps=1.0)
    with pytest.raises(CRBMError, match="different skeleton"):
        write_parquet([a, other], tmp_path / "x.parquet")
    with pytest.raises(CRBMError, match="unique"):
        write_parquet([a, b.replace(name=a.name)], tmp_path / "x.parquet")
    frames = a.frames.copy()
    frames[2, 2] = np.inf
    with pytest.raises(CRBMError, match="NaN or infinite"):
        write_parquet(a.replace(frames=frames), tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ bad files


def _rewrite(src, dst, change_table=lambda t: t, change_meta=lambda m: m):
    """Copy a crbm Parquet file with its table and/or metadata altered, as another tool might."""
    table = pq.read_table(src)
    meta = table.schema.metadata or {}
    new_meta = change_meta(json.loads(meta[b"crbm"])) if b"crbm" in meta else None
    table = change_table(table.replace_schema_metadata(None))
    if new_meta is not None:
        table = table.replace_schema_metadata({b"crbm": json.dumps(new_meta).encode()})
    pq.write_table(table, dst)
    return dst


def _error(path) -> FormatError:
    with pytest.raises(FormatError) as info:
        read_parquet(path)
    assert str(info.value).startswith(str(path))
    return info.value


def test_file_without_metadata(tmp_path):
    pd.DataFrame({"frame": [0, 1], "a.rx": [0.0, 1.0]}).to_parquet(tmp_path / "plain.parquet")
    assert "no 'crbm' key" in str(_error(tmp_path / "plain.parquet"))


def _set_column(name, values):
    return lambda t: t.set_column(t.schema.get_field_index(name), name, pa.array(values))


@pytest.mark.parametrize(
    ("change_table", "change_meta", "expected"),
    [
        (_set_column("femur.rz", [0.0, 1.0, np.nan, 3.0, 4.0]), None, "column 'femur.rz' has nan at row 2"),
        (_set_column("femur.rz", [0.0, None, 2.0, 3.0, 4.0]), None, "column 'femur.rz' has a null at row 1"),
        (lambda t: t.drop_columns(["root.ty"]), None, "column 'root.ty' is missing"),
        (lambda t: t.append_column("junk", pa.array([1.0] * 5)), None, "column 'junk' is not in the layout"),
        (_set_column("frame", [0, 1, 2, 4, 3]), None, "column 'frame'"),
        (_set_column("femur.rx", ["a"] * 5), None, "'femur.rx' has type string"),
        (None, lambda m: m | {"version": 9}, "version"),
        (
            None,
            lambda m: m | {"clips": [{"name": "x", "fps": 1.0, "frames": 6}]},
            "the metadata's clips add up to 6",
        ),
        (None, lambda m: {k: v for k, v in m.items() if k != "skeleton"}, "malformed"),
        (None, lambda m: m | {"clips": [{"name": "x", "fps": -1.0, "frames": 5}]}, "bad fps"),
    ],
)
def test_bad_files(tmp_path, change_table, change_meta, expected):
    write_parquet(_clips(1), tmp_path / "good.parquet")
    path = _rewrite(
        tmp_path / "good.parquet",
        tmp_path / "bad.parquet",
        change_table or (lambda t: t),
        change_meta or (lambda m: m),
    )
    assert expected in str(_error(path))


def test_wrong_clip_label(tmp_path):
    write_parquet(_clips(2), tmp_path / "good.parquet")
    labels = ["clip0"] * 4 + ["clip1"] * 13
    path = _rewrite(tmp_path / "good.parquet", tmp_path / "bad.parquet", _set_column("clip", labels))
    assert "column 'clip' is 'clip1' at row 4; expected 'clip0'" in str(_error(path))


def test_not_a_parquet_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    assert "cannot read Parquet" in str(_error(tmp_path / "x.parquet"))


_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_fuzz_byte_flips(tmp_path, edits):
    good = tmp_path / "good.parquet"
    if not good.exists():
        write_parquet(_clips(2), good)
    data = bytearray(good.read_bytes())
    for where, byte in edits:
        data[int(where * len(data))] = byte
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(bytes(data))
    try:
        clips = read_parquet(path)
    except CRBMError:
        return
    assert all(np.all(np.isfinite(c.frames)) for c in clips)


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path, data):
    path = tmp_path / "r.parquet"
    path.write_bytes(data)
    with pytest.raises(CRBMError):
        read_parquet(path)
