"""``python -m datasets check|fetch [NAME ...] [--dir FOLDER]``: run the recipes (all of them by default)."""

from __future__ import annotations

import argparse
import sys

from crbm import CRBMError
from datasets import RECIPES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m datasets", description=__doc__)
    p.add_argument("action", choices=("check", "fetch"),
                   help="check: the published facts measured on the files; fetch: find or download them")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"data sets (default: all): {', '.join(RECIPES)}")
    p.add_argument("--dir", default=None, help="data folder (default: CRBM_DATA, then ~/.cache/crbm)")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in RECIPES]
    if unknown:
        p.error(f"unknown data set {unknown[0]!r}; known: {', '.join(RECIPES)}")
    failed = 0
    for name in args.names or RECIPES:
        try:
            if args.action == "check":
                facts = RECIPES[name].check(args.dir)
                print(f"{name}: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
            else:
                print(f"{name}: {len(RECIPES[name].fetch(args.dir))} file(s) in place")
        except (CRBMError, OSError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed = 1
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
