"""Atomic file writing: write to a temporary file in the target's folder, fsync, then rename.

Every file the package writes (checkpoints, BVH, AMC, Parquet, PNG, GIF, JSON, downloads) goes through
here. A crash or an exception while writing leaves the destination as it was and no partial file behind
(a temporary file left by a process killed mid-write is removed by the next successful write).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crbm.errors import CRBMError


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


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (ending in the same suffix, so writers that pick the format
    by suffix work); on success fsync it and ``os.replace`` it onto ``path``.

    The caller writes the whole file to the yielded path (for writers that take a path, e.g. pyarrow).
    On an exception the temporary file is removed and the exception propagates.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise CRBMError(f"cannot write {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for open()
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.*.tmp{path.suffix}"):  # left by writers killed mid-write
        stale.unlink(missing_ok=True)


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
