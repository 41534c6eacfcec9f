"""MNIST recipe: the loader lives in the package (``crbm.mnist``); this module re-exports it."""

from crbm.mnist import binarize, load_mnist, mnist_root, read_idx

__all__ = ["binarize", "load_mnist", "mnist_root", "read_idx"]
