"""Unit families: how a layer's states depend on its pre-activation.

A unit family is a small stateless object. For a layer of units with total input ``pre`` (shape
``(batch, n)``) it gives the conditional mean and a sample of the states, and the layer's log-partition

    log_partition(pre) = sum over units of  log sum_x exp(x * pre - phi(x))   -> shape (batch,)

where ``phi`` is the family's base energy (0 for binary units, x^2/2 for unit-variance Gaussian units).
That is all a hidden layer contributes to the free energy of any pairing:

    F(v) = self_energy(v) - log_partition(c + W^T (v / sigma))

As a visible layer, a family also gives ``self_energy(v, bias, sigma)`` (the energy terms that involve the
visible states alone) and ``base_log_partition(bias, sigma)`` (log of the sum / integral of
exp(-self_energy) over all visible states; the log Z of a model with W = 0, used by AIS).

Gaussian visibles follow the convention
``E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - c.h - sum_ij (v_i / sigma_i) W_ij h_j``, so the statistic
that meets the weights is ``v / sigma`` and ``p(v_i | h) = N(b_i + sigma_i (W h)_i, sigma_i^2)``.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from crbm.engine.checks import value_range
from crbm.engine.errors import CRBMError
from crbm.engine.noise import Generator, categorical, normal, torch_generator, uniform, uniform_

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Units:
    """Base class; subclasses override what differs."""

    name = "units"
    #: states are discrete and finite, so a small layer can be enumerated exactly
    enumerable = False
    #: visible units that carry a per-unit standard deviation
    has_sigma = False

    def mean(self, pre: Tensor) -> Tensor:
        """E[x | pre], shape like ``pre``."""
        raise NotImplementedError

    def sample(self, pre: Tensor, *, generator: Generator, sigma: Tensor | None = None) -> Tensor:
        """One draw of x ~ p(x | pre), shape like ``pre``: ``sample_from(pre, noise(pre.shape, ...))``."""
        return self.sample_from(pre, self.noise(pre.shape, generator, pre), sigma=sigma)

    def sample_with_mean(self, pre: Tensor, *, generator: Generator) -> tuple[Tensor, Tensor]:
        """(``sample(pre)``, ``mean(pre)``) from one computation where the family shares them (the same numbers
        as the two calls in turn)."""
        return self.sample(pre, generator=generator), self.mean(pre)

    def noise(self, shape: torch.Size, generator: Generator, like: Tensor, *, out: Tensor | None = None) -> Tensor:
        """The random numbers that draws of ``shape`` consume, from ``crbm.engine.noise`` (one per unit: U(0, 1) by
        default). A leading extra dimension draws several rounds at once, in the order of one round at a time.
        ``out``: a buffer of ``shape`` the draw may be written into (a ``torch.Generator`` then), to reuse it."""
        return uniform(shape, generator, like) if out is None else uniform_(out, generator)

    def sample_from(
        self, pre: Tensor, noise: Tensor, *, sigma: Tensor | None = None, out: Tensor | None = None
    ) -> Tensor:
        """The draw of p(x | pre) that ``noise`` (from ``self.noise``) makes, shape like ``pre`` (written into
        ``out`` when given)."""
        raise CRBMError(f"{self.name} units are sampled by sample(), not from per-unit noise")

    def thresholds(self, noise: Tensor) -> Tensor | None:
        """For families whose draw is a step of the input, x = 1{t < pre}: ``noise`` (from ``self.noise``) turned
        into those thresholds t, in place, so that each later draw is the one comparison ``torch.lt(t, pre)``
        instead of a mean and a comparison (the same draws). None, with ``noise`` untouched, otherwise."""
        return None

    def log_partition(self, pre: Tensor) -> Tensor:
        """sum_units log sum_x exp(x * pre - phi(x)), shape ``(batch,)``."""
        raise NotImplementedError

    def self_energy(self, v: Tensor, bias: Tensor, sigma: Tensor | None = None) -> Tensor:
        """Energy terms of the visible states alone (default ``-bias . v``), shape ``(batch,)``."""
        return -(v * bias).sum(-1)

    def base_log_partition(self, bias: Tensor, sigma: Tensor | None = None) -> Tensor:
        """log sum_v exp(-self_energy(v, bias)) over every visible state; ``bias`` (n,) -> scalar."""
        raise CRBMError(f"{self.name} units have no closed-form base partition function")

    def visible_log_partition(self, bias: Tensor, wh: Tensor, sigma: Tensor | None = None) -> Tensor:
        """log sum_v exp(-self_energy(v; bias) + (v / sigma) . wh) for each row of ``wh`` (rows, n) -> (rows,):
        the visible layer summed out given the input ``wh`` = W h from the hidden layer. Discrete families:
        ``log_partition(bias + wh)``."""
        if not self.enumerable:
            raise CRBMError(f"exact log Z is not available for {self.name} visible units")
        return self.log_partition(bias + wh)

    def hidden_bias_scale(self, v: Tensor) -> Tensor | None:
        """Per-example factor on the hidden biases (document length for replicated softmax), or None."""
        return None

    def states(self, n: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
        """Every joint state of ``n`` units, shape ``(n_states, n)`` (enumerable families only)."""
        raise CRBMError(f"{self.name} units cannot be enumerated")

    def validate(self, x: Tensor, what: str) -> None:
        """Raise CRBMError when ``x`` holds values these units cannot take."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Bernoulli(Units):
    """Binary units: p(x=1 | pre) = sigmoid(pre)."""

    name = "bernoulli"
    enumerable = True

    def mean(self, pre):
        return torch.sigmoid(pre)

    def sample_from(self, pre, noise, *, sigma=None, out=None):
        # x = 1.0 where u < sigmoid(pre), else 0.0, in place (no boolean temporary)
        p = torch.sigmoid(pre, out=out)
        return torch.lt(noise, p, out=p)

    def thresholds(self, noise):
        return torch.logit_(noise)  # u < sigmoid(pre) exactly when logit(u) < pre

    def sample_with_mean(self, pre, *, generator):
        p = torch.sigmoid(pre)  # one sigmoid for both; the draw goes into its noise's buffer
        noise = self.noise(pre.shape, generator, pre)
        return torch.lt(noise, p, out=noise), p

    def log_partition(self, pre):
        return F.softplus(pre).sum(-1)

    def base_log_partition(self, bias, sigma=None):
        return F.softplus(bias).sum()

    def states(self, n, *, dtype, device):
        if n > 25:
            raise CRBMError(f"refusing to enumerate 2^{n} binary states; exact evaluation allows at most 25 units")
        codes = torch.arange(2**n, device=device).unsqueeze(1)
        return ((codes >> torch.arange(n, device=device)) & 1).to(dtype)

    def validate(self, x, what):
        lo, hi = value_range(x)  # (a NaN makes both NaN: refused)
        if not (lo >= 0 and hi <= 1):
            raise CRBMError(f"{what}: Bernoulli units take values in [0, 1]; got values outside that range")


