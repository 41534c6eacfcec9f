"""Motion clips as Parquet: one row per frame, one float64 column per channel, metadata as JSON.

Layout (readable by pandas and pyarrow without crbm):

- ``clip`` (string): the clip's name; present only when the file holds more than one clip. The rows
  of a clip are contiguous, clips in metadata order, and every clip starts a new row group.
- ``frame`` (int64): 0, 1, ..., T-1 within each clip.
- one float64 column per channel, named ``<joint>.<channel>`` (``lfemur.rx``, ``Hips.Zrotation``), in
  the skeleton's channel order.
- schema key-value metadata, key ``crbm``: JSON ``{"format": "crbm.motion", "version": 1,
  "skeleton": Skeleton.to_dict(), "clips": [{"name": str, "fps": float, "frames": int}, ...]}``.

Parquet -> Motion -> Parquet and BVH -> Parquet -> BVH are lossless (float64 values, JSON floats are
exact in Python).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crbm.engine.atomic import atomic_path
from crbm.engine.errors import CRBMError, FormatError
from crbm.engine.limits import load_json
from crbm.mocap.motion import MAX_FPS, Motion, Skeleton

if TYPE_CHECKING:  # pandas is imported on first use: it is slow to import
    import pandas as pd

METADATA_KEY = b"crbm"
FORMAT = "crbm.motion"
VERSION = 1
ROW_GROUP_FRAMES = 65536


def motion_to_dataframe(motion: Motion) -> pd.DataFrame:
    """A DataFrame with an int64 ``frame`` column and one float64 column per channel, (T, 1 + n_channels)."""
    import pandas as pd

    df = pd.DataFrame(motion.frames.astype(np.float64, copy=True), columns=motion.channel_names)
    df.insert(0, "frame", np.arange(motion.n_frames, dtype=np.int64))
    return df


def motion_from_dataframe(
    df: pd.DataFrame, skeleton: Skeleton, *, fps: float, name: str | None = None
) -> Motion:
    """A Motion from a DataFrame holding one column per channel of ``skeleton`` (any column order).

    An optional ``frame`` column orders the rows (values must be unique); an optional ``clip`` column
    must hold one value (it names the clip unless ``name`` is given). Other columns, missing channels,
    non-numeric or non-finite values raise CRBMError naming the column.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise CRBMError(f"expected a pandas DataFrame, got {type(df).__name__}")
    channels = skeleton.channel_names
    missing = [c for c in channels if c not in df.columns]
    if missing:
        raise CRBMError(f"DataFrame lacks channel column(s) {missing[:5]}; expected one column per channel")
    allowed = set(channels) | {"frame", "clip"}
    extra = [c for c in df.columns if c not in allowed]
    if extra:
        raise CRBMError(
            f"DataFrame has column(s) {extra[:5]} that are not channels of the skeleton, 'frame' or 'clip'"
        )
    if "clip" in df.columns:
        clips = pd.unique(df["clip"])
        if len(clips) > 1:
            raise CRBMError(f"DataFrame holds {len(clips)} clips in column 'clip'; select one clip first")
        if name is None and len(clips):
            name = str(clips[0])
    if "frame" in df.columns:
        if df["frame"].duplicated().any():
            raise CRBMError("column 'frame' has repeated values; expected one row per frame")
        df = df.sort_values("frame", kind="stable")
    frames = np.empty((len(df), len(channels)))
    for k, c in enumerate(channels):
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise CRBMError(f"column {c!r} has dtype {col.dtype}; expected numbers")
        frames[:, k] = col.to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(frames[:, k]))
        if bad.size:
            raise CRBMError(
                f"column {c!r} has a NaN or infinite value at row {int(bad[0])}; expected finite numbers"
            )
    return Motion(skeleton=skeleton, frames=frames, fps=fps, name="" if name is None else name)


