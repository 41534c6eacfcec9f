"""How clips and models show themselves in a notebook: a summary table and, for a clip, an inline stick-figure
animation (an SVG whose first frame is drawn as it is, animated by a few lines of JavaScript where the
notebook runs scripts; nothing is rendered by matplotlib, so it appears at once).

The figure is seen from the side of its path: the horizontal screen axis is the main direction of the root's
travel over the ground (the x axis when it barely moves), the vertical axis is up, and the view follows the
root along that direction, so a long walk stays in the picture. A clip on a Z-up rig (Blender's BVH export)
is turned to Y-up first (``crbm.mocap.retarget.y_up_turn``).
"""

from __future__ import annotations

import html
import json
import uuid

import numpy as np

from crbm.mocap.kinematics import joint_positions, position_parents
from crbm.mocap.motion import Motion
from crbm.mocap.retarget import y_up_turn

MAX_FRAMES = 300  # frames of an inline animation: longer clips are shown at every k-th frame


def table(rows: list[tuple[str, str]], caption: str) -> str:
    """An HTML table of (field, value) rows under ``caption`` (escaped)."""
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                    f"{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table><caption style='text-align:left'><b>{html.escape(caption)}</b></caption>{cells}</table>"


def _side_view(pos: np.ndarray) -> np.ndarray:
    """World positions (T, J, 3), Y up -> screen (T, J, 2): along the root's main ground direction, and up;
    the root's progress along that direction is taken out (the view follows it)."""
    ground = pos[:, 0, [0, 2]] - pos[:, 0, [0, 2]].mean(0)
    direction = np.array([1.0, 0.0])
    if np.ptp(ground, axis=0).max() > 1e-9:
        direction = np.linalg.svd(ground, full_matrices=False)[2][0]
    along = pos[..., 0] * direction[0] + pos[..., 2] * direction[1]
    return np.stack([along - along[:, :1], pos[..., 1]], -1)


def animation_html(motion: Motion, *, size: int = 240) -> str:
    """An inline animation of ``motion`` (at most ``MAX_FRAMES`` frames, at the clip's pace) as HTML."""
    stride = max(1, -(-motion.n_frames // MAX_FRAMES))
    pos = joint_positions(motion, end_sites=True)[::stride] @ y_up_turn(motion.skeleton).T
    parents = position_parents(motion.skeleton, end_sites=True)
    screen = _side_view(pos)
    lo, hi = screen.reshape(-1, 2).min(0), screen.reshape(-1, 2).max(0)
    scale = 0.9 * size / max(float((hi - lo).max()), 1e-9)
    centre = (lo + hi) / 2
    px = np.empty_like(screen)
    px[..., 0] = size / 2 + (screen[..., 0] - centre[0]) * scale
    px[..., 1] = size / 2 - (screen[..., 1] - centre[1]) * scale  # SVG's y grows downwards
    bones = [(p, j) for j, p in enumerate(parents) if p >= 0]
    first = px[0]
    lines = "".join(f"<line class='b' x1='{first[p, 0]:.1f}' y1='{first[p, 1]:.1f}' x2='{first[j, 0]:.1f}' "
                    f"y2='{first[j, 1]:.1f}'/>" for p, j in bones)
    floor = size / 2 - (lo[1] - centre[1]) * scale
    uid = "crbm-" + uuid.uuid4().hex[:12]
    frames = json.dumps(np.round(px, 1).reshape(len(px), -1).tolist(), separators=(",", ":"))
    delay = 1000.0 * stride / motion.fps
    script = (f"<script>(function(){{var s=document.getElementById('{uid}');if(!s)return;"
              f"var L=s.querySelectorAll('line.b'),F={frames},B={json.dumps(bones)},t=0;"
              "setInterval(function(){t=(t+1)%F.length;var f=F[t];for(var i=0;i<B.length;i++){"
              "var p=B[i][0]*2,j=B[i][1]*2;L[i].setAttribute('x1',f[p]);L[i].setAttribute('y1',f[p+1]);"
              f"L[i].setAttribute('x2',f[j]);L[i].setAttribute('y2',f[j+1]);}}}},{delay:.1f});}})();</script>")
    return (f"<svg id='{uid}' width='{size}' height='{size}' viewBox='0 0 {size} {size}' "
            f"style='background:#fafafa'><line x1='0' y1='{floor:.1f}' x2='{size}' y2='{floor:.1f}' "
            f"stroke='#bbb'/><g stroke='black' stroke-width='2' stroke-linecap='round'>"
            f"{lines}</g></svg>{script}")


def motion_summary(motion: Motion) -> list[tuple[str, str]]:
    """The facts a clip's table shows: frames, rate, duration, channels, joints, skeleton."""
    sk = motion.skeleton
    unit = sk.units.get("length", "") if isinstance(sk.units, dict) else ""
    return [
        ("frames", f"{motion.n_frames} at {motion.fps:g} fps ({motion.n_frames / motion.fps:.2f} s)"),
        ("channels", f"{len(motion.channel_names)}: {', '.join(motion.channel_names[:4])}"
                     + (", ..." if len(motion.channel_names) > 4 else "")),
        ("joints", f"{len(sk.joints)}, root {sk.joints[0].name!r}" if sk.joints else "0"),
        ("skeleton", f"{sk.kind}" + (f", length unit {unit}" if unit != "" else "")),
    ]


def motion_html(motion: Motion) -> str:
    """A clip's summary table beside its inline animation."""
    info = table(motion_summary(motion), f"Motion {motion.name!r}" if motion.name else "Motion")
    if motion.n_frames == 0:
        return info
    return (f"<div style='display:flex;gap:1em;align-items:flex-start'><div>{info}</div>"
            f"<div>{animation_html(motion)}</div></div>")
