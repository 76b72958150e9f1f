"""``python -m scenarios`` is the ``beamtwin`` command."""

from scenarios.cli import main

raise SystemExit(main())
