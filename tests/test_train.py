"""The trainer: learning raises the exact likelihood, updates follow the documented rule, runs are
reproducible and resumable, divergence stops with advice."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from engine_helpers import DT, noisy_prototypes

import crbm
import crbm.engine.train
from crbm import RBM, DivergenceError, TensorData, TrainConfig, exact_log_partition, fit, load_checkpoint
from crbm.engine.errors import CRBMError
from crbm.engine.precision import matmul_precision
from crbm.engine.train import LR_SCHEDULES

QUIET = {"verbose": False, "progress": False, "device": "cpu"}


def _patterns(n: int = 60, seed: int = 0) -> torch.Tensor:
    """Three 8-pixel prototypes with 5% of the pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0, 1, 0]], dtype=DT)
    x = protos[torch.arange(n) % 3]
    flip = torch.rand(x.shape, generator=g, dtype=DT) < 0.05
    return torch.where(flip, 1 - x, x)


def _loglik(model: RBM, data: torch.Tensor) -> float:
    return float(-model.free_energy(data).mean()) - exact_log_partition(model)


def _rbm(seed: int = 0, **kw) -> RBM:
    return RBM(8, 5, dtype=DT, init_std=0.1, generator=torch.Generator().manual_seed(seed), **kw)


def test_cd1_raises_the_exact_log_likelihood():
    data = _patterns()
    model = _rbm()
    before = _loglik(model, data)
    hist = fit(model, data, TrainConfig(epochs=30, batch_size=10, learning_rate=0.1, **QUIET))
    after = _loglik(model, data)
    assert after > before + 1.0, (before, after)
    assert len(hist) == 30 and hist[-1]["recon_error"] < hist[0]["recon_error"]
    assert {"epoch", "recon_error", "lr", "momentum", "seconds"} <= set(hist[0])


def test_pcd_raises_the_exact_log_likelihood():
    data = _patterns()
    model = _rbm()
    before = _loglik(model, data)
    fit(
        model,
        data,
        TrainConfig(
            epochs=30, batch_size=10, learning_rate=0.05, final_momentum=0.5, persistent=True, n_chains=20, **QUIET
        ),
    )
    assert _loglik(model, data) > before + 1.0


def test_same_seed_gives_bit_identical_weights_and_other_seeds_differ():
    data = _patterns()
    runs = []
    for seed in (0, 0, 1):
        model = _rbm()
        fit(model, data, TrainConfig(epochs=3, batch_size=10, seed=seed, **QUIET))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not torch.equal(runs[0]["weight"], runs[2]["weight"])


def _fixed_directions(model: RBM, directions: dict[str, float]):
    """Replace the model's statistics by constant ascent directions (to check the update rule alone)."""

    def gradient(batch, config, *, state, generator):
        return {k: torch.full_like(getattr(model, k), d) for k, d in directions.items()}, {}

    model.gradient = gradient


def test_momentum_weight_decay_and_lr_scale_follow_the_update_rule():
    """velocity <- m velocity + lr * scale * (d - wd * theta) with decay on the weights only; momentum 0.5 for
    the first epoch, 0.9 after; a linear schedule from lr to 0.1 lr."""
    model = _rbm()
    with torch.no_grad():
        model.hidden_bias.fill_(0.7)
        model.visible_bias.fill_(-0.3)
    w0 = model.weight.clone()
    _fixed_directions(model, {"weight": 0.0, "visible_bias": 1.0, "hidden_bias": 0.0})
    cfg = TrainConfig(
        epochs=3, batch_size=2, learning_rate=0.1, momentum=0.5, final_momentum=0.9, momentum_epochs=1,
        weight_decay=0.01, lr_schedule="linear", lr_final=0.1, lr_scale={"visible_bias": 0.5}, **QUIET,
    )  # fmt: skip
    hist = fit(model, torch.zeros(4, 8, dtype=DT), cfg)
    w, vw, b, vb = w0.clone(), torch.zeros_like(w0), -0.3, 0.0
    for epoch in range(3):
        lr = 0.1 * (1 + (0.1 - 1) * epoch / 3)
        m = 0.5 if epoch < 1 else 0.9
        assert hist[epoch]["lr"] == pytest.approx(lr) and hist[epoch]["momentum"] == m
        for _ in range(2):
            vw = m * vw + lr * (0.0 - 0.01 * w)
            w = w + vw
            vb = m * vb + lr * 0.5 * 1.0
            b = b + vb
    assert torch.allclose(model.weight, w, rtol=1e-14)
    assert not torch.allclose(model.weight, w0)
    assert torch.allclose(model.visible_bias, torch.full((8,), b, dtype=DT), rtol=1e-14)
    assert torch.equal(model.hidden_bias, torch.full((5,), 0.7, dtype=DT))  # biases are never decayed


