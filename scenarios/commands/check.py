"""``beamtwin check PROFILE``: connect to every PV of a profile and report what is missing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from typing import Any


def register(sub: Any) -> None:
    """Add the ``check`` subcommand."""
    p = sub.add_parser("check", help="connect to every PV of a profile (twin or real) and report what is missing",
                       description="Exit status 0 when every PV connects, 1 when some do not.")
    p.add_argument("profile", help="beamline profile: a shipped name or a YAML file")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each PV (default 3)")
    p.add_argument("--twin", metavar="SCENARIO", default=None,
                   help="start this scenario's twin first and check against it")
    p.set_defaults(func=main)


async def _check(devices: dict[str, Any], timeout: float) -> dict[str, list[str]]:
    async def one(dev: Any) -> list[str]:
        sigs = list(dev.signals())
        results = await asyncio.gather(*(s.connect(timeout) for s in sigs), return_exceptions=True)
        return [s.source for s, r in zip(sigs, results, strict=True) if isinstance(r, BaseException)]

    missing = await asyncio.gather(*(one(d) for d in devices.values()))
    return dict(zip(devices, missing, strict=True))


def main(args: argparse.Namespace) -> int:
    """Print one line per device: ok, or the PVs that did not connect."""
    import beamlines
    from acq.devices import make_devices
    from acq.loop import call_in_loop
    from scenarios.twin_process import TwinProcess

    profile = beamlines.load(args.profile)
    with contextlib.ExitStack() as stack:
        if args.twin:
            twin = stack.enter_context(TwinProcess(args.twin))
            os.environ.update(twin.env)
        print(f"checking {profile['_path']} against EPICS_CA_ADDR_LIST="
              f"{os.environ.get('EPICS_CA_ADDR_LIST', '(auto)')}")
        devices = make_devices(profile)
        report = call_in_loop(_check(devices, args.timeout))
    bad = 0
    for name, missing in report.items():
        total = len(list(devices[name].signals()))
        if missing:
            bad += 1
            pvs = ", ".join(m.removeprefix("ca://") for m in missing)
            print(f"  MISSING {name}: {len(missing)}/{total} PVs: {pvs}")
        else:
            print(f"  ok      {name}: {total} PVs")
    return 1 if bad else 0
