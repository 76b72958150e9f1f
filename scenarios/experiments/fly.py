"""The ``fly_scan`` experiment: a camera fly scan fired by the trigger box, judged against the twin.

The run's stream holds one event per trigger (the position the box captured) and references each
camera frame in its HDF5 file. The judge reads the frames back through the catalog and checks:
as many frames as triggers (``frames_equal_triggers``), positions on the planned grid
(``positions_on_grid``), frames taken where their triggers say (``frames_at_positions``: the
brightness of the frames follows the sample's true transmission at the captured positions, with
no shift) and the beam spot where the twin puts it (``spot_centroid``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import numpy as np

import beamlines
from acq import plans
from acq.devices import AreaDetector, Motor, TriggerBox
from acq.loop import call_in_loop
from scenarios import scenario as scenarios
from scenarios.runner import Outcome, beamline_environment, connect_profile, device_of, scenario_engine
from store import Catalog, Writer
from twin.physics import BeamlineModel

#: Experiment fields: required ones, and the optional ones with their defaults.
REQUIRED = ("detectors", "motor", "trigger_box", "start", "stop", "num")
OPTIONAL: dict[str, Any] = {"velocity": None, "exposure": None}
#: Success criteria and their defaults.
CRITERIA = {"position_tolerance": 1e-3, "frame_shift_steps": 0.25, "frame_residual": 0.03, "centroid_pixels": 1.0}


def check_experiment(sc: scenarios.Scenario) -> dict[str, Any]:
    """The experiment's fields, validated; the error names the bad field."""
    exp = sc.experiment
    where = f"{sc.path}: experiment"
    missing = [k for k in REQUIRED if k not in exp]
    if missing:
        raise ValueError(f"{where}.{missing[0]} is missing (a fly_scan needs {', '.join(REQUIRED)})")
    unknown = set(exp) - set(REQUIRED) - set(OPTIONAL) - {"plan"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)} for a fly_scan")
    if not isinstance(exp["detectors"], list) or not exp["detectors"]:
        raise ValueError(f"{where}.detectors must list the cameras, got {exp['detectors']!r}")
    out = {**OPTIONAL, **exp}
    for key in ("start", "stop", "velocity", "exposure"):
        if out[key] is not None and (isinstance(out[key], bool) or not isinstance(out[key], int | float)):
            raise ValueError(f"{where}.{key} must be a number, got {out[key]!r}")
    if isinstance(out["num"], bool) or not isinstance(out["num"], int) or out["num"] < 2:
        raise ValueError(f"{where}.num must be an integer ≥ 2 (trigger positions), got {out['num']!r}")
    unknown = set(sc.success) - set(CRITERIA)
    if unknown:
        raise ValueError(f"{sc.path}: success: unknown criteria {sorted(unknown)} (known: {sorted(CRITERIA)})")
    return out


def run_fly_scan(sc: scenarios.Scenario, *, data_dir: Path, seed: int, speed: float, out: TextIO,
                 no_twin: bool, profile: str | None) -> Outcome:
    """Fly the scenario's camera scan against the twin (or the real beamline) and judge it."""
    exp = check_experiment(sc)
    device_file = beamlines.load(profile) if profile else sc.beamline
    with beamline_environment(sc, seed=seed, speed=speed, no_twin=no_twin, out=out) as where:
        devices = connect_profile(device_file, where)
        cams = [device_of(devices, d, AreaDetector) for d in exp["detectors"]]
        motor = device_of(devices, exp["motor"], Motor)
        box = device_of(devices, exp["trigger_box"], TriggerBox)
        for cam in cams:
            if where["simulated"] and not device_file["devices"][cam.name].get("write_path"):
                cam.write_path = str((data_dir / "frames").resolve())  # the twin writes next to the data
        fixed = {name: float(call_in_loop(dev.readback.get_value()))
                 for name, dev in devices.items() if isinstance(dev, Motor) and dev is not motor}
        plan = plans.fly_scan(cams, motor, float(exp["start"]), float(exp["stop"]), int(exp["num"]), trigger_box=box,
                              velocity=exp["velocity"], exposure=exp["exposure"])  # checked before anything moves
        RE = scenario_engine(sc, device_file, where, data_dir)
        writer = Writer(data_dir)
        RE.subscribe(writer)
        out.write(f"fly scan: {motor.name} {exp['start']} → {exp['stop']}, {exp['num']} triggers from {box.name} "
                  f"firing {', '.join(c.name for c in cams)}\n")
        uids = RE(plan)
    grid = [float(v) for v in np.linspace(float(exp["start"]), float(exp["stop"]), int(exp["num"]))]
    truth = fly_truth(sc, seed, motor.name, fixed, grid, cams[0].name) if where["simulated"] else {}
    outcome = Outcome(uids=uids, path=writer.last_path, fit=None, truth=truth)
    outcome.details["planned_positions"] = grid
    if writer.last_path is not None and uids:
        ds = Catalog(data_dir)[uids[-1]].stream("primary")
        outcome.details.update(measure(ds, motor.name, cams[0].image_key, truth.get("pixel", 1.0)))
        if cams[0].image_key in ds and ds.sizes.get("time", 0):
            from scenarios.plots import frame_png

            outcome.plot = frame_png(np.asarray(ds[cams[0].image_key][-1].values), data_dir / f"{uids[-1]}-frame.png",
                                     title=f"{sc.name}: last of {ds.sizes['time']} frames")
        out.write(f"stored {outcome.details['triggers']} triggers and {outcome.details['frames']} frames "
                  f"({cams[0].image_key}, loaded from HDF5 on demand)\n")
    judge_fly(outcome, sc)
    return outcome


