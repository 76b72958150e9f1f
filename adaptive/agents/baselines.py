"""Reference designs: a raster grid, uniform random points and a scrambled Sobol sequence."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import qmc

from adaptive.protocol import Agent, Array, Space


def random_allowed(space: Space, rng: np.random.Generator, n: int, max_tries: int = 100) -> Array:
    """``n`` uniform points of ``space`` outside its forbidden regions (rejection sampling)."""
    out: list[Array] = []
    got = 0
    for _ in range(max_tries):
        pts = space.from_unit(rng.random((max(2 * n, 16), space.dim)))
        pts = pts[space.allowed(pts)]
        out.append(pts)
        got += len(pts)
        if got >= n:
            return np.concatenate(out)[:n]
    raise ValueError("the forbidden regions leave (almost) no room in the bounds")


class RandomAgent(Agent):
    """Uniform random points in the box (outside forbidden regions)."""

    name: ClassVar[str] = "random"

    def _suggest(self, n: int) -> Array:
        return random_allowed(self.space, self.rng(), n)


class SobolAgent(Agent):
    """A scrambled Sobol sequence (scipy.stats.qmc), seeded; the points asked so far are skipped on resume."""

    name: ClassVar[str] = "sobol"

    def __init__(self, bounds: ArrayLike, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        self.n_drawn = 0

    def state(self) -> dict[str, Any]:
        """Observations plus how far along the sequence."""
        return {**super().state(), "n_drawn": self.n_drawn}

    def restore(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore observations and the sequence position."""
        super().restore(state)
        self.n_drawn = int(state["n_drawn"])

    def _suggest(self, n: int) -> Array:
        pts = sobol_points(self.space, self.seed, self.n_drawn, n)
        self.n_drawn += n
        return pts


def sobol_points(space: Space, seed: int, start: int, n: int) -> Array:
    """Points ``start`` … ``start + n - 1`` of the seeded scrambled Sobol sequence, forbidden ones skipped."""
    engine = qmc.Sobol(space.dim, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    out: list[Array] = []
    got = 0
    while got < n:
        with warnings.catch_warnings():  # a prefix of the sequence is what an agent asks for, one point at a time
            warnings.filterwarnings("ignore", message="The balance properties of Sobol", category=UserWarning)
            raw = engine.random(n)
        pts = space.from_unit(raw)
        pts = pts[space.allowed(pts)]
        out.append(pts)
        got += len(pts)
    return np.concatenate(out)[:n]


class GridAgent(Agent):
    """A raster: ``shape`` points per dimension (or about ``budget`` points in all), in serpentine order."""

    name: ClassVar[str] = "grid"

    def __init__(self, bounds: ArrayLike, *, shape: Sequence[int] | None = None, budget: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        d = self.space.dim
        if shape is None:
            if budget is None or budget < 1:
                raise ValueError("grid: give shape (points per dimension) or a positive budget")
            per = max(1, math.floor(budget ** (1.0 / d) + 1e-9))
            shape = [per] * d
        if len(shape) != d or min(shape) < 1:
            raise ValueError(f"grid: shape must give a positive count for each of {d} dimension(s), got {shape}")
        self.shape = [int(s) for s in shape]
        self.points = self._raster()
        self.next_index = 0

    def config(self) -> dict[str, Any]:
        """Bounds, seed and the raster's shape."""
        return {**super().config(), "shape": self.shape}

    def state(self) -> dict[str, Any]:
        """Observations plus the raster position."""
        return {**super().state(), "next_index": self.next_index}

    def restore(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore observations and the raster position."""
        super().restore(state)
        self.next_index = int(state["next_index"])

    def _raster(self) -> Array:
        axes = [np.linspace(lo, hi, k) if k > 1 else np.array([(lo + hi) / 2])
                for (lo, hi), k in zip(self.space.bounds, self.shape, strict=True)]
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.space.dim)
        if self.space.dim >= 2:  # serpentine: reverse the last axis on every other line
            last = self.shape[-1]
            rows = mesh.reshape(-1, last, self.space.dim)
            rows[1::2] = rows[1::2, ::-1]
            mesh = rows.reshape(-1, self.space.dim)
        return np.asarray(mesh[self.space.allowed(mesh)], dtype=float)

    def _suggest(self, n: int) -> Array:
        pts = self.points[self.next_index:self.next_index + n]
        self.next_index += len(pts)
        return pts
