"""The engine: the one Boltzmann machine every model samples through (unit families, the random draws, the
RBM's energy, conditionals and Gibbs sampling, exact and AIS evaluation, the trainer with its matmul precision
and data-parallel training, checkpoints) and the shared plumbing under it (errors, argument checks, atomic
writes, input limits, threads, progress, training curves).

Everything public is importable from ``crbm`` itself (one list: ``crbm.__all__``)."""
