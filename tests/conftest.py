"""Shared fixtures: where the real data lives, seeded generators."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    env = os.environ.get("CRBM_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared real data (``CRBM_DATA`` or ``../shared/data``); skips the test when absent."""
    root = _data_root()
    if root is None:
        pytest.skip("real data not found: set CRBM_DATA to the data folder (see docs/data.md)")
    return root


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with a fixed seed."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    """Run the suite on one intra-op thread: the tests use tiny models, whose matrix products are 10-100x
    slower with two OpenMP threads on a busy shared CPU (thread hand-off dominates)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (restored afterwards): loops of small matrix products are many times
    faster single-threaded on a loaded machine, where BLAS threads wait for busy cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
