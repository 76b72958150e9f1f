"""Run a scenario end to end: twin subprocess, devices over CA, engine, store, fit, verdict."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import platform
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import beamlines
from acq import plans
from acq.callbacks import LiveProgress, LiveTable, PeakFit, PlotPNG
from acq.devices import Motor, Scaler, load_profile
from acq.engine import RunEngine, TransitionError
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from scenarios.faults import FaultInjector, FaultSpec, SuspensionLog, build_suspenders, points_exact
from scenarios.twin_process import OWN_TWIN_CONNECT_TIMEOUT, TwinProcess, ca_environment
from store import Catalog, Writer
from twin.physics import BeamlineModel

#: experiment kinds beyond ``scan``: plan name → "module:function" (run_scenario's keywords)
EXPERIMENTS: dict[str, str] = {
    "xafs_edge": "scenarios.experiments.xafs:run_xafs",
    "phase_library": "scenarios.experiments.phases:run_phases",
    "fly_scan": "scenarios.experiments.fly:run_fly_scan",
    "align": "scenarios.experiments.alignment:run_alignment",
    "map": "scenarios.experiments.map:run_map",
}


@dataclass
class Outcome:
    """What a scenario run produced and whether it met its success criteria."""

    uids: tuple[str, ...]
    path: Path | None
    fit: dict[str, float] | None
    truth: dict[str, Any]
    plot: Path | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every success criterion held."""
        return bool(self.checks) and all(self.checks.values())


