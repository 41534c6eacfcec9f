"""Data sets: where their files live and how they are checked (``paths``), one downloader (``download``),
and the loaders (motion capture, MNIST, Olivetti faces, documents, MovieLens).

Everything public is importable from ``crbm`` itself (one list: ``crbm.__all__``)."""
