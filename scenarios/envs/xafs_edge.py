"""``beamtwin evaluate --scenario xafs-edge``: the twin's absorption edge as an evaluation task.

A point is a monochromator energy (eV) in the scenario's search range; measuring it returns
μt = ln(I0/It) (one run over CA in mode ``ca``; the physics model's counts in mode
``direct``). The error after n points is |E0 found − E0 true| (eV; E0 = maximum of the
derivative); the target is the error of a 0.5 eV fixed-step scan over the same range on the
same twin (measured in direct mode when the environment is made), and ``reference_points``
is that scan's size, so the report shows the fraction of its points each agent needed.
``edge_step_error`` gives the relative error of the edge step from the same data.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from acq import plans
from acq.devices import MonoEnergy
from acq.loop import call_in_loop
from adaptive.harness.tasks import Environment
from adaptive.protocol import Array
from scenarios import scenario as scenarios
from scenarios.envs.direct import DirectBeamline
from scenarios.envs.twin_runs import EnvFactory, TwinRuns, close_twin_session, open_twin_session
from scenarios.experiments.xafs import XafsPlan, measure_edge, parse
from twin.physics import BeamlineModel
from twin.physics.optics import bragg_angle


def fixed_step_points(xp: XafsPlan, step: float = 0.5) -> np.ndarray[Any, Any]:
    """The energies of a fixed-step scan over the search range."""
    lo, hi = xp.search
    return np.linspace(lo, hi, round((hi - lo) / step) + 1)


@dataclass
class XafsEdgeEnv(Environment):
    """The absorption edge of scenario ``scenario`` (see the module docstring)."""

    name: str = "xafs-edge"
    scenario: str = "xafs-edge"
    mode: str = "ca"
    ci: bool = False
    target: float = float("nan")
    error_every: int = 10
    speed: float | None = None
    _session: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        sc = scenarios.load(self.scenario)
        self.sc = sc.ci_variant() if self.ci else sc
        self.xp: XafsPlan = parse(self.sc)
        physics = self.sc.beamline["physics"]
        self.truth = BeamlineModel(physics, seed=self.seed).truth()
        self.bounds = [list(self.xp.search)]
        self.budget = self.xp.max_points
        self.reference_points = self.xp.reference_points
        dcm = physics["optics"]["dcm"]
        self._theta_axis, self._d = str(dcm["theta"]), float(dcm.get("d", 3.1356))
        self._channels = [self.xp.i0, self.xp.it]
        self._session = open_twin_session(self.sc, mode=self.mode, seed=self.seed, speed=self.speed)
        if math.isnan(self.target):  # the yardstick: a 0.5 eV scan on a direct twin of the same seed
            ref = XafsEdgeEnv(seed=self.seed, scenario=self.scenario, mode="direct", ci=self.ci, target=0.0)
            pts = fixed_step_points(self.xp)
            self.target = ref.error(pts[:, None], np.array([ref.evaluate(np.array([p])) for p in pts]))

    def evaluate(self, x: Array) -> float:
        """μt at energy ``x`` (eV)."""
        energy = float(np.asarray(x, dtype=float).ravel()[0])
        xp = self.xp
        if isinstance(self._session, DirectBeamline):
            db = self._session
            db.move(**{self._theta_axis: bragg_angle(energy / 1e3, self._d)})
            c = db.count(self._channels, xp.search_count_time)
            a, b = c[xp.i0], c[xp.it]
        else:
            session: TwinRuns = self._session
            if "energy" not in session.open():
                prefix = session.devices[xp.bragg].prefix
                mono = MonoEnergy(prefix, name="energy", d_spacing=xp.d_spacing, bragg="")
                call_in_loop(mono.connect())
                session.devices["energy"] = mono

            def plan(devices: dict[str, Any]) -> Generator[Any, Any, Any]:
                det = devices[xp.detector]
                yield from plans.mv(det.preset_time, xp.search_count_time)
                return (yield from plans.list_scan([det], devices["energy"], [energy]))

            (event,) = session.run(plan)
            det = session.devices[xp.detector]
            a, b = event[getattr(det, xp.i0).name], event[getattr(det, xp.it).name]
        return math.log(a / b) if a > 0 and b > 0 else math.nan

    def _edge(self, X: Array, Y: Array) -> tuple[float, float]:
        y = np.asarray(Y, dtype=float).reshape(len(X), -1)[:, 0]
        try:
            return measure_edge(np.asarray(X, dtype=float).ravel(), y, self.xp)
        except ValueError:  # the windows are not covered yet
            return float("nan"), float("nan")

    def error(self, X: Array, Y: Array) -> float:
        """|E0 found − E0 true| in eV (inf before there is enough data)."""
        if len(X) < 4:
            return float("inf")
        from acq.callbacks.edge import edge_e0

        e0 = edge_e0(X, np.asarray(Y, dtype=float).reshape(len(X), -1)[:, 0])
        return abs(e0 - float(self.truth["e0_ev"])) if math.isfinite(e0) else float("inf")

    def edge_step_error(self, X: Array, Y: Array) -> float:
        """|step found / step true − 1| (inf while the pre- and post-edge windows are not covered)."""
        _, step = self._edge(X, Y)
        return abs(step / float(self.truth["edge_step"]) - 1.0) if math.isfinite(step) else float("inf")

    def agent_options(self, agent: str) -> dict[str, Any]:
        """The slope agent with the scenario's step settings; the grid spreads the budget."""
        if agent == "slope":
            return {"target_delta": self.xp.target_delta, "min_step": self.xp.min_step, "max_step": self.xp.max_step}
        if agent == "grid":
            return {"budget": self.budget}
        if agent == "gp-map":
            return {"n_init": 10}
        return {}

    def close(self) -> None:
        """Stop the twin (mode ``ca``)."""
        close_twin_session(self._session)


def XafsEdgeFactory(**options: Any) -> EnvFactory:
    """``XafsEdgeFactory(mode="direct")(seed)``: a picklable ``seed -> XafsEdgeEnv`` (options: the
    environment's fields, e.g. ``scenario``, ``mode``)."""
    return EnvFactory(XafsEdgeEnv, **options)
