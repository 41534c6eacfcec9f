"""Clips and models in a notebook: short reprs, a summary table and an inline animation."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import crbm
from crbm.mocap.kinematics import euler_to_matrix, matrix_to_euler, position_names, rotation_channels
from crbm.mocap.notebook import MAX_FRAMES


@pytest.fixture(scope="module")
def walk(data_root):
    d = data_root / "mocap" / "cmu" / "35"
    return crbm.read_motion(d / "35_01.amc", asf=d / "35.asf")  # 358 frames at 120 fps


def _frames(page: str) -> list[list[float]]:
    return json.loads(re.search(r"F=(\[\[.*?\]\])", page).group(1))


def test_reprs_are_one_short_line(walk):
    assert repr(walk) == "Motion('35_01', 358 frames at 120 fps, 62 channels, Skeleton(asf, 31 joints, 62 channels, " \
                         "root 'root'))"
    model = crbm.load_motion_model("demo")
    text = repr(model)
    assert len(text) < 200 and "\n" not in text and text.startswith("MotionModel(LabelCRBM, order 3, 150 hidden")
    assert "styles walk, run" in text


def test_a_clip_shows_a_table_and_an_animation_at_its_pace(walk):
    page = walk._repr_html_()
    assert "<caption style='text-align:left'><b>Motion &#x27;35_01&#x27;</b></caption>" in page
    assert "358 at 120 fps (2.98 s)" in page
    frames = _frames(page)
    assert len(frames) == 179 <= MAX_FRAMES  # every 2nd frame of 358
    assert re.search(r"\},16\.7\);", page)  # 2 frames of 1/120 s between pictures
    bones = json.loads(re.search(r"B=(\[\[.*?\]\])", page).group(1))
    assert len(re.findall(r"<line class='b'", page)) == len(bones) == len(walk.skeleton.joints) - 1
    # the first picture is drawn without scripts, and it stands upright: the head above the feet (SVG y down)
    names = position_names(walk.skeleton, end_sites=True)
    head, foot = (names.index(n) for n in ("head", "lfoot"))
    first = np.array(frames[0]).reshape(-1, 2)
    assert first[head, 1] < first[foot, 1] - 50
    p = bones[0][0]
    assert f"x1='{first[p, 0]:.1f}' y1='{first[p, 1]:.1f}'" in page


def test_a_long_walk_stays_in_the_picture(walk):
    """The view follows the root: after 20 s of travel the figure is as large as ever, and still inside the
    240-pixel square."""
    ground = [walk.channel_names.index(c) for c in ("root.tx", "root.tz")]
    step = walk.frames[-1, ground] - walk.frames[0, ground]  # one copy's travel over the ground
    copies = []
    for i in range(7):  # the walk repeated, each copy starting where the last one ended
        f = walk.frames.copy()
        f[:, ground] += i * step
        copies.append(f)
    long = walk.replace(frames=np.concatenate(copies), name="long")
    frames = np.array(_frames(long._repr_html_()))
    assert len(frames) <= MAX_FRAMES and frames.min() >= 0 and frames.max() <= 240
    heights = np.ptp(frames[:, 1::2], axis=1)  # the figure's height in pixels, frame by frame
    assert heights.min() > 120  # not shrunk to fit 20 s of travel: the view moves with the walker


def test_a_z_up_clip_is_shown_like_its_y_up_twin(walk):
    """The walk as a Blender-style Z-up BVH (its world turned a quarter about X) stands in the animation too."""
    y_up = crbm.asf_to_bvh(walk).replace(frames=crbm.asf_to_bvh(walk).frames[:60])
    turn = euler_to_matrix(np.array([90.0, 0.0, 0.0]), "XYZ")  # Y -> Z
    frames = y_up.frames.copy()
    frames[:, :3] = frames[:, :3] @ turn.T
    for _, cols, axes in rotation_channels(y_up.skeleton):
        frames[:, cols] = matrix_to_euler(turn @ euler_to_matrix(frames[:, cols], axes) @ turn.T, axes)
    joints = tuple(crbm.Joint(j.name, j.parent, tuple(turn @ j.offset), j.channels,
                              None if j.end_site is None else tuple(turn @ j.end_site)) for j in y_up.skeleton.joints)
    z_up = crbm.Motion(crbm.Skeleton(joints, units=y_up.skeleton.units), frames, y_up.fps, name=y_up.name)
    np.testing.assert_allclose(_frames(z_up._repr_html_()), _frames(y_up._repr_html_()), atol=0.11)


def test_a_model_shows_its_table():
    page = crbm.load_motion_model("demo")._repr_html_()
    for text in ("<b>MotionModel</b>", "LabelCRBM, order 3, 150 hidden units", "walk, run", "30 fps",
                 "ridge AR of order 3"):
        assert text in page
