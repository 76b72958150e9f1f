"""Per-event stepping for 1-D scans (edges, peaks): step size from the local slope and curvature.

The scan advances from the low bound to the high bound. Each step is the one that should
change the signal by about ``target_delta``: ``min(target_delta/|slope|, √(2·target_delta/|curvature|))``,
clipped to [``min_step``, ``max_step``]. Where a step turned out to change the signal by more
than ``refine_factor × target_delta`` (an edge jumped over), the interval is bisected before
the scan advances further, down to ``min_step``. When the scan has reached the high bound and
nothing is left to refine, ``ask`` returns no point, unless a ``budget`` and normalisation
``windows`` are given.

With ``focus`` (offsets [low, high] around the edge, the steepest rise of the data so far), the
scan steps by slope and bisects jumps only within the focus; elsewhere it advances by ``max_step``
(wiggles after an edge cost a few points, not dozens).

With ``budget`` and ``windows`` (the edge step's [pre, post] windows, offsets from the edge), the
points left in the budget go where the edge-step reduction (``acq.callbacks.edge.step_weights``)
weighs μ most: the gap with the largest length × |weight per unit length| at its middle is
bisected. That reduction is a weighted sum Σ gᵢ·Δᵢ·μᵢ (Δᵢ the stretch a point stands for), so its
variance is about Σ g²·Δ²·σ², which for N points is smallest with point density ∝ |g| (σ even):
(∫|g|)²σ²/N against W·∫g²·σ²/N for even spacing over the windows' length W. For the xafs-edge
windows that is 1.4× less variance per point: 530 points placed so do what 740 evenly spaced do.
The fill is planned once, when the scan has reached the high bound (the same points the bisection
would pick one by one), and measured in ascending order (one sweep, short moves).

With ``dwell_budget`` as well (the total counting time of all ``budget`` points, in units of the
base count time; e.g. a 0.5 eV scan's point count), the agent also chooses how long each point
counts (:meth:`dwell`): the scan keeps the base time (1) within the ``focus`` around the edge and
counts the average, ``dwell_budget / budget``, outside it (those points mostly lie in the windows,
where the reduction weighs them like the fill's), and what the budget leaves goes to the fill
points ∝ their |weight| in the reduction (never below 1). Under Σ tᵢ fixed the variance
Σ wᵢ²σᵢ²/tᵢ is smallest with tᵢ ∝ |wᵢ|σᵢ, and then (Σ|wᵢ|σᵢ)²/T: set by the counting time in the
windows, not by the number of points (σ is taken as even; the agent does not see the counts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from acq.callbacks.edge import edge_e0, step_weights
from adaptive.protocol import Agent, Array

GRID = 0.5  # the even grid (axis units) on which the fill evaluates the edge step's weights


class SlopeAgent(Agent):
    """Adaptive 1-D stepping on the objective channel (see the module docstring)."""

    name: ClassVar[str] = "slope"

    def __init__(self, bounds: ArrayLike, *, target_delta: float, min_step: float, max_step: float,
                 refine_factor: float = 2.0, budget: int | None = None,
                 windows: ArrayLike | None = None, focus: ArrayLike | None = None,
                 dwell_budget: float | None = None, **kwargs: Any) -> None:
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
            if w.shape[0] != 2:
                raise ValueError(f"windows are the edge step's two, [pre, post]; got {len(w)}")
            self.windows = w.tolist()
        self.focus: list[float] | None = None
        if focus is not None:
            f = np.asarray(focus, dtype=float).ravel()
            if f.shape != (2,) or not f[0] < 0 < f[1]:
                raise ValueError(f"focus must be [low, high] offsets from the edge, low < 0 < high; got {f.tolist()}")
            self.focus = f.tolist()
        self.dwell_budget: float | None = None
        if dwell_budget is not None:
            if self.budget is None:
                raise ValueError("dwell_budget needs budget and windows (it lengthens the window fill's count times)")
            if not float(dwell_budget) >= self.budget:
                raise ValueError(f"dwell_budget ({dwell_budget}) must be at least budget ({self.budget}): every point "
                                 "counts at least the base time")
            self.dwell_budget = float(dwell_budget)
        self._plan: list[list[float]] | None = None  # the window fill: [point, dwell] in the order it is asked
        self._planned = 0  # how many of the plan's points were asked
        self._scan_dwells: list[list[float]] = []  # [point, dwell] of the scan's points outside the focus

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "target_delta": self.target_delta, "min_step": self.min_step,
                "max_step": self.max_step, "refine_factor": self.refine_factor, "budget": self.budget,
                "windows": self.windows, "focus": self.focus, "dwell_budget": self.dwell_budget}

    def state(self) -> dict[str, Any]:
        """The base state plus the window fill's plan and how much of it was asked."""
        return {**super().state(), "plan": self._plan, "planned": self._planned, "scan_dwells": self._scan_dwells}

    def restore(self, state: Any) -> None:
        """Restore what :meth:`state` returned."""
        super().restore(state)
        plan = state.get("plan")
        self._plan = None if plan is None else [[float(a), float(b)] for a, b in plan]
        self._planned = int(state.get("planned", 0))
        self._scan_dwells = [[float(a), float(b)] for a, b in state.get("scan_dwells", [])]

    def dwell(self, x: ArrayLike) -> float:
        """The count time asked for the point ``x`` (one this agent suggested), in units of the base
        count time: the window fill's share of ``dwell_budget``, the average for the scan outside the
        focus; 1 near the edge and without a budget."""
        point = float(np.asarray(x, dtype=float).ravel()[0])
        tol = 1e-9 * float(self.space.span[0])
        for at, t in [*self._scan_dwells, *(self._plan or ())]:
            if abs(at - point) <= tol:
                return float(t)
        return 1.0

    def counting_time(self) -> float:
        """The counting time of every point asked so far (the scan's and the fill's), in base count times."""
        xs = np.concatenate([self.obs.X(ok_only=False)[:, 0], self.pending_points()[:, 0]])
        return float(sum(self.dwell([v]) for v in xs))

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

        near = self._near_edge(x, y)
        # 1. bisect intervals whose change was too large (an edge or a peak jumped over)
        if len(x) >= 2:
            jumps = np.abs(np.diff(y))
            gaps = np.diff(x)
            for i in np.argsort(-jumps):
                if len(out) >= n:
                    break
                if jumps[i] > self.refine_factor * self.target_delta and gaps[i] >= 2 * self.min_step:
                    mid = float(x[i] + gaps[i] / 2)
                    if free(mid) and near(mid):
                        out.append(mid)
        # 2. advance from the frontier
        frontier = float(max(visited.max(initial=lo - 1), x.max(initial=lo - 1)))
        while len(out) < n:
            if frontier < lo:
                nxt = lo
            else:
                step = self._step(x, y) if near(frontier) else self.max_step
                nxt = frontier + (step if len(x) else self.min_step)
            if nxt > hi + 1e-12:
                if frontier < hi - 0.5 * self.min_step and free(hi):
                    nxt = hi
                else:
                    break
            out.append(float(min(nxt, hi)))
            frontier = out[-1]
            if self.dwell_budget is not None and self.budget and len(x) >= 4 and not near(frontier):
                self._scan_dwells.append([frontier, self.dwell_budget / self.budget])
        # 3. the scan is done: spend what is left of the budget in the windows (planned once)
        if len(out) < n and self.budget is not None and frontier >= hi - 0.5 * self.min_step:
            if self._plan is None:
                taken = np.concatenate([visited, np.asarray(out, dtype=float)])
                fill = self._fill(x, y, taken, self.budget - len(taken))
                if fill:
                    self._plan = self._allocate(x, y, taken, fill)
            while self._plan is not None and len(out) < n and self._planned < len(self._plan):
                out.append(self._plan[self._planned][0])
                self._planned += 1
        return np.asarray(out, dtype=float).reshape(-1, 1)

    def _allocate(self, x: Array, y: Array, taken: Array, fill: list[float]) -> list[list[float]]:
        """The fill points (in the bisection's order) in ascending order with their count times: 1 each
        without ``dwell_budget``; else what the budget leaves after the points ``taken``, shared ∝ each
        fill point's |weight| in the edge step of the whole design, at least 1 each, the total never
        above the budget (see the module docstring)."""
        if self.dwell_budget is None:
            return [[p, 1.0] for p in sorted(fill)]
        left = self.dwell_budget - sum(self.dwell([p]) for p in taken)
        fill = sorted(fill[:max(0, int(left + 1e-9))])  # (the scan's dwells leave ≥ 1 per fill point)
        try:
            w = np.abs(self._weights(edge_e0(x, y), np.concatenate([taken, fill]))[len(taken):])
        except (ValueError, np.linalg.LinAlgError):  # the windows cannot be reduced: share evenly
            w = np.ones(len(fill))
        return [[p, t] for p, t in zip(fill, share(left, w), strict=True)]

    def _weights(self, edge: float, points: Array) -> Array:
        """The edge step's weights (``step_weights``) of ``points`` around ``edge``, the windows cut to the bounds."""
        pre, post = self._windows_within(edge)
        return step_weights(points, edge, pre=pre, post=post)

    def _windows_within(self, edge: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """The [pre, post] windows (offsets from ``edge``) cut to the bounds."""
        assert self.windows is not None
        lo, hi = self.space.bounds[0]
        (pre_lo, pre_hi), (post_lo, post_hi) = self.windows
        return (max(pre_lo, lo - edge), pre_hi), (post_lo, min(post_hi, hi - edge))

    def _near_edge(self, x: Array, y: Array) -> Callable[[float], bool]:
        """Whether a point lies in the ``focus`` around the edge found so far (always, without a focus
        or before there is an edge)."""
        edge = edge_e0(x, y) if self.focus is not None and len(x) >= 4 else float("nan")
        if not np.isfinite(edge):
            return lambda at: True
        assert self.focus is not None
        a, b = edge + self.focus[0], edge + self.focus[1]
        return lambda at: a <= at <= b

    def _fill(self, x: Array, y: Array, taken: Array, n: int) -> list[float]:
        """Up to ``n`` points in the windows around the edge: bisect the gap with the largest
        length × |influence| at its middle (see the module docstring)."""
        if n <= 0 or len(x) < 4 or self.windows is None:
            return []
        edge = edge_e0(x, y)
        if not np.isfinite(edge):
            return []
        lo, hi = self.space.bounds[0]
        spans = [(max(edge + a, lo), min(edge + b, hi)) for a, b in self.windows]
        spans = [(a, b) for a, b in spans if b - a >= 2 * self.min_step]
        if not spans:
            return []
        density = self._influence(edge)
        pts = np.sort(taken)
        out: list[float] = []
        for _ in range(n):
            best, pick = 0.0, None
            for a, b in spans:
                ends = np.concatenate([[a], pts[(pts > a) & (pts < b)], [b]])
                mids = 0.5 * (ends[:-1] + ends[1:])
                gaps = np.diff(ends)
                score = gaps * density(mids)
                score[gaps < 2 * self.min_step] = 0.0
                i = int(np.argmax(score))
                if score[i] > best:
                    best, pick = float(score[i]), float(mids[i])
            if pick is None:
                break
            out.append(pick)
            pts = np.sort(np.append(pts, pick))
        return out

    def _influence(self, edge: float) -> Callable[[Array], Array]:
        """|∂(edge step)/∂μ| per unit of the axis around ``edge``: the edge-step reduction's weights
        (``acq.callbacks.edge.step_weights``, the windows cut to the bounds) on an even grid, divided
        by its spacing; a gap's length times this at its middle is its share of the step's standard
        deviation (to first order)."""
        pre, post = self._windows_within(edge)
        grid = np.arange(edge + pre[0], edge + post[1] + GRID, GRID)
        try:
            w = np.abs(step_weights(grid, edge, pre=pre, post=post)) / GRID
        except (ValueError, np.linalg.LinAlgError):  # a window cut to (almost) nothing: spread evenly
            w = np.ones(len(grid))
        return lambda at: np.interp(at, grid, w)


def share(total: float, weights: ArrayLike, floor: float = 1.0, quantum: float = 1e-6) -> list[float]:
    """``total`` shared ∝ ``weights``, each share at least ``floor`` (the shares at the floor take no
    more), rounded down to ``quantum``: the shares' sum never exceeds ``total``. ``ValueError`` when
    ``total`` cannot give every weight its floor."""
    w = np.abs(np.asarray(weights, dtype=float).ravel())
    if total < floor * len(w):
        raise ValueError(f"share: {total} cannot give {len(w)} shares of at least {floor} each")
    if not len(w):
        return []
    if not np.any(w > 0):
        w = np.ones(len(w))
    lo, hi = 0.0, total / float(w.max())  # Σ max(floor, c·w) is ≤ total at lo, ≥ total at hi
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.maximum(floor, mid * w).sum() <= total:
            lo = mid
        else:
            hi = mid
    t = np.floor(np.maximum(floor, lo * w) / quantum) * quantum
    return [float(v) for v in np.maximum(t, floor)]
