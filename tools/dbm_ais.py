"""Re-estimate log Z of a saved ``mnist-dbm`` model with more AIS betas, and its test ELBO with each estimate.

AIS estimates of log Z err low when the schedule is too short (the estimate is unbiased for Z, not for log Z),
which makes the ELBO look better than it is; rerunning with 5-10 times the betas shows how far the
benchmark's 20,000 were from converged. The data are the benchmark's (``bench_mnist_dbm.mnist_draws``): the
base model from the training intensities (or ``--base binarised``), the ELBO on the binarised test draw.

    CRBM_DATA=../shared/data python tools/dbm_ais.py out/mnist_dbm.safetensors --betas 20000 100000 --json ais.json

Prints a table (betas, log Z, its standard error, test ELBO, seconds) and writes it as JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_mnist_dbm import mnist_draws  # noqa: E402

import crbm  # noqa: E402
from crbm.atomic import atomic_open  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a DBM checkpoint (mnist_dbm.safetensors from the benchmark)")
    ap.add_argument("--betas", type=int, nargs="+", default=[20000, 100000], help="AIS schedule lengths")
    ap.add_argument("--chains", type=int, default=100, help="AIS chains (default 100)")
    ap.add_argument("--seed", type=int, default=3, help="seed of the AIS generator (default 3)")
    ap.add_argument(
        "--base",
        choices=["intensities", "binarised"],
        default="intensities",
        help="training data the AIS base model is fitted to (the benchmark's train_on)",
    )
    ap.add_argument("--n-test", type=int, default=10000, help="test images for the ELBO (default all 10,000)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    try:
        dbm = crbm.load_model(args.model)
    except crbm.CRBMError as err:
        raise SystemExit(str(err)) from None
    if not isinstance(dbm, crbm.DBM):
        raise SystemExit(f"{args.model}: expected a DBM checkpoint, got a {type(dbm).__name__}")
    intensities, binarised, test = mnist_draws(60000, args.n_test)
    base = dbm.ais_base_bias(intensities if args.base == "intensities" else binarised)
    rows = []
    print(f"{'betas':>8}  {'log Z':>10}  {'std':>6}  {'test ELBO':>9}  {'seconds':>7}")
    for n in args.betas:
        t = time.perf_counter()
        z = crbm.ais(
            dbm.joint_rbm,
            n_chains=args.chains,
            n_betas=n,
            base_bias=base,
            generator=torch.Generator().manual_seed(args.seed),
        )
        elbo = float(torch.cat([dbm.elbo(x, z.log_z, steps=30) for x in torch.split(test, 1000)]).mean())
        row = {"betas": n, "log_z": z.log_z, "log_z_std": z.log_z_std, "elbo": elbo, "seconds": time.perf_counter() - t}
        rows.append(row)
        print(f"{n:>8}  {z.log_z:>10.3f}  {z.log_z_std:>6.3f}  {elbo:>9.3f}  {row['seconds']:>7.1f}", flush=True)
    if args.json:
        with atomic_open(args.json) as f:  # no partial file if interrupted
            json.dump({"model": args.model, "base": args.base, "chains": args.chains, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
