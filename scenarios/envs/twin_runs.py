"""Full-stack measurements for an evaluation episode: a twin subprocess, devices over CA, our RunEngine.

``TwinRuns(scenario_path, beamline, seed=…, speed=…)`` starts the twin on a free loopback port
at the first ``run``; ``run(make_plan)`` runs ``make_plan(devices)`` and returns the events'
data; ``close()`` stops the twin and restores the CA environment. One process holds one at a
time (the CA environment variables are the process's).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from acq.devices import load_profile
from acq.engine import RunEngine
from scenarios.twin_process import TwinProcess


class TwinRuns:
    """Runs against a real twin over Channel Access (see the module docstring)."""

    def __init__(self, scenario_path: str, beamline: str, *, seed: int, speed: float) -> None:
        self.scenario_path, self.beamline, self.seed, self.speed = scenario_path, beamline, seed, speed
        self.twin: TwinProcess | None = None
        self.devices: dict[str, Any] = {}
        self.RE: RunEngine | None = None
        self._saved: dict[str, str | None] = {}

    def open(self) -> dict[str, Any]:
        """Start the twin and connect the devices (once); the devices by name."""
        if self.twin is None:
            twin = TwinProcess(self.scenario_path, seed=self.seed, speed=self.speed).start()
            self.twin = twin
            self._saved = {k: os.environ.get(k) for k in twin.env}
            os.environ.update(twin.env)
            self.devices = load_profile(self.beamline)
            self.RE = RunEngine(md={"simulated": True, "twin_seed": self.seed, "twin_speed": self.speed})
        return self.devices

    def run(self, make_plan: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
        """Run the plan ``make_plan(devices)``; the ``data`` of its events, in order."""
        devices = self.open()
        assert self.RE is not None
        events: list[dict[str, Any]] = []
        token = self.RE.subscribe(lambda name, doc: events.append(doc["data"]) if name == "event" else None)
        try:
            self.RE(make_plan(devices))
        finally:
            self.RE.unsubscribe(token)
        return events

    def close(self) -> None:
        """Stop the twin and restore the CA environment."""
        if self.twin is None:
            return
        try:
            self.twin.stop()
        finally:
            for k, v in self._saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self.twin = None
