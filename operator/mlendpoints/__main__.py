"""``python -m mlendpoints`` is the same as the ``mlendpoints`` console script."""

from mlendpoints.cli import main

raise SystemExit(main())