def test_learnable_sigma_is_trained_and_not_decayed():
    model = RBM(3, 2, visible="gaussian", learn_sigma=True, dtype=DT, generator=torch.Generator().manual_seed(0))
    _fixed_directions(model, {"weight": 0.0, "visible_bias": 0.0, "hidden_bias": 0.0, "log_sigma": 0.0})
    before = model.log_sigma.clone()
    fit(model, torch.zeros(4, 3, dtype=DT), TrainConfig(epochs=2, batch_size=2, weight_decay=0.5, **QUIET))
    assert torch.equal(model.log_sigma, before)
    data = torch.randn(100, 3, generator=torch.Generator().manual_seed(0), dtype=DT) * 3
    model = RBM(3, 2, visible="gaussian", learn_sigma=True, dtype=DT, generator=torch.Generator().manual_seed(1))
    fit(model, data, TrainConfig(epochs=20, batch_size=20, learning_rate=0.01, **QUIET))
    assert (model.log_sigma > 0.5).all()  # data with std 3: sigma grows from 1 towards 3


@pytest.mark.parametrize("name", sorted(LR_SCHEDULES))
def test_lr_schedules(name):
    cfg = TrainConfig(epochs=10, learning_rate=0.2, lr_schedule=name, lr_final=0.05)
    rates = [cfg.learning_rate_at(e) for e in range(10)]
    assert rates[0] == pytest.approx(0.2)
    if name == "constant":
        assert rates == [0.2] * 10
    else:
        assert all(a > b for a, b in zip(rates, rates[1:]))  # decreasing towards 0.2 * 0.05
        assert rates[-1] > 0.2 * 0.05
    expected = {
        "constant": 0.2,
        "linear": 0.2 * (1 + (0.05 - 1) * 0.5),
        "exponential": 0.2 * 0.05**0.5,
        "cosine": 0.2 * (0.05 + 0.95 * 0.5),
    }
    assert cfg.learning_rate_at(5) == pytest.approx(expected[name])


@pytest.mark.parametrize("persistent", [False, True])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, persistent):
    data = _patterns()
    cfg = dict(epochs=4, batch_size=10, persistent=persistent, n_chains=7, **QUIET)
    full = _rbm()
    hist_full = fit(full, data, TrainConfig(checkpoint=str(tmp_path / "full.ckpt"), **cfg))
    part = _rbm()
    path = str(tmp_path / "part.ckpt")
    fit(part, data, TrainConfig(checkpoint=path, **cfg), callbacks=[lambda epoch, figures, model: epoch == 2])
    assert load_checkpoint(path).trainer_meta["epoch"] == 2
    if persistent:
        assert load_checkpoint(path).trainer["state/chain"].shape == (7, 8)
    resumed = _rbm(seed=99)  # a different start: everything must come from the checkpoint
    hist = fit(resumed, data, TrainConfig(checkpoint=path, **cfg), resume=path)
    for k, t in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], t), k
    assert [h["recon_error"] for h in hist] == [h["recon_error"] for h in hist_full]
    with pytest.raises(CRBMError, match="different model"):
        fit(RBM(8, 6, dtype=DT, generator=torch.Generator()), data, TrainConfig(**cfg), resume=path)


