"""Streaming windows from Parquet (crbm.motion.stream) and the trainer's streaming path."""

import numpy as np
import pytest
import torch

from crbm.engine.errors import CRBMError
from crbm.engine.train import TrainConfig, fit
from crbm.mocap import Joint, Motion, Pipeline, Skeleton, ZScore, write_parquet
from crbm.motion.conditional import CRBM, Windows
from crbm.motion.stream import StreamingWindows


def _skeleton() -> Skeleton:
    return Skeleton((Joint("root", -1, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zrotation")),))


def _clips(lengths, seed=0) -> list[Motion]:
    rng = np.random.default_rng(seed)
    t = [np.arange(n)[:, None] * 0.1 for n in lengths]
    return [
        Motion(_skeleton(), np.sin(x + rng.uniform(0, 3, 3)) * 2 + rng.normal(0, 0.1, (len(x), 3)), 30.0, f"c{i}")
        for i, x in enumerate(t)
    ]


@pytest.fixture
def parquet(tmp_path):
    clips = _clips([40, 3, 57, 25, 61])  # one clip shorter than the order: no window
    path = tmp_path / "m.parquet"
    write_parquet(clips, path)
    return path, clips


def _config(**kw):
    return TrainConfig(epochs=3, batch_size=16, learning_rate=1e-3, seed=5, verbose=False, progress=False, **kw)


def test_unshuffled_stream_trains_exactly_like_in_memory_windows(parquet):
    path, clips = parquet
    frames = [torch.tensor(c.frames, dtype=torch.float32) for c in clips]
    ref = CRBM(3, 8, 3, generator=torch.Generator().manual_seed(1))
    got = CRBM(3, 8, 3, generator=torch.Generator().manual_seed(1))
    h_ref = fit(ref, Windows(frames, 3), _config(shuffle=False))
    stream = StreamingWindows(path, 3, batch_size=16, shuffle=False)
    h_got = fit(got, stream, _config(shuffle=False))
    for (name, a), b in zip(ref.named_parameters(), got.parameters()):
        assert torch.equal(a, b), name  # same windows, same order, same random numbers: bit-identical
    assert [h["recon_error"] for h in h_ref] == [h["recon_error"] for h in h_got]
    assert stream.n_batches == -(-len(Windows(frames, 3)) // 16)


def test_windows_never_cross_clips_and_each_window_comes_once_per_epoch(parquet):
    path, clips = parquet
    # tag every frame with (clip, frame) so a window's provenance can be read back from its values
    tagged = [Motion(_skeleton(), np.stack([np.full(c.n_frames, i), np.arange(c.n_frames), np.zeros(c.n_frames)], 1),
                     30.0, c.name) for i, c in enumerate(clips)]
    write_parquet(tagged, path)
    stream = StreamingWindows(path, 3, batch_size=7, shuffle=True, buffer=20)
    seen = []
    for epoch in range(2):
        rows = [torch.cat([v, u], 1) for v, u in stream.epoch_batches(epoch, torch.Generator().manual_seed(epoch))]
        rows = torch.cat(rows).to(torch.int64)
        v, u = rows[:, :3], rows[:, 3:].reshape(-1, 3, 3)
        assert torch.all(u[:, :, 0] == v[:, None, 0])  # history from the same clip
        assert torch.all(u[:, :, 1] == v[:, None, 1] - torch.arange(1, 4))  # the 3 frames before, most recent first
        keys = sorted(map(tuple, v[:, :2].tolist()))
        expected = sorted((i, t) for i, c in enumerate(clips) for t in range(3, c.n_frames))
        assert keys == expected
        seen.append(v[:, :2])
    assert not torch.equal(seen[0], seen[1])  # a new order each epoch
    again = torch.cat([v for v, _ in stream.epoch_batches(1, torch.Generator().manual_seed(1))])
    assert torch.equal(again[:, :2].to(torch.int64), seen[1])  # reproducible from the generator


def test_memory_is_bounded_by_one_clip_and_the_buffer(tmp_path):
    clips = _clips([80] * 30, seed=3)
    path = tmp_path / "big.parquet"
    write_parquet(clips, path)
    stream = StreamingWindows(path, 2, batch_size=10, shuffle=True, buffer=100)
    n = sum(1 for _ in stream.epoch_batches(0, torch.Generator().manual_seed(0)))
    assert n == -(-30 * 78 // 10)
    assert stream.max_groups_held == 1  # each clip is one row group; never two at once
    assert stream.max_windows_held <= 100 + 78 - 1 + 10  # buffer + one clip's windows + a partial batch
    assert stream.max_windows_held < 30 * 78 / 10


def test_pipeline_applied_per_clip_and_checked(parquet, tmp_path):
    path, clips = parquet
    pipe = Pipeline([ZScore()]).fit([c.frames for c in clips], clips[0].channel_names)
    stream = StreamingWindows(path, 2, batch_size=5, shuffle=False, pipeline=pipe)
    assert stream.n_batches is None
    v = torch.cat([b[0] for b in stream.epoch_batches(0, torch.Generator())])
    expected = Windows([torch.tensor(pipe.transform(c.frames), dtype=torch.float32) for c in clips], 2).v
    assert torch.equal(v, expected)
    assert stream.n_batches == -(-len(expected) // 5)
    other = Pipeline([ZScore()]).fit([np.zeros((4, 2))], ["a", "b"])
    with pytest.raises(CRBMError, match="pipeline: fitted on channels"):
        StreamingWindows(path, 2, batch_size=5, pipeline=other)


def test_fit_refuses_what_a_stream_cannot_do(parquet):
    path, _ = parquet
    stream = StreamingWindows(path, 3, batch_size=16)
    model = CRBM(3, 4, 3)
    with pytest.raises(CRBMError, match="batches of 16"):
        fit(model, stream, TrainConfig(batch_size=8, verbose=False))
    with pytest.raises(CRBMError, match="checkpoint_every_steps"):
        fit(model, stream, _config(checkpoint_every_steps=2))
    with pytest.raises(CRBMError, match="valid="):
        fit(model, stream, _config(), valid=torch.zeros(2, 3))
    with pytest.raises(CRBMError, match="order must be"):
        StreamingWindows(path, 0, batch_size=4)


def test_shuffled_streamed_training_is_reproducible_from_the_seed(parquet):
    path, _ = parquet

    def train(seed):
        model = CRBM(3, 8, 3, generator=torch.Generator().manual_seed(1))
        fit(model, StreamingWindows(path, 3, batch_size=16, buffer=30), TrainConfig(
            epochs=2, batch_size=16, learning_rate=1e-3, seed=seed, verbose=False, progress=False))
        return torch.cat([p.reshape(-1) for p in model.parameters()])

    a, b, c = train(5), train(5), train(6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
