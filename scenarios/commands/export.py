"""``beamtwin export RUN``: a stored run as JSON lines, CSV or XDI; ``beamtwin import FILE``: back in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``export`` and ``import`` subcommands."""
    export = sub.add_parser("export", help="export a stored run (jsonl to stdout, csv/xdi into --out)",
                            description="RUN: a non-negative integer is a scan_id, a negative one counts back "
                                        "from the latest (-1 = latest), anything else is a uid or uid prefix.")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--format", choices=["jsonl", "csv", "xdi"], default="jsonl")
    export.add_argument("--data-dir", default="beamtwin-data")
    export.add_argument("--out", type=Path, default=None,
                        help="directory for the files (csv, xdi: default '.'; jsonl: default stdout)")
    export.set_defaults(func=main)
    imp = sub.add_parser("import", help="store the runs of a JSON-lines file (as written by export)",
                         description="Read [name, doc] JSON lines (a file, or - for stdin) and store each run.")
    imp.add_argument("file", help="JSON-lines file, or - for standard input")
    imp.add_argument("--data-dir", default="beamtwin-data")
    imp.set_defaults(func=import_main)


def main(args: argparse.Namespace) -> int:
    """Export the run; print the files written (file formats) or the documents (jsonl)."""
    from store import Catalog
    from store.export import export

    try:
        run = Catalog(args.data_dir)[args.run]
    except KeyError as exc:
        print(f"beamtwin export: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        paths = export(run.documents(), args.format, out_dir=args.out)
    except BrokenPipeError:  # the reader (e.g. `head`) has had enough
        sys.stderr.close()
        return 0
    for path in paths:
        print(path)
    return 0


def import_main(args: argparse.Namespace) -> int:
    """Import the runs and print their files."""
    from store.importer import import_jsonl

    if args.file == "-":
        paths = import_jsonl(sys.stdin, args.data_dir)
    else:
        with open(args.file) as f:
            paths = import_jsonl(f, args.data_dir)
    for path in paths:
        print(path)
    return 0