def fly_truth(sc: scenarios.Scenario, seed: int, axis: str, fixed: dict[str, float], grid: list[float],
              camera: str) -> dict[str, Any]:
    """What the twin knows: the sample's transmission along the fly line (finely sampled, around
    the grid), and the beam spot's centre on the camera."""
    model = BeamlineModel(sc.beamline["physics"], seed=seed)
    state = model.beam(0.0)
    step = abs(grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    line = np.linspace(min(grid) - 3 * step, max(grid) + 3 * step, 40 * len(grid) + 241)
    positions = dict(model.positions(0.0), **fixed)
    transmission = [model.sample.transmission({**positions, axis: float(p)}, state.energy) for p in line]
    pixel = float((sc.beamline["devices"][camera].get("sensor") or {}).get("pixel", 0.01))
    return {"line": [float(p) for p in line], "transmission": transmission, "beam_x": state.beam.x,
            "beam_y": state.beam.y, "pixel": pixel}


def measure(ds: Any, axis: str, image_key: str, pixel: float) -> dict[str, Any]:
    """From the stored stream: the captured positions, the frame count, each frame's brightness
    (background removed) and the mean spot centroid (mm from the sensor's centre)."""
    positions = [float(v) for v in ds[axis].values]
    if image_key not in ds:
        return {"positions": positions, "triggers": len(positions), "frames": 0, "brightness": [],
                "centroid": [float("nan"), float("nan")]}
    frames = np.asarray(ds[image_key].values, dtype=float)
    frames = frames - np.median(frames, axis=(1, 2), keepdims=True)
    ny, nx = frames.shape[1:]
    total = frames.sum(axis=(1, 2))
    x = (np.arange(nx) - (nx - 1) / 2) * pixel
    y = (np.arange(ny) - (ny - 1) / 2) * pixel
    cx = float(np.sum(frames.sum(axis=1) @ x) / total.sum())
    cy = float(np.sum(frames.sum(axis=2) @ y) / total.sum())
    return {"positions": positions, "triggers": len(positions), "frames": int(frames.shape[0]),
            "brightness": [float(v) for v in total], "centroid": [cx, cy]}


def frame_shift(positions: list[float], brightness: list[float], truth: dict[str, Any],
                span: float) -> tuple[float, float]:
    """(shift, rms relative misfit): the shift s (|s| ≤ ``span``) for which the frames' brightness
    best matches a·transmission(position + s), and how well it then matches."""
    line, trans = np.asarray(truth["line"]), np.asarray(truth["transmission"])
    p, b = np.asarray(positions), np.asarray(brightness)
    best_shift, best_misfit = 0.0, float("inf")
    for s in np.linspace(-span, span, 401):
        t = np.interp(p + s, line, trans)
        a = float(t @ b / (t @ t)) if t @ t > 0 else 0.0
        misfit = float(np.sqrt(np.mean(((b - a * t) / np.maximum(np.abs(a * t), 1e-12)) ** 2)))
        if misfit < best_misfit:
            best_shift, best_misfit = float(s), misfit
    return best_shift, best_misfit


def judge_fly(outcome: Outcome, sc: scenarios.Scenario) -> None:
    """Fill ``outcome.checks`` from the fly scan's criteria (and the twin's truth, when simulated)."""
    crit = {**CRITERIA, **sc.success}
    d = outcome.details
    planned = d.get("planned_positions", [])
    positions = d.get("positions", [])
    step = abs(planned[-1] - planned[0]) / max(len(planned) - 1, 1) if planned else 0.0
    outcome.checks["stored"] = outcome.path is not None and outcome.path.exists()
    outcome.checks["frames_equal_triggers"] = d.get("frames", -1) == d.get("triggers", -2) == len(planned)
    on_grid = len(positions) == len(planned) and bool(planned) and \
        float(np.max(np.abs(np.asarray(positions) - planned))) <= float(crit["position_tolerance"])
    outcome.checks["positions_on_grid"] = on_grid
    if "transmission" not in outcome.truth:
        return  # the real beamline has no ground truth to compare with
    brightness = d.get("brightness", [])
    if len(brightness) != len(positions) or not positions:
        outcome.checks["frames_at_positions"] = False
    else:
        shift, misfit = frame_shift(positions, brightness, outcome.truth, 2 * step)
        d.update(frame_shift=shift, frame_misfit=misfit)
        outcome.checks["frames_at_positions"] = (abs(shift) <= float(crit["frame_shift_steps"]) * step
                                                 and misfit <= float(crit["frame_residual"]))
    cx, cy = d.get("centroid", [float("nan")] * 2)
    limit = float(crit["centroid_pixels"]) * float(outcome.truth["pixel"])
    d.update(centroid_error=[cx - outcome.truth["beam_x"], cy - outcome.truth["beam_y"]])
    outcome.checks["spot_centroid"] = bool(abs(cx - outcome.truth["beam_x"]) <= limit
                                           and abs(cy - outcome.truth["beam_y"]) <= limit)
