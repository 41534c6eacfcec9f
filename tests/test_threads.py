"""Intra-op threads chosen by the work (crbm.engine.threads): one thread for small products, the free cores for large
ones, and whatever the user asked for whenever they asked."""

from __future__ import annotations

import pytest
import torch

import crbm
from crbm.cli import main
from crbm.engine import threads


@pytest.fixture
def undecided(monkeypatch):
    """A process where the user chose nothing: two threads as torch's own count, no environment setting."""
    before = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_AT_IMPORT", 2)
    monkeypatch.setattr(threads, "_ASKED", None)
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _threads_during_fit(model, data, batch_size=10) -> list[int]:
    seen = []
    config = crbm.TrainConfig(epochs=2, batch_size=batch_size, verbose=False, progress=False)
    crbm.fit(model, data, config, callbacks=[lambda epoch, figures, m: seen.append(torch.get_num_threads())])
    return seen


def test_small_work_trains_on_one_thread_and_the_count_comes_back(undecided, gen):
    model = crbm.RBM(6, 4, generator=gen)
    data = (torch.rand(40, 6, generator=gen) < 0.5).float()
    assert _threads_during_fit(model, data) == [1, 1]
    assert torch.get_num_threads() == 2


def test_generation_of_a_small_model_runs_on_one_thread(undecided, gen, monkeypatch):
    seen = []
    original = crbm.motion.sample._generate_one_layer

    def spy(*args):
        seen.append(torch.get_num_threads())
        return original(*args)

    monkeypatch.setattr(crbm.motion.sample, "_generate_one_layer", spy)
    model = crbm.CRBM(4, 5, 2, generator=gen)
    crbm.generate(model, torch.randn(3, 4, generator=gen), 4, k=3, generator=gen)
    assert seen == [1] and torch.get_num_threads() == 2


def test_a_motion_model_maps_frames_in_and_out_on_the_samplers_threads(undecided, monkeypatch):
    """MotionModel.generate runs the preprocessing's inverse (many tiny operations) on the one thread chosen
    for a small model's sampler, not on torch's two, and gives torch its count back."""
    model = crbm.load_motion_model("demo")
    seen = []
    original = crbm.MotionModel.to_motion

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(crbm.MotionModel, "to_motion", spy)
    model.generate(3, k=2, generator=torch.Generator().manual_seed(0))
    assert seen == [1] and torch.get_num_threads() == 2


def test_large_work_takes_the_free_cores(undecided, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
    assert threads.auto_threads(threads.SMALL_WORK) == 2
    monkeypatch.setattr(threads, "busy_cores", lambda: 1.2)  # another job keeps one core busy
    assert threads.auto_threads(threads.SMALL_WORK) == 1
    monkeypatch.setattr(threads, "busy_cores", lambda: 7.0)
    assert threads.auto_threads(10 * threads.SMALL_WORK) == 1
    assert threads.auto_threads(threads.SMALL_WORK - 1) == 1


def test_step_work_is_batch_times_weights(gen):
    crbm_model = crbm.CRBM(56, 150, 3, generator=gen)  # W 56 x 150, A 168 x 56, B 168 x 150
    assert threads.step_work(crbm_model, 100) == 100 * (56 * 150 + 168 * 56 + 168 * 150)
    assert threads.step_work(crbm_model, 100) < threads.SMALL_WORK < threads.step_work(crbm.RBM(784, 500), 100)


def test_an_explicit_choice_wins(undecided, gen):
    model = crbm.RBM(6, 4, generator=gen)
    data = (torch.rand(40, 6, generator=gen) < 0.5).float()
    threads.set_threads(2)  # crbm's own setting (the command line's --threads)
    try:
        assert _threads_during_fit(model, data) == [2, 2]
    finally:
        threads.set_threads(None)
    assert threads.asked_threads() is None and torch.get_num_threads() == 2
    torch.set_num_threads(3)  # torch's setting, made after crbm was imported
    assert _threads_during_fit(model, data) == [3, 3] and torch.get_num_threads() == 3


def test_the_environment_counts_as_a_choice(undecided, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.asked_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(crbm.CRBMError, match="threads must be a positive integer"):
        threads.set_threads(bad)


def test_cli_threads_option(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["generate", "demo", "--frames", "5", "--k", "2", "--threads", "1", "--out",
                     str(tmp_path / "g.bvh")]) == 0
        assert threads.asked_threads() == 1
        assert main(["generate", "demo", "--frames", "5", "--threads", "0", "--out", str(tmp_path / "h.bvh")]) == 2
        assert "crbm generate: error: threads must be a positive integer, got 0" in capsys.readouterr().err
        assert not (tmp_path / "h.bvh").exists()
    finally:
        threads.set_threads(None)
        torch.set_num_threads(before)
