"""The Motion value: a skeleton, a table of channel values per frame, and a frame rate.

Readers return it and writers take it; it holds no parser state. Channels are named
``<joint>.<channel>`` (``lfemur.rx``, ``Hips.Zrotation``), in the order they appear in the source file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from crbm.engine.errors import CRBMError

MAX_FPS = 10_000.0  # frame rates above this are refused as absurd (a misread Frame Time, a unit mix-up)


def check_fps(fps: float, what: str) -> float:
    """``fps`` as a float if it is a frame rate in (0, MAX_FPS]; otherwise CRBMError naming ``what``."""
    value = float(fps)
    if not (np.isfinite(value) and 0 < value <= MAX_FPS):
        raise CRBMError(f"{what}: expected a frame rate above 0 and at most {MAX_FPS:,.0f} fps, got {fps}")
    return value


@dataclass(frozen=True)
class Joint:
    """One joint (BVH) or bone (ASF) of a skeleton.

    name: unique within the skeleton.
    parent: index of the parent joint in ``Skeleton.joints``, -1 for the root.
    offset: (3,) BVH ``OFFSET`` from the parent; for ASF, ``direction * length`` of the bone (file units).
    channels: channel names as the file spells them, in file order: BVH ``Xposition``... ``Zrotation``,
        ASF ``tx ty tz rx ry rz`` (lower case; the root's ``TX`` etc. are lower-cased too).
    end_site: (3,) BVH ``End Site`` offset, or None.
    axis: (3,) ASF ``axis`` angles in the file's angle unit, with ``axis_order`` (e.g. "XYZ"); zeros for BVH.
    limits: ASF ``limits`` per channel as (lo, hi) pairs, or empty.
    """

    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[str, ...] = ()
    end_site: tuple[float, float, float] | None = None
    axis: tuple[float, float, float] = (0.0, 0.0, 0.0)
    axis_order: str = "XYZ"
    limits: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Skeleton:
    """A tree of joints, parents before children.

    kind: "bvh" or "asf" (decides how channels and axes are interpreted by the kinematics).
    units: e.g. {"length": "cm"} for BVH or the ASF ``:units`` section ({"mass": 1.0, "length": 0.45,
        "angle": "deg"}); free-form JSON-able values, carried through Parquet losslessly.
    The ASF root is joint 0 named ``root``: its ``channels`` are the root ``order`` lower-cased (e.g.
    ("tx","ty","tz","rx","ry","rz")), ``offset`` the root ``position``, ``axis`` the root ``orientation``
    and ``axis_order`` the root ``axis`` line.
    meta: other header fields a writer needs to reproduce the file (ASF ``:name``, ``:version``...).
    """

    joints: tuple[Joint, ...]
    kind: str = "bvh"
    units: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("bvh", "asf"):
            raise CRBMError(f"skeleton kind must be 'bvh' or 'asf', got {self.kind!r}")
        names = [j.name for j in self.joints]
        if len(set(names)) != len(names):
            dup = sorted(n for n, count in Counter(names).items() if count > 1)
            raise CRBMError(f"skeleton joint names must be unique; repeated: {dup}")
        for i, j in enumerate(self.joints):
            if not (-1 <= j.parent < i) or (j.parent == -1 and i != 0):
                raise CRBMError(
                    f"joint {j.name!r} (index {i}) has parent index {j.parent}; expected the root at index 0 "
                    "and every other parent listed before its child"
                )

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def channel_names(self) -> list[str]:
        """``<joint>.<channel>`` for every channel, in frame-column order."""
        return [f"{j.name}.{c}" for j in self.joints for c in j.channels]

    @cached_property
    def _children(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for k, j in enumerate(self.joints):
            if j.parent != k:
                kids.setdefault(j.parent, []).append(k)
        return kids

    def children(self, i: int) -> list[int]:
        """Indices of the joints whose parent is joint ``i``, in skeleton order."""
        return list(self._children.get(i, ()))

    def depth_first(self) -> list[int]:
        """Joint indices in depth-first order from the root, children in skeleton order (BVH file order)."""
        order, stack = [], [0] if self.joints else []
        while stack:
            i = stack.pop()
            order.append(i)
            stack.extend(reversed(self._children.get(i, ())))
        return order

    def to_dict(self) -> dict:
        """A JSON-able dict of every field (floats exact under ``json``); ``from_dict`` inverts it."""
        return {
            "kind": self.kind,
            "units": dict(self.units),
            "meta": dict(self.meta),
            "joints": [
                {
                    "name": j.name,
                    "parent": j.parent,
                    "offset": list(j.offset),
                    "channels": list(j.channels),
                    "end_site": None if j.end_site is None else list(j.end_site),
                    "axis": list(j.axis),
                    "axis_order": j.axis_order,
                    "limits": [list(lim) for lim in j.limits],
                }
                for j in self.joints
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        """Rebuild a Skeleton from ``to_dict`` output; CRBMError naming the field when it is malformed."""
        try:
            joints = tuple(
                Joint(
                    name=str(j["name"]),
                    parent=int(j["parent"]),
                    offset=_vec3(j["offset"]),
                    channels=tuple(str(c) for c in j["channels"]),
                    end_site=None if j.get("end_site") is None else _vec3(j["end_site"]),
                    axis=_vec3(j.get("axis", (0.0, 0.0, 0.0))),
                    axis_order=str(j.get("axis_order", "XYZ")),
                    limits=tuple((float(lo), float(hi)) for lo, hi in j.get("limits", ())),
                )
                for j in d["joints"]
            )
            units, meta = dict(d.get("units", {})), dict(d.get("meta", {}))
            kind = str(d["kind"])
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as err:
            raise CRBMError(f"malformed skeleton description: {type(err).__name__}: {err}") from None
        if not joints:
            raise CRBMError("malformed skeleton description: no joints")
        return cls(joints=joints, kind=kind, units=units, meta=meta)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise CRBMError(f"no joint named {name!r}; the skeleton has {self.names}") from None

    def __repr__(self) -> str:
        root = repr(self.joints[0].name) if self.joints else "none"
        return f"Skeleton({self.kind}, {len(self.joints)} joints, {len(self.channel_names)} channels, root {root})"


def _vec3(v) -> tuple[float, float, float]:
    x, y, z = (float(a) for a in v)
    return (x, y, z)


@dataclass(frozen=True, eq=False)
class Motion:
    """A clip: ``frames`` of shape (T, n_channels) float64 in the skeleton's channel order, at ``fps``; every
    value finite (a NaN or infinity is refused with the clip's name, frame and channel)."""

    skeleton: Skeleton
    frames: np.ndarray
    fps: float
    name: str = ""

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        n = len(self.skeleton.channel_names)
        if frames.ndim != 2 or frames.shape[1] != n:
            raise CRBMError(f"motion {self.name!r}: frames must have shape (T, {n}), got {frames.shape}")
        if not np.issubdtype(frames.dtype, np.floating):
            raise CRBMError(f"motion {self.name!r}: frames must be floating point, got {frames.dtype}")
        check_fps(self.fps, f"motion {self.name!r}: fps")
        if not np.isfinite(frames).all():
            t, c = (int(i) for i in np.argwhere(~np.isfinite(frames))[0])
            raise CRBMError(
                f"motion {self.name!r}: frame {t} holds {frames[t, c]} in channel {self.channel_names[c]!r}; "
                "expected finite numbers (a NaN or infinite value is refused: fill or cut the gap first)"
            )
        object.__setattr__(self, "frames", frames)

    @property
    def channel_names(self) -> list[str]:
        return self.skeleton.channel_names

    @property
    def n_frames(self) -> int:
        return self.frames.shape[0]

    def replace(self, **changes) -> Motion:
        """A copy with some fields changed (``frames=``, ``fps=``, ``name=``)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (f"Motion({self.name!r}, {self.n_frames} frames at {self.fps:g} fps, {len(self.channel_names)} "
                f"channels, {self.skeleton!r})")

    def _repr_html_(self) -> str:
        """In a notebook: a summary table and an inline stick-figure animation (crbm.mocap.notebook)."""
        from crbm.mocap.notebook import motion_html

        return motion_html(self)
