"""The ``crbm`` command line: thin sub-commands over the library.

Each sub-command is a pair of functions, ``_add_<name>(parser)`` and ``_run_<name>(args)``, listed in
``COMMANDS``. Any error (bad input, a missing or unwritable file, an unexpected failure) prints one line to
stderr and exits with code 2 (``--debug`` shows the traceback instead); outputs are written atomically, so a
failed command leaves no partial file.
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


def _add_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, help="motion file: .bvh, .amc (with --asf) or .parquet")
    p.add_argument("--out", type=Path, required=True,
                   help="picture to write: .gif or .mp4 (animation, MP4 needs ffmpeg) or .png (poses)")
    p.add_argument("--asf", type=Path, default=None, help="ASF skeleton for an .amc input")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an .amc input (default: 120)")
    p.add_argument("--stride", type=int, default=1, help="draw every N-th frame (default: %(default)s)")


def _run_show(args: argparse.Namespace) -> int:
    from crbm.mocap.io import read_motion
    from crbm.mocap.render import animate, plot_poses

    if args.stride < 1:
        raise CRBMError(f"--stride must be a positive integer, got {args.stride}")
    motion = read_motion(args.input, asf=args.asf, fps=args.fps)
    if args.out.suffix.lower() == ".png":
        frames = range(0, motion.n_frames, args.stride) if args.stride > 1 else None
        plot_poses(motion, args.out, frames=frames, title=motion.name or args.input.name)
    else:
        animate(motion, args.out, stride=args.stride)
    print(args.out)
    return 0


def _add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="IN", help="motion file: .bvh, .amc (needs --asf) or .parquet")
    p.add_argument("output", type=Path, metavar="OUT", help="file to write: .bvh, .amc (+ .asf) or .parquet")
    p.add_argument("--asf", type=Path, default=None, help="the ASF skeleton of an .amc input")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an .amc input (default: 120)")


def _run_convert(args: argparse.Namespace) -> int:
    from crbm.mocap.io import read_motions, write_motion

    if args.output.resolve() == args.input.resolve():
        raise CRBMError(f"{args.output}: the output would overwrite the input; choose another name")
    for path in write_motion(read_motions(args.input, asf=args.asf, fps=args.fps), args.output):
        print(path)
    return 0


# name -> (help line, add-arguments function, run function)
COMMANDS = {
    "demo": ("train a small model and write pictures of what it learned", _add_demo, _run_demo),
    "show": ("draw a motion file as a stick figure: GIF/MP4 animation or PNG of poses", _add_show, _run_show),
    "convert": ("convert motion files: .bvh, .amc (with .asf), .parquet", _add_convert, _run_convert),
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``crbm show: error: ...``, exit code 2) like every other error."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crbm",
        description="Conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine "
        "family (RBM, DBN, deep autoencoders) on one engine.",
    )
    parser.add_argument("--version", action="version", version=f"crbm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
    except KeyboardInterrupt:
        print(f"crbm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line, never a traceback, unless --debug
        if args.debug:
            raise
        message = (
            str(err)
            if isinstance(err, (CRBMError, OSError))
            else f"unexpected {type(err).__name__}: {err} (run with --debug for the traceback)"
        )
        print(f"crbm {args.command}: error: " + " ".join(message.split()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
