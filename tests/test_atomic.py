"""Atomic writes: several files all or nothing, concurrent writers of one path, temporary files of killed
writers removed and those of live writers kept."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import crbm
from crbm.engine.atomic import _HOST, atomic_open, atomic_paths, staged_outputs


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_several_files_are_written_all_or_none(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    with pytest.raises(OSError, match="disk full"):
        with atomic_paths([a, b]) as (ta, tb):
            ta.write_text("new a")
            raise OSError("disk full (simulated) while writing b")
    assert a.read_text() == "old a" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    with atomic_paths([a, b]) as (ta, tb):
        ta.write_text("new a")
        tb.write_text("new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_staged_outputs_move_in_together_or_not_at_all(tmp_path):
    (tmp_path / "g_0.bvh").write_text("old take")
    with pytest.raises(OSError, match="simulated"):
        with staged_outputs(tmp_path) as stage:
            (stage / "g_0.bvh").write_text("new take 0")
            raise OSError("no space left (simulated) while writing g_1.bvh")
    assert [p.name for p in tmp_path.iterdir()] == ["g_0.bvh"] and (tmp_path / "g_0.bvh").read_text() == "old take"
    with staged_outputs(tmp_path) as stage:
        for i in range(2):
            (stage / f"g_{i}.bvh").write_text(f"new take {i}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g_0.bvh", "g_1.bvh"]
    assert (tmp_path / "g_1.bvh").read_text() == "new take 1"


def test_only_temporary_files_of_dead_writers_are_removed(tmp_path):
    """A temporary file named after a process that is gone is a leftover; one of a running process (here the
    test's parent) belongs to a write in progress and is kept, as are other hosts' (a shared folder)."""
    path = tmp_path / "m.txt"
    dead = tmp_path / f".m.txt.{_HOST}.{_dead_pid()}.0000abcd.tmp.txt"
    live = tmp_path / f".m.txt.{_HOST}.{os.getppid()}.0000abcd.tmp.txt"
    other_host = tmp_path / f".m.txt.0123abcd.{_dead_pid()}.0000abcd.tmp.txt"
    for p in (dead, live, other_host):
        p.write_text("partial")
    with atomic_open(path) as f:
        f.write("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.txt", live.name, other_host.name])


WRITER = textwrap.dedent("""
    import sys, torch, crbm
    model = crbm.RBM(20, 10, generator=torch.Generator().manual_seed(int(sys.argv[2])))
    failures = 0
    for _ in range(int(sys.argv[3])):
        try:
            crbm.save_checkpoint(sys.argv[1], model)
        except Exception as err:
            failures += 1
            print(type(err).__name__, err, file=sys.stderr)
    print(failures)
""")


def test_concurrent_checkpoint_writers_to_one_path_never_fail(tmp_path):
    """Two processes save 60 checkpoints each to the same path: no save fails (none deletes the other's
    temporary file), the file on disk is always one complete checkpoint, and no temporary file is left."""
    path = tmp_path / "run.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(seed), "60"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [w.communicate(timeout=300) for w in writers]
    assert [out.strip() for out, _ in results] == ["0", "0"], [err for _, err in results]
    weight = crbm.load_model(path).weight
    candidates = [crbm.RBM(20, 10, generator=__import__("torch").Generator().manual_seed(s)).weight for s in (1, 2)]
    assert any(bool((weight == w).all()) for w in candidates)
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]
