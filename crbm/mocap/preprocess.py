"""Model-ready preprocessing: fitted steps with ``transform`` / ``inverse_transform``, chained in a Pipeline.

Every step works on a list of clips, each a ``(T, C)`` float array whose columns are named by
``names`` (``<joint>.<channel>``, as :attr:`Skeleton.channel_names`); a single array is accepted and
returned as one. A step is fitted once (``fit(clips, names)``), then maps clips both ways. Its learned
state is plain JSON (``state_dict()`` / ``Step.from_state(d)`` / :func:`step_from_state`), so it can be
saved next to a model without pickle.

Steps (Taylor, Hinton & Roweis 2007, "Modeling human motion using binary latent variables", section 4,
and Taylor's CRBM code):

* :class:`Downsample` keeps every k-th frame (120 -> 30 fps with ``factor=4``). It is **not invertible**:
  its ``inverse_transform`` upsamples by linear interpolation; kept frames come back exactly.
* :class:`BodyCentredRoot`: root ground-plane translation -> velocities in the body's heading frame,
  heading -> yaw rate, root height and tilt (pitch, roll relative to the heading frame) kept.
* :class:`JointAngles`: 3-dof joints as exponential maps (or Euler angles); every Euler angle unwrapped
  across frames (no 360-degree jumps).
* :class:`DropConstant` drops constant channels and re-inserts them on the way back.
* :class:`ZScore` scales each channel to zero mean, unit variance.

**Exact inverse.** Going from a rotation back to Euler angles has two free choices: the Euler branch
``(a, b, c)`` vs ``(a + 180, 180 - b, c + 180)`` and a multiple of 360 degrees per angle. The steps pick
them from fitted windows (the training data's range) and continuity across frames, so generated frames come
back in the training range. Where the source data itself jumps by 360 degrees (CMU 35's ``rhand.rz`` does
in two run clips), no rule can know the original's multiple, so a step also offers ``context(clip)``: a
small JSON record of what a clip needs to come back exactly (its first root pose; the frames whose
angles differ from the decoded ones by a multiple of 360). ``Pipeline.contexts(clips)`` gathers them and
``inverse_transform(clips, contexts=...)`` uses them; without contexts the root starts at the origin
facing +z and angles are decoded by the rules above (the same rotations, possibly other multiples of 360).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crbm.engine.errors import CRBMError
from crbm.mocap.kinematics import (
    channel_kind,
    euler_alternative,
    euler_to_matrix,
    expmap_continuous,
    expmap_to_matrix,
    joint_positions,
    matrix_to_euler,
    matrix_to_expmap,
    position_names,
    rotation_channels,
    wrap_angle,
)
from crbm.mocap.motion import Motion, Skeleton

Clips = np.ndarray | Sequence[np.ndarray]


def _as_list(clips: Clips, width: int | None, what: str) -> tuple[list[np.ndarray], bool]:
    single = isinstance(clips, np.ndarray) and clips.ndim == 2
    out = [np.asarray(c, dtype=np.float64) for c in ([clips] if single else clips)]
    for i, c in enumerate(out):
        if c.ndim != 2 or (width is not None and c.shape[1] != width):
            raise CRBMError(f"{what}: clip {i} must have shape (T, {width}), got {c.shape}")
    return out, single


def _period(degrees: bool) -> float:
    return 360.0 if degrees else 2 * np.pi


def _centred_low(values: np.ndarray, width: float) -> float | None:
    """Lower end of a window of ``width`` centred on the values' range, or None if they do not fit."""
    lo, hi = float(values.min()), float(values.max())
    return None if hi - lo >= width else (lo + hi) / 2 - width / 2


def _branch_low(middle: np.ndarray, degrees: bool) -> float | None:
    """The Euler branch the data's middle angles lie on, as the low end of their half circle:
    -90 (principal, |b| <= 90), +90 (the other, |b| >= 90 after wrapping) or None (both occur)."""
    quarter = _period(degrees) / 4
    m = np.abs(wrap_angle(middle, degrees=degrees))
    if np.all(m <= quarter):
        return -quarter
    if np.all(m >= quarter):
        return quarter
    return None


def _wrap_residuals(original: np.ndarray, decoded: np.ndarray, period: float) -> dict:
    """``{column: [[frame, k], ...]}`` where ``original - decoded`` is ``k`` whole periods (k != 0)."""
    k = np.round((original - decoded) / period)
    exact = np.abs(original - decoded - k * period) <= 1e-6 * max(1.0, period / 360)
    out = {}
    for col in np.flatnonzero(np.any((k != 0) & exact, axis=0)):
        rows = np.flatnonzero((k[:, col] != 0) & exact[:, col])
        out[str(col)] = [[int(t), int(k[t, col])] for t in rows]
    return out


def _apply_wraps(x: np.ndarray, wraps: dict | None, period: float) -> np.ndarray:
    for col, pairs in (wraps or {}).items():
        if pairs:
            rows, ks = np.asarray(pairs, dtype=np.int64).T
            x[rows, int(col)] += ks * period
    return x


