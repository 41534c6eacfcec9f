"""Allow ``python -m crbm`` (and ``torchrun -m crbm``) as well as the ``crbm`` console script."""

from crbm.cli import main

raise SystemExit(main())
