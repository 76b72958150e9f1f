"""The ``beamtwin`` command line: subcommands live in ``scenarios.commands``."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from acq.loop import dump_state_on
from scenarios.commands import MODULES

EXAMPLES = """\
examples:
  beamtwin run                         run the default scenario end to end
  beamtwin run demo --speed 50 --seed 3 --data-dir ./data
  beamtwin run beam-dump --ci         a scan through a beam dump: suspend, resume, nothing lost
  beamtwin run alignment               GP-BO aligns 4 coupled optics axes for flux, per event over CA
  beamtwin run sample-map --ci         GP mapping of a 2-D sample, a camera frame per point in HDF5
  beamtwin evaluate --agent gp-bo --agent random --agent coordinate --scenario alignment --episodes 20
  beamtwin serve demo --port 5064      serve the twin's PVs on 127.0.0.1:5064
  beamtwin export -1 --format jsonl --data-dir ./data
"""


def parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    p = argparse.ArgumentParser(
        prog="beamtwin", description="A digital twin of a synchrotron beamline, and the tools to run it.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``beamtwin`` command (no subcommand means ``run``)."""
    argv = sys.argv[1:] if argv is None else argv
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        dump_state_on(signal.SIGUSR1)  # `kill -USR1 PID` shows what a hung run waits on
    args = parser().parse_args(argv)
    if args.command is None:
        args = parser().parse_args(["run", *argv])
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, TimeoutError) as exc:
        print(f"beamtwin {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
