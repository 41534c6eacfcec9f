"""Read and write motion files by suffix: ``.bvh``, ``.amc`` (with its ``.asf``), ``.parquet``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from crbm.engine.atomic import atomic_path
from crbm.engine.errors import CRBMError
from crbm.mocap.acclaim import AMC_FPS, check_amc_fps, read_amc, read_asf, write_amc, write_asf
from crbm.mocap.bvh import read_bvh, write_bvh
from crbm.mocap.convert import asf_to_bvh
from crbm.mocap.lengths import BVH_DEFAULT_UNIT, check_length_unit, convert_length
from crbm.mocap.motion import Motion, Skeleton, check_fps
from crbm.mocap.parquet import read_parquet, write_parquet

SUFFIXES = (".bvh", ".amc", ".parquet")


def read_motions(
    path: str | os.PathLike,
    *,
    asf: str | os.PathLike | Skeleton | None = None,
    fps: float | None = None,
    units: str | None = None,
) -> list[Motion]:
    """Every clip in a motion file, as a list: one for BVH and AMC, one or more for Parquet.

    asf: the skeleton (path or Skeleton) an ``.amc`` needs; by default the one ``.asf`` file in the
    ``.amc``'s folder (the CMU layout, ``NN/NN.asf`` beside ``NN/NN_MM.amc``). fps: the clips' frame rate,
    overriding the one the file states (BVH ``Frame Time``, Parquet metadata); an ``.amc`` states none and
    defaults to 120 (CMU's). Frames are kept as they are: only the rate they are said to be at changes.
    units: the length unit of a ``.bvh`` file's numbers (BVH declares none; by default it is read from the
    skeleton's size, see ``crbm.read_bvh``); ASF and Parquet record theirs.
    """
    suffix = _suffix(path)
    if units is not None and suffix != ".bvh":
        raise CRBMError(f"{os.fspath(path)}: units is the length unit of .bvh input; {suffix} files record theirs")
    if fps is not None:
        fps = check_fps(fps, f"{os.fspath(path)}: fps")
    if suffix != ".amc":
        if asf is not None:
            raise CRBMError(f"an ASF skeleton is only used with .amc input, not {suffix}")
        motions = [read_bvh(path, units=units)] if suffix == ".bvh" else read_parquet(path)
        return motions if fps is None else [m.replace(fps=fps) for m in motions]
    skeleton = asf if isinstance(asf, Skeleton) else read_asf(_skeleton_beside(path) if asf is None else asf)
    return [read_amc(path, skeleton, fps=AMC_FPS if fps is None else fps)]


def read_motion(
    path: str | os.PathLike,
    *,
    asf: str | os.PathLike | Skeleton | None = None,
    fps: float | None = None,
    units: str | None = None,
) -> Motion:
    """The one clip in a motion file (see ``read_motions``); CRBMError when a Parquet file holds several."""
    motions = read_motions(path, asf=asf, fps=fps, units=units)
    if len(motions) != 1:
        raise CRBMError(f"{os.fspath(path)} holds {len(motions)} clips; use read_motions to get them all")
    return motions[0]


def write_motion(
    motions: Motion | Sequence[Motion], path: str | os.PathLike, *, units: str | None = None
) -> list[Path]:
    """Write clips by suffix; returns the files written.

    ``.parquet``: any number of clips of one skeleton. ``.bvh``: one clip; ASF-kind motion is converted
    with ``asf_to_bvh`` (same world positions). ``.amc``: one ASF-kind clip at 120 fps (AMC stores no
    rate; a clip at another rate is refused); its skeleton is written next to it as ``<stem>.asf`` (BVH -> AMC
    is not supported).
    units: the length unit to write (``crbm.mocap.lengths.LENGTH_UNITS``); lengths are converted with
    ``convert_length``. Default: the clips' own unit, so a file comes back in the unit it was read in, and
    centimetres for ASF-kind motion written as ``.bvh`` (BVH records no unit, and cm is what most
    motion-capture BVH files use).
    """
    motions = [motions] if isinstance(motions, Motion) else list(motions)
    suffix = _suffix(path)
    unit = None if units is None else check_length_unit(units, os.fspath(path))
    if unit is not None:
        motions = [convert_length(m, unit) for m in motions]
    path = Path(path)
    if suffix == ".parquet":
        write_parquet(motions, path)
        return [path]
    if len(motions) != 1:
        raise CRBMError(
            f"{suffix} holds one clip but {len(motions)} were given; write them to .parquet instead"
        )
    motion = motions[0]
    if suffix == ".bvh":
        write_bvh(asf_to_bvh(motion, units=unit or BVH_DEFAULT_UNIT) if motion.skeleton.kind == "asf" else motion,
                  path)
        return [path]
    if motion.skeleton.kind != "asf":
        raise CRBMError(
            "BVH -> AMC is not supported: AMC needs an ASF skeleton (write .bvh or .parquet instead)"
        )
    check_amc_fps(motion, path)  # here, to name the file asked for rather than its temporary
    asf_path = path.with_suffix(".asf")
    with atomic_path(path) as amc_tmp, atomic_path(asf_path) as asf_tmp:  # both files appear, or neither
        write_amc(motion, amc_tmp)  # validates the motion before anything is written
        write_asf(motion.skeleton, asf_tmp)
    return [path, asf_path]


def _skeleton_beside(path) -> Path:
    """The one ``.asf`` file in an ``.amc`` file's folder (the CMU layout ``NN/NN.asf``, ``NN/NN_MM.amc``)."""
    folder = Path(path).parent
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".asf" and p.is_file())
    if len(found) != 1:
        what = "no .asf file" if not found else f"{len(found)} .asf files ({', '.join(p.name for p in found)})"
        raise CRBMError(
            f"{os.fspath(path)}: an .amc file needs its skeleton and its folder holds {what}; "
            "pass the .asf file (--asf)"
        )
    return found[0]


def _suffix(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise CRBMError(
            f"{os.fspath(path)}: unknown motion file type {suffix or '(none)'!r}; expected {SUFFIXES}"
        )
    return suffix
