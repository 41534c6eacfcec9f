"""Test-only builders of Motion values from the shared real data, independent of the package's readers.

``cmu35_skeleton`` reads ``35.asf`` with a deliberately small parser (enough for that one file), so the
kinematics, preprocessing and dataset tests do not depend on ``crbm.mocap.acclaim``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from crbm.mocap.motion import Joint, Motion, Skeleton


def cmu35_skeleton(asf: Path) -> Skeleton:
    """The CMU subject-35 skeleton: root (tx ty tz rx ry rz) then the bones in file order."""
    lines = [ln.split() for ln in Path(asf).read_text().splitlines()]
    bones, parents, section, bone = [], {}, None, None
    for tok in lines:
        if not tok or tok[0].startswith("#"):
            continue
        if tok[0].startswith(":"):
            section = tok[0]
            continue
        if section == ":bonedata":
            if tok[0] == "begin":
                bone = {"dof": ()}
            elif tok[0] == "end":
                bones.append(bone)
            elif tok[0] == "name":
                bone["name"] = tok[1]
            elif tok[0] == "direction":
                bone["direction"] = np.array(tok[1:4], dtype=float)
            elif tok[0] == "length":
                bone["length"] = float(tok[1])
            elif tok[0] == "axis":
                bone["axis"] = tuple(float(x) for x in tok[1:4])
                bone["axis_order"] = tok[4]
            elif tok[0] == "dof":
                bone["dof"] = tuple(tok[1:])
        elif section == ":hierarchy" and tok[0] not in ("begin", "end"):
            for child in tok[1:]:
                parents[child] = tok[0]
    names = ["root"] + [b["name"] for b in bones]
    joints = [Joint("root", -1, (0.0, 0.0, 0.0), ("tx", "ty", "tz", "rx", "ry", "rz"))]
    for b in bones:
        joints.append(Joint(b["name"], names.index(parents[b["name"]]), tuple(b["direction"] * b["length"]),
                            b["dof"], axis=b["axis"], axis_order=b["axis_order"]))
    return Skeleton(tuple(joints), kind="asf", units={"mass": 1.0, "length": 0.45, "angle": "deg"})


def read_amc_frames(amc: Path, skeleton: Skeleton) -> np.ndarray:
    """(T, 62) frames of an AMC file in the skeleton's channel order (bones without dofs are absent)."""
    widths = {j.name: len(j.channels) for j in skeleton.joints}
    frames, cur = [], None
    for line in Path(amc).read_text().splitlines():
        tok = line.split()
        if not tok or tok[0].startswith((":", "#")):
            continue
        if len(tok) == 1 and tok[0].isdigit():
            cur = {}
            frames.append(cur)
        else:
            cur[tok[0]] = [float(x) for x in tok[1:]]
    return np.array([[v for j in skeleton.joints if widths[j.name] for v in f[j.name]] for f in frames])


def bvh_motion_via_bvhio(path: Path) -> Motion:
    """A Motion built from bvhio's parse of the hierarchy and numpy's parse of the MOTION numbers."""
    import bvhio

    container = bvhio.readAsBvh(str(path))
    joints = []

    def visit(node, parent):
        end = node.EndSite
        has_end = not node.Children and end is not None
        joints.append(Joint(node.Name, parent, tuple(float(x) for x in node.Offset), tuple(node.Channels),
                            end_site=tuple(float(x) for x in end) if has_end else None))
        me = len(joints) - 1
        for child in node.Children:
            visit(child, me)

    visit(container.Root, -1)
    text = path.read_text().replace("\r", "")
    body = text.split("MOTION", 1)[1].split("\n")
    frames = np.array([[float(x) for x in ln.split()] for ln in body[3:] if ln.strip()])
    return Motion(Skeleton(tuple(joints)), frames, 1.0 / container.FrameTime)


def least_cpu_seconds(fn, repeats: int = 3) -> float:
    """The least CPU time of ``repeats`` calls of ``fn`` (the others carry a busy machine's cache misses): how the
    readers' scaling tests time a parse."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)
