"""The engine: the one Boltzmann machine every model samples through (unit families, the RBM's energy,
conditionals and Gibbs sampling, exact and AIS evaluation, the trainer, checkpoints) and the shared
plumbing under it (errors, atomic writes, input limits, threads, progress, training curves).

Everything public is importable from ``crbm`` itself (one list: ``crbm.__all__``)."""
