"""A full-stack measuring session: a twin IOC subprocess, devices over CA, our RunEngine.

``TwinSession(scenario, seed=…, speed=…, spec=…)`` starts the twin on a free loopback port
on first use; ``measure(x)`` runs one ``list_scan`` point (move every steered motor, count)
and returns the channel's counts; ``close()`` stops the twin. One process can hold one
session at a time (the CA environment variables are the process's).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

import beamlines
from acq import plans
from acq.devices.profile import connect_all, make_devices
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios.envs.spec import CampaignSpec
from scenarios.twin_process import TwinProcess


def connect_devices(beamline: str, names: list[str], timeout: float = 5.0) -> dict[str, Any]:
    """Connected devices ``names`` of the beamline file ``beamline`` (only those: a profile may
    hold kinds that this experiment does not use)."""
    profile = beamlines.load(beamline)
    missing = [n for n in names if n not in profile["devices"]]
    if missing:
        raise ValueError(f"{beamline}: no device(s) {missing} (has: {sorted(profile['devices'])})")
    devices = make_devices({"devices": {n: profile["devices"][n] for n in dict.fromkeys(names)}})
    call_in_loop(connect_all(devices, timeout))
    return devices


class TwinSession:
    """Measure points of ``spec`` through a real twin over Channel Access."""

    def __init__(self, scenario: str, *, seed: int, speed: float, spec: CampaignSpec, beamline: str) -> None:
        self.scenario, self.seed, self.speed, self.spec, self.beamline = scenario, seed, speed, spec, beamline
        self.twin: TwinProcess | None = None
        self._saved: dict[str, str | None] = {}
        self.motors: list[Any] = []
        self.det: Any = None
        self.RE: RunEngine | None = None
        self.key = spec.channel

    def open(self) -> None:
        """Start the twin and connect the devices (done by the first ``measure``)."""
        if self.twin is not None:
            return
        twin = self._start()
        self.twin = twin
        self._saved = {k: os.environ.get(k) for k in twin.env}
        os.environ.update(twin.env)
        devices = connect_devices(self.beamline, [*self.spec.names, self.spec.detector])
        self.motors = [devices[n] for n in self.spec.names]
        self.det = devices[self.spec.detector]
        call_in_loop(self.det.preset_time.put(self.spec.count_time))
        self.key = str(getattr(self.det, self.spec.channel).name)
        self.RE = RunEngine(md={"scenario": self.scenario, "simulated": True, "twin_seed": self.seed})

    def _start(self, attempts: int = 3) -> TwinProcess:
        """Start the twin; a start that fails (its self-check of every PV times out when the
        machine is loaded, e.g. several twins starting at once) is tried again."""
        for attempt in range(attempts):
            try:
                return TwinProcess(self.scenario, seed=self.seed, speed=self.speed).start()
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def measure(self, x: ArrayLike) -> float:
        """Move the steered motors to ``x``, count, and return the channel's counts (one run)."""
        self.open()
        assert self.RE is not None
        args: list[Any] = []
        for motor, value in zip(self.motors, np.asarray(x, dtype=float).ravel(), strict=True):
            args += [motor, [float(value)]]
        got: list[float] = []

        def grab(name: str, doc: dict[str, Any]) -> None:
            if name == "event" and self.key in doc["data"]:
                got.append(float(doc["data"][self.key]))

        token = self.RE.subscribe(grab)
        try:
            self.RE(plans.list_scan([self.det], *args))
        finally:
            self.RE.unsubscribe(token)
        if len(got) != 1:
            raise RuntimeError(f"one point measured {len(got)} value(s) of {self.spec.channel!r}")
        return got[0]

    def close(self) -> None:
        """Stop the twin and restore the CA environment (variables that were unset stay set: the
        CA client's search threads may be reading the environment, and a deletion races them)."""
        if self.twin is None:
            return
        try:
            self.twin.stop()
        finally:
            for k, v in self._saved.items():
                if v is not None:
                    os.environ[k] = v
            self.twin = None


class CampaignTwin:
    """The twin side of a campaign task (alignment, sample map): the scenario's campaign spec,
    its physics model for ``seed``, and in mode ``ca`` a :class:`TwinSession` to measure through.

    ``measure(x, n)`` is the ``n``-th measurement of the episode: over CA, or from the model
    with Poisson noise keyed by ``n`` count times (mode ``direct``).
    """

    def __init__(self, scenario: str, *, seed: int, mode: str, speed: float | None, min_axes: int) -> None:
        from scenarios import scenario as scenarios
        from scenarios.envs.spec import parse_campaign
        from twin.physics import BeamlineModel

        if mode not in ("ca", "direct"):
            raise ValueError(f"mode must be 'ca' or 'direct', got {mode!r}")
        self.scenario = scenarios.load(scenario)
        sc = self.scenario
        self.spec = parse_campaign(sc.experiment, devices=sc.beamline["devices"], min_axes=min_axes)
        self.model = BeamlineModel(sc.beamline["physics"], seed=seed)
        self.session = TwinSession(str(sc.path), seed=seed, speed=speed or sc.speed, spec=self.spec,
                                   beamline=sc.beamline["_path"]) if mode == "ca" else None

    def position(self, x: ArrayLike) -> dict[str, float]:
        """``x`` (in the spec's axis order) as a mapping of axis names to positions."""
        return dict(zip(self.spec.names, map(float, np.asarray(x, dtype=float).ravel()), strict=True))

    def measure_direct(self, x: ArrayLike, key: float) -> float:
        """Counts at ``x`` from the physics model, Poisson noise keyed by ``key``."""
        return float(self.model.measure_at(self.spec.channel, self.position(x), self.spec.count_time, key))

    def measure(self, x: ArrayLike, n: int) -> float:
        """The ``n``-th measurement of the episode at ``x``: over CA, or from the model."""
        if self.session is not None:
            return self.session.measure(x)
        return self.measure_direct(x, n * self.spec.count_time)

    def agent_options(self, agent: str, budget: int) -> dict[str, Any]:
        """The scenario's options for its own agent; the grid spreads ``budget``."""
        opts: dict[str, Any] = dict(self.spec.agent_options) if agent == self.spec.agent else {}
        if agent == "grid":
            opts["budget"] = budget
        return opts

    def close(self) -> None:
        """Stop the twin (mode ``ca``)."""
        if self.session is not None:
            self.session.close()
