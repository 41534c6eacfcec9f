"""Models of time series on the engine: conditional RBMs (CRBM, two-layer, label CRBM, FCRBM), generation,
filtering, smoothing and gap filling, forecasting baselines, streaming windows, the MotionModel that
goes from clips to clips, the demo and the cleaning of recorded motion.

Everything public is importable from ``crbm`` itself (one list: ``crbm.__all__``)."""
