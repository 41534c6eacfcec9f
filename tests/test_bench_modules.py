"""Every benchmark module under tools/ imports and defines ``run(*, quick, device)`` (tools/bench.py's contract).

Nothing is run: importing catches the breakage a merge can cause (a helper renamed in the package)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"
NAMES = sorted(p.stem for p in TOOLS.glob("bench_*.py"))


def test_there_are_benchmarks():
    assert "bench_docs" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_benchmark_module_imports_and_has_run(name, monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS))
    module = importlib.import_module(name)
    try:
        params = inspect.signature(module.run).parameters
        assert {"quick", "device"} <= set(params)
        assert all(params[p].kind is inspect.Parameter.KEYWORD_ONLY for p in ("quick", "device"))
    finally:
        sys.modules.pop(name, None)
