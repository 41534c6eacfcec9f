"""Re-estimate log Z of a saved ``mnist-dbm`` model by AIS with other chain counts and schedules, and its test
ELBO with each estimate.

AIS estimates Z without bias but log Z too low when chains miss mass (too few chains to draw a rare heavy
weight, or too short a schedule), which makes the ELBO look better than it is. On the 5 Dec model the chain
count mattered more than the schedule (see the benchmark's docstring). Data and evaluation are the
benchmark's (``bench_mnist_dbm.mnist_draws`` and ``evaluate``): the base model from the training intensities
(or ``--base binarised``), the ELBO on the binarised test draw; defaults are the full benchmark's settings.

    CRBM_DATA=/path/to/data python tools/dbm_ais.py out/mnist_dbm.safetensors --chains 3000 --json ais.json

Prints a table (betas, log Z, its standard error, test ELBO, seconds) and writes it as JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mnist_dbm import evaluate, mnist_draws, settings  # noqa: E402
from benchkit import timed  # noqa: E402

import crbm  # noqa: E402
from crbm.engine.atomic import atomic_open  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    full = settings(quick=False)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a DBM checkpoint (mnist_dbm.safetensors from the benchmark)")
    ap.add_argument("--betas", type=int, nargs="+", default=[full["n_betas"]], help="AIS schedule lengths")
    ap.add_argument("--chains", type=int, default=full["n_chains"], help=f"AIS chains (default {full['n_chains']})")
    ap.add_argument("--seed", type=int, default=3, help="seed of the AIS generator (default 3)")
    ap.add_argument(
        "--base",
        choices=["intensities", "binarised"],
        default=full["train_on"],
        help="training data the AIS base model is fitted to (the benchmark's train_on)",
    )
    ap.add_argument("--n-test", type=int, default=full["n_test"], help="test images for the ELBO (default all)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    try:
        dbm = crbm.load_model(args.model)
    except crbm.CRBMError as err:
        raise SystemExit(str(err)) from None
    if not isinstance(dbm, crbm.DBM):
        raise SystemExit(f"{args.model}: expected a DBM checkpoint, got a {type(dbm).__name__}")
    intensities, binarised, test = mnist_draws(full["n_train"], args.n_test)
    base_data = intensities if args.base == "intensities" else binarised
    rows = []
    print(f"{'betas':>8}  {'log Z':>10}  {'std':>6}  {'test ELBO':>9}  {'seconds':>7}")
    for n in args.betas:
        fig, seconds = timed(lambda n=n: evaluate(dbm, base_data, test, {"n_chains": args.chains, "n_betas": n}, "cpu",
                                                  seed=args.seed))
        row = {"betas": n, **fig, "seconds": seconds}
        rows.append(row)
        print(
            f"{n:>8}  {fig['log_z']:>10.3f}  {fig['log_z_std']:>6.3f}  {fig['elbo']:>9.3f}  {row['seconds']:>7.1f}",
            flush=True,
        )
    if args.json:
        with atomic_open(args.json) as f:  # no partial file if interrupted
            json.dump({"model": args.model, "base": args.base, "chains": args.chains, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