def software_versions() -> dict[str, str]:
    """Versions of beamtwin and the packages it rests on, for the start document."""
    out = {"python": platform.python_version()}
    for pkg in ("beamtwin", "caproto", "numpy", "xarray", "netCDF4"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def device_of(devices: dict[str, Any], name: str, kind: type) -> Any:
    """The profile's device ``name``, which must be a ``kind``; else an error naming it."""
    if name not in devices:
        raise ValueError(f"experiment names device {name!r}, which the profile lacks (has: {sorted(devices)})")
    dev = devices[name]
    if not isinstance(dev, kind):
        raise ValueError(f"experiment: device {name!r} is a {type(dev).__name__}, not a {kind.__name__}")
    return dev


def connect_profile(device_file: dict[str, Any], where: dict[str, Any]) -> dict[str, Any]:
    """The beamline file's devices, connected: within ``OWN_TWIN_CONNECT_TIMEOUT`` to the twin this run
    started, within the profile's usual 5 s to a real beamline (``--no-twin``: a dead IOC is named at once)."""
    return load_profile(device_file["_path"], timeout=OWN_TWIN_CONNECT_TIMEOUT if where.get("simulated") else 5.0)


def scenario_engine(sc: scenarios.Scenario, device_file: dict[str, Any], where: dict[str, Any],
                    data_dir: Path) -> RunEngine:
    """A RunEngine whose start documents say which scenario, beamline file (and its hash), twin
    (``where``) and software versions the run used; its state (scan ids) kept in ``data_dir``."""
    return RunEngine(md={"scenario": sc.name, **where, "beamline": device_file.get("name", ""),
                         "beamline_hash": device_file["_hash"], "versions": software_versions()}, state_dir=data_dir)


@contextlib.contextmanager
def beamline_environment(sc: scenarios.Scenario, *, seed: int, speed: float, no_twin: bool,
                         out: TextIO, twins: list[TwinProcess] | None = None) -> Iterator[dict[str, Any]]:
    """Start the twin (or, with ``no_twin``, use the CA environment as it is) for the block.

    Yields the start-document metadata that says what was talked to; the twin started is
    appended to ``twins`` (for faults on cue). With an ``ioc_restart`` among the scenario's
    faults the twin runs with autosave, so that the restarted IOC keeps its settings.
    """
    if no_twin:
        addr = os.environ.get("EPICS_CA_ADDR_LIST", "(auto)")
        auto = os.environ.get("EPICS_CA_AUTO_ADDR_LIST", "YES")
        out.write(f"no twin: talking Channel Access to EPICS_CA_ADDR_LIST={addr} "
                  f"(EPICS_CA_AUTO_ADDR_LIST={auto})\n")
        out.flush()
        yield {"simulated": False}
        return
    if not isinstance(sc.beamline.get("physics"), dict):
        raise ValueError(f"beamline {sc.beamline['_path']} has no 'physics' section: it cannot be simulated; "
                         f"use --no-twin to talk to the real beamline")
    autosave = any(f.kind == "ioc_restart" for f in sc.faults)
    with TwinProcess(str(sc.path), seed=seed, speed=speed, autosave=autosave) as twin, ca_environment(twin.env):
        if twins is not None:
            twins.append(twin)
        out.write(f"twin: {len(twin.pvs)} PVs on 127.0.0.1:{twin.port} (seed {seed}, speed ×{speed:g})\n")
        yield {"simulated": True, "twin_seed": seed, "twin_speed": speed}


def run_scenario(ref: str | None = None, *, data_dir: str | Path, speed: float | None = None,
                 seed: int | None = None, out: TextIO | None = None, no_twin: bool = False,
                 profile: str | None = None, ci: bool = False, live_plot: bool = False) -> Outcome:
    """Run scenario ``ref`` against a fresh twin subprocess (or the real beamline) into ``data_dir``.

    ``profile`` replaces the scenario's beamline for the devices (e.g. a facility profile
    with ``no_twin``); nothing in plans or devices changes. ``ci`` runs the scenario's
    CI-sized variant. The scenario's suspenders are installed; its faults strike the twin on
    cue (never with ``no_twin``: fault injection does not exist there). ``live_plot`` shows a
    step scan's points in a matplotlib window as they arrive.
    """
    out = out or sys.stdout
    sc = scenarios.load(ref)
    if ci:
        sc = sc.ci_variant()
    seed = sc.seed if seed is None else seed
    speed = sc.speed if speed is None else speed
    exp = sc.experiment
    if exp["plan"] in EXPERIMENTS:
        module, func = EXPERIMENTS[exp["plan"]].split(":")
        run = getattr(importlib.import_module(module), func)
        done: Outcome = run(sc, data_dir=Path(data_dir), seed=seed, speed=speed, out=out, no_twin=no_twin,
                            profile=profile)
        return done
    if exp["plan"] != "scan":
        raise ValueError(f"{sc.path}: experiment.plan {exp['plan']!r} is not supported "
                         f"(supported: scan, {', '.join(EXPERIMENTS)})")
    device_file = beamlines.load(profile) if profile else sc.beamline
    data_dir = Path(data_dir)
    log = SuspensionLog(out)
    twins: list[TwinProcess] = []
    if no_twin and sc.faults:
        out.write(f"no twin: the scenario's {len(sc.faults)} fault(s) are not injected\n")
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out, twins=twins) as where:
        devices = connect_profile(device_file, where)
        motor = device_of(devices, exp["motor"], Motor)
        dets = [device_of(devices, d, Scaler) for d in exp["detectors"]]
        start, stop, num = float(exp["start"]), float(exp["stop"]), int(exp["num"])
        for p in (start, stop):
            motor.check_value(p)  # before anything moves
        for det in dets:
            call_in_loop(det.preset_time.put(float(exp.get("count_time", 1.0))))
        RE = scenario_engine(sc, device_file, where, data_dir)
        writer = Writer(data_dir)
        fit = PeakFit(x=motor.name, y=dets[0].channel_names[0])
        plot = PlotPNG(motor.name, dets[0].channel_names[0], data_dir, fit=fit, live=live_plot)
        callbacks: list[Any] = [writer, LiveTable(out=out), fit, plot]
        if sys.stderr.isatty():
            callbacks.append(LiveProgress())
        restarting = threading.Event()
        injector = FaultInjector(sc.faults if twins else [], _striker(twins, restarting), speed=speed, log=log,
                                 on_error=lambda exc: _abort(RE, f"a fault could not be struck: {exc}"))
        callbacks.append(injector)
        for cb in callbacks:
            RE.subscribe(cb)
        moves = _count_moves(RE, motor)
        for sus in build_suspenders(sc.suspenders, devices, speed=speed if where["simulated"] else 1.0, log=log):
            RE.install_suspender(sus)

        def twin_lost(why: str) -> None:
            log.say(f"TWIN LOST: {why}")
            _abort(RE, why)

        watchdog = TwinWatchdog(twins[0], restarting, twin_lost) if twins else None
        try:
            uids = RE(plans.scan(dets, motor, start, stop, num))
        finally:
            if watchdog is not None:
                watchdog.close()
            RE.clear_suspenders()
            call_in_loop(asyncio.sleep(0))  # the suspenders have stopped watching before the twin goes
            injector.close()
        restarts = twins[0].restarts if twins else 0
        presets: list[float] = []
        if restarts:  # what the restarted IOC holds: the preset time set before the scan (autosave)
            presets = [float(call_in_loop(d.preset_time.get_value(), timeout=30)) for d in dets]
    truth = BeamlineModel(sc.beamline["physics"], seed=seed).truth() if where["simulated"] else {}
    outcome = Outcome(uids=uids, path=writer.last_path, fit=fit.result, truth=truth, plot=plot.path)
    outcome.details.update(suspensions=log.suspended, resumptions=log.resumed, faults_struck=len(injector.fired),
                           replayed_moves=moves[0] - num, ioc_restarts=restarts)
    if restarts:
        outcome.details.update(count_time=float(exp.get("count_time", 1.0)), presets_after_restart=presets)
    if writer.last_path is not None and uids:
        ds = Catalog(data_dir)[uids[-1]].stream("primary")
        outcome.details["stored_positions"] = [float(v) for v in ds[motor.name].values]
    outcome.details["planned_positions"] = [float(v) for v in np.linspace(start, stop, num)]
    judge(outcome, sc, step=abs(stop - start) / max(num - 1, 1))
    return outcome