def test_divergence_stops_with_advice_and_keeps_the_last_good_checkpoint(tmp_path):
    """Gaussian data and a learning rate that grows 10x a epoch (exponential schedule): training stops with
    DivergenceError naming the remedy, and the checkpoint of the last good epoch still loads."""
    data = torch.randn(200, 5, generator=torch.Generator().manual_seed(0), dtype=DT) * 5 + 3
    model = RBM(5, 4, visible="gaussian", dtype=DT, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "run.ckpt"
    cfg = TrainConfig(
        epochs=8, batch_size=20, learning_rate=1e-4, lr_schedule="exponential", lr_final=1e8,
        checkpoint=str(path), **QUIET,
    )  # fmt: skip
    with pytest.raises(DivergenceError) as err:
        fit(model, data, cfg)
    msg = str(err.value)
    assert "lower the learning rate" in msg and "normalised" in msg and str(path) in msg
    assert isinstance(err.value, ValueError)
    ck = load_checkpoint(path)
    diverged_at = int(msg.split("at epoch ")[1].split(":")[0])
    assert 1 <= ck.trainer_meta["epoch"] < diverged_at
    assert all(torch.isfinite(t).all() for t in ck.model.state_dict().values())
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary files left


def test_divergence_on_the_first_epoch_mentions_no_checkpoint(tmp_path):
    data = torch.randn(100, 5, generator=torch.Generator().manual_seed(0), dtype=DT) * 5
    model = RBM(5, 4, visible="gaussian", dtype=DT, generator=torch.Generator().manual_seed(0))
    cfg = TrainConfig(epochs=2, batch_size=10, learning_rate=1e200, checkpoint=str(tmp_path / "x"), **QUIET)
    with pytest.raises(DivergenceError, match="at epoch 1: .*became NaN/Inf") as err:
        fit(model, data, cfg)
    assert "checkpoint" not in str(err.value) and not (tmp_path / "x").exists()


def test_callbacks_history_valid_gap_and_one_summary_line(capsys, monkeypatch):
    data = _patterns()
    seen = []
    config = TrainConfig(epochs=3, batch_size=10, verbose=True, progress=False, device="cpu")
    record = [lambda e, f, m: seen.append((e, f["recon_error"]))]
    hist = fit(_rbm(), data[:45], config, valid=data[45:], callbacks=record)
    assert [e for e, _ in seen] == [1, 2, 3]
    assert all("free_energy_gap" in h for h in hist)
    (line,) = capsys.readouterr().err.splitlines()  # one line for the run, not one per epoch
    assert re.match(r"trained RBM: epochs 1-3 in [0-9.]+ s; last epoch: recon_error \S+  free_energy_gap ", line)
    # without a bar, the figures also come every LINE_SECONDS (here: every epoch), then the summary
    monkeypatch.setattr(crbm.engine.train, "LINE_SECONDS", 0.0)
    fit(_rbm(), data[:45], config)
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split()[:2] for ln in lines[:3]] == [["epoch", "1"], ["epoch", "2"], ["epoch", "3"]]
    assert len(lines) == 4 and lines[3].startswith("trained RBM: epochs 1-3")
    fit(_rbm(), TensorData(data), TrainConfig(epochs=1, batch_size=7, shuffle=False, **QUIET))  # 60 = 8 * 7 + 4


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("epochs", 0, "epochs must be a positive integer, got 0"),
        ("epochs", "3", "epochs must be a positive integer, got '3'"),
        ("batch_size", 2.5, "batch_size must be a positive integer, got 2.5"),
        ("learning_rate", -0.1, "learning_rate must be a finite number >= 0, got -0.1"),
        ("learning_rate", float("nan"), "learning_rate must be a finite number >= 0, got nan"),
        ("momentum", 1.0, r"momentum must be in \[0, 1\), got 1.0"),
        ("weight_decay", -1, "weight_decay must be a finite number >= 0, got -1"),
        ("k", 0, "k must be a positive integer, got 0"),
        ("lr_schedule", "step", "lr_schedule must be one of .*got 'step'"),
        ("lr_final", 0, "lr_final must be a finite number > 0, got 0"),
        ("sparsity_target", 1.5, r"sparsity_target must be in \(0, 1\), got 1.5"),
        ("n_chains", 0, "n_chains must be None or a positive integer, got 0"),
        ("explode_factor", 0.5, "explode_factor must be a finite number > 1, got 0.5"),
        ("device", "gpu", "unknown device 'gpu'"),
    ],
)
def test_invalid_train_config_values(field, value, expected):
    with pytest.raises(CRBMError, match=expected):
        TrainConfig(**{field: value})


def test_bad_training_data():
    model = _rbm()
    with pytest.raises(CRBMError, match="batch_size 100 is larger than the data .60 examples"):
        fit(model, _patterns(), TrainConfig(batch_size=100, **QUIET))
    bad = _patterns()
    bad[3, 2] = float("nan")
    with pytest.raises(CRBMError, match="data: contains NaN"):
        fit(model, bad, TrainConfig(batch_size=10, **QUIET))
    with pytest.raises(CRBMError, match=r"data: expected shape \(batch, 8\), got \(60, 7\)"):
        fit(model, _patterns()[:, :7], TrainConfig(batch_size=10, **QUIET))
    with pytest.raises(CRBMError, match=r"Bernoulli units take values in \[0, 1\]"):
        fit(model, _patterns() * 2, TrainConfig(batch_size=10, **QUIET))
    with pytest.raises(CRBMError, match="no training examples"):
        fit(model, _patterns()[:0], TrainConfig(batch_size=10, **QUIET))


