"""``beamtwin serve SCENARIO --split``: one beamline as several IOC processes, one port each."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from scenarios.twin_process import TwinProcess
from twin.iocs.server import RESTART_EXIT_CODE, ioc_groups


def split_ports(spec: str | None, base: int, count: int) -> list[int]:
    """The IOCs' ports: ``spec`` (comma-separated) if given, else ``base``, ``base+1``, …"""
    if spec is None:
        return [base + i for i in range(count)]
    try:
        ports = [int(p) for p in spec.split(",")]
    except ValueError:
        raise ValueError(f"--ports: comma-separated port numbers, got {spec!r}") from None
    if len(ports) != count or len(set(ports)) != count:
        raise ValueError(f"--ports: {count} distinct ports needed (one per IOC), got {spec!r}")
    return ports


def serve_split(args: argparse.Namespace, beamline: dict[str, Any], port: int, seed: int, speed: float) -> int:
    """Launch one ``beamtwin serve --ioc`` process per IOC, print what clients need, supervise
    them (an IOC asking for a restart starts again on its port) until interrupted."""
    if args.host != "127.0.0.1":
        raise ValueError("--split serves on 127.0.0.1 only")
    if getattr(args, "clock", "free") != "free":
        raise ValueError("--split needs the free clock (the stepped clock lives in one process)")
    groups = ioc_groups(beamline)
    ports = split_ports(args.ports, port, len(groups))
    twin = TwinProcess(args.scenario or "demo", seed=seed, speed=speed, beamline=args.beamline, split=True,
                       ports=ports, supervise=True, autosave_dir=args.autosave_dir)
    print(f"split into {len(groups)} IOC processes sharing one physics model:", flush=True)
    for (name, devices), p in zip(groups.items(), ports, strict=True):
        print(f"  ioc {name} on 127.0.0.1:{p}: {', '.join(devices)}", flush=True)
    print("clients need:", flush=True)
    for key, value in twin.env.items():
        print(f"  export {key}={value}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the IOC processes too
    try:
        twin.start()
        if args.ready_file is not None:
            tmp = Path(str(args.ready_file) + ".tmp")
            tmp.write_text("\n".join(twin.pvs) + "\n")
            tmp.replace(args.ready_file)
        print(f"twin ready: {len(twin.pvs)} PVs in {len(groups)} IOC processes", file=sys.stderr, flush=True)
        while True:
            for name, member in twin.iocs.items():
                proc = member.proc
                if proc is not None and proc.poll() not in (None, RESTART_EXIT_CODE):
                    print(f"ioc {name} exited with {proc.returncode}; the others keep serving "
                          f"(log: {member.log_path})", file=sys.stderr, flush=True)
                    member.proc = None
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        twin.stop()
    return 0
