"""The 2-D sample-map task on the twin: reconstruct the fluorescence map of the mapping beamline.

The error after some measurements is the RMSE of their reconstruction against the twin's
noise-free map on a 100×100 grid over the search box, divided by the map's range (as the
analytic ``map2d`` task). Each design is judged by its own reconstruction (issue 7, map10): an
agent that has a model (``predict``: gp-map's GP posterior mean) by its model, any other design
by the linear interpolation of its measured values; ``metrics`` gives the linear rule's error of
the same points (``linear_error``) beside. The target is the error of a 30×30 raster measured on
the same twin (with the same counting noise, from the physics model directly), reconstructed
linearly: the image a beamline shows of a raster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from adaptive.harness.tasks import Map2D
from adaptive.protocol import Array
from scenarios.envs.session import CampaignTwin
from scenarios.envs.spec import CampaignSpec
from scenarios.envs.twin_runs import EnvFactory
from twin.physics import BeamlineModel


def true_map(model: BeamlineModel, spec: CampaignSpec, points: Array) -> Array:
    """Expected counts of ``spec.channel`` in ``spec.count_time`` at ``points`` (n, 2): no noise."""
    det = model.detector(spec.channel)
    rate = model.input_rates_at(spec.channel, spec.names, points)
    return det.observed_rates(rate * det.gain + det.dark_rate) * spec.count_time


def grid_over(bounds: list[list[float]], n: int) -> Array:
    """An n×n grid of points over the 2-D box."""
    (x0, x1), (y0, y1) = bounds
    gx, gy = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    return np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)


@dataclass
class SampleMapEnv(Map2D):
    """The twin's map sample of ``scenario`` for ``seed``; ``mode`` is ``ca`` or ``direct``.

    ``error(X, Y, predict)`` judges ``predict(grid)`` when given (an agent's own reconstruction), else
    the linear map of ``Y``; the target (``raster_error(30)``) is always the raster's linear map."""

    name: str = "sample-map"
    scenario: str = "sample-map"
    mode: str = "ca"
    speed: float | None = None
    reconstructs: bool = True  # issue 7's map target: each design by its own reconstruction (README, map10)
    spec: CampaignSpec = field(init=False)
    twin: CampaignTwin = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.twin = CampaignTwin(self.scenario, seed=self.seed, mode=self.mode, speed=self.speed, min_axes=2)
        self.spec, self.model, self.session = self.twin.spec, self.twin.model, self.twin.session
        if len(self.spec.names) != 2:
            self.twin.close()
            raise ValueError(f"{self.twin.scenario.path}: experiment.axes must name exactly 2 motors for a map")
        self.bounds = self.spec.bounds
        self.budget = self.budget or self.spec.budget
        self.n_measured = 0
        super().__post_init__()  # the target: a 30×30 raster's error (measured directly on the model)

    @cached_property
    def grid(self) -> Array:
        """The 100×100 evaluation grid over the box."""
        return grid_over(self.bounds, 100)

    @cached_property
    def truth(self) -> Array:
        """The twin's noise-free map on the grid."""
        return true_map(self.model, self.spec, self.grid)

    def measure_direct(self, x: Array, key: float) -> float:
        """Counts at ``x`` from the physics model, Poisson noise keyed by ``key``."""
        return self.twin.measure_direct(x, key)

    def evaluate(self, x: Array) -> float:
        """Counts of the channel at ``x`` (over CA, or from the model)."""
        self.n_measured += 1
        return self.twin.measure(x, self.n_measured)

    def raster(self, n: int) -> tuple[Array, Array]:
        """An n×n raster measured directly on the model (noise keys apart from the episode's): points, counts."""
        pts = grid_over(self.bounds, n)
        return pts, np.array([self.measure_direct(p, 1e6 + i * self.spec.count_time) for i, p in enumerate(pts)])

    def agent_options(self, agent: str) -> dict[str, Any]:
        """The scenario's options for its own agent; the grid spreads the budget."""
        return self.twin.agent_options(agent, self.budget)

    def close(self) -> None:
        """Stop the twin (CA mode)."""
        self.twin.close()


def SampleMapFactory(**options: Any) -> EnvFactory:
    """``SampleMapFactory(mode="direct")(seed)``: a picklable ``seed -> SampleMapEnv`` (options: the
    environment's fields, e.g. ``scenario``, ``mode``)."""
    return EnvFactory(SampleMapEnv, **options)
