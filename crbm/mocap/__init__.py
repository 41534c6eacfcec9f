"""Motion-capture data: the Motion value, readers and writers, kinematics, preprocessing, rendering."""

from crbm.mocap.motion import Joint, Motion, Skeleton

__all__ = ["Joint", "Motion", "Skeleton"]
