"""Motion-capture data: the Motion value, readers and writers, kinematics, preprocessing, rendering."""

from crbm.mocap.acclaim import read_amc, read_asf, write_amc, write_asf
from crbm.mocap.bvh import read_bvh, write_bvh
from crbm.mocap.convert import asf_to_bvh
from crbm.mocap.io import read_motion, read_motions, write_motion
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

__all__ = [
    "Joint",
    "Motion",
    "Skeleton",
    "asf_to_bvh",
    "iter_parquet_clips",
    "iter_parquet_frames",
    "motion_from_dataframe",
    "motion_to_dataframe",
    "read_amc",
    "read_asf",
    "read_bvh",
    "read_motion",
    "read_motions",
    "read_parquet",
    "read_parquet_skeleton",
    "write_amc",
    "write_asf",
    "write_bvh",
    "write_motion",
    "write_parquet",
]
