"""What the agent-campaign experiments (``align``, ``map``) share: the setup of devices, engine
and writer around the twin, the per-event run with a guarded agent, and reading the run back."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

import beamlines
from acq import plans
from acq.callbacks import LiveProgress, LiveTable
from acq.devices import Motor, Scaler
from acq.engine import RunEngine
from acq.loop import call_in_loop
from adaptive.agents import make_agent
from adaptive.wiring import Guarded
from scenarios import scenario as scenarios
from scenarios.envs.spec import CampaignSpec, parse_campaign
from scenarios.envs.twin_runs import connect_devices
from scenarios.runner import device_of, scenario_engine
from store import Catalog, Writer


@dataclass
class CampaignRun:
    """A finished per-event campaign: its run, what the agent did, the motors' final positions."""

    uids: tuple[str, ...]
    path: Path | None
    guard: Guarded
    final: dict[str, float]
    simulated: bool
    key: str  # the data key of the steering channel in the events


def campaign_spec(sc: scenarios.Scenario, profile: str | None, *, min_axes: int) -> tuple[CampaignSpec,
                                                                                          dict[str, Any]]:
    """The validated experiment and the device file (the scenario's beamline or ``profile``)."""
    device_file = beamlines.load(profile) if profile else sc.beamline
    try:
        spec = parse_campaign(sc.experiment, devices=device_file["devices"], min_axes=min_axes)
    except ValueError as exc:
        raise ValueError(f"{sc.path}: {exc}") from None
    return spec, device_file


@contextmanager
def engine(sc: scenarios.Scenario, device_file: dict[str, Any], spec: CampaignSpec, where: dict[str, Any],
           data_dir: Path, out: TextIO) -> Iterator[tuple[RunEngine, Writer, dict[str, Any]]]:
    """The experiment's devices from ``device_file`` over CA, a RunEngine whose start documents say
    what was talked to, and a Writer into ``data_dir`` (plus the live table)."""
    devices = connect_devices(device_file["_path"], [*spec.names, spec.detector, *([spec.camera] if spec.camera
                                                                                  else [])])
    RE = scenario_engine(sc, device_file, where, data_dir)
    writer = Writer(data_dir)
    RE.subscribe(writer)
    RE.subscribe(LiveTable(out=out))
    if sys.stderr.isatty():
        RE.subscribe(LiveProgress())
    yield RE, writer, devices


def run_campaign_scan(RE: RunEngine, writer: Writer, devices: dict[str, Any], spec: CampaignSpec, *, seed: int,
                      extra: list[Any] | None = None, park: Callable[[Guarded], Any] | None = None,
                      simulated: bool = True, md: dict[str, Any] | None = None) -> CampaignRun:
    """One run in which the scenario's agent picks every point (``ask_tell_scan``)."""
    motors = [device_of(devices, n, Motor) for n in spec.names]
    det = device_of(devices, spec.detector, Scaler)
    for motor, (lo, hi) in zip(motors, spec.axes.values(), strict=True):
        motor.check_value(lo)  # the whole box is reachable, before anything moves
        motor.check_value(hi)
    call_in_loop(det.preset_time.put(spec.count_time))
    key = channel_key(det, spec.channel)
    agent = make_agent(spec.agent, spec.bounds, seed=seed, **spec.agent_options)
    guard = Guarded(agent)
    before_close = (lambda: park(guard)) if park is not None else None
    uids = RE(plans.ask_tell_scan([det, *(extra or [])], motors, guard, reduce=[key],
                                  max_points=spec.budget, before_close=before_close,
                                  md={"adaptive": {"agent": spec.agent, "options": spec.agent_options,
                                                   "bounds": spec.bounds, "axes": spec.names}, **(md or {})}))
    final = {m.name: float(call_in_loop(m.readback.get_value())) for m in motors}
    return CampaignRun(uids=uids, path=writer.last_path, guard=guard, final=final, simulated=simulated, key=key)


def channel_key(det: Any, channel: str) -> str:
    """The data key under which the scaler ``det`` reports ``channel`` (e.g. ``det_flux``)."""
    return str(getattr(det, channel).name)


def stored_points(data_dir: Path, uid: str, spec: CampaignSpec, key: str) -> tuple[np.ndarray[Any, Any],
                                                                                   np.ndarray[Any, Any]]:
    """The stored run's points (n, d) in the agent's axis order and the values of ``key`` (n,)."""
    ds = Catalog(data_dir)[uid].stream("primary")
    X = np.stack([np.asarray(ds[n].values, dtype=float) for n in spec.names], axis=-1)
    return X, np.asarray(ds[key].values, dtype=float)


def judge_stored(outcome: Any, spec: CampaignSpec) -> list[float]:
    """Fill ``outcome.checks`` ``stored`` and ``within_budget``; the values the run measured."""
    values: list[float] = outcome.details.get("values", [])
    outcome.checks["stored"] = outcome.path is not None and Path(outcome.path).exists() and len(values) > 0
    outcome.checks["within_budget"] = 0 < len(values) <= spec.budget
    return values
