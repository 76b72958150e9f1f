"""Basin restarts for GP-BO: when the incumbent stalls, descend from the best point of another basin.

Expected improvement descends the basin of the best initial point and stays there: on Hartmann6,
every seed whose best Sobol point lay in the second well (−3.20) ended there, although other
initial points lay in the global well's basin. Here, when the best value of the current phase has
not improved by ``tol`` of the values' range in ``after`` evaluations (a restarted phase:
``phase_patience`` times as many), its best point is marked as an abandoned basin, and a new
phase starts from the best measured point of another basin (the model's mean dips by ``barrier``
of the point's height on the straight way to each abandoned incumbent): a trust region
(TuRBO-like box, ``length`` of the unit cube in all, shaped by the lengthscales) around the
phase's best point, in which expected improvement is taken over the phase's own best rather than
the global one, on a model of the phase's points and all others outside the abandoned basins. A
phase whose best becomes the global best ends the restart: the agent optimises globally again
from there. When no other basin is left, a stalled phase hands over to the best earlier abandoned
one (round robin), so that a basin left too early is resumed. The state is plain JSON (indices
into the ok observations) for exact resume.

The stall trigger cannot tell a slow descent from a converged basin. With ``exhausted`` > 0 a phase
is left instead when the model predicts no more gain near its best point: the largest expected
improvement over that point's value in a small box around it (``radius`` of the unit cube, shaped
by the lengthscales) is below ``exhausted`` of the values' range at ``confirm`` updates in a row,
and the phase has had ``after`` model-based evaluations. On Hartmann6 (seeds 0–9, plain GP-BO
traced per evaluation) that quantity stays above 0.01 while the incumbent descends the global
well, and falls to 0.001–0.005 once it sits in the second well.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from adaptive.protocol import Array

Predict = Callable[[Array], tuple[Array, Array]]  # unit-cube points → the model's mean and standard deviation


class BasinRestarts:
    """The restart phases of one agent: which basins were abandoned and where the current phase started."""

    def __init__(self, after: int, *, tol: float = 0.01, barrier: float = 0.3, length: float = 0.8,
                 phase_patience: float = 2.0, exhausted: float = 0.0, radius: float = 0.1, confirm: int = 2) -> None:
        if after < 0:
            raise ValueError(f"restart_after must be ≥ 0 (0 = off), got {after}")
        if exhausted < 0:
            raise ValueError(f"restart_exhausted must be ≥ 0 (0 = the stall trigger), got {exhausted}")
        self.after = int(after)
        self.tol = float(tol)
        self.barrier = float(barrier)
        self.length = float(length)
        self.phase_patience = float(phase_patience)
        self.exhausted = float(exhausted)
        self.radius = float(radius)
        self.confirm = int(confirm)
        self.low = 0  # consecutive updates at which the phase's basin looked exhausted
        self.abandoned: list[list[float]] = []
        self.centre: int | None = None  # the ok observation a restarted phase began from
        self.start = 0  # the first ok observation of the current phase
        self.restarts = 0

    def state(self) -> dict[str, Any]:
        """JSON-ready state."""
        return {"abandoned": self.abandoned, "centre": self.centre, "start": self.start, "restarts": self.restarts,
                "low": self.low}

    def restore(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state` (None: the initial state)."""
        state = state or {}
        self.abandoned = [[float(v) for v in a] for a in state.get("abandoned", [])]
        self.centre = state.get("centre")
        self.start = int(state.get("start", 0))
        self.restarts = int(state.get("restarts", 0))
        self.low = int(state.get("low", 0))

    def _members(self, n: int) -> list[int]:
        return ([self.centre] if self.centre is not None else []) + list(range(self.start, n))

    def _phase_best(self, y: Array) -> int:
        """The current phase's best observation (index into the ok observations)."""
        members = self._members(len(y))
        return members[int(np.argmax(y[members]))]

    def update(self, xu: Array, y: Array, n_init: int, mean: Callable[[Array], Array],
               predict: Predict | None = None, lengthscales: Array | None = None) -> None:
        """Look at the data (unit-cube points ``xu``, values ``y`` to maximise; ``mean`` the model's mean
        at unit-cube points, ``predict`` its mean and standard deviation): end a phase whose best became
        the global best, or restart when the current phase has stalled (or, with ``exhausted``, when
        the model predicts no more improvement near the phase's best)."""
        if not self.after:
            return
        n = len(y)
        members = self._members(n)
        best_here = float(np.max(y[members])) if members else -np.inf
        if self.centre is not None and best_here >= float(np.max(y)):
            self.centre = None  # this basin holds the best value now: optimise globally from here
        recent = list(range(max(self.start, n_init), n))
        if self.exhausted:
            if predict is None or lengthscales is None:
                raise ValueError("the exhausted-basin trigger needs the model's predictions and lengthscales")
            best = self._phase_best(y)
            gain = self.local_gain(xu[best], float(y[best]), float(np.ptp(y)), predict, lengthscales, n)
            self.low = self.low + 1 if gain < self.exhausted else 0
            if len(recent) < self.after or self.low < self.confirm:
                return
        else:
            after = round(self.after * (self.phase_patience if self.centre is not None else 1.0))
            if len(recent) < after:
                return
            before = [i for i in members if i < n - after]
            if before and best_here - float(np.max(y[before])) > self.tol * float(np.ptp(y)):
                return
        self.low = 0
        self.abandoned.append(xu[self._phase_best(y)].tolist())
        floor = float(np.min(y))
        self.centre = None
        for j in np.argsort(-y):
            if self.outside(xu[j][None, :], y[j:j + 1], floor, mean)[0]:
                self.centre = int(j)
                break
        if self.centre is None and len(self.abandoned) > 1:  # no new basin: go on in the best earlier one
            earlier = [int(np.argmin(np.linalg.norm(xu - np.asarray(a), axis=1))) for a in self.abandoned[:-1]]
            k = int(np.argmax(y[earlier]))
            self.centre = earlier[k]
            del self.abandoned[k]
        self.start = n
        self.restarts += 1

    def local_gain(self, u: Array, value: float, scale: float, predict: Predict, lengthscales: Array,
                   key: int) -> float:
        """The largest expected improvement over ``value`` that the model predicts in a box around ``u``
        (half-width ``radius``, shaped by the lengthscales), in units of ``scale`` (the values' range);
        ``key`` seeds the box's random points, so that a resumed agent computes the same."""
        shape = _shape(lengthscales)
        rng = np.random.default_rng(key)
        box = np.clip(u + self.radius * shape * (2.0 * rng.random((512, len(u))) - 1.0), 0.0, 1.0)
        m, s = predict(box)
        s = np.maximum(s, 1e-12)
        z = (m - value) / s
        ei = s * (z * norm.cdf(z) + norm.pdf(z))
        return float(np.max(ei)) / max(scale, 1e-12)

    def outside(self, u: Array, values: Array, floor: float, mean: Callable[[Array], Array]) -> NDArray[np.bool_]:
        """Which points ``u`` (with values, measured or predicted) lie outside every abandoned basin: the
        model's mean dips on the straight way to each abandoned incumbent, below ``floor`` plus
        ``1 − barrier`` of the point's height above it."""
        ok = np.ones(len(u), dtype=bool)
        t = np.linspace(0.0, 1.0, 12)[1:-1]
        for a in self.abandoned:
            path = u[:, None, :] + t[None, :, None] * (np.asarray(a)[None, None, :] - u[:, None, :])
            low = mean(path.reshape(-1, u.shape[1])).reshape(len(u), len(t)).min(axis=1)
            ok &= low < floor + (1.0 - self.barrier) * (values - floor)
        return ok

    def phase_points(self, xu: Array, y: Array, mean: Callable[[Array], Array]) -> tuple[list[int], int]:
        """The observations a restarted phase models (its own and all others outside the abandoned basins)
        and the phase's best among them (its position in that list)."""
        members = self._members(len(y))
        others = [i for i in range(len(y)) if i not in members]
        outside = self.outside(xu[others], y[others], float(np.min(y)), mean) if others else np.zeros(0, dtype=bool)
        idx = sorted(set(members) | {i for i, ok in zip(others, outside, strict=True) if ok})
        return idx, idx.index(self._phase_best(y))

    def region(self, xu: Array, y: Array, lengthscales: Array) -> tuple[int, Array, Array] | None:
        """In a restarted phase: the phase's best observation and the box (lower, upper corners) around it."""
        if self.centre is None:
            return None
        best = self._phase_best(y)
        half = 0.5 * self.length * _shape(lengthscales)
        return best, np.clip(xu[best] - half, 0.0, 1.0), np.clip(xu[best] + half, 0.0, 1.0)


def _shape(lengthscales: Array) -> Array:
    """The lengthscales relative to their geometric mean: a box's aspect, long where the model is smooth."""
    return np.asarray(lengthscales / np.exp(np.mean(np.log(lengthscales))))
