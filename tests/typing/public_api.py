"""Type-checked, never run: the everyday uses of crbm's public API, as a user's code would write them.

``mypy tests/typing`` (the [tool.mypy] settings in pyproject.toml; ``.ci/run`` runs it, and tests/test_docs.py
where mypy is installed) must pass: crbm ships ``py.typed``, so these types come from crbm's own annotations,
and every ``assert_type`` fails if a public function's result were untyped (``Any``) or of another type.
"""

from __future__ import annotations

from pathlib import Path

import torch
from typing_extensions import assert_type

import crbm
from crbm.mocap.render import Animation

# motion files
clip = crbm.read_motion("walk.bvh")
assert_type(clip, crbm.Motion)
assert_type(crbm.read_motions("takes.parquet"), list[crbm.Motion])
assert_type(clip.n_frames, int)
assert_type(clip.fps, float)
assert_type(clip.skeleton, crbm.Skeleton)
assert_type(crbm.write_motion(clip, "walk.parquet"), list[Path])

# the main job
model = crbm.train_motion_model([clip], epochs=10, batch_size=50)
assert_type(model, crbm.MotionModel)
assert_type(model.history, list[dict])
assert_type(model.save("walk.safetensors"), Path)
model = crbm.load_motion_model("demo")
generated = model.generate(200, generator=torch.Generator().manual_seed(0))
assert_type(generated, list[crbm.Motion])
assert_type(model.generate([("walk", 120), ("run", 120)], n_chains=2, seed=clip), list[crbm.Motion])
assert_type(model.denoise(clip), crbm.Motion)
assert_type(model.fill(clip, ["lfemur"], start=10), crbm.Motion)
assert_type(model.evaluate([clip]), dict)

# pictures and curves
assert_type(crbm.animate(clip, "walk.gif"), Animation)
assert_type(crbm.plot_poses(clip, "poses.png"), Path)
assert_type(crbm.history_of(model), list[dict])
crbm.plot_training(model, "curves.png")

# threads
crbm.set_threads(1)
crbm.set_threads(None)

# the engine
rbm = crbm.RBM(16, 8, visible="bernoulli", hidden="bernoulli")
assert_type(rbm, crbm.RBM)
history = crbm.fit(rbm, torch.zeros(100, 16), crbm.TrainConfig(epochs=2, batch_size=10))
assert_type(history, list[dict])
assert_type(crbm.exact_log_partition(rbm), float)
# the sampler's settings: a SamplerConfig beside the optimiser's, or the keywords they always were
sampled = crbm.TrainConfig(epochs=2, k=3, persistent=True, n_chains=20)
assert_type(sampled.k, int)
assert_type(sampled.sampler, crbm.SamplerConfig)
assert_type(crbm.TrainConfig(sampler=crbm.SamplerConfig(k=10, mean_visible=False)).n_chains, int | None)
