"""Dataset recipes: how each public data set crbm uses is fetched, checked and prepared (datasets/README.md).

One module per data set, each with ``NAME``, ``PUBLISHED`` (the facts its files must show), ``fetch(folder)``
(find or download, checked), ``check(folder)`` (the facts measured on the files; CRBMError when one differs
from the published value) and, where the data need more than loading, ``prepare``. ``folder`` is a data
folder laid out like the project's (docs/data.md); None looks in ``$CRBM_DATA``, then ``~/.cache/crbm``.
The loaders and downloads themselves are the package's (``crbm.data``). From the repository root:
``python -m datasets check [NAME ...] [--dir FOLDER]``.
"""

from datasets import cmu35, cmubench, faces, gpmat, mit, mnist, news20, reuters

RECIPES = {m.NAME: m for m in (cmu35, gpmat, mit, cmubench, mnist, faces, news20, reuters)}
