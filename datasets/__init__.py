"""Dataset recipes for crbm (run from the repository root: ``import datasets``).

The loaders live in :mod:`crbm.datasets` so installed users have them too; this folder keeps the recipes
(datasets/README.md) and re-exports the same functions.
"""

from crbm.datasets import (
    GPMAT_CHANNELS,
    GPMAT_TEST_TRIALS,
    GPMAT_TRAIN_TRIALS,
    MitMotion,
    WalkJog,
    cmu35_style,
    cmu_skeleton,
    cmu_trials,
    data_path,
    load_gpmat_walkjog,
    load_mit_motion,
)

__all__ = [
    "GPMAT_CHANNELS",
    "GPMAT_TEST_TRIALS",
    "GPMAT_TRAIN_TRIALS",
    "MitMotion",
    "WalkJog",
    "cmu35_style",
    "cmu_skeleton",
    "cmu_trials",
    "data_path",
    "load_gpmat_walkjog",
    "load_mit_motion",
]
