"""The examples run end to end on the shipped model and write their BVH files and pictures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import crbm

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, outputs",
    [
        ("walk_to_run.py", ["take_0.bvh", "take_2.bvh", "take_0_channels.png", "take_0_poses.png"]),
        ("denoise.py", ["noisy.bvh", "filtered.bvh", "online.bvh", "lfemur_rx.png"]),
        ("fill_missing_leg.py", ["filled.bvh", "rtibia_rx.png"]),
    ],
)
def test_example_writes_bvh_and_pictures(script, outputs, tmp_path, data_root):
    env = {**os.environ, "CRBM_DATA": str(data_root), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    for name in outputs:
        assert (tmp_path / name).stat().st_size > 0
    for bvh in tmp_path.glob("*.bvh"):
        assert crbm.read_bvh(bvh).n_frames > 100
