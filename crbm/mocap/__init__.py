"""Motion-capture data: the Motion value, readers and writers, kinematics, preprocessing, rendering."""

from crbm.mocap.acclaim import read_amc, read_asf, write_amc, write_asf
from crbm.mocap.bvh import read_bvh, write_bvh
from crbm.mocap.cmubench import read_cmubench, write_cmubench
from crbm.mocap.convert import asf_to_bvh
from crbm.mocap.io import read_motion, read_motions, write_motion
from crbm.mocap.kinematics import (
    euler_to_matrix,
    expmap_to_matrix,
    joint_positions,
    matrix_to_euler,
    matrix_to_expmap,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from crbm.mocap.lengths import LENGTH_UNITS, convert_length, length_unit
from crbm.mocap.metrics import joint_angle_error, joint_position_error
from crbm.mocap.motion import Joint, Motion, Skeleton
from crbm.mocap.parquet import (
    iter_parquet_clips,
    iter_parquet_frames,
    motion_from_dataframe,
    motion_to_dataframe,
    read_parquet,
    read_parquet_skeleton,
    write_parquet,
)
from crbm.mocap.preprocess import (
    BodyCentredRoot,
    Downsample,
    DropConstant,
    FootContacts,
    JointAngles,
    Pipeline,
    PlantedFootRoot,
    ZScore,
    body_centred_pipeline,
    step_from_state,
)
from crbm.mocap.retarget import canonical_rig, leg_length, retarget

_RENDER = ("animate", "plot_channels", "plot_poses")  # matplotlib (about 0.5 s): imported on first use

__all__ = sorted([n for n in dir() if not n.startswith("_") and n not in {"acclaim", "bvh", "convert", "io",
    "cmubench", "kinematics", "lengths", "metrics", "motion", "parquet", "preprocess"}] + list(_RENDER))  # fmt: skip


def __getattr__(name):
    if name in _RENDER:
        from crbm.mocap import render

        return getattr(render, name)
    raise AttributeError(f"module 'crbm.mocap' has no attribute {name!r}")
