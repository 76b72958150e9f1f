"""Step-scan throughput over Channel Access against twin IOCs on loopback.

Two cases, each measured four ways in one run, against the same twin IOC subprocesses:

- **stage** (the issue's figure, the top-level keys): a setpoint/readback signal and a point
  detector, plain PVs of the ``stage`` beamline (``BTS:stage:Pos-SP`` completes its put on
  arrival, ``Pos-RB`` reads back, ``BTS:diode:Rate-RB`` is a photodiode's rate read fresh);
- **motor_record** (second figure, under ``motor_record``): the default beamline's motor record
  (put-completion of ``BT:m1`` VAL, readback ``.RBV``) and a scaler channel kept current by a
  CA monitor; ``monitored_readback_points_per_s`` is the same scan with the motor's RBV, VAL,
  LVIO and MSTA kept current by CA monitors (``Motor(monitor_readback=True)``: one put a point).

For each case:

- ``points_per_s``: our RunEngine running ``plans.scan([det], positioner, 0, 1, n)`` with the
  devices ``load_profile`` makes from the beamline file (the stage's readback kept current by a CA
  monitor: ``monitor_readback: true`` in ``beamlines/stage.yaml``); every document goes to a subscriber
  (``Recorder``) that counts them and keeps each event's readback and detector value, checked
  after each scan: one event per point, the readback equal to the commanded point;
- ``raw_floor_points_per_s``: caproto's raw asyncio client (connected once) doing, per point,
  one put with completion to the setpoint and one read of the readback (the issue's floor);
  ``raw_put_2reads_points_per_s`` adds the detector read that a scan must also make;
- ``fresh_readback_points_per_s`` (stage only): the same scan with the positioner reading its
  readback from the IOC at every point instead of from its CA monitor (``monitor_readback``
  off: put + 2 reads a point, what an IOC whose readback lags its put completion needs);
- ``peer_points_per_s``: Bluesky's RunEngine with ophyd (caproto control layer) running
  ``bluesky.plans.scan`` with ``EpicsSignal(readback, write_pv=setpoint, put_complete=True)``
  and ``EpicsSignalRO(detector)`` (``auto_monitor`` as ours), the same subscriber (only when
  ``bluesky`` and ``ophyd`` are installed: ``pip install -e '.[peer]'``).

A shared machine's load changes from second to second, so the methods take turns in short
pieces (``--chunk`` points; each of ours and the peer's a whole scan with its own start, descriptor
and stop), the order rotating, and each rate is all its points over all its time. The ratios
(``ratio_to_floor``, per round too) are what to compare on a loaded machine.

Usage: ``python benchmarks/ca.py [--points 400] [--rounds 5] [--chunk 100] [--speed 1000]
[--case stage|motor_record|all] [--no-peer]``. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# run as a script, benchmarks/ heads sys.path, and benchmarks/queue.py would shadow the standard
# library's queue module, which bluesky and ophyd import (the peer then looks absent)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import beamlines  # noqa: E402


@dataclass
class Case:
    """One step-scan case: the beamline, its positioner and detector devices and their PVs."""

    label: str
    beamline: str
    positioner: str
    detector: str
    setpoint: str
    readback: str
    detector_pv: str
    monitored: bool  # the detector is a passive value kept current by a CA monitor


def cases() -> dict[str, Case]:
    """The cases, with every PV taken from the beamline files."""
    stage = beamlines.load("stage")["devices"]
    sp, dv = stage["stage"], stage["diode"]
    default = beamlines.load("default")["devices"]
    motor = next(name for name, spec in default.items() if spec["kind"] == "motor")
    scaler = next(name for name, spec in default.items() if spec["kind"] == "scaler")
    channel = next(iter((default[scaler].get("channels") or {"det": 2}).values()))
    return {
        "stage": Case("stage", "stage", "stage", "diode", f"{sp['prefix']}Pos-SP", f"{sp['prefix']}Pos-RB",
                      f"{dv['prefix']}Rate-RB", monitored=False),
        "motor_record": Case("motor_record", "default", motor, scaler, default[motor]["prefix"],
                             f"{default[motor]['prefix']}.RBV", f"{default[scaler]['prefix']}.S{int(channel)}",
                             monitored=True),
    }


def positions(n: int) -> list[float]:
    """``n`` evenly spaced points from 0 to 1 (what ``scan(..., 0, 1, n)`` visits)."""
    return [i / (n - 1) for i in range(n)]


class RawFloor:
    """caproto's raw asyncio client, connected once on a loop of its own (a thread): per point one
    put with completion to the setpoint and ``reads`` reads (the readback, then the detector)."""

    def __init__(self, case: Case) -> None:
        from caproto.asyncio.client import Context

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="raw-floor", daemon=True).start()

        async def connect() -> tuple[Any, list[Any]]:
            ctx = Context()
            pvs = await ctx.get_pvs(case.setpoint, case.readback, case.detector_pv)
            for pv in pvs:
                await pv.wait_for_connection()
            return ctx, pvs

        self.ctx, (self.sp, self.rb, self.det) = self._call(connect())

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def run(self, n: int, reads: int = 1) -> float:
        """Seconds for ``n`` points (from 0 to 1)."""

        async def points() -> float:
            targets = [self.rb, self.det][:reads]
            await self.sp.write([0.0], wait=True)
            t0 = time.perf_counter()
            for x in positions(n):
                await self.sp.write([x], wait=True)
                for pv in targets:
                    await pv.read(data_type="time")
            return time.perf_counter() - t0

        return float(self._call(points()))

    def close(self) -> None:
        """Disconnect, end the client's tasks and stop the loop."""

        async def end() -> None:
            await self.ctx.disconnect()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(end())
        self.loop.call_soon_threadsafe(self.loop.stop)


