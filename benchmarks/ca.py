"""Step-scan throughput over Channel Access against a twin IOC on loopback.

Three measurements in one run, against the same twin IOC subprocess, interleaved in rounds
so that the load of a shared machine falls on all of them alike:

- ``points_per_s``: our RunEngine running ``plans.scan`` of a setpoint/readback signal
  (the motor record's VAL with put-completion, read back from RBV by a fresh CA read at
  every point) and a passive point detector (the scaler channel the beamline file names,
  kept current by a CA monitor), one event per point;
- ``raw_floor_points_per_s``: caproto's raw asyncio client doing, per point, what cannot be
  avoided: one put with completion to VAL and one read of RBV;
- ``peer_points_per_s``: Bluesky's RunEngine with ophyd (caproto control layer) running
  ``bluesky.plans.scan`` over the same PVs, configured alike (fresh readback reads, the
  detector with ``auto_monitor``) (only when ``bluesky`` and ``ophyd`` are
  installed: ``pip install -e '.[peer]'``).

Usage: ``python benchmarks/ca.py [--points 400] [--rounds 5] [--speed 1000]``. The last
line printed is one JSON object with the figures (medians over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import beamlines  # noqa: E402


def _pvs() -> tuple[str, str, str]:
    """(setpoint PV, readback PV, detector PV) from the default beamline file."""
    devices = beamlines.load("default")["devices"]
    motor = next(spec for spec in devices.values() if spec["kind"] == "motor")
    scaler = next(spec for spec in devices.values() if spec["kind"] == "scaler")
    channel = next(iter((scaler.get("channels") or {"det": 2}).values()))
    return motor["prefix"], f"{motor['prefix']}.RBV", f"{scaler['prefix']}.S{int(channel)}"


def positions(n: int) -> list[float]:
    """``n`` small steps back and forth (0 → 1 mm), so motion takes little simulated time."""
    return [i / (n - 1) for i in range(n)]


def raw_floor(setpoint: str, readback: str, n: int) -> float:
    """Points/s of one put with completion plus one read, with caproto's raw asyncio client."""

    async def run() -> float:
        from caproto.asyncio.client import Context

        ctx = Context()
        try:
            sp, rb = await ctx.get_pvs(setpoint, readback)
            await sp.wait_for_connection()
            await rb.wait_for_connection()
            await sp.write([0.0], wait=True)
            t0 = time.perf_counter()
            for x in positions(n):
                await sp.write([x], wait=True)
                await rb.read(data_type="time")
            return n / (time.perf_counter() - t0)
        finally:
            await ctx.disconnect()

    return asyncio.run(run())


def ours(setpoint: str, readback: str, detector: str) -> Callable[[int], float]:
    """Points/s of our RunEngine's ``plans.scan`` (connect once, time each scan)."""
    from acq import plans
    from acq.devices import CABackend, Signal
    from acq.engine import RunEngine
    from acq.loop import call_in_loop

    sig = Signal(CABackend(readback), write_backend=CABackend(setpoint), name="sig", kind="hinted")
    det = Signal(CABackend(detector, monitor=True), name="det", kind="hinted", read_only=True)
    call_in_loop(sig.connect(5.0))
    call_in_loop(det.connect(5.0))
    RE = RunEngine()

    def run(n: int) -> float:
        RE(plans.mv(sig, 0.0))
        events = 0

        def count(name: str, doc: dict[str, Any]) -> None:
            nonlocal events
            events += name == "event"

        token = RE.subscribe(count)
        t0 = time.perf_counter()
        RE(plans.scan([det], sig, 0.0, 1.0, n))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        assert events == n, f"expected {n} events, got {events}"
        return n / dt

    return run


def peer(setpoint: str, readback: str, detector: str) -> Callable[[int], float] | None:
    """Points/s of Bluesky's RunEngine with ophyd over caproto, or None if not installed."""
    try:
        os.environ.setdefault("OPHYD_CONTROL_LAYER", "caproto")
        import bluesky.plans as bp
        from bluesky import RunEngine
        from ophyd import EpicsSignal, EpicsSignalRO
    except ImportError:
        return None
    sig = EpicsSignal(readback, write_pv=setpoint, put_complete=True, name="sig")
    det = EpicsSignalRO(detector, name="det", auto_monitor=True)
    sig.wait_for_connection(timeout=5.0)
    det.wait_for_connection(timeout=5.0)
    RE = RunEngine({})

    def run(n: int) -> float:
        sig.set(0.0).wait(10)
        events = 0

        def count(name: str, doc: dict[str, Any]) -> None:
            nonlocal events
            events += name == "event"

        token = RE.subscribe(count)
        t0 = time.perf_counter()
        RE(bp.scan([det], sig, 0.0, 1.0, n))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        assert events == n, f"expected {n} events, got {events}"
        return n / dt

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400, help="points per scan")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians are reported)")
    parser.add_argument("--speed", type=float, default=1000.0, help="the twin's simulation speed factor")
    args = parser.parse_args(argv)

    from scenarios.twin_process import TwinProcess

    setpoint, readback, detector = _pvs()
    with TwinProcess("demo", seed=1, speed=args.speed) as twin:
        os.environ.update(twin.env)
        mine = ours(setpoint, readback, detector)
        theirs = peer(setpoint, readback, detector)
        figures: dict[str, list[float]] = {"raw": [], "ours": [], "peer": []}
        mine(20)  # warm up connections and code paths
        if theirs is not None:
            theirs(20)
        for r in range(args.rounds):  # rotate the order so no one always runs first
            runs: list[tuple[str, Callable[[], float]]] = [
                ("raw", lambda: raw_floor(setpoint, readback, args.points)),
                ("ours", lambda: mine(args.points))]
            if theirs is not None:
                runs.append(("peer", lambda: theirs(args.points)))
            for key, fn in runs[r % len(runs):] + runs[:r % len(runs)]:
                figures[key].append(fn())
            print(f"round {r + 1}: raw {figures['raw'][-1]:.0f}, ours {figures['ours'][-1]:.0f}"
                  + (f", peer {figures['peer'][-1]:.0f}" if theirs is not None else "") + " points/s",
                  flush=True)
    result: dict[str, Any] = {
        "benchmark": "ca_step_scan",
        "points": args.points,
        "rounds": args.rounds,
        "twin_speed": args.speed,
        "pvs": {"setpoint": setpoint, "readback": readback, "detector": detector},
        "points_per_s": round(statistics.median(figures["ours"]), 1),
        "raw_floor_points_per_s": round(statistics.median(figures["raw"]), 1),
    }
    result["ratio_to_floor"] = round(result["points_per_s"] / result["raw_floor_points_per_s"], 3)
    result["ratio_to_floor_per_round"] = [round(o / r, 3) for o, r in zip(figures["ours"], figures["raw"], strict=True)]
    result["load_average"] = os.getloadavg()[0]
    if figures["peer"]:
        result["peer_points_per_s"] = round(statistics.median(figures["peer"]), 1)
        result["speedup_over_peer"] = round(result["points_per_s"] / result["peer_points_per_s"], 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
