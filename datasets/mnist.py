"""MNIST (LeCun, Cortes & Burges): handwritten digits, the four canonical gzip IDX files in ``mnist/``.

Fetched: ``crbm fetch mnist`` (or ``fetch()``) downloads missing files from public copies of the originals
and keeps each one only when its size and SHA-256 are the published ones.
Checked: 60,000 training and 10,000 test images of 28 x 28 grey levels, and the published number of images
of each digit in each split.
Prepared: ``crbm.load_mnist`` gives float32 (N, 784) in [0, 1] and the labels; the binary MNIST of
Salakhutdinov & Murray (2008) is ``crbm.data.mnist.binarize(images, generator=g)``, drawn anew per use.
"""

from __future__ import annotations

import numpy as np

import crbm
from crbm.cli import FETCH
from crbm.data.mnist import mnist_root
from datasets.recipe import check_all, sub

NAME = "mnist"
PUBLISHED = {
    "train digits": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test digits": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    "image size": 784,
}


def fetch(folder=None):
    """The folder holding the four files, found or downloaded (checked)."""
    return [FETCH[NAME](folder)]


def check(folder=None) -> dict:
    """The digits of each split, counted (the files' sums are checked by the loader)."""
    found = {}
    for split in ("train", "test"):
        images, labels = crbm.load_mnist(mnist_root(sub(folder, "mnist")), split=split)
        found[f"{split} digits"] = np.bincount(labels.numpy(), minlength=10).tolist()
        found["image size"] = images.shape[1]
    return check_all(NAME, found, PUBLISHED)
