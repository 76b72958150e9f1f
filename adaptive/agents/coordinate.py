"""A coordinate-by-coordinate scan: the way alignment is often done by hand.

Each axis in turn is scanned over ``points_per_axis`` positions with the others held at the
best point so far; after every axis has been scanned (a cycle) the scanned interval shrinks
by ``shrink`` around the best point. Stateless beyond the observations: the schedule follows
from how many points have been asked, so a checkpoint resumes exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from adaptive.protocol import Agent, Array


class CoordinateAgent(Agent):
    """Scan one coordinate at a time around the best point so far (a baseline for alignment)."""

    name: ClassVar[str] = "coordinate"

    def __init__(self, bounds: ArrayLike, *, points_per_axis: int = 7, shrink: float = 0.5, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        if points_per_axis < 2:
            raise ValueError(f"points_per_axis must be at least 2, got {points_per_axis}")
        if not 0 < shrink < 1:
            raise ValueError(f"shrink must be in (0, 1), got {shrink}")
        self.points_per_axis = int(points_per_axis)
        self.shrink = float(shrink)

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "points_per_axis": self.points_per_axis, "shrink": self.shrink}

    def _best_before(self, count: int) -> Array:
        """The best measured point among the first ``count`` observations (the box centre if none)."""
        lo, hi = self.space.bounds[:, 0], self.space.bounds[:, 1]
        n = min(count, len(self.obs))
        ok = self.obs.ok_mask()[:n]
        if not ok.any():
            return np.asarray((lo + hi) / 2, dtype=float)
        xs = np.asarray(self.obs.x[:n], dtype=float)[ok]
        c = self.channel_index()
        ys = np.array([row[c] for row, m in zip(self.obs.y[:n], ok, strict=True) if m], dtype=float)
        return np.asarray(xs[int(np.argmin(ys) if self.minimize else np.argmax(ys))], dtype=float)

    def _point(self, i: int) -> Array:
        k, d = self.points_per_axis, self.space.dim
        cycle, axis, j = i // (k * d), (i // k) % d, i % k
        base = self._best_before(i - j)
        lo, hi = self.space.bounds[axis]
        if cycle == 0:
            a, b = lo, hi
        else:
            half = 0.5 * (hi - lo) * self.shrink**cycle
            a, b = max(lo, base[axis] - half), min(hi, base[axis] + half)
        point = base.copy()
        point[axis] = a + (b - a) * j / (k - 1)
        return point

    def _suggest(self, n: int) -> Array:
        start = len(self.obs) + len(self.pending)
        return np.asarray([self._point(start + m) for m in range(n)], dtype=float)
