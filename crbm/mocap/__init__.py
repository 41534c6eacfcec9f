"""Motion-capture data: the Motion value, readers and writers, kinematics, preprocessing, rendering."""

from crbm.mocap.motion import Joint, Motion, Skeleton

__all__ = ["Joint", "Motion", "Skeleton"]

# kinematics, preprocessing (mocap-prep)
from crbm.mocap.kinematics import (  # noqa: E402
    euler_to_matrix,
    expmap_to_matrix,
    joint_positions,
    matrix_to_euler,
    matrix_to_expmap,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from crbm.mocap.preprocess import (  # noqa: E402
    BodyCentredRoot,
    Downsample,
    DropConstant,
    JointAngles,
    Pipeline,
    ZScore,
    body_centred_pipeline,
    step_from_state,
)

__all__ += [
    "BodyCentredRoot", "Downsample", "DropConstant", "JointAngles", "Pipeline", "ZScore",
    "body_centred_pipeline",
    "euler_to_matrix", "expmap_to_matrix", "joint_positions", "matrix_to_euler", "matrix_to_expmap",
    "matrix_to_quaternion", "quaternion_to_matrix", "step_from_state",
    "animate", "plot_channels", "plot_poses",
]

_RENDER = ("animate", "plot_channels", "plot_poses")


def __getattr__(name):
    """Rendering pulls in matplotlib (about 0.5 s), so its names are imported on first use."""
    if name in _RENDER:
        from crbm.mocap import render

        return getattr(render, name)
    raise AttributeError(f"module 'crbm.mocap' has no attribute {name!r}")
