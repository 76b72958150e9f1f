"""Hardware-triggered camera fly scan throughput over Channel Access against one twin IOC.

The ``fly`` beamline's trigger box fires its camera (external trigger, HDF5 through ``HDF1:``)
as ``sample_x`` sweeps; triggers come faster than the twin's camera can write frames, so a
flight's duration is the whole chain: arming, the sweep, every frame written, the documents.
Two measurements, interleaved in rounds against the same twin subprocess:

- ``frames_per_s``: our RunEngine running ``plans.fly_scan`` (one event per trigger with the
  captured position, frames referenced by stream_resource/stream_datum), frames / wall time of
  the whole plan;
- ``peer_frames_per_s``: Bluesky's RunEngine with ophyd-async: a ``StandardDetector``
  (areaDetector driver + HDF writer, an edge-trigger logic for the twin's ``TriggerMode``) and a
  ``StandardFlyable`` whose logic arms the same trigger box and sweeps an ophyd-async ``Motor``,
  flown by ``prepare``/``kickoff``/``collect_while_completing`` (only when the ``peer`` extra is
  installed). It records frames only, no positions (ophyd-async has no driver for this box).

Usage: ``python benchmarks/fly.py [--frames 200] [--rounds 3] [--speed 100]``. The last line
printed is one JSON object with the figures (medians over the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import beamlines  # noqa: E402

START, STOP, VELOCITY, EXPOSURE = -4.0, 4.0, 1.0, 0.005


def ours(frames_dir: str) -> Callable[[int], float]:
    """Frames/s of ``plans.fly_scan`` on our engine."""
    from acq import plans
    from acq.devices import load_profile
    from acq.engine import RunEngine

    d = load_profile("fly")
    d["cam"].write_path = frames_dir
    RE = RunEngine({})

    def run(n: int) -> float:
        datums: list[dict[str, Any]] = []
        token = RE.subscribe(lambda name, doc: datums.append(doc) if name == "stream_datum" else None)
        t0 = time.perf_counter()
        RE(plans.fly_scan([d["cam"]], d["sample_x"], START, STOP, n, trigger_box=d["pc"], velocity=VELOCITY,
                          exposure=EXPOSURE))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        got = sum(s["indices"]["stop"] - s["indices"]["start"] for s in datums)
        assert got == n, f"expected {n} frames, got {got}"
        return n / dt

    return run


def peer(frames_dir: str) -> Callable[[int], float] | None:
    """Frames/s of an ophyd-async fly scan on Bluesky's RunEngine, or None if not installed."""
    try:
        import bluesky.plan_stubs as bps
        from bluesky import RunEngine
        from ophyd_async.core import (
            DetectorTrigger,
            DetectorTriggerLogic,
            FlyableLogic,
            SignalRW,
            StaticPathProvider,
            StrictEnum,
            TriggerInfo,
            UUIDFilenameProvider,
            init_devices,
            set_and_wait_for_other_value,
        )
        from ophyd_async.epics.adcore import (
            ADAcquireLogic,
            ADBaseIO,
            ADWriterFactory,
            AreaDetector,
            prepare_exposures,
        )
        from ophyd_async.epics.core import epics_signal_r, epics_signal_rw
        from ophyd_async.epics.motor import Motor
    except ImportError:
        return None
    from dataclasses import dataclass

    spec = beamlines.load("fly")["devices"]
    cam_prefix, box, motor_pv = spec["cam"]["prefix"], spec["pc"]["prefix"], spec["sample_x"]["prefix"]

    class TriggerMode(StrictEnum):
        INTERNAL = "Internal"
        EXTERNAL = "External"

    class Arm(StrictEnum):
        DISARM = "Disarm"
        ARM = "Arm"

    @dataclass
    class EdgeTriggerLogic(DetectorTriggerLogic):
        driver: ADBaseIO
        mode: SignalRW[TriggerMode]

        def get_deadtime(self, config_values: Any) -> float:
            return 0.0

        async def prepare_internal(self, num: int, livetime: float, deadtime: float) -> None:
            await self.mode.set(TriggerMode.INTERNAL)
            await prepare_exposures(self.driver, num, livetime, deadtime)

        async def prepare_edge(self, num: int, livetime: float) -> None:
            await self.mode.set(TriggerMode.EXTERNAL)
            await prepare_exposures(self.driver, num, livetime)

    @dataclass
    class BoxSweep(FlyableLogic[tuple[int, float], None]):
        motor: Any
        axis: SignalRW[str]
        start: SignalRW[float]
        step: SignalRW[float]
        count: SignalRW[int]
        arm: SignalRW[Arm]
        armed: Any

        async def on_prepare(self, value: tuple[int, float]) -> None:
            n, velocity = value
            step = (STOP - START) / (n - 1)
            run_up = velocity * 0.1 + abs(step) / 2
            await self.motor.velocity.set(2.0)
            await self.motor.set(START - run_up)
            await self.motor.velocity.set(velocity)
            await asyncio.gather(self.axis.set("sample_x"), self.start.set(START), self.step.set(step),
                                 self.count.set(n))
            self._end = STOP + run_up

        async def on_kickoff(self, ctx: None) -> None:
            # the Arm put completes when every pulse has fired: keep its status, go once Armed
            self._armed = await set_and_wait_for_other_value(self.arm, Arm.ARM, self.armed, "Yes", timeout=10.0,
                                                             set_timeout=None, wait_for_set_completion=False)
            self._move = self.motor.set(self._end)

        async def on_complete(self, ctx: None) -> None:
            await self._move
            await self._armed
            await self.motor.velocity.set(2.0)

    RE = RunEngine({}, call_returns_result=True)
    provider = StaticPathProvider(UUIDFilenameProvider(), Path(frames_dir))

    async def make() -> tuple[Any, Any]:
        mode = epics_signal_rw(TriggerMode, cam_prefix + "cam1:TriggerMode")
        async with init_devices():
            driver = ADBaseIO(cam_prefix + "cam1:")
            det = AreaDetector(driver, cam_prefix, ADWriterFactory.hdf(provider), acquire_logic=ADAcquireLogic(driver),
                               trigger_logic=EdgeTriggerLogic(driver, mode), name="cam")
            motor = Motor(motor_pv, name="sample_x")
        await mode.connect()
        logic = BoxSweep(motor, epics_signal_rw(str, box + "Axis-Sel"), epics_signal_rw(float, box + "Start-SP"),
                         epics_signal_rw(float, box + "Step-SP"), epics_signal_rw(int, box + "Count-SP"),
                         epics_signal_rw(Arm, box + "Arm-Cmd"), epics_signal_r(str, box + "Armed-RB"))
        flyer = logic.with_device(name="pc")
        for sig in (logic.axis, logic.start, logic.step, logic.count, logic.arm, logic.armed):
            await sig.connect()
        return det, flyer

    det, flyer = asyncio.run_coroutine_threadsafe(make(), RE.loop).result(60)

    def plan(n: int) -> Any:
        yield from bps.stage_all(det, flyer)
        yield from bps.prepare(flyer, (n, VELOCITY), wait=True)
        yield from bps.prepare(det, TriggerInfo(number_of_events=n, trigger=DetectorTrigger.EXTERNAL_EDGE,
                                                livetime=EXPOSURE), wait=True)
        yield from bps.open_run()
        yield from bps.declare_stream(det, name="primary", collect=True)
        yield from bps.kickoff(det, wait=True)
        yield from bps.kickoff(flyer, wait=True)
        yield from bps.collect_while_completing([flyer, det], [det], flush_period=0.5, stream_name="primary")
        yield from bps.close_run()
        yield from bps.unstage_all(flyer, det)

    def run(n: int) -> float:
        datums: list[dict[str, Any]] = []
        token = RE.subscribe(lambda name, doc: datums.append(doc) if name == "stream_datum" else None)
        t0 = time.perf_counter()
        RE(plan(n))
        dt = time.perf_counter() - t0
        RE.unsubscribe(token)
        got = sum(s["indices"]["stop"] - s["indices"]["start"] for s in datums)
        assert got == n, f"expected {n} frames, got {got}"
        return n / dt

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="triggers (frames) per flight")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are reported)")
    parser.add_argument("--speed", type=float, default=100.0, help="the twin's simulation speed factor")
    args = parser.parse_args(argv)

    from scenarios.twin_process import TwinProcess

    with tempfile.TemporaryDirectory(prefix="beamtwin-fly-bench-") as tmp, \
            TwinProcess("demo", seed=1, speed=args.speed, beamline="fly") as twin:
        os.environ.update(twin.env)
        mine = ours(tmp)
        theirs = peer(tmp)
        figures: dict[str, list[float]] = {"ours": [], "peer": []}
        mine(10)  # warm up connections and code paths
        if theirs is not None:
            theirs(10)
        for r in range(args.rounds):  # alternate the order so no one always runs first
            runs: list[tuple[str, Callable[[], float]]] = [("ours", lambda: mine(args.frames))]
            if theirs is not None:
                runs.append(("peer", lambda: theirs(args.frames)))
            for key, fn in runs[r % len(runs):] + runs[:r % len(runs)]:
                figures[key].append(fn())
            print(f"round {r + 1}: ours {figures['ours'][-1]:.0f}"
                  + (f", peer {figures['peer'][-1]:.0f}" if theirs is not None else "") + " frames/s", flush=True)
    result: dict[str, Any] = {
        "benchmark": "fly_scan",
        "frames": args.frames,
        "rounds": args.rounds,
        "twin_speed": args.speed,
        "trigger_period_wall_s": (STOP - START) / (args.frames - 1) / VELOCITY / args.speed,
        "frames_per_s": round(statistics.median(figures["ours"]), 1),
        "load_average": os.getloadavg()[0],
    }
    if figures["peer"]:
        result["peer_frames_per_s"] = round(statistics.median(figures["peer"]), 1)
        result["speedup_over_peer"] = round(result["frames_per_s"] / result["peer_frames_per_s"], 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
