"""``beamtwin queue …``: the queue server (``serve``) and its clients (add, ls, move, rm, start, …)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    """Add the ``queue`` subcommand and its own subcommands."""
    from qserver import cli

    queue = sub.add_parser("queue", help="the plan queue server and its clients",
                           description="Clients read BEAMTWIN_QUEUE_URL and BEAMTWIN_QUEUE_KEY.")
    qsub = queue.add_subparsers(dest="queue_command", metavar="QUEUE_COMMAND", required=True)
    serve = qsub.add_parser("serve", help="serve the queue (HTTP API, worker, SQLite state)")
    serve.add_argument("--state-dir", type=Path, required=True, help="queue, history, keys, worker files")
    serve.add_argument("--port", type=int, required=True, help="HTTP port on 127.0.0.1")
    serve.add_argument("--ready-file", type=Path, default=None, help="written (with the URL) once the API answers")
    serve.add_argument("--twin", default=None, metavar="SCENARIO",
                       help="start this scenario's twin for the worker (default without --profile: demo)")
    serve.add_argument("--profile", default=None,
                       help="device profile; without it the default twin is started and its profile used")
    serve.add_argument("--data-dir", type=Path, default=None, help="where runs are stored (default: D/data)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--no-open", action="store_true", help="do not open the environment at start")
    serve.add_argument("--suspend-settle", type=float, default=1.0, metavar="S",
                       help="seconds of good beam before a plan suspended by a beam loss resumes (default 1)")
    cli.register(qsub)
    queue.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Serve, or run a client command."""
    if args.queue_command != "serve":
        from qserver import cli

        return cli.run(args)
    from qserver.server import fast_event_loop, serve_async
    from scenarios.queue_twin import QueueTwin

    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    twin = args.twin or (None if args.profile else "demo")
    profile = args.profile or "default"

    def run(env: dict[str, str] | None) -> None:
        with fast_event_loop():
            asyncio.run(serve_async(state_dir, args.port, ready_file=args.ready_file, profile=profile,
                                    data_dir=args.data_dir, worker_env=env, host=args.host,
                                    open_environment=not args.no_open, suspend_settle=args.suspend_settle))

    if twin is None:
        run(None)
        return 0
    with QueueTwin(state_dir, twin) as env:
        if args.profile is None:
            from scenarios import scenario as scenarios

            profile = str(scenarios.load(twin).beamline["_path"])
        os.environ.update(env)
        run(env)
    return 0
