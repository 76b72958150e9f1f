"""Adapters to the gest-api generator standard (``suggest`` / ``ingest`` / ``finalize``, trials keyed by ``_id``).

- :class:`AgentGenerator` runs one of our agents as a gest-api ``Generator``, so that Xopt 3
  (``Xopt(generator=AgentGenerator(vocs, "gp-bo"), …)``), optimas, libEnsemble or blop can
  drive it. It returns an ``_id`` with every point; ``ingest`` raises ``ValueError`` for an
  ``_id`` it never issued, takes points without ``_id`` as outside data, and tells a result
  whose objective is missing or not finite (or flagged ``xopt_error``) as a failed point.
- :class:`GeneratorAgent` runs any gest-api generator (Xopt's, blop's, …) as our agent:
  ``ask`` calls ``suggest``, ``tell`` calls ``ingest`` with the ``_id`` the point came with.

Only continuous variables map onto our box (in the VOCS' order); one objective (MINIMIZE or
MAXIMIZE) becomes the agent's objective channel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gest_api import Generator
from gest_api.vocs import VOCS, ContinuousVariable
from numpy.typing import ArrayLike

from adaptive.protocol import Agent, Array


def vocs_box(vocs: VOCS) -> tuple[list[str], list[list[float]]]:
    """Variable names and their [low, high] domains; every variable must be continuous."""
    names, bounds = [], []
    for name, var in vocs.variables.items():
        if not isinstance(var, ContinuousVariable) or not all(math.isfinite(v) for v in var.domain):
            raise ValueError(f"variable {name!r}: only continuous variables with finite domains map onto an agent")
        names.append(name)
        bounds.append([float(var.domain[0]), float(var.domain[1])])
    if not names:
        raise ValueError("the VOCS has no variables")
    return names, bounds


def vocs_objective(vocs: VOCS) -> tuple[str, bool]:
    """The single objective's name and whether it is minimised."""
    objectives = dict(vocs.objectives)
    if len(objectives) != 1:
        raise ValueError(f"exactly one objective is supported, the VOCS has {list(objectives)}")
    (name, obj), = objectives.items()
    kind = type(obj).__name__
    if kind not in ("MinimizeObjective", "MaximizeObjective"):
        raise ValueError(f"objective {name!r} is {kind}; only MINIMIZE or MAXIMIZE map onto an agent")
    return name, kind == "MinimizeObjective"


class AgentGenerator(Generator):  # type: ignore[misc]
    """One of our agents (by name, or an instance) as a gest-api generator."""

    returns_id = True

    def __init__(self, vocs: VOCS, agent: str | Agent = "gp-bo", **options: Any) -> None:
        self._validate_vocs(vocs)
        self.vocs = vocs
        self.variables, bounds = vocs_box(vocs)
        self.objective, minimize = vocs_objective(vocs)
        if isinstance(agent, Agent):
            if agent.space.bounds.tolist() != bounds:
                raise ValueError(f"the agent's bounds {agent.space.bounds.tolist()} differ from the VOCS' {bounds}")
            self.agent = agent
        else:
            from adaptive.agents import make_agent

            self.agent = make_agent(agent, bounds, minimize=minimize, **options)
        self._issued: dict[int, list[float]] = {}
        self._next_id = 0

    def _validate_vocs(self, vocs: VOCS) -> None:
        vocs_box(vocs)
        vocs_objective(vocs)

    def suggest(self, num_points: int | None = None) -> list[dict[str, Any]]:
        """``num_points`` points (one when not given) as dicts of variable values plus ``_id``."""
        pts = self.agent.ask(int(num_points or 1))
        out = []
        for p in pts:
            self._issued[self._next_id] = p.tolist()
            out.append({**{k: float(v) for k, v in zip(self.variables, p, strict=True)}, "_id": self._next_id})
            self._next_id += 1
        return out

    def ingest(self, results: list[dict[str, Any]]) -> None:
        """Tell the agent each result; unknown ``_id`` → ValueError (before anything is told)."""
        unknown = [r["_id"] for r in results if "_id" in r and _plain_id(r["_id"]) not in self._issued]
        if unknown:
            raise ValueError(f"ingest: _id value(s) {unknown} were not issued by this generator")
        for r in results:
            missing = [k for k in self.variables if k not in r]
            if missing:
                raise ValueError(f"ingest: a result lacks the variable(s) {missing}")
            x = self._issued.pop(_plain_id(r["_id"])) if "_id" in r else [float(r[k]) for k in self.variables]
            value = r.get(self.objective)
            number = float("nan") if value is None else float(value)
            if bool(r.get("xopt_error", False)) or not math.isfinite(number):
                self.agent.tell(x, None, status="failed")
            else:
                self.agent.tell(x, number)

    def finalize(self) -> None:
        """Nothing is left running; the agent's data are up to date."""


def _plain_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class GeneratorAgent(Agent):
    """A gest-api generator (an instance, with its VOCS) as our agent."""

    name: ClassVar[str] = "gest"

    def __init__(self, generator: Any, *, seed: int = 0, **kwargs: Any) -> None:
        vocs = generator.vocs
        self.variables, bounds = vocs_box(vocs)
        self.objective_name, minimize = vocs_objective(vocs)
        super().__init__(bounds, seed=seed, minimize=minimize, **kwargs)
        self.generator = generator
        self._ids: list[tuple[list[float], Any]] = []

    def config(self) -> dict[str, Any]:
        """Bounds and the generator's class."""
        return {**super().config(), "generator": type(self.generator).__qualname__}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore the observations and ingest them into the generator as outside data (no ``_id``).

        Their generator's own state is not ours to serialise, so a resumed foreign generator
        knows all the data but need not ask the very points an unbroken one would have.
        """
        super().restore(state)
        rows = [{**dict(zip(self.variables, x, strict=True)), self.objective_name: y[0]}
                for x, y, s in zip(self.obs.x, self.obs.y, self.obs.status, strict=True) if s == "ok"]
        if rows:
            self.generator.ingest(rows)

    def _suggest(self, n: int) -> Array:
        points = self.generator.suggest(n)
        out = []
        for p in points:
            x = [float(p[k]) for k in self.variables]
            if "_id" in p:
                self._ids.append((x, p["_id"]))
            out.append(x)
        return np.asarray(out, dtype=float).reshape(-1, self.space.dim)

    def tell(self, x: ArrayLike, y: Any, *, sigma: Any = None, status: str = "ok") -> None:
        """Record, and ingest into the generator (with the point's ``_id`` if it came with one)."""
        super().tell(x, y, sigma=sigma, status=status)
        point = np.asarray(x, dtype=float).ravel()
        row: dict[str, Any] = dict(zip(self.variables, point.tolist(), strict=True))
        value = float(self.obs.y[-1][self.channel_index()]) if status == "ok" else float("nan")
        row[self.objective_name] = value
        for i, (px, pid) in enumerate(self._ids):
            if np.allclose(px, point, rtol=0, atol=1e-12):
                row["_id"] = pid
                del self._ids[i]
                break
        self.generator.ingest([row])
