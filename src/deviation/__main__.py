"""``python -m deviation`` runs the command line."""

from ._entry import main

raise SystemExit(main())