def decode_euler(
    matrix: np.ndarray,
    order: str,
    *,
    degrees: bool = True,
    reference: np.ndarray | None = None,
    middle_low: float | None = None,
    lows: Sequence[float | None] | None = None,
) -> np.ndarray:
    """Rotation matrices ``(T, 3, 3)`` of one clip -> Euler angles ``(T, 3)`` chosen consistently over time.

    Branch: with ``middle_low`` -90 the principal one (middle angle in [-90, 90]), with +90 the other one
    (middle angle in [90, 270)); without it the one
    continuous with the previous frame, starting from the branch nearer ``reference`` (or the principal
    one). Multiples of 360: continuous across frames, frame 0 nearest ``reference``; then each angle with a
    ``lows[i]`` is wrapped into ``[lows[i], lows[i] + 360)``.
    """
    period = _period(degrees)
    half = period / 2
    p = matrix_to_euler(matrix, order, degrees=degrees)
    alt = euler_alternative(p, degrees=degrees)

    def dist(a, b):
        return np.abs(wrap_angle(a - b, degrees=degrees)).sum(axis=-1)

    if middle_low is not None:
        use_alt = np.mod(p[:, 1] - middle_low, period) >= half
    else:
        first = reference is not None and dist(alt[0], reference) < dist(p[0], reference)
        flips = dist(p[1:], p[:-1]) > dist(alt[1:], p[:-1])
        use_alt = np.concatenate([[False], np.cumsum(flips) % 2 == 1]) ^ first
    e = np.where(use_alt[:, None], alt, p)
    e = np.unwrap(e, period=period, axis=0)
    if reference is not None:
        e += period * np.round((np.asarray(reference, dtype=np.float64) - e[0]) / period)
    for i, low in enumerate(lows or ()):
        if low is not None:
            e[:, i] = wrap_angle(e[:, i], degrees=degrees, low=low)
    return e


