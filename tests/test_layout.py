"""The package's layout: the engine at the bottom, motion data (mocap) and data sets on it, the two model
families (static, motion) on those side by side. Every import of every module, lazy ones inside functions
included, points down or sideways within its own folder; the families never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crbm

PACKAGE = Path(crbm.__file__).parent
# what each folder may import from crbm, besides itself
ALLOWED = {
    "engine": set(),
    "mocap": {"engine"},
    "data": {"engine", "mocap"},
    "static": {"engine", "mocap", "data"},
    "motion": {"engine", "mocap", "data"},
}


def crbm_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import of a crbm module in ``source``; ``from crbm import x`` gives
    ``crbm.x`` when ``x`` is a folder of the package, else ``crbm`` (the package's flat namespace)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "crbm"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            elif node.module == "crbm":
                found += [(node.lineno, f"crbm.{a.name}" if a.name in ALLOWED else "crbm") for a in node.names]
            elif node.module and node.module.split(".")[0] == "crbm":
                found.append((node.lineno, node.module))
    return sorted(found)


def violations(folder: str, source: str) -> list[str]:
    """The imports in ``source`` (a module of ``crbm/<folder>/``) that its layer may not make."""
    bad = []
    for line, module in crbm_imports(source):
        parts = module.split(".")
        if module.startswith("."):
            reason = "a relative import (the package imports absolutely)"
        elif len(parts) < 2:
            reason = "the whole package (the flat API is for users, not for the layers under it)"
        elif parts[1] != folder and parts[1] not in ALLOWED[folder]:
            reason = f"crbm/{parts[1]} is not below crbm/{folder}"
        else:
            continue
        bad.append(f"line {line}: {module}: {reason}")
    return bad


def test_every_module_sits_in_a_known_folder():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py"]
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(ALLOWED)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_imports_point_down(folder):
    modules = sorted((PACKAGE / folder).rglob("*.py"))
    assert modules
    bad = {str(m.relative_to(PACKAGE.parent)): violations(folder, m.read_text()) for m in modules}
    assert {m: v for m, v in bad.items() if v} == {}


def test_the_check_sees_every_kind_of_import():
    source = (
        "import crbm.static.dbn\n"
        "from crbm.motion.sample import generate\n"
        "def f():\n    from crbm.engine import rbm\n    import crbm\n"
        "from crbm import motion\n"
        "from . import x\n"
    )
    assert crbm_imports(source) == [
        (1, "crbm.static.dbn"), (2, "crbm.motion.sample"), (4, "crbm.engine"), (5, "crbm"), (6, "crbm.motion"), (7, ".")
    ]
    assert violations("static", source) == [
        "line 2: crbm.motion.sample: crbm/motion is not below crbm/static",
        "line 5: crbm: the whole package (the flat API is for users, not for the layers under it)",
        "line 6: crbm.motion: crbm/motion is not below crbm/static",
        "line 7: .: a relative import (the package imports absolutely)",
    ]
    assert violations("engine", "from crbm.data.paths import data_path\n") == [
        "line 1: crbm.data.paths: crbm/data is not below crbm/engine"
    ]
    assert violations("motion", "from crbm.mocap.motion import Motion\nfrom crbm.motion import sample\n") == []
