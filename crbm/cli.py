"""The ``crbm`` command line: thin sub-commands over the library.

Each sub-command is a pair of functions, ``_add_<name>(parser)`` and ``_run_<name>(args)``, listed in
``COMMANDS``. Errors of the package print one line to stderr and exit with code 2 (``--debug`` shows the
traceback instead).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crbm import __version__
from crbm.errors import CRBMError


def _add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("crbm-demo"), help="folder for the outputs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: cuda when available)")


def _run_demo(args: argparse.Namespace) -> int:
    from crbm.demo import run_demo

    for path in run_demo(args.out, seed=args.seed, device=args.device):
        print(path)
    return 0


def _add_dbn_samples(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="a DBN checkpoint (kind DBN, with label units)")
    p.add_argument("--out", type=Path, default=Path("dbn_samples.png"), help="PNG to write (default: %(default)s)")
    p.add_argument("--per-label", type=int, default=10, help="images per label (default: %(default)s)")
    p.add_argument("--steps", type=int, default=1000, help="Gibbs rounds in the top RBM (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")


def _run_dbn_samples(args: argparse.Namespace) -> int:
    import torch

    from crbm.checkpoint import load_model
    from crbm.dbn import DBN, save_label_samples

    dbn = load_model(args.checkpoint, device=args.device)
    if not isinstance(dbn, DBN):
        raise CRBMError(f"{args.checkpoint}: expected a DBN checkpoint, got a {type(dbn).__name__}")
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    save_label_samples(dbn, args.out, per_label=args.per_label, steps=args.steps, generator=g)
    print(args.out)
    return 0


# name -> (help line, add-arguments function, run function)
COMMANDS = {
    "demo": ("train a small model and write pictures of what it learned", _add_demo, _run_demo),
    "dbn-samples": ("write a PNG of DBN samples, one row per clamped label", _add_dbn_samples, _run_dbn_samples),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crbm",
        description="Conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine "
        "family (RBM, DBN, deep autoencoders) on one engine.",
    )
    parser.add_argument("--version", action="version", version=f"crbm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_line, add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=help_line, description=help_line[0].upper() + help_line[1:] + "."))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    run = COMMANDS[args.command][2]
    try:
        return run(args)
    except (CRBMError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        if args.debug:
            raise
        print(f"crbm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crbm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
