"""The one training loop for every model in the package.

A model plugs in through three methods:

    model.gradient(batch, config, *, state, generator) -> (directions, figures)
        ascent directions per parameter name (CD/PCD statistics, or minus a loss gradient) and scalar
        tensors to report; ``state`` is a dict of tensors the trainer keeps and checkpoints (PCD chains)
    model.decayed_parameters() -> names that weight decay applies to
    model.monitor(v) -> mean free energy of a batch (optional: the train/validation free-energy gap)

The trainer owns everything else: device, seed, mini-batches, the momentum update

    velocity <- momentum * velocity + lr * (direction - weight_decay * theta);  theta <- theta + velocity

learning-rate and momentum schedules, progress bar, per-epoch figures, callbacks, divergence checks,
atomic checkpoints and resume. Figures accumulate on the device and are read once per epoch.

Data-parallel training: when ``torch.distributed`` is initialised (``torchrun``), every process takes
its slice of each global mini-batch of ``batch_size * world_size`` rows, draws its random numbers through a
``ShardedGenerator`` (the same numbers one process would use on the combined batch), and the directions
are all-reduced (weighted by rows) before the identical update on every process. The result equals
single-process training with the combined batch size, up to floating-point summation order (a sparsity
target uses each shard's own mean activation).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from crbm.engine.checkpoint import load_checkpoint, save_checkpoint
from crbm.engine.checks import is_number, is_positive_int
from crbm.engine.distributed import mean_over_processes, place, sharded_gradient
from crbm.engine.errors import CRBMError, DivergenceError
from crbm.engine.precision import MATMUL_PRECISIONS, set_matmul_precision
from crbm.engine.progress import figures_line, progress_bar
from crbm.engine.rbm import check_device
from crbm.engine.threads import step_work, use_threads

LINE_SECONDS = 30.0  # without a progress bar, verbose runs print the figures at most this often
_SCHEDULE = ("epoch", "lr", "momentum", "seconds")  # per-epoch entries that are settings or timing, not figures

LR_SCHEDULES: dict[str, Callable[[float, float], float]] = {
    # progress in [0, 1) and the final fraction -> multiplier of the learning rate
    "constant": lambda t, final: 1.0,
    "linear": lambda t, final: 1.0 + (final - 1.0) * t,
    "exponential": lambda t, final: final**t,
    "cosine": lambda t, final: final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t)),
}


@dataclass(frozen=True)
class SamplerConfig:
    """How a model draws the negative statistics of its gradient (CD-k / PCD-k) and its sparsity penalty;
    the models read these, the trainer does not."""

    k: int = 1  # Gibbs steps of CD-k / PCD-k
    persistent: bool = False  # PCD (persistent chains) instead of CD
    n_chains: int | None = None  # PCD chains (default: the batch size)
    mean_visible: bool = True  # CD reconstructions use E[v|h] instead of a draw
    sparsity_target: float | None = None  # target mean hidden activation
    sparsity_cost: float = 0.0

    def __post_init__(self) -> None:
        _check_fields("SamplerConfig", self, _sampler_checks(self))


def _sampler_checks(s) -> list[tuple[str, bool, str]]:
    """(setting, valid, what is expected) for the sampler's settings of ``s`` (a SamplerConfig or the keywords
    given to TrainConfig)."""
    return [
        ("k", is_positive_int(s.k), "a positive integer"),
        ("n_chains", s.n_chains is None or is_positive_int(s.n_chains), "None or a positive integer"),
        ("sparsity_cost", is_number(s.sparsity_cost) and s.sparsity_cost >= 0, "a finite number >= 0"),
        ("sparsity_target", s.sparsity_target is None or (is_number(s.sparsity_target) and 0 < s.sparsity_target < 1),
         "in (0, 1)"),
    ]


SAMPLER_SETTINGS = tuple(f.name for f in dataclasses.fields(SamplerConfig))


def _check_fields(owner: str, config, checks: list[tuple[str, bool, str]]) -> None:
    """CRBMError ``<owner>.<field> must be <expected>, got <value>`` for the first failed check."""
    for name, ok, expected in checks:
        if not ok:
            raise CRBMError(f"{owner}.{name} must be {expected}, got {getattr(config, name)!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: Hinton's practical guide for binary RBMs): the optimiser's here, the
    sampler's in ``sampler`` (a ``SamplerConfig``). The sampler's settings are also accepted and read as
    keywords and attributes of their own: ``TrainConfig(k=3).k == TrainConfig(sampler=SamplerConfig(k=3)).k``."""

    epochs: int = 10  # passes over the data
    batch_size: int = 100  # examples per mini-batch
    learning_rate: float = 0.1  # step size on the averaged statistics
    lr_scale: Mapping[str, float] = field(default_factory=dict)  # per-parameter factor, e.g. {"A": 0.1}
    lr_schedule: str = "constant"  # one of LR_SCHEDULES
    lr_final: float = 1.0  # the schedule's final fraction of learning_rate
    momentum: float = 0.5  # momentum for the first `momentum_epochs` epochs
    final_momentum: float = 0.9  # momentum afterwards
    momentum_epochs: int = 5
    weight_decay: float = 2e-4  # L2 on weights only (model.decayed_parameters())
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # CD/PCD steps, chains, sparsity
    seed: int = 0  # every random draw of the run comes from this
    device: str | None = None  # None: cuda when available, else cpu
    shuffle: bool = True
    checkpoint: str | None = None  # path of the checkpoint written during training
    checkpoint_every: int = 1  # epochs between checkpoints
    checkpoint_every_steps: int | None = None  # also checkpoint every this many mini-batches (exact mid-epoch resume)
    explode_factor: float = 1e3  # stop when an epoch's recon_error exceeds this times the run's first batch's
    progress: bool | None = None  # progress bar (None: where a person watches, crbm.progress.watching)
    verbose: bool = True  # a summary line per run on stderr (and, without a bar, the figures every 30 s)
    matmul_precision: str | None = None  # float32 products: "ieee", "bf16" (CPU), "tf32"; None: as the backend is set

    def __post_init__(self) -> None:
        _check_fields("TrainConfig", self, [
            ("epochs", is_positive_int(self.epochs), "a positive integer"),
            ("batch_size", is_positive_int(self.batch_size), "a positive integer"),
            ("learning_rate", is_number(self.learning_rate) and self.learning_rate >= 0, "a finite number >= 0"),
            ("momentum", is_number(self.momentum) and 0 <= self.momentum < 1, "in [0, 1)"),
            ("final_momentum", is_number(self.final_momentum) and 0 <= self.final_momentum < 1, "in [0, 1)"),
            ("weight_decay", is_number(self.weight_decay) and self.weight_decay >= 0, "a finite number >= 0"),
            ("momentum_epochs", isinstance(self.momentum_epochs, int) and self.momentum_epochs >= 0, "an integer >= 0"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {sorted(LR_SCHEDULES)}"),
            ("lr_final", is_number(self.lr_final) and self.lr_final > 0, "a finite number > 0"),
            ("checkpoint_every", is_positive_int(self.checkpoint_every), "a positive integer"),
            (
                "checkpoint_every_steps",
                self.checkpoint_every_steps is None or is_positive_int(self.checkpoint_every_steps),
                "None or a positive integer",
            ),
            ("explode_factor", is_number(self.explode_factor) and self.explode_factor > 1, "a finite number > 1"),
            (
                "matmul_precision",
                self.matmul_precision is None or self.matmul_precision in MATMUL_PRECISIONS,
                f"None or one of {list(MATMUL_PRECISIONS)}",
            ),
            ("sampler", isinstance(self.sampler, SamplerConfig), "a crbm.SamplerConfig"),
        ])
        if not isinstance(self.lr_scale, Mapping) or not all(is_number(f) and f >= 0 for f in self.lr_scale.values()):
            raise CRBMError(f"TrainConfig.lr_scale must be a dict of finite factors >= 0, got {self.lr_scale!r}")
        check_device(self.device)

    if TYPE_CHECKING:  # the constructor as _sampler_keywords makes it: the sampler's settings also as keywords

        def __init__(
            self, epochs: int = ..., batch_size: int = ..., learning_rate: float = ...,
            lr_scale: Mapping[str, float] = ..., lr_schedule: str = ..., lr_final: float = ..., momentum: float = ...,
            final_momentum: float = ..., momentum_epochs: int = ..., weight_decay: float = ...,
            sampler: SamplerConfig | Mapping | None = ..., seed: int = ..., device: str | None = ...,
            shuffle: bool = ..., checkpoint: str | None = ..., checkpoint_every: int = ...,
            checkpoint_every_steps: int | None = ..., explode_factor: float = ..., progress: bool | None = ...,
            verbose: bool = ..., matmul_precision: str | None = ..., *, k: int = ..., persistent: bool = ...,
            n_chains: int | None = ..., mean_visible: bool = ..., sparsity_target: float | None = ...,
            sparsity_cost: float = ...,
        ) -> None: ...

    # the sampler's settings, read where they were before the split (a model's gradient reads config.k, ...)
    @property
    def k(self) -> int:
        return self.sampler.k

    @property
    def persistent(self) -> bool:
        return self.sampler.persistent

    @property
    def n_chains(self) -> int | None:
        return self.sampler.n_chains

    @property
    def mean_visible(self) -> bool:
        return self.sampler.mean_visible

    @property
    def sparsity_target(self) -> float | None:
        return self.sampler.sparsity_target

    @property
    def sparsity_cost(self) -> float:
        return self.sampler.sparsity_cost

    def to_json(self) -> dict:
        """The settings as JSON, flat (the sampler's settings beside the optimiser's, as checkpoints have
        always stored them); ``TrainConfig(**config.to_json())`` rebuilds the config."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sampler"}
        d["lr_scale"] = dict(self.lr_scale)
        return d | dataclasses.asdict(self.sampler)

    def learning_rate_at(self, epoch: int) -> float:
        return self.learning_rate * LR_SCHEDULES[self.lr_schedule](epoch / self.epochs, self.lr_final)

    def momentum_at(self, epoch: int) -> float:
        return self.momentum if epoch < self.momentum_epochs else self.final_momentum


def _sampler_keywords(init):
    """TrainConfig's constructor also takes the sampler's settings as keywords (``TrainConfig(k=3)``, the
    form before the split, which checkpoints' JSON uses); they update ``sampler`` (a SamplerConfig or its
    JSON dict)."""

    @functools.wraps(init)
    def __init__(self, *args, sampler: SamplerConfig | Mapping | None = None, **kwargs) -> None:
        settings = {k: kwargs.pop(k) for k in SAMPLER_SETTINGS if k in kwargs}
        if isinstance(sampler, Mapping):
            sampler = SamplerConfig(**sampler)
        if settings:  # checked as TrainConfig's: that is where the caller wrote them
            merged = types.SimpleNamespace(**dataclasses.asdict(sampler or SamplerConfig()) | settings)
            _check_fields("TrainConfig", merged, _sampler_checks(merged))
            sampler = SamplerConfig(**vars(merged))
        init(self, *args, **({} if sampler is None else {"sampler": sampler}), **kwargs)

    return __init__


TrainConfig.__init__ = _sampler_keywords(TrainConfig.__init__)  # type: ignore[method-assign]


class TensorData:
    """Rows of one or more tensors with the same first dimension; ``batch(idx)`` gathers rows."""

    def __init__(self, *tensors: Tensor):
        if not tensors or any(not isinstance(t, Tensor) for t in tensors):
            raise CRBMError("TensorData needs one or more torch tensors")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise CRBMError(f"all tensors need the same number of rows; got {[t.shape[0] for t in tensors]}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def to(self, device) -> TensorData:
        return TensorData(*(t.to(device) for t in self.tensors))

    def batch(self, idx: Tensor) -> tuple[Tensor, ...]:
        return tuple(t.index_select(0, idx) for t in self.tensors)  # faster than t[idx] on CPU


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> cuda when available, else cpu; refuses cuda when it is absent."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(device)


Callback = Callable[[int, dict, torch.nn.Module], "bool | None"]


def _named_parameters(model: torch.nn.Module) -> dict[str, Tensor]:
    return {name: p for name, p in model.named_parameters()}


class _Momentum:
    """The momentum update of every parameter, with the velocities in one flat buffer:

        velocity <- mom * velocity + step * (direction - weight_decay * theta);  theta <- theta + velocity

    with step = lr * lr_scale[name]. ``velocity`` holds each parameter's velocity as a view into the buffer.
    A step is one multiply over the whole buffer, then ``torch._foreach_add_`` calls: the directions and the
    decay for each group of parameters that share a step scale and decay, and the velocities onto all the
    parameters (7 calls for a CRBM instead of 18). Every number goes through the same operations in the same
    order as in a per-parameter update. (Copying the directions into a second flat buffer to add them in one
    operation costs more than the calls it saves.) Parameters of several dtypes or devices, and a batch with
    directions for some parameters only, take the per-parameter update."""

    def __init__(self, params: dict[str, Tensor], decayed: set[str], config: TrainConfig) -> None:
        self.params, self.decayed, self.scale = params, decayed, config.lr_scale
        if len({(p.dtype, p.device) for p in params.values()}) != 1:
            self.flat = None
            self.velocity = {k: torch.zeros_like(p) for k, p in params.items()}
            return
        sizes = [p.numel() for p in params.values()]
        self.flat = next(iter(params.values())).new_zeros(sum(sizes))
        self.velocity = {k: v.view_as(params[k]) for k, v in zip(params, self.flat.split(sizes))}
        self.all_params, self.all_velocities = list(params.values()), list(self.velocity.values())
        groups: dict[tuple[float, bool], list[str]] = {}
        for k in params:
            groups.setdefault((self.scale.get(k, 1.0), k in decayed), []).append(k)
        # (names, lr scale, decayed, their velocities, their parameters)
        self.groups = [(names, scale, decay, [self.velocity[k] for k in names], [params[k] for k in names])
                       for (scale, decay), names in groups.items()]

    def step(self, directions: dict[str, Tensor], lr: float, mom: float, weight_decay: float) -> None:
        """Apply one batch's ascent ``directions`` (per parameter name) in place."""
        if self.flat is None or directions.keys() != self.params.keys():
            for name, d in directions.items():
                p, step = self.params[name], lr * self.scale.get(name, 1.0)
                vel = self.velocity[name].mul_(mom).add_(d, alpha=step)
                if name in self.decayed and weight_decay:
                    vel.add_(p, alpha=-step * weight_decay)  # in place: no temporaries
                p.add_(vel)
            return
        self.flat.mul_(mom)
        for names, scale, decay, velocities, params in self.groups:
            step = lr * scale
            torch._foreach_add_(velocities, [directions[k] for k in names], alpha=step)
            if decay and weight_decay:
                torch._foreach_add_(velocities, params, alpha=-step * weight_decay)
        torch._foreach_add_(self.all_params, self.all_velocities)


def _trainer_tensors(velocity, state, generator, order=None, sums=None) -> dict[str, Tensor]:
    out = {f"velocity/{k}": v for k, v in velocity.items()}
    out.update({f"state/{k}": v for k, v in state.items()})
    out["rng/generator"] = generator.get_state()
    if order is not None:
        out["epoch/order"] = order
        out.update({f"sums/{k}": v for k, v in (sums or {}).items()})
    return out


def fit(
    model: torch.nn.Module,
    data,
    config: TrainConfig | None = None,
    *,
    valid: Tensor | None = None,
    callbacks: Sequence[Callback] = (),
    resume: str | Path | None = None,
    extra: dict | None = None,
) -> list[dict]:
    """Train ``model`` on ``data`` (a (N, n_visible) tensor or any object with ``__len__``, ``to(device)``
    and ``batch(idx) -> tuple``) and return the history: one dict of figures per epoch. ``data`` may also
    be a stream larger than memory: an object with ``epoch_batches(epoch, generator) -> iterator of tuples``
    (CPU or device tensors; moved to the device here) and optionally ``n_batches`` (for the progress bar),
    e.g. ``crbm.StreamingWindows``; one process, epoch-level checkpoints, no ``valid``.

    ``valid``: held-out rows for the free-energy gap. ``callbacks(epoch, figures, model)``: called after
    every epoch; returning True stops training. ``resume``: a checkpoint written by a previous ``fit``
    with the same config; training continues where it stopped (mid-epoch too: the checkpoint holds the
    epoch's data order, the batch counter, the momentum, the chains and the generator state), and on the
    same device the result is bit-identical to an uninterrupted run.
    ``extra``: JSON stored in every checkpoint (e.g. fitted preprocessing)."""
    run = _Run(model, data, config or TrainConfig(), valid=valid, extra=extra)
    if resume is not None:
        run.resume(resume)
    return run.train(callbacks)


class _Run:
    """One call of ``fit``: the model and its data on the device, the settings, and the trainer's state
    (velocities, the model's chains, the generator, the data order and figure sums of the epoch under way,
    the history). ``resume`` loads that state from a checkpoint, ``epoch`` trains one pass, ``save`` writes
    the checkpoint, ``train`` runs the epochs."""

    def __init__(self, model: torch.nn.Module, data, config: TrainConfig, *, valid, extra) -> None:
        if not isinstance(config, TrainConfig):
            raise CRBMError(f"config: expected a crbm.TrainConfig, got {type(config).__name__}")
        streamed = hasattr(data, "epoch_batches")
        in_memory = all(hasattr(data, a) for a in ("__len__", "to", "batch"))
        if not isinstance(data, Tensor) and not streamed and not in_memory:
            raise CRBMError(
                f"data: expected a torch.Tensor of shape (N, n_visible) or an object with __len__, to(device) and "
                f"batch(idx) (e.g. crbm.TensorData), or a stream with epoch_batches(epoch, generator) "
                f"(e.g. crbm.StreamingWindows), got {type(data).__name__}"
            )
        device = resolve_device(config.device)
        model.to(device)
        if isinstance(data, Tensor):
            if hasattr(model, "check_visible"):
                model.check_visible(data.to(device), "data")
            data = TensorData(data)
        rank, world = place()
        if streamed:
            _check_stream(data, config, world, valid)
        else:
            data = data.to(device)
        n = 1 if streamed else len(data)
        global_batch = config.batch_size * world
        if not streamed and n == 0:
            raise CRBMError("data: no training examples")
        if not streamed and global_batch > n:
            procs = f" x {world} processes" if world > 1 else ""
            raise CRBMError(f"batch_size {config.batch_size}{procs} is larger than the data ({n} examples)")
        params = _named_parameters(model)
        unknown = sorted(set(config.lr_scale) - set(params))
        if unknown:
            raise CRBMError(
                f"TrainConfig.lr_scale names {unknown}, which are not parameters of the model {sorted(params)}"
            )
        if valid is not None and hasattr(model, "check_visible"):
            model.check_visible(valid.to(device) if isinstance(valid, Tensor) else valid, "valid")
        self.model, self.data, self.config, self.valid, self.extra = model, data, config, valid, extra
        self.device, self.streamed, self.world, self.rank = device, streamed, world, rank
        self.n, self.global_batch, self.params = n, global_batch, params
        self.decayed = set(model.decayed_parameters())
        self.momentum = _Momentum(params, self.decayed, config)
        self.velocity = self.momentum.velocity  # views into one buffer: resume copies into them
        self.state: dict[str, Tensor] = {}
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.history: list[dict] = []
        self.start_epoch, self.start_step = 0, 0
        self.saved_order: Tensor | None = None  # a mid-epoch checkpoint's data order, used by the next epoch
        self.sums: dict[str, Tensor] = {}  # the epoch's figures so far, summed over batches on the device
        self.first_recon: float | None = None  # the run's first recon_error: the yardstick of divergence
        self.first_batch: Tensor | None = None  # the first batch's recon_error, read at the end of the first epoch
        self.n_batches = getattr(data, "n_batches", None) if streamed else n // global_batch + (n % global_batch > 0)
        self.bar = None

    def resume(self, path: str | Path) -> None:
        """Continue the run a checkpoint of ``fit`` left: the model's tensors, the trainer's state, the
        history and the place (epoch, batch) it stopped at. Refuses another model or state that cannot fit."""
        model, device = self.model, self.device
        ck = load_checkpoint(path, device=device)
        if ck.model.kind != model.kind:
            raise CRBMError(
                f"{path}: checkpoint holds a different model, a {ck.model.kind}; this run trains a {model.kind}"
            )
        theirs, ours = ck.model.config(), model.config()
        if theirs != ours:
            diff = ", ".join(
                f"{k} {theirs.get(k)!r} (this run: {ours.get(k)!r})" for k in sorted(set(theirs) | set(ours))
                if theirs.get(k) != ours.get(k)
            )
            raise CRBMError(f"{path}: checkpoint holds a different model, a {ck.model.kind} with {diff}")
        _check_trainer_state(path, ck.trainer, self.params, self.n)
        model.load_state_dict(ck.model.state_dict())
        groups = {"state": self.state, "sums": self.sums}
        for k, v in ck.trainer.items():
            group, _, name = k.partition("/")
            if group == "velocity":
                self.velocity[name].copy_(v)
            elif group in groups:
                groups[group][name] = v.to(device)
        try:
            self.generator.set_state(ck.trainer["rng/generator"])
        except RuntimeError as err:
            raise CRBMError(f"{path}: the checkpoint's generator state does not fit a {device.type} generator "
                            f"({err})") from None
        self.history = list(ck.trainer_meta.get("history", []))
        self.start_epoch = int(ck.trainer_meta.get("epoch", 0))
        self.start_step = int(ck.trainer_meta.get("step", 0))
        order = ck.trainer.get("epoch/order")
        self.saved_order = None if order is None else order.to(device)
        # (checkpoints written before "first_recon" existed: the first epoch's figure)
        earlier = next((h["recon_error"] for h in self.history if "recon_error" in h), None)
        self.first_recon = ck.trainer_meta.get("first_recon", earlier)

    def _yardstick(self) -> float | None:
        """The recon_error divergence is measured against: the run's first, once known."""
        if self.first_recon is not None or self.first_batch is None:
            return self.first_recon
        return float(self.first_batch)

    def save(self, epoch_done: int, step: int = 0, order: Tensor | None = None) -> None:
        """Checkpoint the model and the trainer's state after ``epoch_done`` epochs and ``step`` batches of
        the next (whose data ``order`` is kept, so a resumed run takes the same batches)."""
        save_checkpoint(
            self.config.checkpoint,
            self.model,
            trainer=_trainer_tensors(self.velocity, self.state, self.generator, order, self.sums),
            trainer_meta={
                "epoch": epoch_done,
                "step": step,
                "history": self.history,
                "config": self.config.to_json(),
                "first_recon": self._yardstick(),
            },
            extra=self.extra,
        )

    def _batches(self, epoch: int) -> tuple[Tensor | None, Iterator]:
        """The epoch's data order (None for a stream) and its batches from ``start_step`` on: tuples of device
        tensors for a stream, else index tensors of up to ``global_batch`` rows."""
        config, device, n = self.config, self.device, self.n
        if self.streamed:
            self.start_step, self.sums = 0, {}
            return None, (tuple(t.to(device) for t in b) for b in self.data.epoch_batches(epoch, self.generator))
        if self.saved_order is not None:  # resuming mid-epoch
            order, self.saved_order = self.saved_order, None
        else:
            order = torch.randperm(n, generator=self.generator, device=device) if config.shuffle else torch.arange(
                n, device=device)
            self.sums, self.start_step = {}, 0
        size = self.global_batch
        return order, (order[b * size : (b + 1) * size] for b in range(self.start_step, self.n_batches))

    def _step(self, rows, lr: float, mom: float) -> dict[str, Tensor]:
        """One mini-batch: the model's directions (this process's shard, all-reduced, under torchrun), then
        ``velocity <- mom * velocity + lr * scale * (direction - weight_decay * theta); theta += velocity``
        in place. Returns the batch's figures."""
        config, model = self.config, self.model
        if self.streamed:
            directions, figures = model.gradient(rows, config, state=self.state, generator=self.generator)
        elif self.world == 1:
            directions, figures = model.gradient(self.data.batch(rows), config, state=self.state,
                                                 generator=self.generator)
        else:
            directions, figures = sharded_gradient(model, self.data, rows, config, self.state, self.generator,
                                                    (self.rank, self.world))
        self.momentum.step(directions, lr, mom, config.weight_decay)
        return figures

    def epoch(self, epoch: int) -> dict:
        """Train one pass over the data (the rest of it, when resumed mid-epoch) and return its figures:
        the batch means of the model's figures, the free-energy gap on ``valid``, the schedule's settings and
        the seconds it took. Raises DivergenceError before any checkpoint of a diverged state."""
        config, trainer = self.config, {"velocity": self.velocity, "state": self.state}
        t0 = time.perf_counter()
        lr, mom = config.learning_rate_at(epoch), config.momentum_at(epoch)
        order, batches = self._batches(epoch)
        every = config.checkpoint_every_steps if config.checkpoint else None
        seen = self.start_step
        with torch.no_grad():
            for b, rows in enumerate(batches, self.start_step):
                seen = b + 1
                figures = self._step(rows, lr, mom)
                for k, v in figures.items():
                    if k in self.sums:
                        self.sums[k].add_(v.detach())
                    else:
                        self.sums[k] = v.detach().clone()
                if self.first_recon is None and self.first_batch is None and self.world == 1:
                    if "recon_error" in figures:
                        self.first_batch = self.sums["recon_error"].clone()
                if self.bar is not None:
                    self.bar.update()
                if every and (b + 1) % every == 0 and b + 1 < self.n_batches:  # never save a diverged state
                    recent = {"epoch": epoch + 1}
                    if "recon_error" in figures:  # this batch's, against the run's first
                        recent["recon_error"] = float(figures["recon_error"])
                    _check_divergence(self.model, recent, self._yardstick(), config, trainer)
                    if self.rank == 0:
                        self.save(epoch, b + 1, order)
        sums = self.sums
        if self.world > 1 and sums:
            sums = self.sums = mean_over_processes(sums, self.world)
        self.n_batches = seen
        figures = {k: float(v) / seen for k, v in sums.items()}
        monitor = getattr(self.model, "monitor", None)
        if self.valid is not None and monitor is not None:
            with torch.no_grad():
                vv = self.valid.to(self.device)
                sub = self.data.batch(torch.arange(min(self.n, vv.shape[0]), device=self.device))[0]
                figures["free_energy_gap"] = float(monitor(vv) - monitor(sub))
        figures = {"epoch": epoch + 1, **figures, "lr": lr, "momentum": mom, "seconds": time.perf_counter() - t0}
        self.first_recon = self._yardstick()
        _check_divergence(self.model, figures, self.first_recon, config, trainer)
        if self.first_recon is None and "recon_error" in figures:
            self.first_recon = figures["recon_error"]
        self.history.append(figures)
        return figures

    def train(self, callbacks: Sequence[Callback]) -> list[dict]:
        """The epochs from where the run stands to ``config.epochs`` (or until a callback returns True), with
        the progress bar, the matmul precision and the thread count set for the run and restored after, a
        checkpoint every ``checkpoint_every`` epochs and at the end; returns the history."""
        config, model, rank = self.config, self.model, self.rank
        left = config.epochs - self.start_epoch
        total = None if self.n_batches is None else left * self.n_batches - self.start_step
        self.bar = progress_bar(total, desc=f"train {model.kind}", unit="batch", enabled=config.progress)
        started = last_line = time.perf_counter()
        done_before = len(self.history)  # epochs of a resumed run's history
        restore_precision = (
            set_matmul_precision(config.matmul_precision, self.device) if config.matmul_precision else lambda: None
        )
        restore_threads = use_threads(step_work(model, config.batch_size), self.device)  # crbm.threads: by the work
        try:
            for epoch in range(self.start_epoch, config.epochs):
                figures = self.epoch(epoch)
                if self.bar is not None:  # the latest figures beside the bar; no line per epoch
                    self.bar.set_postfix({k: f"{v:.4g}" for k, v in figures.items() if k not in _SCHEDULE},
                                         refresh=False)
                elif config.verbose and rank == 0 and time.perf_counter() - last_line >= LINE_SECONDS:
                    print(figures_line(figures), file=sys.stderr)  # no bar (a file, a pipe): a line now and then
                    last_line = time.perf_counter()
                stop = any(cb(epoch + 1, figures, model) for cb in callbacks)
                last = stop or epoch + 1 == config.epochs
                if config.checkpoint and rank == 0 and ((epoch + 1) % config.checkpoint_every == 0 or last):
                    self.save(epoch + 1)
                if stop:
                    break
        finally:
            restore_precision()
            restore_threads()
            if self.bar is not None:
                self.bar.close()
        if config.verbose and rank == 0 and len(self.history) > done_before:
            last_figures = {k: v for k, v in self.history[-1].items() if k not in _SCHEDULE}
            seconds = time.perf_counter() - started
            print(f"trained {model.kind}: epochs {done_before + 1}-{len(self.history)} in {seconds:.1f} s; "
                  f"last epoch: {figures_line(last_figures)}", file=sys.stderr)
        return self.history


def fit_phases(
    model: torch.nn.Module, phases: Sequence[tuple[object, TrainConfig]], *, callbacks: Sequence[Callback] = ()
) -> list[dict]:
    """``fit`` on each ``(data, config)`` of ``phases`` in turn (each phase starts its own schedule, momentum
    and generator from its config) and return the concatenated history. ``callbacks(epoch, figures, model)``
    see epochs numbered 1, 2, ... across all phases; one returning True stops this phase and skips the rest."""
    history: list[dict] = []
    done = 0
    stopped = False

    def shifted(cb: Callback) -> Callback:
        def call(epoch: int, figures: dict, m: torch.nn.Module) -> bool:
            nonlocal stopped
            stopped = bool(cb(done + epoch, figures, m)) or stopped
            return stopped

        return call

    wrapped = [shifted(cb) for cb in callbacks]
    for data, config in phases:
        history += fit(model, data, config, callbacks=wrapped)
        done += config.epochs
        if stopped:
            break
    return history


def _check_stream(data, config: TrainConfig, world: int, valid) -> None:
    """What a streamed data source (``epoch_batches``) cannot do yet."""
    size = getattr(data, "batch_size", config.batch_size)
    if size != config.batch_size:
        raise CRBMError(f"the stream yields batches of {size}; TrainConfig.batch_size is {config.batch_size}")
    if world > 1:
        raise CRBMError("streamed data (epoch_batches) trains in one process; use in-memory data with torchrun")
    if valid is not None:
        raise CRBMError("valid= needs in-memory training data (the free-energy gap compares with training rows)")
    if config.checkpoint_every_steps is not None:
        raise CRBMError("checkpoint_every_steps needs in-memory data (a stream resumes at epoch boundaries)")


def _check_trainer_state(path, trainer: dict[str, Tensor], params: dict[str, Tensor], n: int) -> None:
    """Refuse a checkpoint whose trainer state cannot continue this run (before anything is changed)."""
    if "rng/generator" not in trainer:
        raise CRBMError(f"{path}: checkpoint has no trainer state (written by save_checkpoint, not fit); "
                        "load it with crbm.load_model, or start training without resume=")
    rng = trainer["rng/generator"]
    if rng.dtype != torch.uint8 or rng.ndim != 1:
        raise CRBMError(f"{path}: trainer tensor 'rng/generator' must be a 1-D uint8 generator state, "
                        f"got {rng.dtype} {tuple(rng.shape)}")
    for key, v in trainer.items():
        group, _, name = key.partition("/")
        p = params.get(name)
        if group == "velocity" and (p is None or (v.shape, v.dtype) != (p.shape, p.dtype)):
            expected = "no such parameter" if p is None else f"{p.dtype} {tuple(p.shape)}"
            raise CRBMError(f"{path}: trainer tensor {key!r} is {v.dtype} {tuple(v.shape)}; expected {expected}")
        if group == "sums" and (v.ndim != 0 or not v.is_floating_point()):
            raise CRBMError(f"{path}: trainer tensor {key!r} is {v.dtype} {tuple(v.shape)}; expected a float scalar")
    order = trainer.get("epoch/order")
    if order is not None and (order.shape != (n,) or order.dtype != torch.int64):
        raise CRBMError(f"{path}: the checkpoint's data order is {order.dtype} {tuple(order.shape)}; this run's "
                        f"data has {n} examples (resume with the data the run was started with)")
    if order is not None and not torch.equal(order.sort().values, torch.arange(n)):
        raise CRBMError(f"{path}: the checkpoint's data order is not a permutation of 0..{n - 1}")


def _nonfinite(model: torch.nn.Module, trainer: dict[str, dict[str, Tensor]]) -> list[str]:
    """What holds a NaN or an infinity: parameters, buffers, a module's ``sigma`` (exp of a finite but huge
    ``log_sigma`` overflows), else the trainer's floating tensors (``{"velocity": {...}, "state": {...}}``)."""
    bad = [f"parameter {k}" for k, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    bad += [f"buffer {k}" for k, b in model.named_buffers() if b.is_floating_point() and not bool(b.isfinite().all())]
    for name, module in model.named_modules():
        sigma = getattr(module, "sigma", None)
        if isinstance(sigma, Tensor) and not bool(torch.isfinite(sigma).all()):
            bad.append(f"{name + '.' if name else ''}sigma")
    if bad:  # (the velocities of a NaN parameter are NaN too: the parameter says it)
        return bad
    return [f"{group} {k}" for group, tensors in trainer.items() for k, v in tensors.items()
            if v.is_floating_point() and not bool(v.isfinite().all())]


def _check_divergence(
    model, figures: dict, first_recon: float | None, config: TrainConfig,
    trainer: dict[str, dict[str, Tensor]] | None = None,
) -> None:
    """Raise DivergenceError when a figure, the model or the trainer's tensors (``_nonfinite``) hold a NaN or an
    infinity, or the reconstruction error exploded; called before every checkpoint, so a checkpoint on disk
    is always finite."""
    bad = [k for k, v in figures.items() if isinstance(v, float) and not math.isfinite(v)]
    bad += _nonfinite(model, trainer or {})
    recon = figures.get("recon_error")
    exploded = first_recon is not None and recon is not None and recon > config.explode_factor * max(first_recon, 1e-12)
    if not bad and not exploded:
        return
    what = f"{', '.join(bad)} became NaN/Inf" if bad else f"recon_error rose from {first_recon:.4g} to {recon:.4g}"
    gaussian = getattr(getattr(model, "visible", None), "has_sigma", False)
    lr = config.learning_rate_at(figures["epoch"] - 1)
    advice = f"lower the learning rate (TrainConfig.learning_rate {config.learning_rate:g}"
    advice += f", {lr:g} in this epoch by the schedule)" if lr != config.learning_rate else ")"
    if gaussian:
        advice += " and check that the data are normalised (z-scored channels, sigma near 1)"
    kept = (
        f"; the last good checkpoint is {config.checkpoint}"
        if config.checkpoint and Path(config.checkpoint).is_file()
        else ""
    )
    raise DivergenceError(f"training diverged at epoch {figures['epoch']}: {what}; {advice}{kept}")