def _abort(RE: RunEngine, reason: str) -> None:
    """Abort the plan if it still runs (from any thread)."""
    try:
        RE.abort(reason)
    except TransitionError:
        pass  # it has ended already


def _count_moves(RE: RunEngine, motor: Motor) -> list[int]:
    """A one-item list counting the ``set`` messages to ``motor`` the engine runs, replayed ones
    included: more than the planned points means steps were rewound to a checkpoint and redone."""
    moves = [0]

    def hook(msg: Any) -> None:
        if msg.command == "set" and msg.obj is motor:
            moves[0] += 1

    RE.msg_hook = hook
    return moves


class TwinWatchdog:
    """Watch the twin's process while the plan runs: if it exits unexpectedly (not killed by an
    ``ioc_restart`` fault, which sets ``restarting``), call ``on_lost(reason)`` once, with the end
    of its log, so that the run ends with the twin's own error instead of waiting for it for ever."""

    def __init__(self, twin: Any, restarting: threading.Event, on_lost: Callable[[str], object],
                 period: float = 0.5) -> None:
        self.twin, self.restarting, self.on_lost, self.period = twin, restarting, on_lost, period
        self._stop = threading.Event()
        self.lost: str | None = None
        self._thread = threading.Thread(target=self._run, name="twin-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            proc = self.twin.proc
            code = None if proc is None else proc.poll()
            if code is None or self.restarting.is_set() or self._stop.is_set():
                continue
            tail = "\n".join(Path(self.twin.log_path).read_text(errors="replace").splitlines()[-15:])
            self.lost = f"the twin's IOC process exited unexpectedly (code {code}); its log ends:\n{tail}"
            self.on_lost(self.lost)
            return

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout=5)


def _striker(twins: list[TwinProcess], restarting: threading.Event) -> Callable[[FaultSpec], None]:
    """Strike a fault on the twin: through its fault PVs, or (``ioc_restart``) by killing its
    process and starting it again on the same port (``restarting`` is set meanwhile)."""

    def strike(spec: FaultSpec) -> None:
        if spec.kind == "beam_dump":
            twins[0].fault("dump", value=spec.duration)
        elif spec.kind == "ioc_restart":
            restarting.set()
            try:
                twins[0].restart()
            except (RuntimeError, TimeoutError) as exc:  # its start failed (said why in its log): once more
                print(f"the restarted IOC did not come up ({exc}); starting it again", file=sys.stderr)
                twins[0].restart()
            finally:
                restarting.clear()

    return strike


def judge(outcome: Outcome, sc: scenarios.Scenario, step: float) -> None:
    """Fill ``outcome.checks`` from the scenario's success criteria and the twin's truth."""
    outcome.checks["stored"] = outcome.path is not None and outcome.path.exists()
    if sc.faults or sc.suspenders:
        # nothing lost or duplicated, whatever struck: the stored points are the planned ones
        outcome.checks["points_exact"] = points_exact(outcome.details.get("stored_positions", []),
                                                      outcome.details.get("planned_positions", []), step)
    if sc.faults and outcome.truth:  # faults struck the twin: the plan must have noticed
        needed = int(sc.success.get("min_suspensions", 1))
        outcome.checks["suspended"] = outcome.details.get("suspensions", 0) >= needed
        outcome.checks["resumed"] = outcome.details.get("resumptions", 0) >= needed
        # each suspension interrupts a step, which is redone from its checkpoint (its move again)
        outcome.checks["rewound"] = outcome.details.get("replayed_moves", 0) >= needed
        restarts = sum(f.kind == "ioc_restart" for f in sc.faults)
        if restarts:  # the IOC process was killed and started again, and kept its settings
            outcome.checks["ioc_restarted"] = outcome.details.get("ioc_restarts", 0) >= restarts
            want = outcome.details.get("count_time")
            outcome.checks["settings_kept"] = bool(outcome.details.get("presets_after_restart")) and all(
                want is not None and abs(p - want) < 1e-6 for p in outcome.details["presets_after_restart"])
    if "center" not in outcome.truth:
        return  # the real beamline has no ground truth to compare with
    tolerance = float(sc.success.get("peak_center_steps", 0.5)) * step
    if outcome.fit is None:
        outcome.checks["peak_center"] = False
        return
    error = abs(outcome.fit["center"] - outcome.truth["center"])
    outcome.details.update(center_error=error, tolerance=tolerance)
    outcome.checks["peak_center"] = error <= tolerance
