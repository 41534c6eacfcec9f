"""The CUDA path against the CPU path (runs only where CUDA is available): exact quantities equal to float64
precision, training statistically equivalent (the two devices draw different random numbers), generation
finite and on the device."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import noisy_prototypes

import crbm

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _model(device: str = "cpu") -> crbm.RBM:
    g = torch.Generator().manual_seed(0)
    m = crbm.RBM(10, 8, dtype=torch.float64, init_std=0.5, generator=g)
    m.visible_bias.data.normal_(generator=g)
    m.hidden_bias.data.normal_(generator=g)
    return m.to(device)


def _data(n: int = 400) -> torch.Tensor:
    return (torch.rand(n, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64) < 0.3).double()


def test_exact_quantities_equal_on_cpu_and_cuda():
    cpu, gpu = _model(), _model("cuda")
    v = _data(50)
    torch.testing.assert_close(gpu.free_energy(v.cuda()).cpu(), cpu.free_energy(v))
    torch.testing.assert_close(gpu.hidden_mean(v.cuda()).cpu(), cpu.hidden_mean(v))
    h = cpu.hidden_mean(v)
    torch.testing.assert_close(gpu.visible_mean(h.cuda()).cpu(), cpu.visible_mean(h))
    assert abs(crbm.exact_log_partition(gpu) - crbm.exact_log_partition(cpu)) < 1e-9


def _mean_log_likelihood(model: crbm.RBM, v: torch.Tensor) -> float:
    return float(crbm.log_probability(model, v, crbm.exact_log_partition(model)).mean())


def test_training_on_cuda_matches_cpu_statistically():
    v = _data()
    cfg = dict(epochs=30, batch_size=20, learning_rate=0.05, seed=3, verbose=False)
    before = _mean_log_likelihood(_model(), v)
    cpu, gpu = _model(), _model("cuda")
    crbm.fit(cpu, v, crbm.TrainConfig(device="cpu", **cfg))
    crbm.fit(gpu, v, crbm.TrainConfig(device="cuda", **cfg))
    after_cpu, after_gpu = _mean_log_likelihood(cpu, v), _mean_log_likelihood(gpu.cpu(), v)
    assert after_cpu > before + 0.5 and after_gpu > before + 0.5
    assert abs(after_cpu - after_gpu) < 0.1


def test_same_seed_same_model_on_cuda():
    v = _data()
    cfg = crbm.TrainConfig(epochs=3, batch_size=20, seed=4, device="cuda", verbose=False)
    a, b = _model("cuda"), _model("cuda")
    crbm.fit(a, v, cfg)
    crbm.fit(b, v, cfg)
    assert torch.equal(a.weight, b.weight)


def test_generation_on_cuda():
    model = crbm.CRBM(6, 16, 3, generator=torch.Generator().manual_seed(0)).to("cuda")
    seed = torch.randn(3, 6, generator=torch.Generator().manual_seed(1)).cuda()
    out = crbm.generate(model, seed, 50, k=5, n_chains=8, generator=torch.Generator(device="cuda").manual_seed(2))
    assert out.shape == (8, 50, 6) and out.device.type == "cuda" and bool(torch.isfinite(out).all())


def test_tf32_matmuls_on_cuda_learn_the_same_model_as_float32():
    """float32 RBM (64 x 12) trained on CUDA with plain float32 and with TF32 products from one seed: exact
    log-likelihoods within 0.05 nats; the backend setting is restored afterwards."""
    data = noisy_prototypes()
    before = torch.backends.cuda.matmul.fp32_precision
    result = {}
    for precision in ("ieee", "tf32"):
        model = crbm.RBM(64, 12, init_std=0.1, generator=torch.Generator().manual_seed(0), device="cuda")
        config = crbm.TrainConfig(epochs=20, batch_size=20, learning_rate=0.05, matmul_precision=precision,
                                  device="cuda", verbose=False, progress=False)
        crbm.fit(model, data, config)
        result[precision] = _mean_log_likelihood(model.double().cpu(), data.double())
    assert torch.backends.cuda.matmul.fp32_precision == before
    assert abs(result["tf32"] - result["ieee"]) < 0.05, result
