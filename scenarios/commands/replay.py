"""``beamtwin replay RUN``: a stored run's documents into the live table, as if live."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the ``replay`` subcommand."""
    replay = sub.add_parser("replay", help="replay a stored run into the live table",
                            description="RUN: a non-negative integer is a scan_id, a negative one counts back "
                                        "from the latest (-1 = latest), anything else is a uid or uid prefix.")
    replay.add_argument("run", metavar="RUN")
    replay.add_argument("--data-dir", default="beamtwin-data")
    replay.add_argument("--pace", type=float, default=None,
                        help="1 = the original timing, 10 = ten times faster (default: as fast as possible)")
    replay.add_argument("--stream", default="primary", help="the stream shown in the table (default: primary)")
    replay.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Replay the run into ``acq.callbacks.LiveTable``."""
    from acq.callbacks import LiveTable
    from store import Catalog

    if args.pace is not None and args.pace <= 0:
        raise ValueError(f"--pace must be positive (1 = original timing), not {args.pace}")
    try:
        run = Catalog(args.data_dir)[args.run]
    except KeyError as exc:
        print(f"beamtwin replay: {exc.args[0]}", file=sys.stderr)
        return 2
    run.replay(LiveTable(stream=args.stream), pace=args.pace)
    return 0
