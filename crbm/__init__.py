"""crbm: conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine family."""

__version__ = "0.1.0"

from crbm.errors import CRBMError, DivergenceError, FormatError  # noqa: E402
from crbm.mocap import (  # noqa: E402
    Joint,
    Motion,
    Skeleton,
    asf_to_bvh,
    iter_parquet_clips,
    iter_parquet_frames,
    motion_from_dataframe,
    motion_to_dataframe,
    read_amc,
    read_asf,
    read_bvh,
    read_motion,
    read_motions,
    read_parquet,
    read_parquet_skeleton,
    write_amc,
    write_asf,
    write_bvh,
    write_motion,
    write_parquet,
)

__all__ = ["CRBMError", "DivergenceError", "FormatError", "Joint", "Motion", "Skeleton", "__version__"]
__all__ += [
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
