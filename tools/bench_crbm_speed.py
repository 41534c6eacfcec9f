"""crbm-speed: CRBM training throughput and batched generation speed, each against its matmul floor.

Training: one epoch of CD-1 through ``crbm.fit`` with Taylor's settings (``taylor_config``: batch 100,
mean-field reconstructions) on windows of order 3 over 56 channels (the width of the CMU-35 data after
DropConstant), for Taylor's model (150 hidden units) and a 10x larger one (1500 hidden units: 10x the
weights W and B). Figures are windows (frames) per second. The floor is the same matrix products alone,
with the same shapes and count per batch, into preallocated outputs: the shifts u A^T and u B^T, v W, h W^T,
v' W, the statistics v^T p(h|v) and v'^T p(h|v'), and dA = d_v^T u, dB = d_h^T u (9 products).
``floor_eager`` is the whole CD-1 epoch, the same computation as ``crbm.fit``'s, written as the fewest eager
torch calls into preallocated buffers (``tools/eager_step.py``): what any eager implementation pays on top of
the products; ``eager_over_floor`` is its time over the matmul floor's, ``ratio_eager`` ours over it.

Generation: ``crbm.generate`` with 30 Gibbs steps per frame (Taylor's setting) from Taylor's model for
1, 256 and 4096 chains; figures are generated frames per second over all chains. The floor is the
standard route's products alone per frame: u A^T and u B^T, then 30 x (v W and h W^T) on (chains, .)
matrices (the sampler may take a cheaper route with W^T W for small batches, so the ratio can fall below 1).
``floor_rng`` adds drawing the uniforms of the 29 hidden samples per frame from crbm's source
(``crbm.engine.noise.uniform``: counter-based on the CPU, torch's serial generator with
``CRBM_RANDOM_SOURCE=torch``, under which this draw dominates at 256 and 4096 chains). ``floor_uniforms`` is
that draw alone. ``floor_sampling`` (256 chains and more) is the products with each Gibbs step's hidden
sample made as cheaply as the engine's kernels allow, and no more: crbm's uniforms drawn into a reused buffer
as the sampler draws them (a frame's at once, or each step's just before its use from 131,072 units a step),
then per step one sigmoid and one comparison, in place (no biases, no Python but the loop): the least that
exact Bernoulli sampling with these kernels adds to the products, so ``floor / floor_sampling``
(``sampling_over_floor``) is the lowest ratio to the matmul floor such a sampler can reach on the machine
(a single chain takes cheaper routes: thresholds logit(u) drawn per frame and W^T W).

``torch_generator`` (training rows too) is ours with torch's generator for every draw
(``crbm.engine.noise.set_source("torch")``), timed in the same rounds.

Each figure is the best of ``repeats`` timed runs after a warm-up, ours and its floors run in turn in each
round (the machine may be shared). On CPU each row runs, ours and its floors alike, on the intra-op threads
crbm chooses for that work (``crbm.engine.threads``: one thread for Taylor's model, the free cores for large
products), or on the count set with ``OMP_NUM_THREADS``; each row says how many.
"""

from __future__ import annotations

import torch
from benchkit import race, row, with_torch_generator
from eager_step import EagerCD1

import crbm
from crbm.engine.noise import uniform, uniform_
from crbm.engine.threads import step_work, threads_for
from crbm.motion.sample import _PER_STEP_MIN

D, ORDER, BATCH, K = 56, 3, 100, 30


def _windows(n_frames: int, device: torch.device) -> crbm.Windows:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n_frames, dtype=torch.float32)[:, None] * 0.1
    frames = torch.sin(t + torch.rand(1, D, generator=g) * 6) + 0.1 * torch.randn(n_frames, D, generator=g)
    return crbm.Windows([frames[i : i + 500] for i in range(0, n_frames, 500)], ORDER).to(device)


def _train_floor(hidden: int, n_batches: int, device: torch.device):
    kw = {"device": device, "dtype": torch.float32}
    g = torch.Generator(device=device).manual_seed(1)
    w, a, b = (torch.randn(*s, generator=g, **kw) for s in ((D, hidden), (D, ORDER * D), (hidden, ORDER * D)))
    v, u = torch.randn(BATCH, D, generator=g, **kw), torch.randn(BATCH, ORDER * D, generator=g, **kw)
    ph = torch.rand(BATCH, hidden, generator=g, **kw)
    vs, hs, pre, vneg = (torch.empty(BATCH, D, **kw), torch.empty(BATCH, hidden, **kw),
                         torch.empty(BATCH, hidden, **kw), torch.empty(BATCH, D, **kw))
    dw, da, db = torch.empty_like(w), torch.empty_like(a), torch.empty_like(b)

    def step():
        for _ in range(n_batches):
            torch.mm(u, a.T, out=vs)
            torch.mm(u, b.T, out=hs)
            torch.mm(v, w, out=pre)
            torch.mm(ph, w.T, out=vneg)
            torch.mm(vneg, w, out=pre)
            torch.mm(v.T, ph, out=dw)
            torch.mm(vneg.T, ph, out=dw)
            torch.mm(vs.T, u, out=da)
            torch.mm(hs.T, u, out=db)

    return step


