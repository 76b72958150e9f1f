"""Full-stack measurements for an evaluation episode: a twin subprocess, devices over CA, our RunEngine.

``TwinRuns(scenario_path, beamline, seed=…, speed=…)`` starts the twin on a free loopback port
at the first ``run``; ``run(make_plan)`` runs ``make_plan(devices)`` and returns the events'
data; ``close()`` stops the twin. ``names`` connects only those devices of the beamline file
(a profile may hold kinds an experiment does not use). One process holds one at a time (the CA
environment variables are the process's).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import beamlines
from acq.devices import load_profile
from acq.devices.profile import connect_all, make_devices
from acq.engine import RunEngine
from acq.loop import call_in_loop
from scenarios.twin_process import OWN_TWIN_CONNECT_TIMEOUT, TwinProcess


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


class TwinRuns:
    """Runs against a real twin over Channel Access (see the module docstring)."""

    def __init__(self, scenario_path: str, beamline: str, *, seed: int, speed: float,
                 names: list[str] | None = None, md: dict[str, Any] | None = None) -> None:
        self.scenario_path, self.beamline, self.seed, self.speed = scenario_path, beamline, seed, speed
        self.names, self.md = names, dict(md or {})
        self.twin: TwinProcess | None = None
        self.devices: dict[str, Any] = {}
        self.RE: RunEngine | None = None
        self._saved: dict[str, str | None] = {}

    def open(self) -> dict[str, Any]:
        """Start the twin and connect the devices (once); the devices by name."""
        if self.twin is None:
            twin = self._start()
            self.twin = twin
            self._saved = {k: os.environ.get(k) for k in twin.env}
            os.environ.update(twin.env)
            timeout = OWN_TWIN_CONNECT_TIMEOUT
            self.devices = (connect_devices(self.beamline, self.names, timeout) if self.names
                            else load_profile(self.beamline, timeout))
            self.RE = RunEngine(md={"simulated": True, "twin_seed": self.seed, "twin_speed": self.speed, **self.md})
            self.opened(self.devices)
        return self.devices

    def opened(self, devices: dict[str, Any]) -> None:
        """Called once the devices are connected (subclasses prepare them here)."""

    def _start(self, attempts: int = 5, pause: float = 1.0) -> TwinProcess:
        """Start the twin; a start that fails (its self-check of every PV times out when the
        machine is loaded, e.g. several twins starting at once; the IOC exits) is tried again on a
        fresh port after a pause that doubles each time. If every attempt fails, the error names
        each attempt's failure (the last one with the IOC's log)."""
        failures: list[str] = []
        for attempt in range(attempts):
            try:
                return TwinProcess(self.scenario_path, seed=self.seed, speed=self.speed).start()
            except (RuntimeError, TimeoutError) as exc:
                failures.append(f"attempt {attempt + 1}: {type(exc).__name__}: {exc}")
                if attempt < attempts - 1:
                    time.sleep(pause * 2**attempt)
        raise RuntimeError(f"the twin (seed {self.seed}) did not start in {attempts} attempts:\n"
                           + "\n".join(failures))

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


class EnvFactory:
    """``EnvFactory(XafsEdgeEnv, mode="direct")(seed)``: a picklable ``seed -> Environment`` (for
    dask workers) that makes ``env(seed=seed, **options)``; ``factory.mode`` etc. read the options."""

    def __init__(self, env: Callable[..., Any], **options: Any) -> None:
        self.env, self.options = env, options

    def __call__(self, seed: int) -> Any:
        """The environment of episode ``seed`` (the twin's seed too)."""
        return self.env(seed=seed, **self.options)

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__} has no option {name!r} (options: {sorted(options)})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnvFactory) and (self.env, self.options) == (other.env, other.options)

    def __hash__(self) -> int:
        return hash((self.env, tuple(sorted(self.options.items()))))

    def __repr__(self) -> str:
        return f"EnvFactory({getattr(self.env, '__name__', self.env)}, {self.options})"


def open_twin_session(sc: Any, *, mode: str, seed: int, speed: float | None) -> Any:
    """The measuring side of an evaluation environment on scenario ``sc``: the physics model's
    ``DirectBeamline`` (mode ``direct``) or ``TwinRuns`` over CA (mode ``ca``)."""
    from scenarios.envs.direct import DirectBeamline

    if mode not in ("ca", "direct"):
        raise ValueError(f"mode must be 'ca' or 'direct', got {mode!r}")
    if mode == "direct":
        return DirectBeamline(sc.beamline["physics"], seed)
    return TwinRuns(str(sc.path), sc.beamline["_path"], seed=seed, speed=float(speed or sc.speed))


def close_twin_session(session: Any) -> None:
    """Stop the twin of a session ``open_twin_session`` made (nothing to stop in mode ``direct``)."""
    if isinstance(session, TwinRuns):
        session.close()
