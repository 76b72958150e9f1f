"""Adjudication: several agents propose, one decides; every suggestion and decision is logged.

An :class:`Adjudicator` is itself an agent. ``ask(n)`` asks every member for ``n`` points,
drops proposals that duplicate a measured, pending or already-chosen point (closer than
``tolerance`` in unit-cube distance), and decides which to execute: ``policy="round_robin"``
takes one proposal from each member in turn, ``"priority"`` takes the members' proposals in
the order the members were given, ``"weighted"`` draws members in proportion to ``weights``
(seeded). ``tell`` forwards to every member, so each learns from all data. ``log`` holds one
record per ask — proposals by member, what was dropped as duplicate, the decision and why —
and :meth:`record` is that record as run metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from adaptive.protocol import Agent, AgentError, Array

POLICIES = ("round_robin", "priority", "weighted")


class Adjudicator(Agent):
    """Merge and deduplicate the proposals of ``members`` (name → agent) and decide."""

    name: ClassVar[str] = "adjudicator"

    def __init__(self, members: Mapping[str, Agent], *, policy: str = "round_robin", tolerance: float = 1e-3,
                 weights: Sequence[float] | None = None, seed: int = 0) -> None:
        if not members:
            raise ValueError("an adjudicator needs at least one member agent")
        first = next(iter(members.values()))
        for name, agent in members.items():
            if agent.space.bounds.shape != first.space.bounds.shape or not np.allclose(agent.space.bounds,
                                                                                       first.space.bounds):
                raise ValueError(f"member {name!r} has bounds {agent.space.bounds.tolist()}, "
                                 f"the first member {first.space.bounds.tolist()}: all must share one box")
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if weights is not None and (len(weights) != len(members) or min(weights) < 0 or sum(weights) <= 0):
            raise ValueError(f"weights: one non-negative weight per member ({len(members)}), not all zero")
        super().__init__(first.space.bounds, seed=seed,
                         forbidden=[f.tolist() for f in first.space.forbidden])
        self.members = dict(members)
        self.policy = policy
        self.tolerance = float(tolerance)
        self.weights = list(weights) if weights is not None else [1.0] * len(members)
        self.log: list[dict[str, Any]] = []

    def config(self) -> dict[str, Any]:
        """Policy and the members' configurations."""
        return {**super().config(), "policy": self.policy, "tolerance": self.tolerance, "weights": self.weights,
                "members": {k: {"agent": a.name, "config": a.config()} for k, a in self.members.items()}}

    def state(self) -> dict[str, Any]:
        """Own state, the log, and every member's state."""
        return {**super().state(), "log": self.log, "members": {k: a.state() for k, a in self.members.items()}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restore own and members' state."""
        super().restore(state)
        self.log = list(state["log"])
        for k, a in self.members.items():
            a.restore(state["members"][k])

    def tell(self, x: ArrayLike, y: Any, *, sigma: Any = None, status: str = "ok") -> None:
        """Record, and forward to every member."""
        super().tell(x, y, sigma=sigma, status=status)
        for a in self.members.values():
            a.tell(x, y, sigma=sigma, status=status)

    def report(self) -> dict[str, Any]:
        """Own counts, the members' reports and the number of decisions."""
        return {**super().report(), "policy": self.policy, "decisions": len(self.log),
                "members": {k: a.report() for k, a in self.members.items()}}

    def record(self) -> dict[str, Any]:
        """The latest ask's suggestions and decision, for a run's start metadata."""
        return dict(self.log[-1]) if self.log else {}

    def save_log(self, path: str | Path) -> None:
        """Write the whole decision log as JSON lines."""
        import json

        with open(path, "w") as f:
            for rec in self.log:
                f.write(json.dumps(rec) + "\n")

    def _suggest(self, n: int) -> Array:
        proposals: dict[str, list[list[float]]] = {}
        failures: dict[str, str] = {}
        for name, agent in self.members.items():
            try:
                proposals[name] = agent.ask(n).tolist()
            except Exception as exc:  # one member failing must not stop the others
                failures[name] = f"{type(exc).__name__}: {exc}"
        if not proposals:
            raise AgentError(f"every member of the adjudicator failed to propose: {failures}")
        known = [*self.obs.X(ok_only=False).tolist(), *self.pending]
        chosen: list[list[float]] = []
        chosen_by: list[str] = []
        duplicates: list[dict[str, Any]] = []
        queues = {k: list(v) for k, v in proposals.items()}

        def is_new(p: list[float]) -> bool:
            if not known and not chosen:
                return True
            ref = self.space.to_unit(np.asarray([*known, *chosen]))
            return bool(np.min(np.linalg.norm(ref - self.space.to_unit(p), axis=1)) > self.tolerance)

        order = self._member_order(list(queues), n)
        for member in order:
            if len(chosen) >= n:
                break
            while queues[member]:
                p = queues[member].pop(0)
                if is_new(p):
                    chosen.append(p)
                    chosen_by.append(member)
                    break
                duplicates.append({"member": member, "point": p})
        # members whose queues still hold points may fill what round-robin left open
        for member in queues:
            while len(chosen) < n and queues[member]:
                p = queues[member].pop(0)
                if is_new(p):
                    chosen.append(p)
                    chosen_by.append(member)
                else:
                    duplicates.append({"member": member, "point": p})
        # members not chosen this time withdraw their points (they are no longer pending for them)
        for name, agent in self.members.items():
            for p in proposals.get(name, []):
                if not (p in chosen and chosen_by[chosen.index(p)] == name):
                    agent._drop_pending(np.asarray(p))
        self.log.append({"ask": self.n_asks, "n_observations": len(self.obs), "policy": self.policy,
                         "proposals": proposals, "member_errors": failures, "duplicates": duplicates,
                         "decision": chosen, "decided_for": chosen_by})
        return np.asarray(chosen, dtype=float).reshape(-1, self.space.dim)

    def _member_order(self, names: list[str], n: int) -> list[str]:
        if self.policy == "priority":
            return [m for m in self.members if m in names for _ in range(n)]
        if self.policy == "weighted":
            w = np.array([self.weights[list(self.members).index(m)] for m in names], dtype=float)
            picks = self.rng(7).choice(len(names), size=n * len(names), p=w / w.sum())
            return [names[i] for i in picks]
        start = self.n_asks % len(names)
        rotated = names[start:] + names[:start]
        return (rotated * n)[: max(n, len(names))]
