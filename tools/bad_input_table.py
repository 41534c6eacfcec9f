"""Print the README's table of bad inputs: ``python tools/bad_input_table.py [--out FILE]``.

Runs every case of the catalogue in ``tests/test_bad_inputs.py`` (in a scratch folder, so file names show
without their folder; the home folder shows as ~) and prints a markdown table of the input, the exception
and the message it raised.
A case that raises nothing, or a message that no longer matches the catalogue, stops the script.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))


def rows() -> list[tuple[str, str, str]]:
    """(input, exception name, message) for every case, with the scratch folder removed from paths."""
    from test_bad_inputs import CASES

    out = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder:
            try:
                case.trigger(Path(folder))
            except case.error as err:
                message = str(err)
                if not re.search(case.match, message):
                    raise SystemExit(f"{case.id}: message {message!r} does not match {case.match!r}") from None
                message = message.replace(folder + "/", "").replace(str(Path.home()), "~")
                out.append((case.input, type(err).__name__, message))
            else:
                raise SystemExit(f"{case.id}: raised nothing")
    return out


def table(found: list[tuple[str, str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| bad input | exception | message |", "|---|---|---|"]
    lines += [f"| {cell(i)} | `{e}` | {cell(m)} |" for i, e, m in found]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the table here instead of stdout")
    args = parser.parse_args()
    text = table(rows())
    if args.out is None:
        sys.stdout.write(text)
    else:
        from crbm.atomic import atomic_open

        with atomic_open(args.out) as f:
            f.write(text)


if __name__ == "__main__":
    main()
