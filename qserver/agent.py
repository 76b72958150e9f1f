"""Asynchronous, decoupled agents: a process that watches the catalog and queues plans through the client.

The agent never touches the engine: it reads finished runs from the catalog (``store``),
tells its model what they measured, asks for the next run and adds it to the queue with its
own key, like any other user. ``python -m qserver.agent --data-dir D`` runs the built-in
``PeakRefiner`` campaign (any object with ``ask(n)``/``tell(x, y)``/``report()`` fits).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Protocol

import numpy as np

from qserver.client import Client
from store import Catalog


class RunAgent(Protocol):
    """Per-run steering: ``ask(n)`` proposes scan ranges ``[[start, stop], …]``; ``tell(x, y)`` gets a run's data."""

    def ask(self, n: int) -> list[list[float]]:
        """Up to ``n`` next ranges; empty when the campaign is over."""

    def tell(self, x: Any, y: Any) -> None:
        """The positions ``x`` and readings ``y`` of a finished run."""

    def report(self) -> dict[str, Any]:
        """What the agent has learnt."""


class PeakRefiner:
    """Scan, find the peak, scan again around it over a range ``shrink`` times narrower, ``rounds`` times."""

    def __init__(self, start: float, stop: float, *, rounds: int = 3, shrink: float = 0.4,
                 limits: tuple[float, float] | None = None) -> None:
        self.range = (float(start), float(stop))
        self.rounds = rounds
        self.shrink = shrink
        self.limits = limits
        self.told = 0
        self.center: float | None = None
        self.history: list[dict[str, Any]] = []

    def ask(self, n: int) -> list[list[float]]:
        """The next range, or none after ``rounds`` runs."""
        if self.told >= self.rounds or n < 1:
            return []
        lo, hi = self.range
        if self.limits is not None:
            lo, hi = max(lo, self.limits[0]), min(hi, self.limits[1])
        return [[lo, hi]]

    def tell(self, x: Any, y: Any) -> None:
        """Centre the next range on the highest reading (its background-subtracted centroid)."""
        xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        weights = np.clip(ys - np.median(ys), 0, None)
        top = int(np.argmax(ys))
        center = float(np.sum(xs * weights) / np.sum(weights)) if weights.sum() > 0 else float(xs[top])
        width = (self.range[1] - self.range[0]) * self.shrink
        self.center = center
        self.history.append({"range": list(self.range), "center": center, "max": float(ys.max())})
        self.range = (center - width / 2, center + width / 2)
        self.told += 1

    def report(self) -> dict[str, Any]:
        """The centre found and the ranges scanned."""
        return {"center": self.center, "runs": self.told, "history": self.history}


def run_campaign(client: Client, data_dir: str, agent: RunAgent, *, detector: str = "det", motor: str = "motor",
                 num: int = 11, tag: str = "agent", poll: float = 0.1, timeout: float = 120.0) -> dict[str, Any]:
    """Ask, queue a scan, wait for its run in the catalog, tell; until the agent has nothing to ask."""
    catalog = Catalog(data_dir)
    seen = {r.uid for r in catalog.runs()}
    rounds = 0
    while True:
        ranges = agent.ask(1)
        if not ranges:
            return {"rounds": rounds, **agent.report()}
        start, stop = ranges[0]
        md = {"agent": tag, "agent_round": rounds}
        item = client.add("scan", [[detector], motor, start, stop, num], {"md": md})
        deadline = time.monotonic() + timeout
        run = None
        while run is None:
            for r in catalog.runs():
                start_doc = r.metadata["start"]
                if r.uid not in seen and start_doc.get("agent") == tag and start_doc.get("agent_round") == rounds:
                    run = r
                    seen.add(r.uid)
            failed = [h for h in client.history(limit=20)
                      if h["item"]["uid"] == item["uid"] and h["exit_status"] != "completed"]
            if run is None and failed:
                raise RuntimeError(f"the agent's scan {item['uid'][:8]} ended {failed[-1]['exit_status']}: "
                                   f"{failed[-1]['reason']}")
            if run is None and time.monotonic() > deadline:
                raise TimeoutError(f"no run for the agent's item {item['uid'][:8]} within {timeout} s")
            if run is None:
                time.sleep(poll)
        data = run.stream("primary")
        agent.tell(data[motor].values, data[detector].values)
        rounds += 1


def main(argv: list[str] | None = None) -> int:
    """``python -m qserver.agent --data-dir D [--start S --stop E --rounds N --num K]`` (URL and key from env)."""
    p = argparse.ArgumentParser(prog="qserver.agent")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--start", type=float, default=-6.0)
    p.add_argument("--stop", type=float, default=6.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--num", type=int, default=11)
    p.add_argument("--detector", default="det")
    p.add_argument("--motor", default="motor")
    p.add_argument("--tag", default="agent")
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args(argv)
    agent = PeakRefiner(a.start, a.stop, rounds=a.rounds)
    with Client() as client:
        try:
            report = run_campaign(client, a.data_dir, agent, detector=a.detector, motor=a.motor, num=a.num,
                                  tag=a.tag, timeout=a.timeout)
        except (RuntimeError, TimeoutError) as exc:
            print(f"qserver agent: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
