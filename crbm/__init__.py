"""crbm: conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine family."""

__version__ = "0.1.0"

from crbm.errors import CRBMError, DivergenceError, FormatError  # noqa: E402
from crbm.mocap import Joint, Motion, Skeleton  # noqa: E402

__all__ = ["CRBMError", "DivergenceError", "FormatError", "Joint", "Motion", "Skeleton", "__version__"]

# motion kinematics, preprocessing, rendering (lazy: matplotlib), data sets (mocap-prep)
from crbm.datasets import cmu_skeleton, cmu_trials, data_path, load_gpmat_walkjog, load_mit_motion  # noqa: E402
from crbm.mocap import (  # noqa: E402
    BodyCentredRoot,
    Downsample,
    DropConstant,
    JointAngles,
    Pipeline,
    ZScore,
    body_centred_pipeline,
    joint_positions,
    step_from_state,
)

__all__ += [
    "BodyCentredRoot", "Downsample", "DropConstant", "JointAngles", "Pipeline", "ZScore",
    "body_centred_pipeline",
    "joint_positions", "step_from_state", "cmu_skeleton", "cmu_trials", "data_path", "load_gpmat_walkjog",
    "load_mit_motion", "animate", "plot_channels", "plot_poses",
]


def __getattr__(name):
    """Rendering pulls in matplotlib, so ``crbm.animate`` etc. are imported on first use."""
    if name in ("animate", "plot_channels", "plot_poses"):
        from crbm.mocap import render

        return getattr(render, name)
    raise AttributeError(f"module 'crbm' has no attribute {name!r}")
