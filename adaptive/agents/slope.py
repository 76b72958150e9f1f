"""Per-event stepping for 1-D scans (edges, peaks): step size from the local slope and curvature.

The scan advances from the low bound to the high bound. Each step is the one that should
change the signal by about ``target_delta``: ``min(target_delta/|slope|, √(2·target_delta/|curvature|))``,
clipped to [``min_step``, ``max_step``]. Where a step turned out to change the signal by more
than ``refine_factor × target_delta`` (an edge jumped over), the interval is bisected before
the scan advances further, down to ``min_step``. When the scan has reached the high bound and
nothing is left to refine, ``ask`` returns no point, unless a ``budget`` and normalisation
``windows`` are given.

With ``budget`` and ``windows`` (offsets in the axis' units from the edge, the steepest rise
of the data), the points left in the budget go where a straight line fitted to each window
and extrapolated to the edge (an edge step's pre- and post-edge lines) gains most: the
largest gap inside a window is bisected, each gap weighed by its length times the magnitude
of the line's extrapolation weight at its middle (floored at a quarter of the window's
largest). For a fit that weighs each point by the stretch it stands for, point density in
proportion to that weight minimises the extrapolated value's variance (about a quarter less
than even spacing on a window 70 eV wide and 30 eV from the edge).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from acq.callbacks.edge import edge_e0
from adaptive.protocol import Agent, Array

FLOOR = 0.25  # a window's weights are floored at this fraction of its largest (no gap grows unbounded)


class SlopeAgent(Agent):
    """Adaptive 1-D stepping on the objective channel (see the module docstring)."""

    name: ClassVar[str] = "slope"

    def __init__(self, bounds: ArrayLike, *, target_delta: float, min_step: float, max_step: float,
                 refine_factor: float = 2.0, budget: int | None = None,
                 windows: ArrayLike | None = None, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        if self.space.dim != 1:
            raise ValueError(f"the slope agent steps along one axis; got {self.space.dim}-D bounds")
        if not 0 < min_step <= max_step:
            raise ValueError(f"need 0 < min_step <= max_step, got min_step={min_step}, max_step={max_step}")
        if target_delta <= 0:
            raise ValueError(f"target_delta must be positive, got {target_delta}")
        self.target_delta = float(target_delta)
        self.min_step = float(min_step)
        self.max_step = float(max_step)
        self.refine_factor = float(refine_factor)
        if (budget is None) != (windows is None):
            raise ValueError("budget and windows go together (the points left in the budget fill the windows)")
        self.budget = None if budget is None else int(budget)
        self.windows: list[list[float]] | None = None
        if windows is not None:
            w = np.atleast_2d(np.asarray(windows, dtype=float))
            if w.ndim != 2 or w.shape[1] != 2 or not np.all(w[:, 1] > w[:, 0]):
                raise ValueError(f"windows must be [low, high] offset pairs with low < high, got {w.tolist()}")
            self.windows = w.tolist()

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "target_delta": self.target_delta, "min_step": self.min_step,
                "max_step": self.max_step, "refine_factor": self.refine_factor, "budget": self.budget,
                "windows": self.windows}

    def _known(self) -> tuple[Array, Array]:
        """Measured points (sorted) and their values; failed points count as visited, valueless."""
        x = self.obs.X()[:, 0]
        y = self.objective_values()
        order = np.argsort(x)
        return x[order], y[order]

    def _visited(self) -> Array:
        return np.concatenate([self.obs.X(ok_only=False)[:, 0], self.pending_points()[:, 0]])

    def _step(self, x: Array, y: Array) -> float:
        """The next advance from the last point, from the slope and curvature near it."""
        if len(x) < 2:
            return self.min_step if len(x) else 0.0
        slope = abs((y[-1] - y[-2]) / max(x[-1] - x[-2], 1e-12))
        step = self.target_delta / max(slope, 1e-12)
        if len(x) >= 3:
            d1 = (y[-1] - y[-2]) / max(x[-1] - x[-2], 1e-12)
            d0 = (y[-2] - y[-3]) / max(x[-2] - x[-3], 1e-12)
            curv = abs(2.0 * (d1 - d0) / max(x[-1] - x[-3], 1e-12))
            if curv > 0:
                step = min(step, float(np.sqrt(2.0 * self.target_delta / curv)))
        return float(np.clip(step, self.min_step, self.max_step))

    def _suggest(self, n: int) -> Array:
        lo, hi = self.space.bounds[0]
        x, y = self._known()
        visited = self._visited()
        out: list[float] = []

        def free(p: float) -> bool:
            taken = np.concatenate([visited, np.asarray(out, dtype=float)])
            return not np.any(np.abs(taken - p) < 0.5 * self.min_step)

        # 1. bisect intervals whose change was too large (an edge or a peak jumped over)
        if len(x) >= 2:
            jumps = np.abs(np.diff(y))
            gaps = np.diff(x)
            for i in np.argsort(-jumps):
                if len(out) >= n:
                    break
                if jumps[i] > self.refine_factor * self.target_delta and gaps[i] >= 2 * self.min_step:
                    mid = float(x[i] + gaps[i] / 2)
                    if free(mid):
                        out.append(mid)
        # 2. advance from the frontier
        frontier = float(max(visited.max(initial=lo - 1), x.max(initial=lo - 1)))
        while len(out) < n:
            if frontier < lo:
                nxt = lo
            else:
                nxt = frontier + (self._step(x, y) if len(x) else self.min_step)
            if nxt > hi + 1e-12:
                if frontier < hi - 0.5 * self.min_step and free(hi):
                    nxt = hi
                else:
                    break
            out.append(float(min(nxt, hi)))
            frontier = out[-1]
        # 3. the scan is done: spend what is left of the budget in the windows
        if len(out) < n and self.budget is not None and frontier >= hi - 0.5 * self.min_step:
            left = self.budget - len(visited) - len(out)
            out += self._fill(x, y, np.concatenate([visited, np.asarray(out, dtype=float)]), min(n - len(out), left))
        return np.asarray(out, dtype=float).reshape(-1, 1)

    def _fill(self, x: Array, y: Array, taken: Array, n: int) -> list[float]:
        """Up to ``n`` points in the windows around the edge: bisect the gap with the largest
        length × extrapolation weight (see the module docstring)."""
        if n <= 0 or len(x) < 4 or self.windows is None:
            return []
        edge = edge_e0(x, y)
        if not np.isfinite(edge):
            return []
        lo, hi = self.space.bounds[0]
        pts = np.sort(taken)
        out: list[float] = []
        for _ in range(n):
            best, pick = 0.0, None
            for off_lo, off_hi in self.windows:
                a, b = max(edge + off_lo, lo), min(edge + off_hi, hi)
                if b - a < 2 * self.min_step:
                    continue
                mid_w, width = 0.5 * (a + b), b - a
                inside = pts[(pts > a) & (pts < b)]
                ends = np.concatenate([[a], inside, [b]])
                mids = 0.5 * (ends[:-1] + ends[1:])
                gaps = np.diff(ends)
                weight = np.abs(1.0 + 12.0 * (mids - mid_w) * (edge - mid_w) / width**2)
                top = max(abs(1.0 + 6.0 * (edge - mid_w) / width), abs(1.0 - 6.0 * (edge - mid_w) / width))
                score = gaps * np.maximum(weight, FLOOR * top)
                score[gaps < 2 * self.min_step] = 0.0
                i = int(np.argmax(score))
                if score[i] > best:
                    best, pick = float(score[i]), float(mids[i])
            if pick is None:
                break
            out.append(pick)
            pts = np.sort(np.append(pts, pick))
        return out
