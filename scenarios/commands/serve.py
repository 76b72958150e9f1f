"""``beamtwin serve [SCENARIO]``: the twin's IOCs on loopback."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import traceback
from collections.abc import Coroutine
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand."""
    serve = sub.add_parser("serve", help="serve the twin's IOCs on loopback",
                           description="Serve the scenario's beamline as EPICS IOCs on 127.0.0.1.")
    serve.add_argument("scenario", nargs="?", default=None, help="scenario name or YAML file (default: demo)")
    serve.add_argument("--port", type=int, default=None,
                       help="CA server port (default: $EPICS_CA_SERVER_PORT, else 5064)")
    serve.add_argument("--ready-file", type=Path, default=None,
                       help="once every PV answers, write the served PV names here, one per line")
    serve.add_argument("--speed", type=float, default=None, help="simulation speed factor")
    serve.add_argument("--seed", type=int, default=None, help="twin seed")
    serve.add_argument("--clock", choices=("free", "stepped"), default="free",
                       help="simulation clock: free runs with the wall clock (× speed); stepped is "
                            "event-driven (moves and counts take no wall time and advance simulated time "
                            "by their duration), so the same seed and puts give the same readings")
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to serve on (default 127.0.0.1; others need --allow-network)")
    serve.add_argument("--allow-network", action="store_true",
                       help="allow serving on an interface other than loopback")
    serve.add_argument("--autosave-dir", type=Path, default=None,
                       help="restore settings saved here by an earlier run, and save them here as they change")
    serve.add_argument("--beamline", default=None,
                       help="serve this beamline (shipped name or YAML file) instead of the scenario's")
    serve.add_argument("--split", action="store_true",
                       help="serve the beamline as several IOC processes (its 'iocs' section, else one per "
                            "device), one port each, sharing one physics model; restarts an IOC that asks")
    serve.add_argument("--ports", default=None,
                       help="with --split: the IOCs' ports, comma-separated, in the order of the IOCs "
                            "(default: --port, --port+1, …)")
    serve.add_argument("--ioc", default=None,
                       help="serve only this IOC of a split beamline (with --cluster; --split launches these)")
    serve.add_argument("--cluster", type=Path, default=None,
                       help="with --ioc: the directory through which the IOC processes share the physics")
    serve.add_argument("--parent-pid", type=int, default=None,
                       help="exit when this process (the launcher) is gone, so no IOC outlives its run")
    serve.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Serve until interrupted; print what a client needs first."""
    import beamlines
    from scenarios import scenario as scenarios
    from twin.iocs.server import client_environment, serve_async

    sc = scenarios.load(args.scenario)
    if getattr(args, "beamline", None):
        sc.beamline = beamlines.load(args.beamline)
    port = args.port or int(os.environ.get("EPICS_CA_SERVER_PORT", "5064"))
    seed = sc.seed if args.seed is None else args.seed
    speed = sc.speed if args.speed is None else args.speed
    if args.host != "127.0.0.1" and not args.allow_network:
        raise ValueError(f"refusing to serve on {args.host}: the twin binds 127.0.0.1 unless --allow-network")
    where = "bound to 127.0.0.1 only" if args.host == "127.0.0.1" else f"bound to {args.host} (network allowed)"
    print(f"beamtwin serve: scenario {sc.name}, beamline {sc.beamline.get('name')}, seed {seed}, "
          f"speed ×{speed:g}, clock {getattr(args, 'clock', 'free')}, {where}", flush=True)
    if getattr(args, "parent_pid", None):
        _exit_with_parent(args.parent_pid)
    if getattr(args, "split", False):
        from scenarios.split import serve_split

        return serve_split(args, sc.beamline, port, seed, speed)
    if getattr(args, "ioc", None) and not getattr(args, "cluster", None):
        raise ValueError("--ioc needs --cluster DIR (the directory the IOC processes share)")
    if getattr(args, "ioc", None):
        print(f"IOC {args.ioc} of a split twin: clients need every IOC's host:port in EPICS_CA_ADDR_LIST "
              "(beamtwin serve --split prints them all); this one:", flush=True)
    print("clients need:", flush=True)
    for key, value in client_environment(port, args.host).items():
        print(f"  export {key}={value}", flush=True)
    try:
        asyncio.run(_serve_or_exit(serve_async(sc.beamline, port=port, seed=seed, speed=speed,
                                               ready_file=args.ready_file,
                                               autosave_dir=getattr(args, "autosave_dir", None), host=args.host,
                                               allow_network=args.allow_network,
                                               clock=getattr(args, "clock", "free"),
                                               ioc=getattr(args, "ioc", None),
                                               cluster_dir=getattr(args, "cluster", None))))
    except KeyboardInterrupt:
        pass
    return 0


def _exit_with_parent(pid: int, period: float = 0.5) -> None:
    """Leave (exit code 3) as soon as process ``pid`` is no longer this process's parent."""

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(period)
        print(f"beamtwin serve: launcher {pid} is gone; stopping", file=sys.stderr, flush=True)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


async def _serve_or_exit(serving: Coroutine[Any, Any, None]) -> None:
    """Serve; if the server fails, say why and leave at once (exit code 1).

    asyncio.run() would otherwise cancel every remaining task and wait for them, and one that
    ignores its cancellation keeps a process alive that serves nothing: its launcher (e.g. a
    ``TwinProcess`` restarting the IOC) would wait for a twin that never comes."""
    try:
        await serving
    except (ValueError, FileNotFoundError, TimeoutError) as exc:  # as the CLI reports bad input
        print(f"beamtwin serve: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(2)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)