class Recorder:
    """The scans' subscriber: counts documents and keeps each event's readback and detector value."""

    def __init__(self, positioner: str, detector: str) -> None:
        self.keys = (positioner, detector)
        self.readbacks: list[float] = []
        self.values: list[Any] = []
        self.documents = 0

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        self.documents += 1
        if name == "event":
            data = doc["data"]
            self.readbacks.append(data[self.keys[0]])
            self.values.append(data[self.keys[1]])

    def check(self, n: int) -> None:
        """One event per point, each with the readback of the commanded point (no stale value)."""
        assert len(self.readbacks) == n, f"expected {n} events, got {len(self.readbacks)}"
        bad = [(x, r) for x, r in zip(positions(n), self.readbacks, strict=True) if abs(x - r) > 1e-3]
        assert not bad, f"readbacks differ from the commanded points: {bad[:3]}"


def ours(case: Case, fresh_readback: bool = False, monitored: bool = False) -> Callable[[int], float]:
    """Seconds for a ``plans.scan`` of n points on our RunEngine (connected once); with
    ``fresh_readback`` the positioner reads its readback from the IOC at every point instead of
    from its CA monitor (what an IOC whose readback lags the put completion needs); ``monitored``
    makes the motor record's RBV, VAL, LVIO and MSTA CA monitors (``monitor_readback: true``)."""
    from acq import plans
    from acq.devices import Motor, Positioner, load_profile
    from acq.engine import RunEngine
    from acq.loop import call_in_loop

    devices = load_profile(case.beamline)
    pos, det = devices[case.positioner], devices[case.detector]
    if fresh_readback:
        assert isinstance(pos, Positioner), "only a positioner's readback can be read either way"
        pos = Positioner(pos.prefix, name=pos.name)
        call_in_loop(pos.connect(5.0))
    if monitored:
        assert isinstance(pos, Motor), "the monitored variant is the motor record's"
        pos = Motor(pos.prefix, name=pos.name, monitor_readback=True)
        call_in_loop(pos.connect(5.0))
    if case.monitored:  # the scaler channel as a passive monitored value (not a triggered count)
        from acq.devices import CABackend, Signal

        det = Signal(CABackend(case.detector_pv, monitor=True), name=case.detector, kind="hinted", read_only=True)
        call_in_loop(det.connect(5.0))
    RE = RunEngine()

    def run(n: int) -> float:
        RE(plans.mv(pos, 0.0))
        rec = Recorder(pos.name, det.name)
        token = RE.subscribe(rec)
        t0 = time.perf_counter()
        RE(plans.scan([det], pos, 0.0, 1.0, n))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        rec.check(n)
        return dt

    return run


def peer(case: Case) -> Callable[[int], float] | None:
    """Seconds for a ``bluesky.plans.scan`` of n points with ophyd over caproto, or None if not installed."""
    try:
        os.environ.setdefault("OPHYD_CONTROL_LAYER", "caproto")
        import bluesky.plans as bp
        from bluesky import RunEngine
        from ophyd import EpicsSignal, EpicsSignalRO
    except ImportError:
        return None
    sig = EpicsSignal(case.readback, write_pv=case.setpoint, put_complete=True, name=case.positioner)
    det = EpicsSignalRO(case.detector_pv, name=case.detector, auto_monitor=case.monitored)
    sig.wait_for_connection(timeout=5.0)
    det.wait_for_connection(timeout=5.0)
    RE = RunEngine({})

    def run(n: int) -> float:
        sig.set(0.0).wait(10)
        rec = Recorder(sig.name, det.name)
        token = RE.subscribe(rec)
        t0 = time.perf_counter()
        RE(bp.scan([det], sig, 0.0, 1.0, n))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        rec.check(n)
        return dt

    return run


