"""Benchmarks: ``python tools/bench.py NAME [--quick] [--json FILE] [--device DEV]``.

Each benchmark lives in ``tools/bench_<name>.py`` (dashes become underscores) and defines
``run(*, quick: bool, device: str) -> list[dict]``: rows with ``name``, ``ours``, ``published`` (the
published figure, the peer's or the floor's figure from the same run, or None) and ``better``
("lower" or "higher"), plus any extra keys. This file times the run, prints the rows as a table and
writes the JSON report (top-level keys ``quick``, ``device``, ``cpu`` (the CPU's model name), ``threads``
(torch's intra-op threads at the start), ``cpus``, ``random_source`` (``crbm.engine.noise.source()``),
``seconds``, ``rows`` and whatever the benchmark adds).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

BENCHMARKS = sorted(p.stem[len("bench_") :].replace("_", "-") for p in Path(__file__).parent.glob("bench_*.py"))


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "-" if x is None else str(x)


def print_table(rows: list[dict]) -> None:
    cols = ["name", "ours", "published", "better"]
    extra = [k for r in rows for k in r if k not in cols]
    cols += list(dict.fromkeys(extra))
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("name", choices=BENCHMARKS, help="which benchmark")
    parser.add_argument("--quick", action="store_true", help="reduced sizes for a smoke test (numbers are not claims)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument(
        "--matmul-precision",
        choices=("ieee", "bf16", "tf32"),
        help="float32 matrix products for the whole run (crbm.matmul_precision): bf16 is oneDNN's math mode\n"
        "on CPU, tf32 CUDA's; default: the backend's own (plain float32)",
    )
    args = parser.parse_args(argv)

    module = importlib.import_module("bench_" + args.name.replace("-", "_"))
    import torch
    from benchkit import Stopwatch, cpu_name

    from crbm import matmul_precision
    from crbm.engine import noise

    watch = Stopwatch(args.device)
    if args.matmul_precision:
        with matmul_precision(args.matmul_precision, args.device):
            result = module.run(quick=args.quick, device=args.device)
    else:
        result = module.run(quick=args.quick, device=args.device)
    seconds = watch.elapsed()
    if isinstance(result, list):
        result = {"rows": result}
    dev = args.device
    if dev.startswith("cuda") and torch.cuda.is_available():
        dev = f"{dev} ({torch.cuda.get_device_name()})"
    else:
        dev = f"{dev} ({cpu_name()}, {torch.get_num_threads()} threads)"
    if args.matmul_precision:
        dev = f"{dev}, {args.matmul_precision} matmuls"
    report = {"benchmark": args.name, "quick": args.quick, "device": dev, "cpu": cpu_name(),
              "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "random_source": noise.source(),
              "seconds": round(seconds, 2), **result}
    print_table(report["rows"])
    print(f"\n{args.name}: {seconds:.1f} s on {dev}{' (quick)' if args.quick else ''}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
