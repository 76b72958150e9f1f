"""Run a scenario end to end: twin subprocess, devices over CA, engine, store, fit, verdict."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TextIO

from acq import plans
from acq.callbacks import LiveTable, PeakFit
from acq.devices import Motor, Scaler, load_profile
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from scenarios.twin_process import TwinProcess
from store import Writer
from twin.physics import BeamlineModel


@dataclass
class Outcome:
    """What a scenario run produced and whether it met its success criteria."""

    uids: tuple[str, ...]
    path: Path | None
    fit: dict[str, float] | None
    truth: dict[str, Any]
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


def _device(devices: dict[str, Any], name: str, kind: type) -> Any:
    if name not in devices:
        raise ValueError(f"experiment names device {name!r}, which the profile lacks (has: {sorted(devices)})")
    dev = devices[name]
    if not isinstance(dev, kind):
        raise ValueError(f"experiment: device {name!r} is a {type(dev).__name__}, not a {kind.__name__}")
    return dev


def run_scenario(ref: str | None = None, *, data_dir: str | Path, speed: float | None = None,
                 seed: int | None = None, out: TextIO | None = None) -> Outcome:
    """Run scenario ``ref`` against a fresh twin subprocess and store the run in ``data_dir``."""
    out = out or sys.stdout
    sc = scenarios.load(ref)
    seed = sc.seed if seed is None else seed
    speed = sc.speed if speed is None else speed
    exp = sc.experiment
    if exp["plan"] != "scan":
        raise ValueError(f"{sc.path}: experiment.plan {exp['plan']!r} is not supported yet (supported: scan)")
    data_dir = Path(data_dir)
    with TwinProcess(str(sc.path), seed=seed, speed=speed) as twin:
        os.environ.update(twin.env)
        out.write(f"twin: {len(twin.pvs)} PVs on 127.0.0.1:{twin.port} (seed {seed}, speed ×{speed:g})\n")
        devices = load_profile(sc.beamline["_path"])
        motor = _device(devices, exp["motor"], Motor)
        dets = [_device(devices, d, Scaler) for d in exp["detectors"]]
        for det in dets:
            call_in_loop(det.preset_time.put(float(exp.get("count_time", 1.0))))
        RE = RunEngine(md={
            "scenario": sc.name, "simulated": True, "twin_seed": seed, "twin_speed": speed,
            "beamline": sc.beamline.get("name", ""), "beamline_hash": sc.beamline["_hash"],
            "versions": software_versions(),
        }, state_dir=data_dir)
        writer = Writer(data_dir)
        fit = PeakFit(x=motor.name, y=dets[0].channel_names[0])
        for cb in (writer, LiveTable(out=out), fit):
            RE.subscribe(cb)
        uids = RE(plans.scan(dets, motor, float(exp["start"]), float(exp["stop"]), int(exp["num"])))
    truth = BeamlineModel(sc.beamline["physics"], seed=seed).truth()
    outcome = Outcome(uids=uids, path=writer.last_path, fit=fit.result, truth=truth)
    step = abs(float(exp["stop"]) - float(exp["start"])) / max(int(exp["num"]) - 1, 1)
    tolerance = float(sc.success.get("peak_center_steps", 0.5)) * step
    if fit.result is not None:
        error = abs(fit.result["center"] - truth["center"])
        outcome.details.update(center_error=error, tolerance=tolerance)
        outcome.checks["peak_center"] = error <= tolerance
    else:
        outcome.checks["peak_center"] = False
    outcome.checks["stored"] = outcome.path is not None and outcome.path.exists()
    return outcome