class Gaussian(Units):
    """Real-valued units. Visible: p(v | h) = N(pre, sigma^2) with ``pre = b + sigma W h`` (the mean);
    hidden: unit variance, p(h | v) = N(pre, 1) (the linear code units of Hinton & Salakhutdinov 2006)."""

    name = "gaussian"
    has_sigma = True

    def mean(self, pre):
        return pre

    def noise(self, shape, generator, like, *, out=None):
        return normal(shape, generator, like)

    def sample_from(self, pre, noise, *, sigma=None, out=None):
        return torch.add(pre, noise if sigma is None else sigma * noise, out=out)

    def log_partition(self, pre):
        # log integral exp(h * pre - h^2 / 2) dh for unit-variance hidden units
        return (0.5 * pre.square() + _HALF_LOG_2PI).sum(-1)

    def self_energy(self, v, bias, sigma=None):
        d = v - bias
        if sigma is not None:
            d = d / sigma
        return 0.5 * d.square().sum(-1)

    def visible_log_partition(self, bias, wh, sigma=None):
        # integral over v of exp(-(v - b)^2 / (2 s^2) + v w / s) = s sqrt(2 pi) exp(b w / s + w^2 / 2)
        s = bias.new_ones(()) if sigma is None else sigma
        return (bias * wh / s + 0.5 * wh.square() + torch.log(s) + _HALF_LOG_2PI).sum(-1)

    def base_log_partition(self, bias, sigma=None):
        log_sigma = bias.new_zeros(bias.shape) if sigma is None else torch.log(sigma).expand(bias.shape)
        return (log_sigma + _HALF_LOG_2PI).sum()


