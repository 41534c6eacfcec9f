"""Greedy labelled DBNs (784-500-500-2000 + 10 labels, no fine-tuning) on the ``mnist-dbn`` benchmark's balanced
44,000 images, with one setting changed at a time; error on its up-down validation split (10,000 of the other
16,000 training images; ``bench_mnist_dbn.validation_pick``).

A variant is a comma-separated list of changes to the benchmark's greedy settings (empty: the benchmark's):
``top_k=K`` (CD-K for the top RBM), ``top_epochs=N``, ``top_persistent=1`` (PCD for the top RBM),
``top_lr=R`` and ``top_decay=W`` (the top RBM's learning rate and weight decay), ``low_k=K``, ``low_epochs=N``,
``low_lr=R`` (CD-K, epochs and learning rate of the two lower RBMs), ``weight_decay=W`` (every RBM; ``top_decay``
overrides it for the top one), ``precision=ieee|bf16|tf32`` (float32 products), ``binarised=1`` (one fixed
Bernoulli draw of the pixels instead of the intensities). Seed 0 is the benchmark's stack (initial weights
from its generator); other seeds draw initial weights and training from that seed. The peer is the paper's
greedy figure, 2.49 % (test error; Hinton, Osindero & Teh 2006, section 6).

    CRBM_DATA=/path/to/data OMP_NUM_THREADS=1 python tools/dbn_greedy.py low_k=1 low_k=3 --seeds 0 1 \\
        --matmul-precision bf16 --json greedy.json

Prints a table (variant, seed, held-out error, ratio to 2.49 %, seconds) and writes it as JSON with ``--json``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from bench_mnist_dbn import SIZES, balanced_subset, greedy_configs, rbm_config, settings, validation_pick  # noqa: E402
from benchkit import timed  # noqa: E402

import crbm  # noqa: E402
from crbm.data.mnist import load_mnist  # noqa: E402
from crbm.engine.atomic import atomic_open  # noqa: E402
from crbm.static.dbn import train_dbn  # noqa: E402

PAPER_GREEDY = 2.49
PRECISIONS = ("ieee", "bf16", "tf32")


def _precision(text: str) -> str:
    if text not in PRECISIONS:
        raise ValueError(text)
    return text


KEYS = {
    "top_k": int,
    "top_epochs": int,
    "top_persistent": int,
    "top_lr": float,
    "top_decay": float,
    "low_k": int,
    "low_epochs": int,
    "low_lr": float,
    "weight_decay": float,
    "precision": _precision,
    "binarised": int,
}
WHAT = {int: "an integer", float: "a number", _precision: f"one of {list(PRECISIONS)}"}


def parse_variant(text: str) -> dict:
    """``"top_k=10,weight_decay=0"`` -> {"top_k": 10, "weight_decay": 0.0}; SystemExit naming a bad part."""
    out: dict = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in KEYS:
            raise SystemExit(f"variant {text!r}: expected KEY=VALUE with KEY one of {sorted(KEYS)}, got {part!r}")
        try:
            out[key] = KEYS[key](value)
        except ValueError:
            raise SystemExit(f"variant {text!r}: {key} expects {WHAT[KEYS[key]]}, got {value!r}") from None
    return out


def validation_data(x: torch.Tensor, y: torch.Tensor) -> tuple:
    """From the training images and labels, the benchmark's balanced 44,000 (images, labels, in batch order), its
    validation split (images, labels), and the state of the generator that drew them (the benchmark's, whose next
    draws are seed 0's initial weights)."""
    g = torch.Generator().manual_seed(0)
    order = balanced_subset(y, settings(quick=False)["per_class"], g)
    pick = validation_pick(len(y), order, 10000)
    return x[order], y[order], x[pick], y[pick], g.get_state()


def variant_configs(variant: dict, seed: int) -> list[crbm.TrainConfig]:
    """The benchmark's greedy RBM configs (bottom first) with ``variant`` applied and ``seed`` as their seed."""
    s = settings(quick=False)
    base = rbm_config(s, "cpu")
    low, _, top = greedy_configs(s, dataclasses.replace(base, seed=seed))
    low = dataclasses.replace(
        low,
        weight_decay=variant.get("weight_decay", low.weight_decay),
        k=variant.get("low_k", low.k),
        epochs=variant.get("low_epochs", low.epochs),
        learning_rate=variant.get("low_lr", low.learning_rate),
    )
    top = dataclasses.replace(
        top,
        k=variant.get("top_k", top.k),
        epochs=variant.get("top_epochs", top.epochs),
        persistent=bool(variant.get("top_persistent", 0)),
        learning_rate=variant.get("top_lr", top.learning_rate),
        weight_decay=variant.get("top_decay", variant.get("weight_decay", top.weight_decay)),
    )
    return [low, low, top]


def greedy_error(data: tuple, variant: dict, seed: int, precision: str | None) -> float:
    """Train the benchmark's greedy stack on ``data`` (``validation_data``) with ``variant`` applied; its error on
    the validation split. Seed 0 continues the benchmark's generator from the saved state."""
    images, labels, held_x, held_y, state = data
    if variant.get("binarised"):
        images = torch.bernoulli(images, generator=torch.Generator().manual_seed(5))
    init = torch.Generator().set_state(state) if seed == 0 else torch.Generator().manual_seed(seed)
    with crbm.matmul_precision(variant.get("precision", precision)):
        dbn = train_dbn(images, labels, SIZES, configs=variant_configs(variant, seed), generator=init)
    return dbn.error_rate(held_x, held_y)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help='e.g. "top_k=1" "top_k=10,weight_decay=0" ("" = the benchmark\'s)')
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to run each variant with (default 0)")
    ap.add_argument("--matmul-precision", choices=PRECISIONS, help="float32 products (default: as set)")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    variants = [(text, parse_variant(text)) for text in args.variants]
    data = validation_data(*load_mnist(split="train"))
    rows = []
    print(f"{'variant':<28}  {'seed':>4}  {'held-out %':>10}  {'/ 2.49 %':>8}  {'seconds':>7}")
    for text, variant in variants:
        for seed in args.seeds:
            err, seconds = timed(lambda v=variant, s=seed: 100 * greedy_error(data, v, s, args.matmul_precision))
            row = {"variant": text or "benchmark", "seed": seed, "holdout_error_pct": round(err, 2)}
            row |= {"ratio_to_paper": round(err / PAPER_GREEDY, 3), "seconds": round(seconds, 1)}
            rows.append(row)
            print(
                f"{row['variant']:<28}  {seed:>4}  {err:>10.2f}  {row['ratio_to_paper']:>8.3f}  {row['seconds']:>7.0f}"
            )
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump({"peer": f"paper greedy test error {PAPER_GREEDY} %", "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