def write_parquet(motions: Motion | Sequence[Motion], path: str | os.PathLike) -> None:
    """Write one or more clips sharing one skeleton in the layout above, atomically.

    Clip names must be unique when there are several; each clip starts a new row group.
    """
    motions = [motions] if isinstance(motions, Motion) else list(motions)
    if not motions or not all(isinstance(m, Motion) for m in motions):
        raise CRBMError("write_parquet needs a Motion or a non-empty sequence of Motions")
    skeleton = motions[0].skeleton
    for m in motions[1:]:
        if m.skeleton != skeleton:
            raise CRBMError(
                f"clip {m.name!r} has a different skeleton from clip {motions[0].name!r}; "
                "one Parquet file holds clips of one skeleton"
            )
    names = [m.name for m in motions]
    if len(set(names)) != len(names):
        raise CRBMError(f"clip names must be unique in one file, got {names}")
    for m in motions:
        if not np.all(np.isfinite(m.frames)):
            raise CRBMError(
                f"clip {m.name!r} has NaN or infinite values; the Parquet layout stores finite values"
            )
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "skeleton": skeleton.to_dict(),
        "clips": [{"name": m.name, "fps": float(m.fps), "frames": m.n_frames} for m in motions],
    }
    channels = skeleton.channel_names
    many = len(motions) > 1
    fields = ([pa.field("clip", pa.string())] if many else []) + [pa.field("frame", pa.int64())]
    fields += [pa.field(c, pa.float64()) for c in channels]
    schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for m in motions:
                cols = ([pa.array([m.name] * m.n_frames, pa.string())] if many else []) + [
                    pa.array(np.arange(m.n_frames, dtype=np.int64))
                ]
                cols += [
                    pa.array(np.ascontiguousarray(m.frames[:, k], dtype=np.float64))
                    for k in range(len(channels))
                ]
                writer.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=ROW_GROUP_FRAMES)


def read_parquet(path: str | os.PathLike) -> list[Motion]:
    """Every clip of a crbm Parquet file, in file order (a single-clip file gives a list of one)."""
    return list(iter_parquet_clips(path))


def read_parquet_skeleton(path: str | os.PathLike) -> tuple[Skeleton, list[dict]]:
    """The skeleton and the clip list ``[{"name", "fps", "frames"}, ...]`` from the metadata alone."""
    _, skeleton, clips = _open(path)
    return skeleton, clips


def iter_parquet_clips(path: str | os.PathLike) -> Iterator[Motion]:
    """Yield the clips one at a time, reading only the row groups that hold each (for large files)."""
    pf, skeleton, clips = _open(path)
    columns = _check_columns(path, pf, skeleton, clips)
    bounds = np.cumsum([0] + [c["frames"] for c in clips])
    group_rows = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
    for k, clip in enumerate(clips):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        first = int(np.searchsorted(group_rows, lo, side="right")) - 1
        last = int(np.searchsorted(group_rows, hi, side="left"))
        groups = list(range(max(first, 0), min(last, pf.num_row_groups)))
        table = _read(path, lambda g=groups: pf.read_row_groups(g, columns=columns))
        table = table.slice(lo - int(group_rows[groups[0]]) if groups else 0, hi - lo)
        frames = _frames(path, table, skeleton, clip, lo, clips_column=len(clips) > 1, check_frame=True)
        yield Motion(skeleton=skeleton, frames=frames, fps=clip["fps"], name=clip["name"])


def iter_parquet_frames(
    path: str | os.PathLike, *, batch_frames: int = 65536
) -> Iterator[tuple[str, np.ndarray]]:
    """Stream ``(clip name, frames (n, n_channels))`` blocks of at most ``batch_frames`` rows.

    Blocks never span two clips; consecutive blocks of a clip continue it. Memory stays at about one
    block whatever the file's size.
    """
    if not (isinstance(batch_frames, int) and batch_frames > 0):
        raise CRBMError(f"batch_frames must be a positive int, got {batch_frames!r}")
    pf, skeleton, clips = _open(path)
    columns = _check_columns(path, pf, skeleton, clips)
    bounds = np.cumsum([0] + [c["frames"] for c in clips])
    row = 0
    for batch in _batches(path, pf, batch_frames, columns):
        table = pa.Table.from_batches([batch])
        while table.num_rows:
            k = int(np.searchsorted(bounds, row, side="right")) - 1
            n = min(table.num_rows, int(bounds[k + 1]) - row)
            block = _frames(
                path,
                table.slice(0, n),
                skeleton,
                clips[k],
                row,
                clips_column=len(clips) > 1,
                check_frame=False,
            )
            yield clips[k]["name"], block
            table, row = table.slice(n), row + n


# ---------------------------------------------------------------------------------------------- helpers


def _read(path, fn):
    try:
        return fn()
    except (pa.ArrowException, OSError, ValueError, LookupError) as err:
        if isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise FormatError(path, f"cannot read Parquet data: {type(err).__name__}: {err}") from None


def _batches(path, pf: pq.ParquetFile, batch_frames: int, columns: list[str]) -> Iterator[pa.RecordBatch]:
    batches = _read(path, lambda: pf.iter_batches(batch_size=batch_frames, columns=columns))
    while (batch := _read(path, lambda: next(batches, None))) is not None:
        yield batch


