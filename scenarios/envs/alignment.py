"""The alignment task: maximise the flux at the sample over coupled optics axes.

The twin's truth is the physics model's noise-free flux; :func:`true_optimum` finds its
maximum in the search box (differential evolution, then a polish), and the error after
some measurements is ``1 − flux(best measured point) / optimum``: the best point is the one
a user would pick (the highest *measured* value), judged by the twin's *true* flux there.
Target: 0.05 (95 % of the optimum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import differential_evolution

from adaptive.harness.tasks import Environment
from adaptive.protocol import Array
from scenarios import scenario as scenarios
from scenarios.envs.session import CampaignTwin
from scenarios.envs.spec import CampaignSpec, parse_campaign
from scenarios.envs.twin_runs import EnvFactory
from twin.physics import BeamlineModel

TARGET = 0.05


def true_optimum(model: BeamlineModel, names: list[str], bounds: list[list[float]]) -> tuple[Array, float]:
    """The axis positions (in ``names`` order) that maximise the noise-free flux in ``bounds``, and that flux."""

    def neg(x: Array) -> float:
        return -model.flux_at(dict(zip(names, map(float, x), strict=True)))

    res = differential_evolution(neg, [tuple(b) for b in bounds], seed=model.seed, tol=1e-9, maxiter=400,
                                 popsize=20, polish=True)
    return np.asarray(res.x, dtype=float), float(-res.fun)


@lru_cache(maxsize=32)
def _optimum(scenario: str, seed: int) -> tuple[tuple[float, ...], float]:
    sc = scenarios.load(scenario)
    spec = parse_campaign(sc.experiment)
    x, flux = true_optimum(BeamlineModel(sc.beamline["physics"], seed=seed), spec.names, spec.bounds)
    return tuple(x.tolist()), flux


@dataclass
class AlignmentEnv(Environment):
    """Alignment of the ``scenario``'s axes on the twin of ``seed``; ``mode`` is ``ca`` or ``direct``."""

    name: str = "alignment"
    scenario: str = "alignment"
    mode: str = "ca"
    speed: float | None = None
    target: float = TARGET
    spec: CampaignSpec = field(init=False)
    twin: CampaignTwin = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.twin = CampaignTwin(self.scenario, seed=self.seed, mode=self.mode, speed=self.speed, min_axes=1)
        self.spec, self.model, self.session = self.twin.spec, self.twin.model, self.twin.session
        self.bounds = self.spec.bounds
        self.budget = self.budget or self.spec.budget
        self.n_measured = 0

    @property
    def optimum(self) -> tuple[Array, float]:
        """Where the twin's true flux peaks in the box, and the peak flux."""
        x, flux = _optimum(self.scenario, self.seed)
        return np.asarray(x), flux

    def true_flux(self, x: Array) -> float:
        """The noise-free flux at ``x``."""
        return self.model.flux_at(self.twin.position(x))

    def evaluate(self, x: Array) -> float:
        """Counts of the flux monitor at ``x`` (over CA, or from the model with Poisson noise)."""
        self.n_measured += 1
        return self.twin.measure(x, self.n_measured)

    def error(self, X: Array, Y: Array) -> float:
        """1 − true flux at the best measured point / the true optimum."""
        if not len(X):
            return 1.0
        y = np.asarray(Y, dtype=float).reshape(len(X), -1)[:, 0]
        return float(1.0 - self.true_flux(np.asarray(X)[int(np.argmax(y))]) / self.optimum[1])

    def agent_options(self, agent: str) -> dict[str, Any]:
        """The scenario's options for its own agent; the grid spreads the budget; the coordinate
        scan takes the budget too."""
        return self.twin.agent_options(agent, self.budget)

    def close(self) -> None:
        """Stop the twin (CA mode)."""
        self.twin.close()


def AlignmentFactory(**options: Any) -> EnvFactory:
    """``AlignmentFactory(mode="direct")(seed)``: a picklable ``seed -> AlignmentEnv`` (options: the
    environment's fields, e.g. ``scenario``, ``mode``)."""
    return EnvFactory(AlignmentEnv, **options)
