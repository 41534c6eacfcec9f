"""Training windows streamed from a mocap Parquet file larger than memory (the trainer's streaming protocol).

``StreamingWindows(path, order, batch_size=...)`` reads the file (``crbm.mocap.parquet`` layout: one row
per frame, ``<joint>.<channel>`` columns, every clip starting a row group) one clip at a time, reading only
the row groups that hold that clip, applies an already fitted preprocessing ``Pipeline`` to the clip (or
none, for a file that is already normalised), cuts the clip's windows of order n exactly as
``crbm.motion.conditional.Windows`` does (a window ends at frame t >= n of its clip, history
u_t = [v_{t-1}, ..., v_{t-n}]: windows never cross clips), and yields mini-batches ``(v (B, D), u (B, n D))``.

Memory: one clip's row groups, plus a pool of at most ``buffer + (windows of the largest clip)`` windows,
whatever the file's size. ``max_groups_held`` and ``max_windows_held`` record the peaks of the last epoch.

Order: with ``shuffle=False`` the windows come in file order, in batches of ``batch_size`` consecutive
windows (the last one partial), i.e. the batches ``crbm.engine.train.fit`` makes from the in-memory ``Windows``
of the same clips with ``TrainConfig(shuffle=False)``. With ``shuffle=True`` each epoch draws one seed from
the trainer's generator, visits the clips in a random order, and emits the pooled windows in random order
whenever the pool holds ``buffer`` windows (a shuffle buffer: every window once per epoch, reproducible
with the trainer's seed, but not the in-memory trainer's full permutation).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from crbm.engine.checks import check_positive_int
from crbm.engine.errors import CRBMError
from crbm.mocap.parquet import _check_columns, _frames, _open, _read
from crbm.motion.conditional import Windows


class StreamingWindows:
    """Mini-batches of CRBM windows of order ``order`` streamed from the Parquet file ``path``.

    Args:
        path: a crbm motion Parquet file.
        order: n >= 1, the history length.
        batch_size: windows per yielded batch (the trainer's ``TrainConfig.batch_size`` should match).
        pipeline: a fitted ``crbm.mocap.preprocess.Pipeline`` whose input channels are the file's, applied
            to each clip (None: the file's channels are used as they are).
        shuffle: random clip order and shuffle-buffer order per epoch (see the module docstring).
        buffer: shuffle-buffer size in windows.
        dtype: dtype of the yielded tensors.

    The trainer protocol: ``epoch_batches(epoch, generator)`` yields tuples of CPU tensors (the trainer
    moves them to its device); ``n_batches`` is the number of batches per epoch when it is known before
    the first epoch (no pipeline), else after the first epoch.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        order: int,
        *,
        batch_size: int,
        pipeline=None,
        shuffle: bool = True,
        buffer: int = 10000,
        dtype: torch.dtype = torch.float32,
    ):
        check_positive_int(order, "order")
        for name, x in (("batch_size", batch_size), ("buffer", buffer)):
            check_positive_int(x, name)
        self.path, self.order, self.batch_size = path, order, batch_size
        self.pipeline, self.shuffle, self.buffer, self.dtype = pipeline, shuffle, buffer, dtype
        pf, self.skeleton, self.clips = _open(path)
        self._file = pf
        self._columns = _check_columns(path, pf, self.skeleton, self.clips)
        names = self.skeleton.channel_names
        if pipeline is not None and list(pipeline.names_in or []) != names:
            raise CRBMError(
                f"pipeline: fitted on channels {pipeline.names_in!r}; the file {path} has channels {names}"
            )
        self.names = names if pipeline is None else list(pipeline.names_out)
        rows = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
        starts = np.cumsum([0] + [c["frames"] for c in self.clips])
        self._groups = []  # per clip: (row groups, offset of the clip in the first one)
        for k in range(len(self.clips)):
            lo, hi = int(starts[k]), int(starts[k + 1])
            first = max(int(np.searchsorted(rows, lo, side="right")) - 1, 0)
            last = min(int(np.searchsorted(rows, hi, side="left")), pf.num_row_groups)
            self._groups.append((list(range(first, last)), lo - int(rows[first]), lo))
        self.n_windows: int | None = None
        if pipeline is None:
            self.n_windows = sum(max(c["frames"] - order, 0) for c in self.clips)
            if self.n_windows == 0:
                raise CRBMError(f"{path}: no clip has more than {order} frames: no training window of order {order}")
        self.max_groups_held = 0
        self.max_windows_held = 0

    @property
    def n_visible(self) -> int:
        return len(self.names)

    @property
    def n_batches(self) -> int | None:
        if self.n_windows is None:
            return None
        return -(-self.n_windows // self.batch_size)

    def clip_windows(self, k: int) -> Windows | None:
        """The windows of clip ``k`` (after the pipeline), or None when the clip is too short."""
        groups, offset, row0 = self._groups[k]
        clip = self.clips[k]
        table = _read(self.path, lambda: self._file.read_row_groups(groups, columns=self._columns))
        self.max_groups_held = max(self.max_groups_held, len(groups))
        frames = _frames(self.path, table.slice(offset, clip["frames"]), self.skeleton, clip, row0,
                         clips_column=len(self.clips) > 1, check_frame=True)
        del table
        if self.pipeline is not None:
            frames = self.pipeline.transform(frames)
        if frames.shape[0] <= self.order:
            return None
        return Windows([torch.from_numpy(np.ascontiguousarray(frames)).to(self.dtype)], self.order)

    def epoch_batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield this epoch's batches ``(v, u)``; draws one number from ``generator`` when shuffling."""
        rng = None
        clips = range(len(self.clips))
        if self.shuffle:
            seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
            rng = torch.Generator().manual_seed(seed)
            clips = torch.randperm(len(self.clips), generator=rng).tolist()
        self.max_groups_held = self.max_windows_held = 0
        pool_v: list[Tensor] = []
        pool_u: list[Tensor] = []
        held, count, total = 0, 0, 0
        for k in clips:
            w = self.clip_windows(k)
            if w is None:
                continue
            pool_v.append(w.v)
            pool_u.append(w.u)
            held += len(w)
            total += len(w)
            self.max_windows_held = max(self.max_windows_held, held)
            if held >= (self.buffer if self.shuffle else self.batch_size):
                v, u = torch.cat(pool_v), torch.cat(pool_u)
                if rng is not None:
                    perm = torch.randperm(held, generator=rng)
                    v, u = v[perm], u[perm]
                full = held - held % self.batch_size
                for s in range(0, full, self.batch_size):
                    count += 1
                    yield v[s : s + self.batch_size], u[s : s + self.batch_size]
                pool_v, pool_u, held = [v[full:]], [u[full:]], held - full
        if held:
            v, u = torch.cat(pool_v), torch.cat(pool_u)
            if rng is not None:
                perm = torch.randperm(held, generator=rng)
                v, u = v[perm], u[perm]
            for s in range(0, held, self.batch_size):
                count += 1
                yield v[s : s + self.batch_size], u[s : s + self.batch_size]
        if count == 0:
            raise CRBMError(f"{self.path}: no clip has more than {self.order} frames after preprocessing")
        self.n_windows = total
