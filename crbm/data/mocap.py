"""The motion-capture data sets: GPmat's CMU subject-35 walk/jog split, Taylor's MIT walking data and CMU
ASF/AMC trials (found and checked by ``crbm.data.paths``, fetched by ``crbm.data.download``)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crbm.data.download import fetch_file
from crbm.data.paths import CMU_URL, SOURCES, data_path, read_mat, verify_data_file
from crbm.engine.errors import CRBMError
from crbm.mocap.motion import Motion, Skeleton

GPMAT_CHANNELS = tuple(
    "root.tx root.ty root.tz root.rx root.ry root.rz lfemur.rx lfemur.ry lfemur.rz ltibia.rx lfoot.rx "
    "lfoot.rz ltoes.rx rfemur.rx rfemur.ry rfemur.rz rtibia.rx rfoot.rx rfoot.rz rtoes.rx lowerback.rx "
    "lowerback.ry lowerback.rz upperback.rx upperback.ry upperback.rz thorax.rx thorax.ry thorax.rz "
    "lowerneck.rx lowerneck.ry lowerneck.rz upperneck.rx upperneck.ry upperneck.rz head.rx head.ry head.rz "
    "lclavicle.ry lclavicle.rz lhumerus.rx lhumerus.ry lhumerus.rz lradius.rx lwrist.ry lhand.rx lhand.rz "
    "lfingers.rx lthumb.rx lthumb.rz rclavicle.ry rclavicle.rz rhumerus.rx rhumerus.ry rhumerus.rz "
    "rradius.rx rwrist.ry rhand.rx rhand.rz rfingers.rx rthumb.rx rthumb.rz".split()
)
GPMAT_TRAIN_TRIALS = tuple(f"35_{i:02d}" for i in [*range(1, 18), *range(19, 27), 28, *range(30, 35)])
GPMAT_TEST_TRIALS = ("35_18", "35_29")


def cmu35_style(trial: str) -> str:
    """"run" for CMU subject 35 trials 17-26 (the CMU index's "run/jog"), "walk" for 1-16 and 28-34,
    "navigate" for 27. Checked on the GPmat data: walks move at 1.2-1.3 m/s, runs at 3.1-3.6 m/s."""
    subject, number = trial.split("_")
    n = int(number)
    if subject != "35" or not 1 <= n <= 34:
        raise CRBMError(f"no style known for CMU trial {trial!r} (only subject 35, trials 1-34)")
    return "run" if 17 <= n <= 26 else "navigate" if n == 27 else "walk"


@dataclass(frozen=True)
class WalkJog:
    """GPmat's ``cmu35WalkJog.mat``: CMU subject 35 at 30 fps (every 4th frame of the 120 fps AMC, from
    frame 1), 62 AMC channels in ASF bone order (degrees; root translation in ASF length units).

    train: 31 clips ``(T_i, 62)`` for ``train_trials`` (``Y`` split by the one-hot ``lbls``); test: 35_18
    (run, 44 frames) and 35_29 (walk, 125 frames) from ``Ytest``. ``*_styles`` are "walk" / "run".
    """

    train: list[np.ndarray]
    test: list[np.ndarray]
    train_trials: tuple[str, ...]
    test_trials: tuple[str, ...]
    train_styles: tuple[str, ...]
    test_styles: tuple[str, ...]
    channel_names: tuple[str, ...] = GPMAT_CHANNELS
    fps: float = 30.0

    def motions(self, skeleton: Skeleton) -> tuple[list[Motion], list[Motion]]:
        """(train, test) as Motion values on the CMU 35 skeleton (e.g. ``read_asf(data_path(
        "mocap/cmu/35/35.asf"))``), whose channels must be exactly these 62."""
        if tuple(skeleton.channel_names) != self.channel_names:
            raise CRBMError("the skeleton's channels are not the 62 CMU subject-35 AMC channels of the GPmat "
                            "set")

        def build(clips, trials):
            return [Motion(skeleton, x, self.fps, name=n) for x, n in zip(clips, trials, strict=True)]

        return build(self.train, self.train_trials), build(self.test, self.test_trials)


def load_gpmat_walkjog(path: str | os.PathLike | None = None, *, download: bool = False) -> WalkJog:
    """Load GPmat's CMU-35 walk/jog split (see :class:`WalkJog`); ``download=True`` fetches the file from
    GPmat on GitHub (pinned commit, SHA-256 checked) into the cache when it is not found."""

    relative = "mocap/gpmat/cmu35WalkJog.mat"
    file = fetch_file(relative, path=path, download_ok=download, url=SOURCES[relative])
    d = read_mat(file)
    for key, shape in (("Y", (None, 62)), ("lbls", (None, 31)), ("Ytest", (169, 62)), ("lblstest", (169, 2))):
        got = d.get(key)
        bad = got is None or got.ndim != 2
        if bad or any(s not in (None, g) for s, g in zip(shape, got.shape, strict=True)):
            raise CRBMError(f"{file}: expected variable {key!r} of shape {shape}, got "
                            f"{None if got is None else got.shape}")
    y, lbls = d["Y"].astype(np.float64), d["lbls"]
    if len(y) != len(lbls) or not np.all(lbls.sum(axis=1) == 1):
        raise CRBMError(f"{file}: 'lbls' must be one-hot with one row per row of 'Y'")
    seq = lbls.argmax(axis=1)
    if np.any(np.diff(seq) < 0):
        raise CRBMError(f"{file}: the sequences in 'Y' are not contiguous in 'lbls' order")
    train = [y[seq == s] for s in range(lbls.shape[1])]
    test_seq = d["lblstest"].argmax(axis=1)
    test = [d["Ytest"][test_seq == s].astype(np.float64) for s in range(2)]
    return WalkJog(
        train=train, test=test, train_trials=GPMAT_TRAIN_TRIALS, test_trials=GPMAT_TEST_TRIALS,
        train_styles=tuple(cmu35_style(t) for t in GPMAT_TRAIN_TRIALS),
        test_styles=tuple(cmu35_style(t) for t in GPMAT_TEST_TRIALS),
    )


# ---------------------------------------------------------------------------------------------------
# Taylor's MIT walking data


@dataclass(frozen=True)
class MitMotion:
    """Taylor's ``motion.mat`` (MIT data, Eugene Hsu): 3 clips of 108 columns, 18 joints x 6 columns.

    For joint j, ``clip[:, rotation_columns[j]]`` is its exponential-map rotation (radians) and
    ``clip[:, offset_columns[j]]`` its offset from the parent (constant except the root's, which is the
    root position; mm). ``parents[j]`` is -1 for the root. 49 columns vary. The file stores no frame rate
    (the gait period suggests about 30 fps), so ``fps`` is None. The kinematic convention of the exp maps
    (frame of each rotation) is that of Taylor's MATLAB code and is not reproduced here.
    """

    clips: list[np.ndarray]
    parents: tuple[int, ...]
    rotation_columns: tuple[tuple[int, int, int], ...]
    offset_columns: tuple[tuple[int, int, int], ...]
    skeleton_type: str
    fps: float | None = None

    @property
    def channel_names(self) -> list[str]:
        """``j<k>.e0..e2`` and ``j<k>.o0..o2`` per column (joint k's exp map and offset)."""
        names = [""] * 108
        for j, (rot, off) in enumerate(zip(self.rotation_columns, self.offset_columns, strict=True)):
            for i in range(3):
                names[rot[i]], names[off[i]] = f"j{j}.e{i}", f"j{j}.o{i}"
        return names


def load_mit_motion(path: str | os.PathLike | None = None) -> MitMotion:
    """Load Taylor's MIT walking data ``motion.mat`` (see :class:`MitMotion`)."""

    file = data_path("mocap/mit/motion.mat", path=path)
    d = read_mat(file)
    if "Motion" not in d or "skel" not in d:
        found = sorted(k for k in d if not k.startswith("_"))
        raise CRBMError(f"{file}: expected variables 'Motion' and 'skel', got {found}")
    clips = [np.asarray(c, dtype=np.float64) for c in d["Motion"].ravel()]
    skel = d["skel"][0, 0]
    tree = skel["tree"].ravel()
    parents, rot, off = [], [], []
    for node in tree:
        parents.append(int(node["parent"].ravel()[0]) - 1 if node["parent"].size else -1)
        rot.append(tuple(int(c) - 1 for c in node["or"].ravel()))
        off.append(tuple(int(c) - 1 for c in node["offset"].ravel()))
    width = 6 * len(tree)
    if any(c.ndim != 2 or c.shape[1] != width for c in clips):
        raise CRBMError(f"{file}: every clip must have {width} columns (6 per joint), got "
                        f"{[c.shape for c in clips]}")
    return MitMotion(clips=clips, parents=tuple(parents), rotation_columns=tuple(rot),
                     offset_columns=tuple(off), skeleton_type=str(np.ravel(skel["type"])[0]))


# ---------------------------------------------------------------------------------------------------
# CMU ASF/AMC trials


def _cmu_file(subject: str, name: str, path, download: bool) -> Path:
    if path is not None and (Path(path).expanduser() / name).is_file():
        return verify_data_file(Path(path).expanduser() / name, f"mocap/cmu/{subject}/{name}")
    url = f"{CMU_URL}{subject}/{name}"
    return fetch_file(f"mocap/cmu/{subject}/{name}", path=path, download_ok=download, url=url, text=True)


def cmu_skeleton(subject: int | str, *, path: str | os.PathLike | None = None,
                 download: bool = False) -> Skeleton:
    """The CMU subject's skeleton ``<subject>.asf`` (found and downloaded as in :func:`cmu_trials`)."""
    from crbm.mocap.acclaim import read_asf

    subject = _subject(subject)
    return read_asf(_cmu_file(subject, f"{subject}.asf", path, download))


def cmu_trials(subject: int | str, trials: Sequence[int], *, path: str | os.PathLike | None = None,
               download: bool = False, fps: float = 120.0) -> list[Motion]:
    """CMU database trials ``<subject>_<trial>.amc`` with their ``<subject>.asf`` as Motion values.

    Files are looked up as ``mocap/cmu/<subject>/...`` under ``path`` / ``$CRBM_DATA`` / the cache (or
    ``path`` may be the folder holding the files). ``download=True`` fetches missing files from
    mocap.cs.cmu.edu into the cache (or ``path``), checking the SHA-256 sums known for subject 35 (after
    CRLF -> LF); files of other subjects are stored unchecked. AMC has no frame rate: ``fps`` (CMU: 120).
    """
    from crbm.mocap.acclaim import read_amc

    subject = _subject(subject)
    bad = [t for t in trials if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 1]
    if bad:
        raise CRBMError(f"trials must be positive trial numbers (e.g. [1, 2] for {subject}_01 and _02), got {bad}")
    skeleton = cmu_skeleton(subject, path=path, download=download)
    return [read_amc(_cmu_file(subject, f"{subject}_{int(t):02d}.amc", path, download), skeleton, fps=fps)
            for t in trials]


def _subject(subject: int | str) -> str:
    text = str(subject).strip()
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise CRBMError(f"subject must be a CMU subject number such as 35, got {subject!r}")
    return str(int(text))
