"""``beamtwin export RUN``: a stored run's documents."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the ``export`` subcommand."""
    export = sub.add_parser("export", help="export a stored run's documents",
                            description="RUN: a non-negative integer is a scan_id, a negative one counts back "
                                        "from the latest (-1 = latest), anything else is a uid or uid prefix.")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--data-dir", default="beamtwin-data")
    export.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Print the run's documents as JSON lines ``[name, doc]``."""
    from store import Catalog
    from store.netcdf import to_json

    try:
        run = Catalog(args.data_dir)[args.run]
    except KeyError as exc:
        print(f"beamtwin export: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        for name, doc in run.documents():
            sys.stdout.write(to_json([name, doc]) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (e.g. `head`) has had enough
        sys.stderr.close()
    return 0
