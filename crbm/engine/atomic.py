"""Atomic file writing: write to a temporary file in the target's folder, fsync, then rename.

Every file the package writes (checkpoints, BVH, AMC, Parquet, PNG, GIF, MP4, JSON, downloads) goes through
here. A crash or an exception while writing leaves the destination as it was and no partial file behind.
Several writers may write the same path at once: each has its own temporary file (named after the host, the
process and a random token), and the last complete write wins. A temporary file left by a process killed
mid-write is removed by the next successful write on the same host, once that process is gone; the
temporary files of live writers are never touched.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from crbm.engine.errors import CRBMError

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_STAGE = ".crbm-stage."


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable (not possible on every platform)
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary(path: Path) -> Path:
    """Create an empty temporary file next to ``path``: ``.<name>.<host>.<pid>.<token>.tmp<suffix>`` (ending
    in the same suffix, so writers that pick the format by suffix work)."""
    if not path.parent.is_dir():
        raise CRBMError(f"cannot write {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for open()
    return tmp


def _process_gone(pid: int) -> bool:
    if os.name != "posix":  # (no harmless existence probe elsewhere: keep every temporary file)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    return False


def _remove_stale(path: Path) -> None:
    """Remove temporary files of ``path`` left by writers on this host that were killed mid-write."""
    prefix = f".{path.name}.{_HOST}."
    for stale in path.parent.glob(f"{prefix}*.tmp{path.suffix}"):
        pid = stale.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _process_gone(int(pid)):
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path next to each of ``paths``; when the block ends, fsync every one, and only
    then rename each onto its destination.

    The caller writes the whole files to the yielded paths. An exception while writing or syncing any of
    them removes every temporary file and leaves all the destinations as they were (all or nothing).
    """
    paths = [Path(p) for p in paths]
    if len(set(paths)) != len(paths):
        raise CRBMError(f"cannot write {[str(p) for p in paths]}: a path is named twice")
    tmps: list[Path] = []
    try:
        for path in paths:
            tmps.append(_temporary(path))
        yield list(tmps)
        for tmp in tmps:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        for tmp, path in zip(tmps, paths):
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {p.parent for p in paths}:
        _fsync_dir(folder)
    for path in paths:
        _remove_stale(path)


@contextmanager
def staged_outputs(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a new hidden staging folder inside ``folder`` for a command that writes several files whose names
    only the writers know (an ``.amc`` brings its ``.asf``). When the block ends every file written there is
    moved into ``folder`` under its own name, all after all were written; an exception removes the staging
    folder and leaves ``folder`` as it was."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CRBMError(f"cannot write into {folder}: no such folder")
    stage = folder / f"{_STAGE}{_HOST}.{os.getpid()}.{secrets.token_hex(4)}"
    stage.mkdir()
    try:
        yield stage
        written = sorted(p for p in stage.iterdir() if p.is_file())
        for f in written:
            os.replace(f, folder / f.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _fsync_dir(folder)
    for old in folder.glob(f"{_STAGE}{_HOST}.*"):  # left by commands killed mid-write
        pid = old.name[len(_STAGE) + len(_HOST) + 1 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _process_gone(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """``atomic_paths`` for one file: yield a temporary path next to ``path``, renamed onto it at the end."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """``open`` a temporary file next to ``path`` for writing; rename it onto ``path`` when the block ends."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating its folder if needed; returns the path."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)
