"""``beamtwin evaluate --scenario phase-library``: the twin's phase library as an evaluation task.

A point is a spot on the wafer; measuring it scans the detector arm over 2θ and returns the
pattern (one run over CA in mode ``ca``; the physics model's counts in mode ``direct``). The
error after n spots is 1 − adjusted Rand index of the phase labels predicted over the whole
library against the twin's truth; the target is 0.1 (ARI ≥ 0.9).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from acq import plans
from adaptive.harness.tasks import Environment
from adaptive.protocol import Array
from scenarios import scenario as scenarios
from scenarios.envs.direct import DirectBeamline
from scenarios.envs.twin_runs import EnvFactory, close_twin_session, open_twin_session
from scenarios.experiments.phases import PhasePlan, parse, recovered_labels, true_labels


@dataclass
class PhaseLibraryEnv(Environment):
    """The phase library of scenario ``scenario`` (see the module docstring)."""

    name: str = "phase-library"
    scenario: str = "phase-library"
    mode: str = "ca"
    ci: bool = False
    target: float = 0.1
    error_every: int = 5
    speed: float | None = None
    _session: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        sc = scenarios.load(self.scenario)
        self.sc = sc.ci_variant() if self.ci else sc
        self.xp: PhasePlan = parse(self.sc)
        self.bounds = self.xp.bounds()
        self.budget = self.xp.budget
        self.library = self.xp.library()
        self.truth = true_labels(self.sc.beamline["physics"], self.seed, self.library)
        self.tth = np.linspace(*self.xp.pattern[:2], self.xp.pattern[2])
        self._session = open_twin_session(self.sc, mode=self.mode, seed=self.seed, speed=self.speed)

    def evaluate(self, x: Array) -> Array:
        """The pattern (counts per 2θ point) at spot ``x``."""
        px, py = (float(v) for v in np.asarray(x, dtype=float).ravel()[:2])
        xp = self.xp
        if isinstance(self._session, DirectBeamline):
            db = self._session
            db.move(**{xp.stage[0]: px, xp.stage[1]: py})
            counts = []
            for tt in self.tth:
                db.move(**{xp.arm: float(tt)})
                counts.append(db.count([xp.channel], xp.count_time)[xp.channel])
            return np.asarray(counts, dtype=float)

        def plan(devices: dict[str, Any]) -> Generator[Any, Any, Any]:
            det = devices[xp.detector]
            yield from plans.mv(devices[xp.stage[0]], px, devices[xp.stage[1]], py, det.preset_time, xp.count_time)
            return (yield from plans.scan([det], devices[xp.arm], xp.pattern[0], xp.pattern[1], num=xp.pattern[2]))

        events = self._session.run(plan)
        key = getattr(self._session.devices[xp.detector], xp.channel).name
        return np.asarray([e[key] for e in events], dtype=float)

    def error(self, X: Array, Y: Array) -> float:
        """1 − ARI of the predicted library labels (1 before there are as many spots as phases)."""
        if len(X) < max(self.xp.n_phases, 6):
            return 1.0
        labels = recovered_labels(self.xp, self.seed, np.asarray(X, dtype=float), list(Y))
        return float(1.0 - adjusted_rand_score(self.truth, labels))

    def agent_options(self, agent: str) -> dict[str, Any]:
        """The cluster agent chooses among the library's spots; the grid spreads the budget."""
        if agent == "cluster":
            return {"candidates": self.library, "n_clusters": self.xp.n_phases, "method": self.xp.method}
        if agent == "grid":
            return {"budget": self.budget}
        return {}

    def close(self) -> None:
        """Stop the twin (mode ``ca``)."""
        close_twin_session(self._session)


def PhaseLibraryFactory(**options: Any) -> EnvFactory:
    """``PhaseLibraryFactory(mode="direct")(seed)``: a picklable ``seed -> PhaseLibraryEnv`` (options: the
    environment's fields, e.g. ``scenario``, ``mode``)."""
    return EnvFactory(PhaseLibraryEnv, **options)
