"""crbm: conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine family."""

__version__ = "0.1.0"

from crbm.errors import CRBMError, DivergenceError, FormatError  # noqa: E402
from crbm.mocap import Joint, Motion, Skeleton  # noqa: E402

__all__ = ["CRBMError", "DivergenceError", "FormatError", "Joint", "Motion", "Skeleton", "__version__"]
