"""Concrete agents, and ``make_agent(name, bounds, **options)`` by their command-line names."""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from adaptive.agents.baselines import GridAgent, RandomAgent, SobolAgent
from adaptive.agents.cluster import ClusterAgent
from adaptive.agents.coordinate import CoordinateAgent
from adaptive.agents.gp_bo import GPBOAgent
from adaptive.agents.gp_map import GPMapAgent
from adaptive.agents.slope import SlopeAgent
from adaptive.protocol import Agent

AGENTS: dict[str, type[Agent]] = {cls.name: cls for cls in (GPBOAgent, GPMapAgent, SlopeAgent, ClusterAgent,
                                                            GridAgent, RandomAgent, SobolAgent, CoordinateAgent)}


def make_agent(name: str, bounds: ArrayLike, **options: Any) -> Agent:
    """The agent called ``name`` (gp-bo, gp-map, slope, cluster, grid, random, sobol, coordinate) on ``bounds``."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; known: {', '.join(AGENTS)}")
    return AGENTS[name](bounds, **options)


__all__ = ["AGENTS", "ClusterAgent", "CoordinateAgent", "GPBOAgent", "GPMapAgent", "GridAgent", "RandomAgent",
           "SlopeAgent", "SobolAgent", "make_agent"]
