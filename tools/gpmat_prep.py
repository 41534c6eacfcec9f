"""PRIVATE, TEMPORARY preparation of the GPmat CMU-35 split for the motion-model tests and benchmark.

This is a stand-in until ``crbm.mocap.preprocess`` lands (the lead swaps it in); it is not library code.

Per frame of a clip (62 AMC channels, degrees; 30 fps):
* joint angles and root TY, RX, RZ: kept, unwrapped along the clip (no 360-degree jumps);
* root TX, TZ, RY (absolute ground position and heading): replaced by the ground-plane velocity in the
  heading frame (forward, lateral; ASF units per frame) and the yaw rate (degrees per frame), each from
  frame t-1 to t, so the first frame of every clip is dropped;
* channels that are constant over the training frames are dropped; the rest are z-scored with the
  training mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch

ROOT_POSITION = (0, 2, 4)  # root TX, TZ, RY: replaced by velocities
# sequence order of Y in cmu35WalkJog.mat; 35_17..26 are runs
TRAIN_TRIALS = [*range(1, 18), *range(19, 27), 28, *range(30, 35)]
WALK, RUN = 0, 1


def style_of_trial(trial: int) -> int:
    return RUN if 17 <= trial <= 26 else WALK


def gpmat_folder(data_root: str | Path) -> Path:
    return Path(data_root) / "mocap" / "gpmat"


def load_gpmat(data_root: str | Path) -> dict:
    """Raw split: ``train`` list of 31 (T, 62) arrays, ``train_trials``, ``test_run`` (44, 62) 35_18,
    ``test_walk`` (125, 62) 35_29, and ``Y``/``lbls`` as stored."""
    d = scipy.io.loadmat(gpmat_folder(data_root) / "cmu35WalkJog.mat")
    y, ids = d["Y"], d["lbls"].argmax(1)
    train = [y[ids == i] for i in range(ids.max() + 1)]
    return {
        "train": train,
        "train_trials": TRAIN_TRIALS,
        "test_run": d["Ytest"][:44],
        "test_walk": d["Ytest"][44:],
        "Y": y,
        "lbls": d["lbls"],
    }


def _features(clip: np.ndarray) -> np.ndarray:
    """(T, 62) AMC -> (T - 1, 62): angles unwrapped; cols 0, 2, 4 replaced by forward/lateral speed and yaw rate."""
    x = clip.astype(np.float64).copy()
    x[:, 3:] = np.rad2deg(np.unwrap(np.deg2rad(x[:, 3:]), axis=0))
    yaw = np.deg2rad(x[:-1, 4])
    dx, dz = np.diff(x[:, 0]), np.diff(x[:, 2])
    out = x[1:].copy()
    # heading frame: rotate the displacement by -yaw about the vertical axis
    out[:, 0] = np.cos(yaw) * dz + np.sin(yaw) * dx
    out[:, 2] = -np.sin(yaw) * dz + np.cos(yaw) * dx
    out[:, 4] = np.diff(x[:, 4])
    return out


@dataclass
class Prep:
    """Fitted preparation: kept channel indices (of 62), mean and std of the kept features."""

    keep: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, clips: list[np.ndarray]) -> Prep:
        f = np.concatenate([_features(c) for c in clips])
        std = f.std(0)
        keep = np.flatnonzero(std > 1e-8)
        return cls(keep, f[:, keep].mean(0), std[keep])

    @property
    def width(self) -> int:
        return len(self.keep)

    def transform(self, clip: np.ndarray, *, dtype=torch.float32) -> torch.Tensor:
        """(T, 62) AMC -> (T - 1, width) normalised frames (frame j is AMC frame j + 1)."""
        return torch.as_tensor((_features(clip)[:, self.keep] - self.mean) / self.std, dtype=dtype)

    def angles(self, frames: torch.Tensor | np.ndarray, like: np.ndarray) -> np.ndarray:
        """Normalised frames (T - 1, width) -> AMC (T - 1, 62): the angle channels from ``frames``, the root
        translation/heading and dropped channels from ``like`` (the AMC frames 1..T-1 they stand for)."""
        x = np.asarray(frames, dtype=np.float64) * self.std + self.mean
        out = np.asarray(like, dtype=np.float64).copy()
        cols = [k for k in range(len(self.keep)) if self.keep[k] not in ROOT_POSITION]
        out[:, self.keep[cols]] = x[:, cols]
        return out

    def angle_columns(self) -> np.ndarray:
        """Positions (in the normalised frame) of the kept AMC channels 6..61 (joint angles)."""
        return np.flatnonzero(self.keep >= 6)

    def channel_position(self, amc_channels) -> np.ndarray:
        """Positions in the normalised frame of the given AMC channel indices (all must be kept)."""
        where = {int(c): i for i, c in enumerate(self.keep)}
        return np.array([where[int(c)] for c in amc_channels])


def prepared(data_root: str | Path, *, dtype=torch.float32) -> dict:
    """Everything a test or benchmark needs: ``prep``, normalised ``train`` clips with ``train_styles``
    (one-hot (T, 2) walk/run per frame), ``test_walk``/``test_run`` normalised, and the raw split ``raw``."""
    raw = load_gpmat(data_root)
    prep = Prep.fit(raw["train"])
    train = [prep.transform(c, dtype=dtype) for c in raw["train"]]
    styles = []
    for c, trial in zip(train, TRAIN_TRIALS):
        y = torch.zeros(c.shape[0], 2, dtype=dtype)
        y[:, style_of_trial(trial)] = 1
        styles.append(y)
    return {
        "prep": prep,
        "train": train,
        "train_styles": styles,
        "raw": raw,
        "test_walk": prep.transform(raw["test_walk"], dtype=dtype),
        "test_run": prep.transform(raw["test_run"], dtype=dtype),
    }


def balanced(clips: list, styles: list, trials: list[int]) -> tuple[list, list]:
    """Repeat the run clips so that both styles have about as many frames (the split has ~6x more walking);
    returns the lengthened clip and style lists."""
    walk = sum(c.shape[0] for c, t in zip(clips, trials) if style_of_trial(t) == WALK)
    run = sum(c.shape[0] for c, t in zip(clips, trials) if style_of_trial(t) == RUN)
    reps = max(1, round(walk / max(run, 1)))
    out_c, out_s = [], []
    for c, y, t in zip(clips, styles, trials):
        n = reps if style_of_trial(t) == RUN else 1
        out_c += [c] * n
        out_s += [y] * n
    return out_c, out_s