def _to_heading(d: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """World steps ``d`` (T, 3) -> their ground part (T, 2) in the heading frames of angles ``yaw`` (T,)
    (radians): ``Ry(-yaw) d`` as (x, z)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * d[:, 0] - s * d[:, 2], s * d[:, 0] + c * d[:, 2]], axis=1)


class Step:
    """Base of the preprocessing steps: names bookkeeping, list handling, JSON state."""

    names_in: list[str] | None = None
    names_out: list[str] | None = None

    def fit(self, clips: Clips, names: Sequence[str]) -> Step:
        """Learn the step's state from ``clips`` whose columns are ``names``; returns self."""
        names = list(names)
        data, _ = _as_list(clips, len(names), type(self).__name__)
        self.names_in = names
        self.names_out = self._fit(data, names)
        return self

    def _fitted(self) -> None:
        if self.names_in is None:
            raise CRBMError(f"{type(self).__name__} is not fitted: call fit(clips, names) first")

    def transform(self, clips: Clips) -> Clips:
        """Clips in the input layout (``names_in``) -> clips in ``names_out``."""
        self._fitted()
        data, single = _as_list(clips, len(self.names_in), f"{type(self).__name__}.transform")
        out = [self._transform(c) for c in data]
        return out[0] if single else out

    def inverse_transform(self, clips: Clips, *, contexts: Sequence[dict | None] | None = None) -> Clips:
        """Clips in ``names_out`` -> clips in ``names_in``; ``contexts[i]`` (from :meth:`context`) makes
        clip i come back exactly where the rules alone cannot (see the module docstring)."""
        self._fitted()
        data, single = _as_list(clips, len(self.names_out), f"{type(self).__name__}.inverse_transform")
        if contexts is not None and len(contexts) != len(data):
            raise CRBMError(f"got {len(contexts)} contexts for {len(data)} clips")
        out = [self._inverse(c, None if contexts is None else contexts[i]) for i, c in enumerate(data)]
        return out[0] if single else out

    def fit_transform(self, clips: Clips, names: Sequence[str]) -> Clips:
        return self.fit(clips, names).transform(clips)

    def context(self, clip: np.ndarray) -> dict | None:
        """What one clip (input layout) needs, beyond the fitted state, to come back exactly; JSON-able."""
        return None

    def state_dict(self) -> dict:
        """The fitted state as JSON-able values."""
        self._fitted()
        return {"type": type(self).__name__, "names_in": self.names_in, "names_out": self.names_out,
                **self._state()}

    @classmethod
    def from_state(cls, state: dict) -> Step:
        """Rebuild a fitted step from :meth:`state_dict`."""
        if state.get("type") != cls.__name__:
            raise CRBMError(f"state is for {state.get('type')!r}, not {cls.__name__}")
        step = cls._from_state(state)
        step.names_in, step.names_out = list(state["names_in"]), list(state["names_out"])
        return step

    # subclasses implement these
    def _fit(self, clips: list[np.ndarray], names: list[str]) -> list[str]:
        raise NotImplementedError

    def _transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _inverse(self, y: np.ndarray, context: dict | None) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> dict:
        raise NotImplementedError

    @classmethod
    def _from_state(cls, state: dict) -> Step:
        raise NotImplementedError


class Downsample(Step):
    """Keep frames ``offset, offset + factor, ...`` (``factor=4``: 120 -> 30 fps, as in the papers).

    Not invertible: ``inverse_transform`` returns ``(T - 1) * factor + 1`` frames, linearly interpolated
    between the kept ones (which come back exactly). Interpolating Euler angles is only meaningful for
    unwrapped, smooth channels; for exact round trips leave this step out and downsample beforehand.
    """

    def __init__(self, factor: int = 4, *, offset: int = 0):
        if int(factor) != factor or factor < 1 or int(offset) != offset or not 0 <= offset < factor:
            raise CRBMError(f"Downsample needs an integer factor >= 1 and 0 <= offset < factor, "
                            f"got {factor}, {offset}")
        self.factor, self.offset = int(factor), int(offset)

    def _fit(self, clips, names):
        return names

    def _transform(self, x):
        return x[self.offset::self.factor].copy()

    def _inverse(self, y, context):
        t = np.arange((len(y) - 1) * self.factor + 1) / self.factor
        return np.stack([np.interp(t, np.arange(len(y)), y[:, c]) for c in range(y.shape[1])], axis=1)

    def _state(self):
        return {"factor": self.factor, "offset": self.offset}

    @classmethod
    def _from_state(cls, state):
        return cls(state["factor"], offset=state["offset"])


ROOT_FEATURES = ("vx", "vz", "dyaw", "height", "pitch", "roll")


class BodyCentredRoot(Step):
    """Taylor et al.'s body-centred root (Y up, ground plane x-z).

    The root rotation ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` splits into heading (yaw) and tilt. Per frame
    t the output has, in place of the 6 root channels, ``<root>.vx, .vz`` (ground displacement from frame
    t-1 to t, in the heading frame of t-1: ``Ry(-yaw_{t-1}) (p_t - p_{t-1})``), ``.dyaw`` (yaw change, in
    (-180, 180]), ``.height`` (root y), ``.pitch`` (in [-90, 90]), ``.roll`` (unwrapped across frames);
    frame 0 has zero displacement and yaw change.
    A rotation of the whole clip about the vertical, or a shift on the ground, leaves the output unchanged.

    The inverse integrates ``yaw_t = yaw_0 + sum dyaw`` and ``p_t = p_{t-1} + Ry(yaw_{t-1}) v_t`` from the
    clip's first root pose (its ``context``), or from the origin facing +z without one.

    position: the root's x, y, z channel names; rotation: its rotation channel names in composition order
    with ``order`` their axes (``euler_to_matrix(x[:, rotation], order)`` is the root rotation);
    :meth:`for_skeleton` fills these in.
    """

    features = ROOT_FEATURES  # names of the six output channels, after ``<root>.``

    def __init__(self, position: Sequence[str], rotation: Sequence[str], order: str, *, degrees: bool = True):
        if len(position) != 3 or len(rotation) != 3 or len(order) != 3:
            raise CRBMError(f"BodyCentredRoot needs 3 position and 3 rotation channels, "
                            f"got {position}, {rotation}")
        self.position, self.rotation, self.order = list(position), list(rotation), order.upper()
        self.degrees = bool(degrees)
        self.lows: list[float | None] = [None, None, None]

    @classmethod
    def for_skeleton(cls, skeleton: Skeleton) -> BodyCentredRoot:
        """The step for a skeleton's root (BVH or ASF); it must have 3 position and 3 rotation channels."""
        root = skeleton.joints[0]
        names = skeleton.channel_names[: len(root.channels)]
        kinds = [channel_kind(c) for c in root.channels]
        pos = {axis: n for (kind, axis), n in zip(kinds, names, strict=True) if kind == "position"}
        rot = rotation_channels(skeleton)
        if len(pos) != 3 or not rot or rot[0][0] != 0 or len(rot[0][1]) != 3:
            raise CRBMError(f"root {root.name!r} needs x, y, z position and 3 rotation channels for a "
                            f"body-centred representation, has {root.channels}")
        degrees = skeleton.kind == "bvh" or str(skeleton.units.get("angle", "deg")).lower().startswith("deg")
        rotation = [skeleton.channel_names[c] for c in rot[0][1]]
        return cls([pos["X"], pos["Y"], pos["Z"]], rotation, rot[0][2], degrees=degrees)

    def _columns(self, names):
        missing = [n for n in self.position + self.rotation if n not in names]
        if missing:
            raise CRBMError(f"BodyCentredRoot: channels {missing} are not among the input channels")
        return [names.index(n) for n in self.position], [names.index(n) for n in self.rotation]

    def _fit(self, clips, names):
        self._pos, self._rot = self._columns(names)
        angles = np.concatenate([c[:, self._rot] for c in clips])
        self.lows = [_centred_low(angles[:, i], _period(self.degrees)) for i in range(3)]
        first = min(self._pos + self._rot)
        root = self.position[0].rsplit(".", 1)[0]
        kept = [n for i, n in enumerate(names) if i not in self._pos + self._rot]
        at = sum(1 for i in range(first) if i not in self._pos + self._rot)
        return kept[:at] + [f"{root}.{f}" for f in self.features] + kept[at:]

    def _heading_tilt(self, x):
        r = euler_to_matrix(x[:, self._rot], self.order, degrees=self.degrees)
        return matrix_to_euler(r, "YXZ", degrees=self.degrees)  # yaw, pitch, roll

    def _transform(self, x):
        ypr = self._heading_tilt(x)
        yaw = ypr[:, 0]
        a = np.deg2rad(yaw) if self.degrees else yaw
        d = np.diff(x[:, self._pos], axis=0)
        feats = np.zeros((len(x), 6))
        feats[1:, :2] = _to_heading(d, a[:-1])
        feats[1:, 2] = wrap_angle(np.diff(yaw), degrees=self.degrees)
        feats[:, 3] = x[:, self._pos[1]]
        feats[:, 4] = ypr[:, 1]
        feats[:, 5] = np.unwrap(ypr[:, 2], period=_period(self.degrees))
        keep = [i for i in range(x.shape[1]) if i not in self._pos + self._rot]
        return self._assemble(x[:, keep], feats)

    def _assemble(self, rest, feats):
        i = self.names_out.index(f"{self.position[0].rsplit('.', 1)[0]}.{self.features[0]}")
        return np.concatenate([rest[:, :i], feats, rest[:, i:]], axis=1)

    def context(self, clip):
        self._fitted()
        x = np.asarray(clip, dtype=np.float64)
        start = x[0, self._pos + self._rot]
        back = self._inverse(self._transform(x), {"start": start.tolist()})
        wraps = _wrap_residuals(x[:, self._rot], back[:, self._rot], _period(self.degrees))
        return {"start": start.tolist(), "wraps": wraps}

    def _inverse(self, y, context):
        i = self.names_out.index(f"{self.position[0].rsplit('.', 1)[0]}.{self.features[0]}")
        feats, rest = y[:, i:i + 6], np.concatenate([y[:, :i], y[:, i + 6:]], axis=1)
        start = np.zeros(6) if context is None else np.asarray(context["start"], dtype=np.float64)
        r0 = euler_to_matrix(start[3:], self.order, degrees=self.degrees)
        yaw0 = matrix_to_euler(r0, "YXZ", degrees=self.degrees)[0]
        dyaw = np.concatenate([[0.0], feats[1:, 2]])
        yaw = yaw0 + np.cumsum(dyaw)
        a = np.deg2rad(yaw) if self.degrees else yaw
        c, s = np.cos(a[:-1]), np.sin(a[:-1])
        dx = c * feats[1:, 0] + s * feats[1:, 1]
        dz = -s * feats[1:, 0] + c * feats[1:, 1]
        x = np.empty((len(y), len(self.names_in)))
        x[:, self._pos[0]] = start[0] + np.concatenate([[0.0], np.cumsum(dx)])
        x[:, self._pos[1]] = feats[:, 3]
        x[:, self._pos[2]] = start[2] + np.concatenate([[0.0], np.cumsum(dz)])
        r = euler_to_matrix(np.stack([yaw, feats[:, 4], feats[:, 5]], -1), "YXZ", degrees=self.degrees)
        ref = start[3:] if context is not None else None
        angles = decode_euler(r, self.order, degrees=self.degrees, reference=ref, lows=self.lows)
        if context is not None:
            angles = _apply_wraps(angles, context.get("wraps"), _period(self.degrees))
        x[:, self._rot] = angles
        keep = [k for k in range(x.shape[1]) if k not in self._pos + self._rot]
        x[:, keep] = rest
        return x

    def _state(self):
        return {"position": self.position, "rotation": self.rotation, "order": self.order,
                "degrees": self.degrees, "lows": self.lows}

    @classmethod
    def _from_state(cls, state):
        step = cls(state["position"], state["rotation"], state["order"], degrees=state["degrees"])
        step.lows = list(state["lows"])
        step._pos, step._rot = step._columns(list(state["names_in"]))
        return step


def _check_skeleton_channels(step: Step, names: Sequence[str]) -> None:
    """A step that runs forward kinematics needs its skeleton's channels first among its input channels."""
    sk = step.skeleton
    if sk is None or list(names)[: len(sk.channel_names)] != list(sk.channel_names):
        kind = type(step).__name__
        raise CRBMError(f"{kind}: the input channels must begin with its skeleton's own "
                        f"(build it with {kind}.for_skeleton)")


def foot_offsets(skeleton: Skeleton, x: np.ndarray, position: Sequence[int]) -> np.ndarray:
    """``(T, 2, 3)``: the feet of ``crbm.mocap.realism.feet`` relative to the root (world axes), by forward
    kinematics of frames ``x`` whose first columns are ``skeleton``'s channels (any others are ignored) with
    the root's position columns ``position`` set to 0."""
    from crbm.mocap.realism import feet  # realism reads clips through modules that need this one's neighbours

    frames = np.array(x[:, : len(skeleton.channel_names)], dtype=np.float64)
    frames[:, list(position)] = 0.0
    motion = Motion(skeleton, frames, 1.0)
    return joint_positions(motion, end_sites=True)[:, list(feet(motion))]


class PlantedFootRoot(BodyCentredRoot):
    """:class:`BodyCentredRoot` with the ground step carried by the lower foot instead of the root: in place
    of ``vx, vz`` the channels ``<root>.fx, .fz`` are the ground displacement, in the heading frame of t-1,
    of the foot lower over frames t-1 and t (the sum of its heights over the two frames, relative to the
    root):

        (fx_t, fz_t) = Ry(-yaw_{t-1}) (q_t - q_{t-1}),   q = that foot's world position (forward kinematics)

    A planted foot gives ``(0, 0)`` whatever the body does, so a model expresses a foot that does not skate
    by its most common value rather than by matching the root's speed to the legs' swing. The inverse takes
    the root along: ``p_t = p_{t-1} + Ry(yaw_{t-1}) f_t - (o_t - o_{t-1})`` with ``o`` that foot's offset from
    the root (world axes), which the pose alone gives. It is exact for any clip. Feet: the lowest rest-pose
    point on each side of the root (``crbm.mocap.realism.feet``).

    :meth:`for_skeleton` fills in the channels and keeps the skeleton (forward kinematics needs it); the
    input channels must be the skeleton's own.
    """

    features = ("fx", "fz", *ROOT_FEATURES[2:])

    def __init__(self, position: Sequence[str], rotation: Sequence[str], order: str, *, degrees: bool = True,
                 skeleton: Skeleton | None = None):
        super().__init__(position, rotation, order, degrees=degrees)
        self.skeleton = skeleton

    @classmethod
    def for_skeleton(cls, skeleton: Skeleton) -> PlantedFootRoot:
        step = super().for_skeleton(skeleton)
        step.skeleton = skeleton
        return step

    def _fit(self, clips, names):
        _check_skeleton_channels(self, names)
        return super()._fit(clips, names)

    def _foot_offsets(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The feet's offsets from the root (world axes), (T, 2, 3), and the lower foot of each step from frame
        t-1 to t, (T - 1,) (0 or 1: the order of ``crbm.mocap.realism.feet``), of input frames ``x``."""
        offsets = foot_offsets(self.skeleton, x, self._pos)
        height = offsets[:, :, 1]
        return offsets, np.argmin(height[:-1] + height[1:], axis=1)

    def lower_feet(self, x: np.ndarray) -> np.ndarray:
        """(T - 1,): which foot (0 or 1, as ``crbm.mocap.realism.feet``) carries each step of input frames ``x``."""
        self._fitted()
        return self._foot_offsets(x)[1]

    def _foot_steps(self, x: np.ndarray) -> np.ndarray:
        """(T - 1, 3): from frame t-1 to t, the change of the lower foot's offset from the root (world axes)."""
        offsets, lower = self._foot_offsets(x)
        rows = np.arange(len(lower))
        return offsets[1:][rows, lower] - offsets[:-1][rows, lower]

    def _transform(self, x):
        y = super()._transform(x)
        yaw = self._heading_tilt(x)[:, 0]
        i = self.names_out.index(f"{self.position[0].rsplit('.', 1)[0]}.{self.features[0]}")
        y[1:, i:i + 2] += _to_heading(self._foot_steps(x), np.deg2rad(yaw[:-1]) if self.degrees else yaw[:-1])
        return y

    def _inverse(self, y, context):
        x = super()._inverse(y, context)  # the root integrated as if it were the foot
        steps = np.cumsum(self._foot_steps(x), axis=0)
        x[1:, self._pos[0]] -= steps[:, 0]
        x[1:, self._pos[2]] -= steps[:, 2]
        return x

    def _state(self):
        return {**super()._state(), "skeleton": self.skeleton.to_dict()}

    @classmethod
    def _from_state(cls, state):
        step = super()._from_state(state)
        step.skeleton = Skeleton.from_dict(state["skeleton"])
        return step


class FootContacts(Step):
    """Foot-contact channels beside the pose, so that a model learns (and generates) when each foot is planted.

    Appended after the input channels: ``<foot>.contact`` for each foot of ``crbm.mocap.realism.feet``, 1 on
    a frame where the foot is in stance by ``crbm.mocap.realism.contacts`` (within ``height_tol`` cm of its
    floor, the clip's 5th-percentile height, and slower over the ground than the root on average), else 0.

    The inverse drops them. With ``pin`` it first takes the root's ground path from them: on the step from
    frame t-1 to t where a contact is on at t (value above 1/2; of two, the larger), that foot ``f`` does not
    move over the ground, ``p_t - p_{t-1} = -(o_t - o_{t-1})`` in x and z with ``o`` the foot's offset from
    the root (:func:`foot_offsets`); every other step keeps the root's own. The pose, heading and height are
    unchanged. Without ``pin`` the inverse is exact; with it a real clip comes back with its stance feet held
    still. The input channels must begin with the skeleton's own (:meth:`for_skeleton`).
    """

    def __init__(self, skeleton: Skeleton, *, height_tol: float = 5.0, pin: bool = True):
        if not (np.isfinite(height_tol) and height_tol > 0):
            raise CRBMError(f"FootContacts needs a positive height tolerance in cm, got {height_tol!r}")
        self.skeleton, self.height_tol, self.pin = skeleton, float(height_tol), bool(pin)

    @classmethod
    def for_skeleton(cls, skeleton: Skeleton, **kw) -> FootContacts:
        """The step for a skeleton whose root has x, y, z position channels (``BodyCentredRoot.for_skeleton``'s)."""
        BodyCentredRoot.for_skeleton(skeleton)  # the root's channels are checked there
        return cls(skeleton, **kw)

    def _position(self) -> list[int]:
        return [self.names_in.index(n) for n in BodyCentredRoot.for_skeleton(self.skeleton).position]

    def _fit(self, clips, names):
        from crbm.mocap.realism import feet

        _check_skeleton_channels(self, names)
        motion = Motion(self.skeleton, np.zeros((1, len(self.skeleton.channel_names))), 1.0)
        rows = position_names(self.skeleton, end_sites=True)
        return list(names) + [f"{rows[f]}.contact" for f in feet(motion)]

    def _transform(self, x):
        from crbm.mocap.realism import contacts

        n = len(self.skeleton.channel_names)
        flags = contacts(Motion(self.skeleton, x[:, :n], 1.0), height_tol=self.height_tol)
        return np.concatenate([x, flags.astype(np.float64)], axis=1)

    def _inverse(self, y, context):
        x, c = y[:, :-2].copy(), y[:, -2:]
        if not self.pin or len(y) < 2:
            return x
        pos = self._position()
        offsets = foot_offsets(self.skeleton, x, pos)  # (T, 2, 3)
        steps = np.diff(x[:, pos], axis=0)  # the root's own, world axes
        foot = np.argmax(c, axis=1)
        t = np.flatnonzero(c[1:].max(axis=1) > 0.5) + 1  # frames whose step is the planted foot's
        steps[t - 1] = offsets[t - 1, foot[t]] - offsets[t, foot[t]]
        x[1:, pos[0]] = x[0, pos[0]] + np.cumsum(steps[:, 0])
        x[1:, pos[2]] = x[0, pos[2]] + np.cumsum(steps[:, 2])
        return x

    def _state(self):
        return {"skeleton": self.skeleton.to_dict(), "height_tol": self.height_tol, "pin": self.pin}

    @classmethod
    def _from_state(cls, state):
        return cls(Skeleton.from_dict(state["skeleton"]), height_tol=state["height_tol"], pin=state["pin"])


class JointAngles(Step):
    """Joint rotations as exponential maps or unwrapped Euler angles.

    joints: ``{joint: (channel names in composition order, order)}`` for every joint with rotation channels
    (``euler_to_matrix(x[:, names], order)`` is its rotation); :meth:`for_skeleton` fills it in.
    representation: ``"expmap"``: each 3-channel joint becomes ``<joint>.ex, .ey, .ez`` (radians, continuous
    across frames), placed where its first channel was; joints with 1 or 2 rotation channels keep their Euler
    values. ``"euler"``: every joint keeps its Euler values. Euler values are unwrapped across frames (no
    360-degree jumps); the inverse wraps each angle back into a 360-degree window centred on its training
    range (none if that range spans 360 or more).
    """

    def __init__(self, joints: dict, *, representation: str = "expmap", degrees: bool = True):
        if representation not in ("expmap", "euler"):
            raise CRBMError(f"representation must be 'expmap' or 'euler', got {representation!r}")
        self.joints = {j: (list(n), o.upper()) for j, (n, o) in joints.items()}
        self.representation, self.degrees = representation, bool(degrees)
        self.lows: dict[str, float | None] = {}
        self.middle_lows: dict[str, float | None] = {}

    @classmethod
    def for_skeleton(cls, skeleton: Skeleton, *, representation: str = "expmap",
                     include_root: bool = False) -> JointAngles:
        """The step for every joint of ``skeleton`` with rotation channels (the root only if asked)."""
        names = skeleton.channel_names
        joints = {skeleton.joints[j].name: ([names[c] for c in cols], order)
                  for j, cols, order in rotation_channels(skeleton) if include_root or j != 0}
        degrees = skeleton.kind == "bvh" or str(skeleton.units.get("angle", "deg")).lower().startswith("deg")
        return cls(joints, representation=representation, degrees=degrees)

    def _as_expmap(self, joint):
        return self.representation == "expmap" and len(self.joints[joint][0]) == 3

    def _fit(self, clips, names):
        missing = [n for chans, _ in self.joints.values() for n in chans if n not in names]
        if missing:
            raise CRBMError(f"JointAngles: channels {missing} are not among the input channels")
        data = np.concatenate(clips)
        period = _period(self.degrees)
        self.lows, self.middle_lows = {}, {}
        for joint, (chans, _) in self.joints.items():
            for n in chans:
                self.lows[n] = _centred_low(data[:, names.index(n)], period)
            if self._as_expmap(joint):
                self.middle_lows[joint] = _branch_low(data[:, names.index(chans[1])], self.degrees)
        out = list(names)
        for joint, (chans, _) in self.joints.items():
            if self._as_expmap(joint):
                first = min(out.index(n) for n in chans)
                out = [n for n in out if n not in chans]
                out[first:first] = [f"{joint}.ex", f"{joint}.ey", f"{joint}.ez"]
        return out

    def _transform(self, x):
        src = self.names_in
        out = np.empty((len(x), len(self.names_out)))
        period = _period(self.degrees)
        done = set()
        for joint, (chans, order) in self.joints.items():
            cols = [src.index(n) for n in chans]
            if self._as_expmap(joint):
                r = euler_to_matrix(x[:, cols], order, degrees=self.degrees)
                k = self.names_out.index(f"{joint}.ex")
                out[:, k:k + 3] = expmap_continuous(matrix_to_expmap(r))
            else:
                for n, c in zip(chans, cols, strict=True):
                    out[:, self.names_out.index(n)] = np.unwrap(x[:, c], period=period)
            done.update(chans)
        for c, n in enumerate(src):
            if n not in done:
                out[:, self.names_out.index(n)] = x[:, c]
        return out

    def context(self, clip):
        self._fitted()
        x = np.asarray(clip, dtype=np.float64)
        back = self._inverse(self._transform(x), None)
        return {"wraps": _wrap_residuals(x, back, _period(self.degrees))}

    def _inverse(self, y, context):
        src = self.names_in
        x = np.empty((len(y), len(src)))
        done = set()
        for joint, (chans, order) in self.joints.items():
            cols = [src.index(n) for n in chans]
            lows = [self.lows[n] for n in chans]
            if self._as_expmap(joint):
                k = self.names_out.index(f"{joint}.ex")
                r = expmap_to_matrix(y[:, k:k + 3])
                x[:, cols] = decode_euler(r, order, degrees=self.degrees, middle_low=self.middle_lows[joint],
                                          lows=lows)
            else:
                for n, c, low in zip(chans, cols, lows, strict=True):
                    v = y[:, self.names_out.index(n)]
                    x[:, c] = v if low is None else wrap_angle(v, degrees=self.degrees, low=low)
            done.update(chans)
        for c, n in enumerate(src):
            if n not in done:
                x[:, c] = y[:, self.names_out.index(n)]
        if context is not None:
            x = _apply_wraps(x, context.get("wraps"), _period(self.degrees))
        return x

    def _state(self):
        return {"joints": {j: [n, o] for j, (n, o) in self.joints.items()},
                "representation": self.representation, "degrees": self.degrees,
                "lows": self.lows, "middle_lows": self.middle_lows}

    @classmethod
    def _from_state(cls, state):
        step = cls({j: (n, o) for j, (n, o) in state["joints"].items()},
                   representation=state["representation"], degrees=state["degrees"])
        step.lows, step.middle_lows = dict(state["lows"]), dict(state["middle_lows"])
        return step


RATES = ("vx", "vz", "fx", "fz", "dyaw")  # root features that are rates already: kept by the time-dependent steps


def level_columns(names) -> list[int]:
    """Columns of ``names`` that are levels, not rates (everything but the root's ``RATES``)."""
    return [i for i, n in enumerate(names) if n.rsplit(".", 1)[-1] not in RATES]


class FrameDifferences(Step):
    """Channels as frame-to-frame differences ``d_t = x_t - x_{t-1}`` (``d_0 = 0``), named ``<channel>.d``,
    so that a model sees how the pose changes, not where it is: two subjects who hold an arm differently give
    the same input for the same movement. Channels that are rates already (the root's ``vx``, ``vz``,
    ``dyaw``) are kept as they are. The inverse integrates ``x_t = x_0 + d_1 + ... + d_t`` from the clip's first
    frame (its context) or, without one, from the training mean pose.
    """

    def __init__(self):
        self.start: dict[str, float] = {}

    def _fit(self, clips, names):
        data = np.concatenate(clips)
        cols = level_columns(names)
        self.start = {names[i]: float(data[:, i].mean()) for i in cols}
        return [f"{n}.d" if i in cols else n for i, n in enumerate(names)]

    def _transform(self, x):
        y = x.copy()
        cols = level_columns(self.names_in)
        y[:, cols] = np.diff(x[:, cols], axis=0, prepend=x[:1, cols])
        return y

    def context(self, clip):
        self._fitted()
        x = np.asarray(clip, dtype=np.float64)
        return {"start": x[0, level_columns(self.names_in)].tolist()}

    def _inverse(self, y, context):
        cols = level_columns(self.names_in)
        start = np.asarray([self.start[self.names_in[i]] for i in cols] if context is None else context["start"])
        first = y[:1].copy()
        first[0, cols] = start
        return np.concatenate([first, self.continue_inverse(y[None, 1:], start[None])[0]])

    def continue_inverse(self, d: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The inverse of a batch of continuations ``d`` (B, h, n_channels) of clips whose last frame before
        them had the values ``start`` (B, n_differenced): ``x = start + cumsum(d)``."""
        cols = level_columns(self.names_in)
        x = d.copy()
        x[:, :, cols] = start[:, None] + np.cumsum(d[:, :, cols], axis=1)
        return x

    def _state(self):
        return {"start": self.start}

    @classmethod
    def _from_state(cls, state):
        step = cls()
        step.start = dict(state["start"])
        return step


class RunningCentring(Step):
    """Each channel relative to the clip's own running mean: ``y_t = x_t - m_t`` with
    ``m_t = (c mu + x_0 + ... + x_{t-1}) / (c + t)``, ``mu`` the training mean and ``c = prior`` frames of
    weight on it (3 by default: the mean follows the clip within a few frames). The input then says how the
    pose differs from this clip's usual pose, which is the same for two subjects who hold a limb
    differently, and unlike frame differences it keeps the pull back towards that usual pose. Causal (frame
    t uses frames before it) and exactly invertible without any context: ``x_t = y_t + m_t`` frame by
    frame. Rates (the root's ``vx``, ``vz``, ``dyaw``) are kept as they are.
    """

    def __init__(self, *, prior: float = 3.0):
        if not (np.isfinite(prior) and prior > 0):
            raise CRBMError(f"RunningCentring needs a positive prior weight, got {prior!r}")
        self.prior = float(prior)
        self.mean: dict[str, float] = {}

    def _fit(self, clips, names):
        data = np.concatenate(clips)
        self.mean = {names[i]: float(data[:, i].mean()) for i in level_columns(names)}
        return [f"{n}.c" if n in self.mean else n for n in names]

    def running_means(self, x: np.ndarray) -> np.ndarray:
        """``m_t`` (T, n_centred) of frames ``x`` (T, n_channels) in the input layout."""
        cols = level_columns(self.names_in)
        mu = np.asarray([self.mean[self.names_in[i]] for i in cols])
        sums = np.concatenate([np.zeros((1, len(cols))), np.cumsum(x[:-1, cols], axis=0)])
        return (self.prior * mu + sums) / (self.prior + np.arange(len(x)))[:, None]

    def _transform(self, x):
        y = x.copy()
        y[:, level_columns(self.names_in)] -= self.running_means(x)
        return y

    def _inverse(self, y, context):
        cols = level_columns(self.names_in)
        total = self.prior * np.asarray([self.mean[self.names_in[i]] for i in cols])
        return self.continue_inverse(y[None], total[None], np.zeros(1))[0]

    def continue_inverse(self, y: np.ndarray, totals: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """The inverse of a batch of continuations ``y`` (B, h, n_channels) of clips of which ``seen[b]``
        frames came before, with ``totals[b] = c mu + x_0 + ...`` over them (B, n_centred)."""
        cols = level_columns(self.names_in)
        x, total = y.copy(), totals.copy()
        for t in range(y.shape[1]):
            x[:, t, cols] += total / (self.prior + seen + t)[:, None]
            total = total + x[:, t, cols]
        return x

    def _state(self):
        return {"prior": self.prior, "mean": self.mean}

    @classmethod
    def _from_state(cls, state):
        step = cls(prior=state["prior"])
        step.mean = dict(state["mean"])
        return step


class DropConstant(Step):
    """Drop channels whose values vary by at most ``atol`` over all training frames; the inverse puts back
    their mean (so it is exact to within ``atol``)."""

    def __init__(self, *, atol: float = 1e-12):
        self.atol = float(atol)
        self.constants: dict[str, float] = {}

    def _fit(self, clips, names):
        data = np.concatenate(clips)
        spread = data.max(axis=0) - data.min(axis=0)
        self.constants = {n: float(data[:, i].mean()) for i, n in enumerate(names) if spread[i] <= self.atol}
        return [n for n in names if n not in self.constants]

    def _transform(self, x):
        return x[:, [self.names_in.index(n) for n in self.names_out]].copy()

    def _inverse(self, y, context):
        x = np.empty((len(y), len(self.names_in)))
        x[:, [self.names_in.index(n) for n in self.names_out]] = y
        for n, v in self.constants.items():
            x[:, self.names_in.index(n)] = v
        return x

    def _state(self):
        return {"atol": self.atol, "constants": self.constants}

    @classmethod
    def _from_state(cls, state):
        step = cls(atol=state["atol"])
        step.constants = dict(state["constants"])
        return step


class ZScore(Step):
    """``(x - mean) / scale`` per channel over all training frames, ``scale = max(std, min_std)`` (population
    std); a channel with ``std <= eps`` and no floor is only centred (its scale is 1).

    min_std: floors by the end of the channel name (``{"ex": 0.017}`` applies to ``lfemur.ex``, ``{"ex.d": ...}``
    to ``lfemur.ex.d``; the longest matching end wins), so that a channel which barely moves in training does
    not amplify noise; channels not matched get no floor.
    """

    def __init__(self, *, eps: float = 1e-8, min_std: dict[str, float] | None = None):
        self.eps = float(eps)
        self.min_std = {str(k): float(v) for k, v in (min_std or {}).items()}
        self.mean: list[float] = []
        self.std: list[float] = []

    def _fit(self, clips, names):
        data = np.concatenate(clips)
        ends = sorted(self.min_std, key=len, reverse=True)
        floor = np.array([next((self.min_std[e] for e in ends if n.endswith("." + e)), 0.0) for n in names])
        std = np.maximum(data.std(axis=0), floor)
        self.mean = data.mean(axis=0).tolist()
        self.std = np.where(std <= self.eps, 1.0, std).tolist()
        return names

    def _transform(self, x):
        return (x - np.asarray(self.mean)) / np.asarray(self.std)

    def _inverse(self, y, context):
        return y * np.asarray(self.std) + np.asarray(self.mean)

    def _state(self):
        return {"eps": self.eps, "min_std": self.min_std, "mean": self.mean, "std": self.std}

    @classmethod
    def _from_state(cls, state):
        step = cls(eps=state["eps"], min_std=state.get("min_std"))
        step.mean, step.std = [float(v) for v in state["mean"]], [float(v) for v in state["std"]]
        if not len(step.mean) == len(step.std) == len(state["names_in"]):
            raise CRBMError(f"ZScore state has {len(step.mean)} means and {len(step.std)} scales for "
                            f"{len(state['names_in'])} channels")
        return step


STEPS = {cls.__name__: cls for cls in (Downsample, BodyCentredRoot, PlantedFootRoot, FootContacts, JointAngles,
                                       FrameDifferences, RunningCentring, DropConstant, ZScore)}


def step_from_state(state: dict) -> Step:
    """Rebuild any fitted step (or a Pipeline) from its ``state_dict()``."""
    kind = state.get("type")
    if kind == "Pipeline":
        return Pipeline.from_state(state)
    if kind not in STEPS:
        raise CRBMError(f"unknown preprocessing step {kind!r}; known: {sorted(STEPS)} and 'Pipeline'")
    return STEPS[kind].from_state(state)


class Pipeline:
    """Steps applied in order; the inverse runs them backwards. Same interface as a step."""

    def __init__(self, steps: Sequence[Step]):
        self.steps = list(steps)

    @property
    def names_in(self) -> list[str] | None:
        return self.steps[0].names_in if self.steps else None

    @property
    def names_out(self) -> list[str] | None:
        return self.steps[-1].names_out if self.steps else None

    def fit(self, clips: Clips, names: Sequence[str]) -> Pipeline:
        data, _ = _as_list(clips, len(names), "Pipeline.fit")
        for step in self.steps:
            step.fit(data, names)
            data, names = step.transform(data), step.names_out
        return self

    def transform(self, clips: Clips) -> Clips:
        for step in self.steps:
            clips = step.transform(clips)
        return clips

    def fit_transform(self, clips: Clips, names: Sequence[str]) -> Clips:
        return self.fit(clips, names).transform(clips)

    def contexts(self, clips: Clips) -> list[list[dict | None]]:
        """Per clip, per step: what :meth:`inverse_transform` needs to give the clip back exactly."""
        data, _ = _as_list(clips, None, "Pipeline.contexts")
        out = [[] for _ in data]
        for step in self.steps:
            for i, c in enumerate(data):
                out[i].append(step.context(c))
            data = step.transform(data)
        return out

    def inverse_transform(self, clips: Clips, *,
                          contexts: Sequence[Sequence[dict | None]] | None = None) -> Clips:
        """Back to the input channels; ``contexts`` from :meth:`contexts` (one list per clip) or None."""
        data, single = _as_list(clips, None, "Pipeline.inverse_transform")
        if contexts is not None and len(contexts) != len(data):
            raise CRBMError(f"got {len(contexts)} contexts for {len(data)} clips")
        for k in range(len(self.steps) - 1, -1, -1):
            ctx = None if contexts is None else [c[k] for c in contexts]
            data = self.steps[k].inverse_transform(data, contexts=ctx)
        return data[0] if single else data

    def state_dict(self) -> dict:
        return {"type": "Pipeline", "steps": [s.state_dict() for s in self.steps]}

    @classmethod
    def from_state(cls, state: dict) -> Pipeline:
        if state.get("type") != "Pipeline":
            raise CRBMError(f"state is for {state.get('type')!r}, not Pipeline")
        return cls([step_from_state(s) for s in state["steps"]])


ROOTS = {"velocity": BodyCentredRoot, "foot": PlantedFootRoot}


def body_centred_pipeline(skeleton: Skeleton, *, representation: str = "expmap",
                          downsample: int = 1, differences: bool = False, centring: bool = False,
                          root: str = "velocity", contacts: bool = False,
                          min_std: dict[str, float] | None = None) -> Pipeline:
    """The usual chain for the motion models: [Downsample(downsample)], [FootContacts if ``contacts``],
    BodyCentredRoot (``root="velocity"``) or PlantedFootRoot (``root="foot"``), JointAngles
    (``representation``), [FrameDifferences if ``differences``], [RunningCentring if ``centring``],
    DropConstant, ZScore (floors ``min_std``)."""
    if root not in ROOTS:
        raise CRBMError(f"root must be one of {list(ROOTS)}, got {root!r}")
    steps: list[Step] = [Downsample(downsample)] if downsample > 1 else []
    steps += [FootContacts.for_skeleton(skeleton)] if contacts else []
    steps += [ROOTS[root].for_skeleton(skeleton), JointAngles.for_skeleton(skeleton, representation=representation)]
    steps += [FrameDifferences()] if differences else []
    steps += [RunningCentring()] if centring else []
    steps += [DropConstant(), ZScore(min_std=min_std)]
    return Pipeline(steps)