def test_matmul_precision_context_sets_and_restores_the_backend_and_refuses_bad_modes():
    backend = torch.backends.mkldnn.matmul
    before = backend.fp32_precision
    with pytest.raises(RuntimeError, match="inside"):
        with matmul_precision("bf16", "cpu"):
            assert backend.fp32_precision == "bf16"
            raise RuntimeError("inside")
    assert backend.fp32_precision == before
    with pytest.raises(CRBMError, match="one of"):
        with matmul_precision("fp8"):
            pass
    with pytest.raises(CRBMError, match="CUDA use 'tf32'"):
        with matmul_precision("bf16", "cuda"):
            pass
    with pytest.raises(CRBMError, match="matmul_precision must be None or one of"):
        TrainConfig(matmul_precision="half")
    # the trainer leaves an outer setting alone by default and applies (then restores) its own when given
    seen = []

    def look(epoch, figures, model):
        seen.append(backend.fp32_precision)

    with matmul_precision("bf16"):
        fit(_rbm().float(), _patterns().float(), TrainConfig(epochs=1, batch_size=10, **QUIET), callbacks=[look])
        fit(_rbm().float(), _patterns().float(), TrainConfig(epochs=1, batch_size=10, matmul_precision="ieee", **QUIET),
            callbacks=[look])
        assert backend.fp32_precision == "bf16"
    assert seen == ["bf16", "ieee"]


def test_bf16_matmul_mode_changes_the_model_far_less_than_a_new_seed_does():
    """float32 RBM (64 x 12, exact likelihood by enumerating the hidden layer) trained from four seeds with and
    without oneDNN's bf16 math mode. Whether the mode rounds the operands depends on the CPU (AMD with
    AVX-512-BF16: not at all, the two agreed to 0.02 nats; Intel with AMX-BF16: relative error ~2e-3, up to
    0.45 nats apart), so the claim is the hardware-independent one: on every seed the two modes land closer
    together than a fifth of the spread between seeds (measured on that Intel CPU: gaps up to 0.45 nats,
    spread 4.1 nats across seeds 0-3)."""
    data = noisy_prototypes()
    before = torch.backends.mkldnn.matmul.fp32_precision
    result = {"ieee": [], "bf16": []}
    for seed in range(4):
        for precision in result:
            model = RBM(64, 12, init_std=0.1, generator=torch.Generator().manual_seed(seed))
            start = _loglik(model.double(), data.double())
            model.float()
            config = TrainConfig(
                epochs=20, batch_size=20, learning_rate=0.05, matmul_precision=precision, seed=seed, **QUIET
            )
            fit(model, data, config)
            result[precision].append(_loglik(model.double(), data.double()))
            assert result[precision][-1] > start + 5.0, (precision, seed, start, result)
    assert torch.backends.mkldnn.matmul.fp32_precision == before
    spread = max(result["ieee"]) - min(result["ieee"])
    gaps = [abs(b - f) for b, f in zip(result["bf16"], result["ieee"])]
    assert spread > 1.0, result
    assert max(gaps) < spread / 5, (gaps, spread, result)


# ---------------------------------------------------------------- optimiser and sampler settings
# TrainConfig.to_json() as checkpoints stored it before the sampler's settings moved to SamplerConfig
OLD_CONFIG_JSON = {
    "epochs": 3, "batch_size": 20, "learning_rate": 0.1, "lr_scale": {}, "lr_schedule": "constant", "lr_final": 1.0,
    "momentum": 0.5, "final_momentum": 0.9, "momentum_epochs": 5, "weight_decay": 0.0002, "k": 1, "persistent": True,
    "n_chains": 7, "mean_visible": False, "sparsity_target": None, "sparsity_cost": 0.0, "seed": 3, "device": None,
    "shuffle": True, "checkpoint": "pcd.safetensors", "checkpoint_every": 1, "checkpoint_every_steps": 2,
    "explode_factor": 1000.0, "progress": False, "verbose": False, "matmul_precision": None,
}


def test_sampler_settings_live_in_a_sampler_config_and_keep_their_keywords():
    from crbm import SamplerConfig

    flat = TrainConfig(k=3, persistent=True, n_chains=9, mean_visible=False, sparsity_target=0.1, sparsity_cost=0.5)
    nested = TrainConfig(sampler=SamplerConfig(k=3, persistent=True, n_chains=9, mean_visible=False,
                                               sparsity_target=0.1, sparsity_cost=0.5))
    assert flat == nested and flat.sampler == nested.sampler
    assert (flat.k, flat.persistent, flat.n_chains, flat.mean_visible) == (3, True, 9, False)
    assert (flat.sparsity_target, flat.sparsity_cost) == (0.1, 0.5)
    assert TrainConfig().sampler == SamplerConfig()
    changed = dataclasses.replace(flat, k=5)  # one setting replaced, the others kept
    assert changed.sampler == dataclasses.replace(flat.sampler, k=5) and changed.epochs == flat.epochs
    assert dataclasses.replace(flat, epochs=2).sampler == flat.sampler
    assert TrainConfig(sampler=SamplerConfig(k=2), k=4).k == 4  # a keyword updates the given sampler
    assert not {"k", "persistent", "n_chains"} & {f.name for f in dataclasses.fields(TrainConfig)}


