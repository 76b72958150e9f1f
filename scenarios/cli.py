"""The ``beamtwin`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

EXAMPLES = """\
examples:
  beamtwin run                         run the default scenario end to end
  beamtwin run demo --speed 50 --seed 3 --data-dir ./data
  beamtwin serve demo --port 5064      serve the twin's PVs on 127.0.0.1:5064
  beamtwin export -1 --format jsonl --data-dir ./data
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="beamtwin", description="A digital twin of a synchrotron beamline, and the tools to run it.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario end to end (default: demo)",
                         description="Start the twin, run the scenario's experiment, store and fit the data. "
                                     "Exit status 0 only when the run succeeded and met its criteria.")
    run.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file (default: demo)")
    run.add_argument("--data-dir", default="beamtwin-data", help="where runs are stored (default: ./beamtwin-data)")
    run.add_argument("--speed", type=float, default=None, help="simulation speed factor (default: the scenario's)")
    run.add_argument("--seed", type=int, default=None, help="twin seed (default: the scenario's)")

    serve = sub.add_parser("serve", help="serve the twin's IOCs on loopback",
                           description="Serve the scenario's beamline as EPICS IOCs on 127.0.0.1.")
    serve.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file (default: demo)")
    serve.add_argument("--port", type=int, default=None,
                       help="CA server port (default: $EPICS_CA_SERVER_PORT, else 5064)")
    serve.add_argument("--ready-file", type=Path, default=None,
                       help="once every PV answers, write the served PV names here, one per line")
    serve.add_argument("--speed", type=float, default=None, help="simulation speed factor")
    serve.add_argument("--seed", type=int, default=None, help="twin seed")

    export = sub.add_parser("export", help="export a stored run's documents",
                            description="RUN: a non-negative integer is a scan_id, a negative one counts back "
                                        "from the latest (-1 = latest), anything else is a uid or uid prefix.")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--data-dir", default="beamtwin-data")
    return p


def _cmd_run(args: argparse.Namespace) -> int:
    from scenarios.runner import run_scenario

    outcome = run_scenario(args.scenario, data_dir=args.data_dir, speed=args.speed, seed=args.seed)
    print(f"stored: {outcome.path}")
    if outcome.fit is not None:
        print(f"fitted peak centre: {outcome.fit['center']:.4f} (true {outcome.truth['center']:.4f}, "
              f"|error| {outcome.details['center_error']:.4f} ≤ {outcome.details['tolerance']:.4f}?)")
    for name, ok in outcome.checks.items():
        print(f"  {'PASS' if ok else 'FAIL'} {name}")
    return 0 if outcome.ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    import os

    from scenarios import scenario as scenarios
    from twin.iocs.server import client_environment, serve_async

    sc = scenarios.load(args.scenario)
    port = args.port or int(os.environ.get("EPICS_CA_SERVER_PORT", "5064"))
    seed = sc.seed if args.seed is None else args.seed
    speed = sc.speed if args.speed is None else args.speed
    print(f"beamtwin serve: scenario {sc.name}, beamline {sc.beamline.get('name')}, seed {seed}, "
          f"speed ×{speed:g}, bound to 127.0.0.1 only", flush=True)
    print("clients need:", flush=True)
    for key, value in client_environment(port).items():
        print(f"  export {key}={value}", flush=True)
    try:
        asyncio.run(serve_async(sc.beamline, port=port, seed=seed, speed=speed, ready_file=args.ready_file))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``beamtwin`` command."""
    args = _parser().parse_args(argv)
    if args.command is None:
        args = _parser().parse_args(["run", *(argv or [])])
    handlers = {"run": _cmd_run, "serve": _cmd_serve, "export": _cmd_export}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError, TimeoutError) as exc:
        print(f"beamtwin {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
