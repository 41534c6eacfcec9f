"""The documentation: the README stays a short tour whose links resolve, the reference pages build into the
API site with no broken link, anchor or API entry (``mkdocs build --strict``), and the pages that restate
the code (the bad-input table, the command list) say what the code does today."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (links and headings inside them are not links or headings)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _slug(heading: str) -> str:
    """The anchor of a Markdown heading as GitHub and MkDocs both make it for plain headings: lower case,
    punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return re.sub(r"[\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", _prose(page.read_text(encoding="utf-8")), re.M)}


def test_readme_is_a_short_tour():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the reference belongs under docs/"
    text = "\n".join(lines)
    # the first screen and a half (about 70 lines) shows training, generating, denoising and filling
    first = "\n".join(lines[:70])
    for command in ("crbm train", "crbm generate", "crbm denoise", "crbm fill"):
        assert command in first, f"{command!r} is not in the README's first 70 lines"
    assert text.count("\n| benchmark |") == 1, "the README holds one results table"


def test_quick_start_block_is_what_ci_runs():
    """.ci/run reads the install and test commands out of the first sh block under '## Quick start'."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Quick start\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1).splitlines()
    assert block[0].startswith("pip install") and "crbm demo" in block[0]
    assert block[1] == 'pip install torch==2.13.0 ".[dev]" && pytest'


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(page):
    bad = []
    for match in LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            bad.append(f"{target}: no file {file.relative_to(REPO) if file.is_relative_to(REPO) else file}")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            bad.append(f"{target}: no heading with anchor #{anchor}")
    assert not bad, f"{page.relative_to(REPO)}: broken links: {bad}"


INTERNAL = [
    r"/work\b",
    r"\.\./shared",
    r"shared/data",
    r"lent to this task",
    r"Goals? from the issue",
    r"\bsub-agent",
    r"\bsessions?\b",
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_pages_speak_of_crbm_and_its_users_only(page):
    text = page.read_text(encoding="utf-8")
    found = [m.group(0) for pattern in INTERNAL for m in re.finditer(pattern, text)]
    assert not found, f"{page.relative_to(REPO)}: internal text {found}"


def test_pointers_to_docs_pages_name_real_pages():
    """Messages, skip reasons and docstrings that send the reader to a page under docs/ name a page that exists."""
    bad = []
    for source in [*REPO.glob("crbm/**/*.py"), *REPO.glob("tests/*.py"), *REPO.glob("tools/*.py")]:
        for ref in re.findall(r"docs/[\w/.-]+?\.md", source.read_text(encoding="utf-8")):
            if not (REPO / ref).is_file():
                bad.append(f"{source.relative_to(REPO)}: {ref}")
    assert not bad, bad


def test_every_command_has_a_section_in_the_cli_page():
    from crbm.cli import COMMANDS

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [name for name in COMMANDS if f"\n## crbm {name}\n" not in text]
    assert not missing, f"docs/cli.md has no section for {missing}"


def test_api_pages_cover_every_module():
    """Every crbm module is rendered on an API page: named by a ``::: crbm.x`` line, or inside a package
    rendered whole (``show_submodules``)."""
    named = set()
    for page in (DOCS / "api").glob("*.md"):
        named |= set(re.findall(r"^::: (crbm[\w.]*)$", page.read_text(encoding="utf-8"), re.M))
    modules = ["crbm." + ".".join(p.relative_to(REPO / "crbm").with_suffix("").parts)
               for p in (REPO / "crbm").rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    missing = [m for m in modules if not any(m == n or m.startswith(n + ".") for n in named)]
    assert not missing, f"add these modules to a page under docs/api/: {missing}"


def test_errors_page_holds_todays_bad_input_table():
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import bad_input_table
    finally:
        sys.path.remove(str(REPO / "tools"))
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    today = bad_input_table.table(bad_input_table.rows())
    assert bad_input_table.page_table(page) == today, (
        "docs/errors.md is out of date: run python tools/bad_input_table.py --write docs/errors.md"
    )


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs and mkdocstrings are not installed (pip install '.[dev]')")
def test_api_site_builds_strictly(tmp_path):
    """The site builds with every warning an error: a broken link or anchor, a page missing from the nav,
    an API entry (``::: crbm.x``) that does not resolve."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(REPO / "mkdocs.yml"),
         "-d", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "api" / "motion" / "index.html").is_file()