class Softmax(Units):
    """Groups of ``group`` units of which exactly one is on (one-hot); ``group=None`` makes the whole layer
    one group. p(x_k = 1 | pre) = softmax(pre over the group)_k."""

    name = "softmax"
    enumerable = True

    def __init__(self, group: int | None = None):
        if group is not None and (not isinstance(group, int) or group < 2):
            raise CRBMError(f"softmax group size must be an integer >= 2, got {group!r}")
        self.group = group

    def _grouped(self, pre: Tensor) -> Tensor:
        k = self.group or pre.shape[-1]
        if pre.shape[-1] % k:
            raise CRBMError(f"softmax layer of {pre.shape[-1]} units does not split into groups of {k}")
        return pre.reshape(*pre.shape[:-1], pre.shape[-1] // k, k)

    def mean(self, pre):
        return torch.softmax(self._grouped(pre), -1).reshape(pre.shape)

    def sample(self, pre, *, generator, sigma=None):
        p = torch.softmax(self._grouped(pre), -1)  # (batch, groups, k)
        idx = categorical(p, generator).unsqueeze(-1)
        return torch.zeros_like(p).scatter_(-1, idx, 1.0).reshape(pre.shape)

    def log_partition(self, pre):
        return torch.logsumexp(self._grouped(pre), -1).sum(-1)

    def base_log_partition(self, bias, sigma=None):
        return torch.logsumexp(self._grouped(bias), -1).sum()

    def states(self, n, *, dtype, device):
        k = self.group or n
        if n % k:
            raise CRBMError(f"softmax layer of {n} units does not split into groups of {k}")
        if (n // k) * math.log2(k) > 25:
            raise CRBMError(f"refusing to enumerate {k}^{n // k} softmax states; at most 2^25 are allowed")
        eye = torch.eye(k, dtype=dtype, device=device)
        rows = [torch.cat(combo) for combo in itertools.product(eye, repeat=n // k)]
        return torch.stack(rows)

    def validate(self, x, what):
        s = self._grouped(x).sum(-1)
        if not bool(((x >= 0).all()) and torch.allclose(s, torch.ones_like(s))):
            raise CRBMError(f"{what}: softmax units need non-negative values summing to 1 in each group")

    def __repr__(self):
        return f"Softmax(group={self.group})"


class ReplicatedSoftmax(Units):
    """Word counts (Salakhutdinov & Hinton 2009): a document of N words is N draws from one softmax.

    ``v`` holds the counts n_k; the hidden biases are multiplied by N = sum_k n_k (``hidden_bias_scale``);
    p(word | h) = softmax(b + W h) and a visible sample redraws the same number of words."""

    name = "replicated_softmax"

    def mean(self, pre):
        return torch.softmax(pre, -1)

    def sample(self, pre, *, generator, sigma=None, counts: Tensor | None = None):
        """Draws ``counts`` (batch,) words per row; ``counts`` must be given (the document lengths)."""
        if counts is None:
            raise CRBMError("replicated softmax sampling needs the document lengths (counts=)")
        lengths = counts.round().long()
        n_max = int(lengths.max()) if lengths.numel() else 0
        out = torch.zeros_like(pre)
        if n_max == 0:
            return out
        probs = torch.softmax(pre, -1)
        words = torch.multinomial(probs, n_max, replacement=True, generator=torch_generator(generator))
        keep = torch.arange(n_max, device=pre.device) < lengths.unsqueeze(1)
        return out.scatter_add_(1, words, keep.to(pre.dtype))

    def log_partition(self, pre):
        raise CRBMError("replicated softmax units are visible-only")

    def hidden_bias_scale(self, v):
        return v.sum(-1, keepdim=True)

    def validate(self, x, what):
        if not bool((x >= 0).all() and (x == x.round()).all()):
            raise CRBMError(f"{what}: replicated softmax units take word counts (non-negative integers)")


class ReLU(Units):
    """Noisy rectified linear units (Nair & Hinton 2010): infinitely many copies of a binary unit with
    shared weights and bias offsets -0.5, -1.5, -2.5, ... (a "stepped sigmoid unit").

    log_partition sums softplus(pre - k + 1/2) over k = 1, 2, ... exactly: the terms with pre - k + 1/2 far
    above 0 are summed in closed form and a window of 81 terms around ``pre`` is added explicitly (the rest
    are below e^-40). ``mean`` is its derivative; ``sample`` is the paper's fast approximation
    max(0, pre + N(0, sigmoid(pre)))."""

    name = "relu"
    _WINDOW = 40

    def _window(self, pre: Tensor) -> tuple[Tensor, Tensor]:
        m = torch.floor(pre + 0.5).clamp(min=0)  # copies with pre - k + 1/2 >= 0: k = 1..m
        ks = torch.arange(-self._WINDOW, self._WINDOW + 1, dtype=pre.dtype, device=pre.device)
        k = m.unsqueeze(-1) + ks  # (..., 81)
        y = pre.unsqueeze(-1) - k + 0.5
        return m, torch.where(k >= 1, y, torch.full_like(y, -torch.inf))

    def mean(self, pre):
        _, y = self._window(pre)
        below = (torch.floor(pre + 0.5).clamp(min=0) - self._WINDOW - 1).clamp(min=0)
        return below + torch.sigmoid(y).sum(-1)

    def noise(self, shape, generator, like, *, out=None):
        return normal(shape, generator, like)

    def sample_from(self, pre, noise, *, sigma=None, out=None):
        return torch.clamp(pre + noise * torch.sigmoid(pre).sqrt(), min=0, out=out)

    def log_partition(self, pre):
        m, y = self._window(pre)
        # sum_{k=1..m} (pre - k + 1/2) + sum_k softplus(-|pre - k + 1/2|)  [softplus(y) = relu(y) + softplus(-|y|)]
        linear = m * (pre + 0.5) - m * (m + 1) / 2
        # terms k <= m - WINDOW - 1 contribute softplus(-|y|) < e^-40: dropped
        return (linear + F.softplus(-y.abs()).sum(-1)).sum(-1)

    def self_energy(self, v, bias, sigma=None):
        raise CRBMError("relu units are hidden-only")


class Concat(Units):
    """A layer made of consecutive blocks of other families, e.g. ``Concat([(Bernoulli(), 500),
    (Softmax(), 10)])`` for a DBN's top-level RBM that joins the penultimate layer with label units."""

    name = "concat"

    def __init__(self, blocks: list[tuple[Units, int]]):
        if not blocks:
            raise CRBMError("Concat needs at least one (units, size) block")
        self.blocks = [(resolve_units(u), int(n)) for u, n in blocks]
        if any(u.has_sigma or isinstance(u, (ReplicatedSoftmax, Concat)) for u, _ in self.blocks):
            raise CRBMError("Concat blocks may be bernoulli, softmax or relu units")
        self.enumerable = all(u.enumerable for u, _ in self.blocks)
        self.size = sum(n for _, n in self.blocks)

    def _split(self, x: Tensor) -> list[Tensor]:
        if x.shape[-1] != self.size:
            raise CRBMError(f"Concat layer has {self.size} units, got a tensor with {x.shape[-1]}")
        return list(torch.split(x, [n for _, n in self.blocks], dim=-1))

    def mean(self, pre):
        return torch.cat([u.mean(p) for (u, _), p in zip(self.blocks, self._split(pre))], -1)

    def sample(self, pre, *, generator, sigma=None):
        return torch.cat([u.sample(p, generator=generator) for (u, _), p in zip(self.blocks, self._split(pre))], -1)

    def log_partition(self, pre):
        return sum(u.log_partition(p) for (u, _), p in zip(self.blocks, self._split(pre)))

    def base_log_partition(self, bias, sigma=None):
        return sum(u.base_log_partition(b) for (u, _), b in zip(self.blocks, self._split(bias)))

    def states(self, n, *, dtype, device):
        parts = [u.states(k, dtype=dtype, device=device) for u, k in self.blocks]
        total = math.prod(p.shape[0] for p in parts)
        if total > 2**25:
            raise CRBMError(f"refusing to enumerate {total} states; at most 2^25 are allowed")
        grids = torch.meshgrid(*[torch.arange(p.shape[0], device=device) for p in parts], indexing="ij")
        return torch.cat([p[g.reshape(-1)] for p, g in zip(parts, grids)], -1)

    def validate(self, x, what):
        for (u, _), part in zip(self.blocks, self._split(x)):
            u.validate(part, what)

    def __repr__(self):
        return f"Concat({self.blocks!r})"


UNITS: dict[str, type[Units]] = {
    "bernoulli": Bernoulli,
    "gaussian": Gaussian,
    "softmax": Softmax,
    "replicated_softmax": ReplicatedSoftmax,
    "relu": ReLU,
}


def resolve_units(spec: str | Units) -> Units:
    """A unit family from its name (``"bernoulli"``, ``"gaussian"``, ``"softmax"``, ``"replicated_softmax"``,
    ``"relu"``) or an instance."""
    if isinstance(spec, Units):
        return spec
    key = str(spec).lower().replace("-", "_")
    if key not in UNITS:
        raise CRBMError(f"unknown unit type {spec!r}; expected one of {sorted(UNITS)} or a Units instance")
    return UNITS[key]()


def units_to_json(u: Units) -> object:
    """A JSON-able description of a unit family (inverse: ``units_from_json``)."""
    if isinstance(u, Concat):
        return {"concat": [[units_to_json(b), n] for b, n in u.blocks]}
    if isinstance(u, Softmax) and u.group is not None:
        return {"softmax": u.group}
    return u.name


def units_from_json(obj: object) -> Units:
    if isinstance(obj, dict) and "concat" in obj:
        return Concat([(units_from_json(b), n) for b, n in obj["concat"]])
    if isinstance(obj, dict) and "softmax" in obj:
        return Softmax(group=int(obj["softmax"]))
    return resolve_units(obj)
