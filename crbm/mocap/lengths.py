"""Length units of motion data: the unit a skeleton's lengths are in, and conversion to another unit.

A skeleton's ``units["length"]`` is a unit name from :data:`LENGTH_UNITS` (``"mm"``, ``"cm"``, ``"m"``,
``"in"``, ``"cmu"``) or a positive number: the Acclaim ASF ``:units length`` field, under which one file unit is
``1 / length`` inch (the CMU database's ``length 0.45``: 1 unit = 2.54 / 0.45 = 5.644 cm). Without the
field a BVH skeleton is in centimetres and an ASF skeleton in Acclaim's default ``length 1`` (inches). BVH
files declare no unit: :func:`guess_bvh_length_unit` reads it from the size of the rest pose when the user
does not say (:func:`crbm.read_bvh`).

:func:`convert_length` scales every length by ``c = cm(from) / cm(to)``: joint offsets (BVH ``OFFSET``,
ASF ``direction * length`` and root ``position``), BVH End Sites, position channels (BVH ``Xposition``...,
ASF ``tx ty tz``) and their ASF limits. Rotations are unchanged, so world
positions from forward kinematics scale by exactly ``c``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import body_rest_points, channel_kind
from crbm.mocap.motion import Motion, Skeleton

# centimetres in one unit; "cmu" is the CMU database's ASF unit (``:units length 0.45``: 1 / 0.45 inch), in
# which the widely used BVH conversions of the CMU database (cgspeed, B. Hahne) are written
LENGTH_UNITS = {"mm": 0.1, "cm": 1.0, "m": 100.0, "in": 2.54, "cmu": 2.54 / 0.45}
BVH_DEFAULT_UNIT = "cm"  # what a BVH file's lengths are taken to be when nobody says otherwise
# the rest pose's largest extent (file units) within which a BVH skeleton is taken to be in metres or
# millimetres, and one of the CMU conversions' joints (below) in CMU units (a body 0.56 to 2.8 m tall)
METRE_SIZES, MILLIMETRE_SIZES, CMU_SIZES = (0.3, 5.0), (800.0, 50_000.0), (10.0, 50.0)
CMU_JOINTS = ("LHipJoint", "RHipJoint")  # the CMU ASF's hip bones, kept as joints by its BVH conversions
_ASF_DEFAULT_LENGTH = 1.0  # Acclaim: 1 file unit = 1 / length inch


def check_length_unit(name: str, where: str = "") -> str:
    """``name`` if it is a unit of :data:`LENGTH_UNITS`, else CRBMError (prefixed by ``where``, e.g. the file)
    naming the known units."""
    if not isinstance(name, str) or name not in LENGTH_UNITS:
        prefix = f"{where}: " if where else ""
        raise CRBMError(f"{prefix}unknown length unit {name!r}; expected one of {', '.join(LENGTH_UNITS)}")
    return name


def centimetres(unit: str | float) -> float:
    """Centimetres in one ``unit``: a name of :data:`LENGTH_UNITS`, or an ASF ``length`` number (2.54 / n)."""
    if isinstance(unit, str):
        return LENGTH_UNITS[check_length_unit(unit)]
    if isinstance(unit, bool) or not isinstance(unit, (int, float)) or not (math.isfinite(unit) and unit > 0):
        raise CRBMError(
            f"an ASF length unit must be a positive number (1 unit = 1/length inch), got {unit!r}"
        )
    return LENGTH_UNITS["in"] / float(unit)


def guess_bvh_length_unit(skeleton: Skeleton) -> str:
    """The unit a BVH skeleton's numbers are most likely in, from the size of its rest pose: s, the largest
    extent along an axis of the body's joints and End Sites (``crbm.mocap.kinematics.body_rest_points``: the
    subtree of the joint that carries the trajectory, so an OFFSET that position channels replace, such as
    the Bandai Namco rig's Hips at the first frame's place, does not count), is a body 0.3 to 5 m tall or
    wide when 0.3 <= s <= 5 ("m": Blender's export), one 0.8 to 50 m when 800 <= s <= 50,000 ("mm"), a
    skeleton with the CMU conversions' hip joints (:data:`CMU_JOINTS`) and 10 <= s <= 50 in the CMU database's
    ASF unit ("cmu", 5.644 cm: the BVH conversions by cgspeed and B. Hahne keep the ASF's lengths, so a
    person is about 30 units tall), and otherwise centimetres, the usual BVH unit (an inch-based rig reads as
    centimetres too: its size cannot tell them apart)."""
    size = float(np.ptp(body_rest_points(skeleton), axis=0).max())
    if METRE_SIZES[0] <= size <= METRE_SIZES[1]:
        return "m"
    if MILLIMETRE_SIZES[0] <= size <= MILLIMETRE_SIZES[1]:
        return "mm"
    cmu = set(CMU_JOINTS) <= set(skeleton.names) and CMU_SIZES[0] <= size <= CMU_SIZES[1]
    return "cmu" if cmu else BVH_DEFAULT_UNIT


def length_unit(skeleton: Skeleton) -> str | float:
    """The skeleton's length unit: ``units["length"]``, else "cm" for BVH and 1.0 (inch) for ASF."""
    unit = skeleton.units.get("length", BVH_DEFAULT_UNIT if skeleton.kind == "bvh" else _ASF_DEFAULT_LENGTH)
    centimetres(unit)  # a CRBMError now for a unit nobody can convert
    return unit


def convert_length(motion: Motion, unit: str) -> Motion:
    """The motion with every length in ``unit`` (a name of :data:`LENGTH_UNITS`); rotations untouched.

    frames: (T, n_channels), same channels; position (and ASF ``l``) columns scaled by
    ``c = cm(current unit) / cm(unit)``, as are offsets, End Sites and length limits. The skeleton's
    ``units["length"]`` becomes ``unit`` for BVH, and the Acclaim number ``2.54 / cm(unit)`` for ASF (so
    the skeleton still writes as a valid ``.asf``). A motion already in ``unit`` comes back unchanged.
    """
    sk = motion.skeleton
    current = length_unit(sk)
    target: str | float = check_length_unit(unit, f"motion {motion.name!r}")
    if sk.kind == "asf":
        target = LENGTH_UNITS["in"] / LENGTH_UNITS[unit]
    if current == target:
        return motion
    c = centimetres(current) / LENGTH_UNITS[unit]
    joints, columns, k = [], [], 0
    for j in sk.joints:
        lengths = [_is_length(n) for n in j.channels]
        columns += [k + i for i, is_length in enumerate(lengths) if is_length]
        k += len(j.channels)
        limits = j.limits
        if len(limits) == len(lengths):
            limits = tuple((lo * c, hi * c) if s else (lo, hi) for (lo, hi), s in zip(limits, lengths))
        joints.append(replace(
            j,
            offset=_scaled(j.offset, c),
            end_site=None if j.end_site is None else _scaled(j.end_site, c),
            limits=limits,
        ))
    frames = motion.frames.copy()
    frames[:, columns] *= c
    skeleton = replace(sk, joints=tuple(joints), units=sk.units | {"length": target})
    return motion.replace(skeleton=skeleton, frames=frames)


def _is_length(channel: str) -> bool:
    """Position channels (BVH ``Xposition``, ASF ``tx``)."""
    return channel_kind(channel)[0] == "position"


def _scaled(v, c: float) -> tuple[float, float, float]:
    x, y, z = (float(a) * c for a in v)
    return (x, y, z)
