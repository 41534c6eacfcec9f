"""Models of independent examples on the engine: deep belief nets, deep Boltzmann machines, deep
autoencoders, classifiers, semantic hashing and retrieval, PCA, collaborative filtering.

Everything public is importable from ``crbm`` itself (one list: ``crbm.__all__``)."""
