"""Train the walk/run model shipped in the package (crbm/pretrained/demo-walk-run.safetensors).

    python tools/train_demo.py [--data DIR] [--out PATH] [--epochs N] [--seed S] [--kind fcrbm] [--contacts]
                               [--history-noise S]

Data (crbm.motion.demo.demo_training_clips): the GPmat CMU subject-35 walk/jog training split (walks and runs, with
the CMU 35.asf skeleton) and the walks of every other CMU subject under mocap/cmu/NN/ (each with its own
NN.asf), found through --data, CRBM_DATA or the cache (docs/data.md); all are retargeted onto one rig. The
recipe is crbm.motion.demo.DEMO_RECIPE. The shipped file was made by

    CRBM_DATA=/path/to/data OMP_NUM_THREADS=1 python tools/train_demo.py

(its time is in docs/cli.md). ``--kind fcrbm --out PATH`` trains an FCRBM on the same clips instead (for
``tools/bench.py realism``'s transition rows, ``CRBM_BENCH_FCRBM=PATH``; not shipped). ``--contacts --out PATH``
adds foot-contact channels (crbm.motion.model.train_motion_model's ``contacts``; not shipped).
``--history-noise S --out PATH`` trains on histories with Gaussian noise of standard deviation S
(train_motion_model's ``history_noise``; not shipped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from benchkit import Stopwatch  # noqa: E402

from crbm.motion.demo import DEMO_RECIPE, train_demo_model  # noqa: E402
from crbm.motion.model import demo_model_path  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="data folder (default: CRBM_DATA, then ~/.cache/crbm)")
    p.add_argument("--out", type=Path, default=demo_model_path(), help="where to write (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument("--seed", type=int, default=DEMO_RECIPE["seed"])
    p.add_argument("--kind", choices=("label", "fcrbm"), default=DEMO_RECIPE["kind"],
                   help="model kind (default: %(default)s; fcrbm: FCRBM_EPOCHS epochs unless --epochs is given)")
    p.add_argument("--contacts", action="store_true", help="with foot-contact channels (give --out; not shipped)")
    p.add_argument("--history-noise", type=float, default=None,
                   help="noise on the training histories (default: the kind's, 0 for label; give --out; not shipped)")
    args = p.parse_args()
    torch.set_num_threads(1)  # small matrices: one thread is fastest on a shared CPU
    watch = Stopwatch()
    if (args.kind == "fcrbm" or args.contacts or args.history_noise is not None) and args.out == demo_model_path():
        p.error("--kind fcrbm, --contacts, --history-noise: give --out; the shipped model is the recipe's")
    model = train_demo_model(args.data, seed=args.seed, epochs=args.epochs, kind=args.kind, contacts=args.contacts,
                             history_noise=args.history_noise, verbose=False)
    model.save(args.out)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB, trained in {watch.elapsed():.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
