"""Progress: bars where a person watches, none in CI or when piped; one summary line per training run."""

from __future__ import annotations

import io
import sys

import pytest
import torch

import crbm
from crbm.engine import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_ci(monkeypatch):
    for name in ("CI", "CRBM_NO_PROGRESS"):
        monkeypatch.delenv(name, raising=False)


def test_who_is_watching(no_ci, monkeypatch):
    assert progress.watching(_Terminal()) and not progress.watching(io.StringIO())  # a terminal, a pipe or file
    monkeypatch.setitem(sys.modules, "ipykernel", object())  # a Jupyter kernel: its output is a notebook cell
    assert progress.watching(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not progress.watching(_Terminal())
    monkeypatch.delenv("CI")
    monkeypatch.setenv("CRBM_NO_PROGRESS", "1")
    assert not progress.watching(_Terminal()) and progress.progress_bar(3, desc="x", unit="y") is None


def test_steps_count_with_or_without_a_bar(no_ci, monkeypatch, capsys):
    assert list(progress.steps(2, 6, desc="generate")) == [2, 3, 4, 5]
    assert capsys.readouterr().err == ""  # stderr is captured, not a terminal: no bar
    monkeypatch.setattr(progress, "watching", lambda stream=None: True)
    assert list(progress.steps(2, 6, desc="generate", delay=0.0)) == [2, 3, 4, 5]
    err = capsys.readouterr().err
    assert "generate:" in err and "/4 [" in err  # a bar of 4 frames (tqdm redraws at most every 0.1 s)


def test_a_watched_training_run_shows_a_bar_and_one_summary_line(no_ci, monkeypatch, capsys, gen):
    monkeypatch.setattr(progress, "watching", lambda stream=None: True)
    data = (torch.rand(40, 6, generator=gen) < 0.5).float()
    crbm.fit(crbm.RBM(6, 4, generator=gen), data, crbm.TrainConfig(epochs=3, batch_size=10, verbose=True))
    err = capsys.readouterr().err
    assert "train RBM:" in err and "/12 [" in err  # the bar: 3 epochs of 4 batches
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith(("epoch ", "trained "))]
    assert len(lines) == 1 and lines[0].startswith("trained RBM: epochs 1-3 in")  # no line per epoch


def test_motion_configs_choose_their_bar_by_the_watcher():
    assert crbm.taylor_config().progress is None and crbm.fcrbm_config().progress is None


def test_phases_show_each_label_when_watched_and_nothing_otherwise(no_ci, monkeypatch, capsys):
    with progress.phases(2, desc="fill") as advance:
        advance("first")
        advance("second")
    assert capsys.readouterr().err == ""  # not watched: no bar
    monkeypatch.setattr(progress, "watching", lambda stream=None: True)
    with progress.phases(2, desc="fill", delay=0.0) as advance:
        advance("model inference")
        advance("candidates")
    err = capsys.readouterr().err
    assert "fill:" in err and "/2 [" in err and "model inference" in err
