"""A full-stack measuring session: a twin IOC subprocess, devices over CA, our RunEngine.

``TwinSession(scenario, seed=…, speed=…, spec=…)`` starts the twin on a free loopback port
on first use; ``measure(x)`` runs one ``list_scan`` point (move every steered motor, count)
and returns the channel's counts; ``close()`` stops the twin. One process can hold one
session at a time (the CA environment variables are the process's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from acq import plans
from acq.loop import call_in_loop
from scenarios.envs.spec import CampaignSpec
from scenarios.envs.twin_runs import TwinRuns, connect_devices

__all__ = ["CampaignTwin", "TwinSession", "connect_devices"]


class TwinSession(TwinRuns):
    """Measure points of ``spec`` through a real twin over Channel Access."""

    def __init__(self, scenario: str, *, seed: int, speed: float, spec: CampaignSpec, beamline: str) -> None:
        super().__init__(scenario, beamline, seed=seed, speed=speed, names=[*spec.names, spec.detector],
                         md={"scenario": scenario})
        self.spec = spec
        self.motors: list[Any] = []
        self.det: Any = None
        self.key = spec.channel

    def opened(self, devices: dict[str, Any]) -> None:
        """Pick the steered motors and the detector; set its count time."""
        self.motors = [devices[n] for n in self.spec.names]
        self.det = devices[self.spec.detector]
        call_in_loop(self.det.preset_time.put(self.spec.count_time))
        self.key = str(getattr(self.det, self.spec.channel).name)

    def measure(self, x: ArrayLike) -> float:
        """Move the steered motors to ``x``, count, and return the channel's counts (one run)."""
        self.open()
        args: list[Any] = []
        for motor, value in zip(self.motors, np.asarray(x, dtype=float).ravel(), strict=True):
            args += [motor, [float(value)]]
        events = self.run(lambda _devices: plans.list_scan([self.det], *args))
        got = [float(e[self.key]) for e in events if self.key in e]
        if len(got) != 1:
            raise RuntimeError(f"one point measured {len(got)} value(s) of {self.spec.channel!r}")
        return got[0]


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