def test_config_json_of_earlier_checkpoints_rebuilds_the_same_config():
    old = TrainConfig(**OLD_CONFIG_JSON)
    assert old.to_json() == OLD_CONFIG_JSON  # still written flat, key for key
    assert old.sampler == crbm.SamplerConfig(k=1, persistent=True, n_chains=7, mean_visible=False)
    assert TrainConfig(**old.to_json()) == old
    nested = {k: v for k, v in OLD_CONFIG_JSON.items() if k not in crbm.engine.train.SAMPLER_SETTINGS}
    assert TrainConfig(**nested, sampler=dataclasses.asdict(old.sampler)) == old  # the sampler as a JSON dict


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: TrainConfig(k=0), "TrainConfig.k must be a positive integer, got 0"),
        (lambda: dataclasses.replace(TrainConfig(), n_chains=0), "TrainConfig.n_chains must be None or a positive"),
        (lambda: crbm.SamplerConfig(k=True), "SamplerConfig.k must be a positive integer, got True"),
        (lambda: crbm.SamplerConfig(sparsity_target="x"), r"SamplerConfig.sparsity_target must be in \(0, 1\)"),
        (lambda: TrainConfig(sampler=3), "TrainConfig.sampler must be a crbm.SamplerConfig, got 3"),
    ],
)
def test_bad_sampler_settings_name_where_they_were_written(make, expected):
    with pytest.raises(CRBMError, match=expected):
        make()


def test_pcd_runs_the_same_with_the_settings_nested_or_flat():
    data = _patterns()
    common = {"epochs": 3, "batch_size": 10, "seed": 4, **QUIET}
    flat, nested = _rbm(1), _rbm(1)
    fit(flat, data, TrainConfig(k=2, persistent=True, n_chains=6, **common))
    fit(nested, data, TrainConfig(sampler=crbm.SamplerConfig(k=2, persistent=True, n_chains=6), **common))
    assert torch.equal(flat.weight, nested.weight)


def test_the_flat_momentum_update_equals_the_per_parameter_rule_bit_for_bit():
    """The trainer keeps the velocities in one buffer and adds by groups of parameters; every number must get
    exactly the per-parameter update (float32, random directions, lr scales and decay on some parameters)."""
    model = crbm.CRBM(5, 7, 2, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    steps = [{k: torch.randn(p.shape, generator=g) for k, p in model.named_parameters()} for _ in range(4)]
    calls = iter(steps)
    model.gradient = lambda batch, config, *, state, generator: (next(calls), {})
    theta = {k: p.clone() for k, p in model.named_parameters()}
    clips = [torch.randn(12, 5, generator=g)]
    cfg = crbm.taylor_config(epochs=2, batch_size=5, learning_rate=0.01, momentum=0.5, momentum_epochs=1,
                             lr_scale={"A": 0.1, "rbm.hidden_bias": 3.0}, shuffle=False, **QUIET)
    fit(model, crbm.Windows(clips, 2), cfg)
    velocity = {k: torch.zeros_like(p) for k, p in theta.items()}
    for i, directions in enumerate(steps):
        mom = 0.5 if i < 2 else 0.9
        for k, d in directions.items():
            step = 0.01 * cfg.lr_scale.get(k, 1.0)
            velocity[k].mul_(mom).add_(d, alpha=step)
            if k in model.decayed_parameters():
                velocity[k].add_(theta[k], alpha=-step * cfg.weight_decay)
            theta[k].add_(velocity[k])
    for k, p in model.named_parameters():
        assert torch.equal(p, theta[k]), k


def test_parameters_without_a_direction_and_their_velocities_are_left_alone():
    model = _rbm()
    _fixed_directions(model, {"weight": 1.0})  # the biases get no direction
    b, c = model.visible_bias.clone(), model.hidden_bias.clone()
    fit(model, torch.zeros(4, 8, dtype=DT), TrainConfig(epochs=2, batch_size=2, weight_decay=0.0, **QUIET))
    assert torch.equal(model.visible_bias, b) and torch.equal(model.hidden_bias, c)
    assert not torch.equal(model.weight, _rbm().weight)