def _open(path) -> tuple[pq.ParquetFile, Skeleton, list[dict]]:
    pf = _read(path, lambda: pq.ParquetFile(path))
    raw = (pf.schema_arrow.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise FormatError(
            path,
            "no 'crbm' key in the schema metadata; expected the skeleton, fps and clips as "
            "JSON (a file written by crbm.write_parquet); for a bare table use motion_from_dataframe",
        )
    meta = load_json(path, raw, "metadata 'crbm'")
    try:
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}")
        skeleton = Skeleton.from_dict(meta["skeleton"])
        clips = [
            {"name": str(c["name"]), "fps": float(c["fps"]), "frames": int(c["frames"])}
            for c in meta["clips"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as err:
        raise FormatError(
            path,
            f"metadata 'crbm' is malformed ({err}); expected JSON with format {FORMAT!r} "
            f"version {VERSION}, 'skeleton' and 'clips'",
        ) from None
    if not clips or any(c["frames"] < 0 for c in clips):
        raise FormatError(path, "metadata 'crbm' lists no clips, or a clip with a negative frame count")
    for c in clips:
        if not (np.isfinite(c["fps"]) and 0 < c["fps"] <= MAX_FPS):
            raise FormatError(
                path, f"metadata 'crbm': clip {c['name']!r} has bad fps {c['fps']}; expected a frame rate above 0 "
                f"and at most {MAX_FPS:,.0f} fps",
            )
    if len({c["name"] for c in clips}) != len(clips):
        raise FormatError(path, "metadata 'crbm' repeats a clip name; expected unique names")
    total = sum(c["frames"] for c in clips)
    if pf.metadata.num_rows != total:
        raise FormatError(
            path, f"the file has {pf.metadata.num_rows} rows; the metadata's clips add up to {total}"
        )
    return pf, skeleton, clips


def _check_columns(path, pf: pq.ParquetFile, skeleton: Skeleton, clips: list[dict]) -> list[str]:
    channels = skeleton.channel_names
    expected = (["clip"] if len(clips) > 1 else []) + ["frame"] + channels
    present = pf.schema_arrow.names
    position: dict[str, int] = {}
    for k, c in enumerate(present):
        if c in position:
            raise FormatError(path, f"column {c!r} appears twice; expected each column once")
        position[c] = k
    for c in expected:
        if c not in position:
            raise FormatError(path, f"column {c!r} is missing; expected columns {_show(expected)}")
    known = set(expected)
    for c in present:
        if c not in known:
            raise FormatError(path, f"column {c!r} is not in the layout; expected columns {_show(expected)}")
    types = pf.schema_arrow.types
    for c in channels:
        if not pa.types.is_floating(types[position[c]]):
            raise FormatError(path, f"column {c!r} has type {types[position[c]]}; expected float64")
    if not pa.types.is_integer(types[position["frame"]]):
        raise FormatError(path, f"column 'frame' has type {types[position['frame']]}; expected int64")
    return expected


def _show(names: list[str]) -> str:
    return repr(names) if len(names) <= 6 else f"{names[:5]}... ({len(names)} in all)"


def _frames(path, table: pa.Table, skeleton, clip: dict, row0: int, *, clips_column: bool, check_frame: bool):
    """(n, n_channels) float64 from a slice of the rows of ``clip`` that starts at file row ``row0``."""
    channels = skeleton.channel_names
    frames = np.empty((table.num_rows, len(channels)))
    for k, c in enumerate(channels):
        col = table.column(c)
        if col.null_count:
            raise FormatError(
                path, f"column {c!r} has a null at row {row0 + _first_null(col)}; expected numbers"
            )
        frames[:, k] = col.to_numpy()
        bad = np.flatnonzero(~np.isfinite(frames[:, k]))
        if bad.size:
            raise FormatError(
                path,
                f"column {c!r} has {frames[bad[0], k]} at row {row0 + int(bad[0])}; expected finite numbers",
            )
    if clips_column:
        names = table.column("clip").to_pylist()
        wrong = [i for i, v in enumerate(names) if v != clip["name"]]
        if wrong:
            raise FormatError(
                path,
                f"column 'clip' is {names[wrong[0]]!r} at row {row0 + wrong[0]}; expected "
                f"{clip['name']!r} (clips are contiguous, in metadata order)",
            )
    if check_frame:
        col = table.column("frame")
        got = col.to_numpy(zero_copy_only=False) if not col.null_count else None
        if got is None or not np.array_equal(got, np.arange(table.num_rows)):
            raise FormatError(
                path,
                f"column 'frame' of clip {clip['name']!r} (from row {row0}) is not 0..{table.num_rows - 1}",
            )
    return frames


def _first_null(col) -> int:
    return int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
