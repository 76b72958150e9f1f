"""Soft devices for plan tests: two motors and a detector that sees a peak at (1, -1)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from acq.devices import Motor, SoftDetector, soft_motor
from acq.engine import RunEngine


class Rig:
    """Soft motors ``m1``, ``m2`` (limits ±10) and a detector ``det`` peaked at m1=1, m2=-1."""

    def __init__(self) -> None:
        self.m1: Motor = soft_motor("m1", 0.0, limits=(-10.0, 10.0), velocity=2.0, acceleration_time=0.1)
        self.m2: Motor = soft_motor("m2", 0.0, limits=(-10.0, 10.0), velocity=1.0)
        self.det = SoftDetector("det", lambda a, b: 1000 * math.exp(-((a - 1) ** 2 + (b + 1) ** 2) / 2),
                                [self.m1, self.m2], count_time=0.5)
        self.RE = RunEngine()
        self.docs: list[tuple[str, dict[str, Any]]] = []
        self.RE.subscribe(lambda n, d: self.docs.append((n, d)))

    def events(self, stream: str = "primary") -> list[dict[str, Any]]:
        """The data of every event of ``stream``."""
        descs = {d["uid"]: d["name"] for n, d in self.docs if n == "descriptor"}
        return [d["data"] for n, d in self.docs if n == "event" and descs[d["descriptor"]] == stream]

    def visited(self, *names: str) -> list[tuple[float, ...]]:
        """The positions of motors ``names`` in every primary event."""
        return [tuple(round(e[n], 9) for n in names) for e in self.events()]

    @property
    def start(self) -> dict[str, Any]:
        return next(d for n, d in self.docs if n == "start")


@pytest.fixture
def rig() -> Rig:
    return Rig()
