"""Olivetti faces recipe: the loader lives in the package (``crbm.faces``); this module re-exports it."""

from crbm.faces import face_patches, load_olivetti

__all__ = ["face_patches", "load_olivetti"]