def _generate_floor(chains: int, n_frames: int, hidden: int, device: torch.device, *, products: bool = True,
                    rng: bool = False, sampling: bool = False):
    """The products of generation alone; with ``rng`` also the uniforms of the K - 1 hidden samples per frame
    (``products=False``: the uniforms alone); with ``sampling``, the products and each step's hidden sample
    (that step's uniforms, a sigmoid and a comparison, in place)."""
    kw = {"device": device, "dtype": torch.float32}
    g = torch.Generator(device=device).manual_seed(2)
    w, a, b = (torch.randn(*s, generator=g, **kw) for s in ((D, hidden), (D, ORDER * D), (hidden, ORDER * D)))
    u, v = torch.randn(chains, ORDER * D, generator=g, **kw), torch.randn(chains, D, generator=g, **kw)
    vs, hs, pre = torch.empty(chains, D, **kw), torch.empty(chains, hidden, **kw), torch.empty(chains, hidden, **kw)
    noise = torch.empty(K - 1, chains, hidden, **kw)
    step_noise = torch.empty(chains, hidden, **kw)

    per_step = chains * hidden >= _PER_STEP_MIN and device.type == "cpu"  # the sampler's rule
    ws = w * 0.01  # the model's initial scale: moderate inputs to the sigmoid (|x| > 87 takes a slower path)

    def sampled():
        for _ in range(n_frames):
            torch.mm(u, a.T, out=vs)
            torch.mm(u, b.T, out=hs)
            rounds = None if per_step else uniform_(noise, g)
            for s in range(K - 1):
                torch.mm(v, ws, out=pre)
                torch.sigmoid(pre, out=pre)
                torch.lt(uniform_(step_noise, g) if rounds is None else rounds[s], pre, out=pre)
                torch.mm(pre, ws.T, out=v)
            torch.mm(v, ws, out=pre)
            torch.mm(pre, ws.T, out=v)

    def step():
        for _ in range(n_frames):
            if rng:
                uniform(noise.shape, g, noise)
            if not products:
                continue
            torch.mm(u, a.T, out=vs)
            torch.mm(u, b.T, out=hs)
            for _ in range(K):
                torch.mm(v, w, out=pre)
                torch.mm(pre, w.T, out=v)

    return sampled if sampling else step


def run(*, quick: bool, device: str) -> dict:
    dev = crbm.engine.train.resolve_device(device)
    repeats = 2 if quick else 5
    rows = []
    n_frames = 10000 if quick else 50000
    data = _windows(n_frames, dev)
    n_batches = -(-len(data) // BATCH)
    for name, hidden in (("train_fps_taylor_h150", 150), ("train_fps_10x_h1500", 1500)):
        model = crbm.CRBM(D, hidden, ORDER, device=dev, generator=torch.Generator().manual_seed(0))
        config = crbm.taylor_config(epochs=1, verbose=False, progress=False, device=str(dev))

        def train(m=model, c=config):
            crbm.fit(m, data, c)

        eager = EagerCD1(model, config, data.v, data.u)

        eager_gen, eager_mom = torch.Generator(device=dev).manual_seed(0), config.momentum_at(0)

        def eager_epoch(e=eager, g=eager_gen, mom=eager_mom):
            e.epoch(g, mom)

        with threads_for(step_work(model, BATCH), dev) as n_threads:
            times = race([train, with_torch_generator(train), _train_floor(hidden, n_batches, dev), eager_epoch],
                         repeats=repeats, device=dev, warm_up=True)
        ours, torch_source, floor, floor_eager = (len(data) / t for t in times)
        rows.append(row(name, round(ours), round(floor), "higher", peer="matmul floor", ratio=round(floor / ours, 2),
                        floor_eager=round(floor_eager), eager_over_floor=round(floor / floor_eager, 2),
                        ratio_eager=round(floor_eager / ours, 2), torch_generator=round(torch_source),
                        threads=n_threads))
    model = crbm.CRBM(D, 150, ORDER, device=dev, generator=torch.Generator().manual_seed(0))
    seed = data.frames[:ORDER]
    frames_per_chain = {1: 100 if quick else 300, 256: 10 if quick else 40, 4096: 2 if quick else 10}
    if dev.type == "cuda":
        frames_per_chain = {1: 100, 256: 100, 4096: 100}
    for chains, t in frames_per_chain.items():
        g = torch.Generator(device=dev).manual_seed(3)

        def gen(chains=chains, t=t, g=g):
            crbm.generate(model, seed, t, k=K, n_chains=chains, generator=g)

        floors = [_generate_floor(chains, t, 150, dev, products=p, rng=r)
                  for p, r in ((True, False), (True, True), (False, True))]
        if chains > 1:
            floors.append(_generate_floor(chains, t, 150, dev, sampling=True))
        with threads_for(step_work(model, chains), dev) as n_threads:
            times = race([gen, with_torch_generator(gen), *floors], repeats=repeats, device=dev,
                         warm_up=True)
        ours, torch_source, floor, floor_rng, floor_uniforms, *sampling = (chains * t / s for s in times)
        sampling_floor = {"floor_sampling": round(sampling[0]), "sampling_over_floor": round(floor / sampling[0], 2),
                          "ratio_sampling": round(sampling[0] / ours, 2)} if sampling else {}
        rows.append(row(f"generate_fps_{chains}", round(ours), round(floor), "higher", peer="matmul floor",
                        ratio=round(floor / ours, 2), floor_rng=round(floor_rng), ratio_rng=round(floor_rng / ours, 2),
                        floor_uniforms=round(floor_uniforms), ratio_uniforms=round(floor_uniforms / ours, 2),
                        **sampling_floor,
                        torch_generator=round(torch_source), threads=n_threads))
    return {"rows": rows}