def measure(case: Case, points: int, rounds: int, chunk: int, with_peer: bool) -> dict[str, Any]:
    """Rounds of ``points`` points per method, run in interleaved chunks of ``chunk`` points (each of
    ours and the peer's a whole scan), so that a shared machine's changing load falls on all alike;
    rates over all rounds, and each round's ratio."""
    raw = RawFloor(case)
    mine = ours(case)
    theirs = peer(case) if with_peer else None
    runs: list[tuple[str, Callable[[int], float]]] = [
        ("raw", raw.run), ("raw2", lambda n: raw.run(n, reads=2)), ("ours", mine)]
    if case.label == "stage":  # the positioner's readback read fresh at every point (3 requests a point)
        runs.append(("ours_fresh", ours(case, fresh_readback=True)))
    else:  # the motor record's fields from CA monitors: one put a point
        runs.append(("ours_monitored", ours(case, monitored=True)))
    if theirs is not None:
        runs.append(("peer", theirs))
    for _, fn in runs:
        fn(min(chunk, 20))  # warm up connections and code paths
    seconds: dict[str, list[float]] = {key: [] for key, _ in runs}
    try:
        for r in range(rounds):
            spent = dict.fromkeys(seconds, 0.0)
            for c in range(max(points // chunk, 1)):  # rotate the order so no one always runs first
                k = (r + c) % len(runs)
                for key, fn in runs[k:] + runs[:k]:
                    spent[key] += fn(chunk)
            for key, s in spent.items():
                seconds[key].append(s)
            n = max(points // chunk, 1) * chunk
            print(f"{case.label} round {r + 1}: " + ", ".join(f"{k} {n / v:.0f}" for k, v in spent.items())
                  + " points/s", flush=True)
    finally:
        raw.close()
    n = max(points // chunk, 1) * chunk
    rate = {key: round(n * len(v) / sum(v), 1) for key, v in seconds.items()}
    per_round = {key: [round(n / s, 1) for s in v] for key, v in seconds.items()}
    result: dict[str, Any] = {
        "pvs": {"setpoint": case.setpoint, "readback": case.readback, "detector": case.detector_pv},
        "points_per_s": rate["ours"],
        "raw_floor_points_per_s": rate["raw"],
        "raw_put_2reads_points_per_s": rate["raw2"],
        "per_round": per_round,
    }
    result["ratio_to_floor"] = round(rate["ours"] / rate["raw"], 3)
    result["ratio_to_floor_per_round"] = [round(o / r, 3) for o, r in zip(per_round["ours"], per_round["raw"],
                                                                          strict=True)]
    # one round spoilt by a burst of load on one method weighs on the totals; the median of the
    # rounds' ratios does not
    result["ratio_to_floor_median_of_rounds"] = round(statistics.median(result["ratio_to_floor_per_round"]), 3)
    result["ratio_to_put_2reads"] = round(rate["ours"] / rate["raw2"], 3)
    if "ours_fresh" in rate:
        result["fresh_readback_points_per_s"] = rate["ours_fresh"]
        result["fresh_readback_ratio_to_floor"] = round(rate["ours_fresh"] / rate["raw"], 3)
    if "ours_monitored" in rate:
        result["monitored_readback_points_per_s"] = rate["ours_monitored"]
        result["monitored_readback_ratio_to_floor"] = round(rate["ours_monitored"] / rate["raw"], 3)
    if theirs is not None:
        result["peer_points_per_s"] = rate["peer"]
        result["speedup_over_peer"] = round(rate["ours"] / rate["peer"], 2)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=400, help="points per method and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (rates are over all of them)")
    parser.add_argument("--chunk", type=int, default=100,
                        help="points per interleaved piece (each of ours and the peer's a whole scan)")
    parser.add_argument("--speed", type=float, default=1000.0, help="the twins' simulation speed factor")
    parser.add_argument("--case", choices=("stage", "motor_record", "all"), default="all",
                        help="which case(s) to measure (stage gives the top-level figures)")
    parser.add_argument("--no-peer", action="store_true", help="skip Bluesky + ophyd")
    args = parser.parse_args(argv)

    from scenarios.twin_process import TwinProcess
    from twin.iocs.server import cluster_environment

    chosen = [c for name, c in cases().items() if args.case in (name, "all")]
    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        twins = {c.beamline: stack.enter_context(TwinProcess("demo", beamline=c.beamline, seed=1, speed=args.speed))
                 for c in chosen}
        # one client environment reaching every twin, set before any CA context exists
        os.environ.update(cluster_environment([t.port for t in twins.values()]))
        for case in chosen:
            results[case.label] = measure(case, args.points, args.rounds, args.chunk, not args.no_peer)
    result: dict[str, Any] = {"benchmark": "ca_step_scan", "points": args.points, "rounds": args.rounds,
                              "chunk": args.chunk,
                              "twin_speed": args.speed, "cores": os.cpu_count(),
                              "load_average_before": [round(x, 2) for x in load_before],
                              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    first = "stage" if "stage" in results else next(iter(results))
    result["case"] = first
    result.update(results[first])
    for label, figures in results.items():
        if label != first:
            result[label] = figures
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
