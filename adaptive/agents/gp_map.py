"""GP mapping: measure where the map is changing (gradients, boundaries), not just where it is unknown.

A stationary GP's variance alone only fills space (no better than Sobol). Four modes:

- ``"error"``: aims at the reconstruction error itself. The map is judged as the
  linear interpolation of the measured values over their Delaunay triangles, so every triangle
  (measured points, plus the box's corners valued by the GP's mean) is scored by its area times
  the mean, over a lattice of 12 points inside it, of the squared miss between the GP's mean and
  the linear map (plus ``explore`` × the GP's variance beyond the noise, 0 by default); the next
  point is the lattice point with the largest miss in the best triangle. Small deposits and
  steep flanks, where a linear map is worst, get the points; flat background gets none once its
  triangles agree with the GP. (On the twin's sample-map, mean-only beat adding the variance:
  weights 0.005–0.5 were 10–60 % worse at 225 points. On the analytic ``map2d``'s sharp step the
  smooth GP mean hides the jump, and ``"boundary"`` is far better: 0.056 vs its 0.032 target on seed 0.)
  The GP's mean cannot see a deposit that no point has seen, nor one seen only from its flank
  (one raised point among background: the GP draws a low hump that a linear map over wide
  triangles already matches). ``cover`` (a distance in the box's units, 0 = off) takes two
  steps before the error term: a measured point above all its Delaunay neighbours by more than
  ``floor`` × the map's range with none of them within ``cover`` / 3 gets the next point (the
  centroid of its widest triangle), so that points climb to the deposit; else, while any point
  of the box is farther than ``cover`` from every measured point, the farthest one is measured.
  With ``counts_k`` > 0 (values are counts) "raised" is judged by counting noise instead: the point
  must be the highest of its neighbours and above their median by ``counts_k`` × √(its value + the
  median), the Poisson σ of the difference. So a faint deposit beside a bright one that sets the
  range is climbed too, and so is one seen from several sides at once (its nearest points all raised,
  none far above the others: the highest neighbour would hide it).
- ``"boundary"`` (default): the measured points (plus the box's corners, valued by the GP's
  mean) are triangulated (Delaunay); a triangle's score is its area times the square of the
  change across it beyond the noise (the range of its vertex values minus twice the GP's noise
  standard deviation, plus ``floor`` × the map's range so that large empty triangles still get
  measured). That is about the squared error that a linear map over the triangle leaves where
  a boundary or a steep gradient crosses it. The next point bisects the best triangle's edge
  that changes most (length × change), so points close in on a boundary from both sides.
- ``"gradient"``: ``σ(x) · (floor + |∇μ(x)| / max|∇μ|)`` over random candidates.
- ``"variance"``: σ alone, which is also the expected information gain of a GP observation
  (½ log(1 + σ²/σₙ²) is monotone in σ).

Batches and pending points are handled by believers (their GP mean), as in GP-BO. The GP
gives the noise level, the corners' values and the reconstruction (:meth:`GPMapAgent.predict`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, overload

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.spatial import Delaunay, cKDTree

from adaptive.agents.baselines import sobol_points
from adaptive.agents.gp import DTYPE, GP
from adaptive.protocol import Agent, Array

MODES = ("error", "boundary", "gradient", "variance")
COVER_LATTICE = 81  # lattice points per side on which ``cover`` looks for the largest unvisited gap

# barycentric sample points inside a triangle (order-4 lattice without the vertices): where the
# expected error of the linear map is estimated
_LATTICE = np.array([(i, j, 4 - i - j) for i in range(5) for j in range(5 - i)
                     if max(i, j, 4 - i - j) < 4], dtype=float) / 4.0


def _areas(corner: Array) -> Array:
    """The areas of triangles given as their corners, shape (triangles, 3, 2)."""
    a, b, c = corner[:, 0], corner[:, 1], corner[:, 2]
    return 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


class GPMapAgent(Agent):
    """Map the objective channel over the box; ``predict(points)`` gives the reconstruction."""

    name: ClassVar[str] = "gp-map"

    def __init__(self, bounds: ArrayLike, *, n_init: int = 20, mode: str = "boundary", floor: float = 0.02,
                 n_candidates: int = 2048, refit_every: int = 5, explore: float = 0.0, cover: float = 0.0,
                 counts_k: float = 0.0, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.n_init = int(n_init)
        self.mode = mode
        self.floor = float(floor)
        self.n_candidates = int(n_candidates)
        self.refit_every = int(refit_every)
        self.explore = float(explore)
        if cover < 0:
            raise ValueError(f"cover must be a distance ≥ 0 in the box's units, got {cover!r}")
        self.cover = float(cover)
        if counts_k < 0:
            raise ValueError(f"counts_k must be a number of counting-noise σ ≥ 0 (0 = off), got {counts_k!r}")
        self.counts_k = float(counts_k)
        self.n_init_drawn = 0
        self._cover_lattice: Array | None = None
        self.hypers: dict[str, Any] | None = None
        self.fitted_at = 0

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "n_init": self.n_init, "mode": self.mode, "floor": self.floor,
                "n_candidates": self.n_candidates, "refit_every": self.refit_every, "explore": self.explore,
                "cover": self.cover, "counts_k": self.counts_k}

    def state(self) -> dict[str, Any]:
        """Observations plus the initial-design position."""
        hypers = None if self.hypers is None else {k: v.tolist() for k, v in self.hypers.items()}
        return {**super().state(), "n_init_drawn": self.n_init_drawn, "hypers": hypers, "fitted_at": self.fitted_at}

    def restore(self, state: dict[str, Any]) -> None:  # type: ignore[override]
        """Restore observations and the initial-design position."""
        super().restore(state)
        self.n_init_drawn = int(state["n_init_drawn"])
        self.fitted_at = int(state["fitted_at"])
        h = state["hypers"]
        self.hypers = None if h is None else {k: torch.as_tensor(v, dtype=DTYPE) for k, v in h.items()}

    def model(self, keep: bool = True) -> GP:
        """The GP on the measured points (unit-cube inputs); hyperparameters refitted every ``refit_every``
        points. With ``keep=False`` a refit that is due is not kept in the agent's state (the next
        :meth:`model` fits the same again: the fit is deterministic given the data)."""
        x, y = self.space.to_unit(self.obs.X()), self.objective_values()
        if self.hypers is None or len(x) - self.fitted_at >= self.refit_every:
            gp = GP(x, y)
            if keep:
                self.hypers, self.fitted_at = gp.hypers(), len(x)
            return gp
        return GP(x, y, hypers=self.hypers)

    @overload
    def predict(self, points: ArrayLike, return_std: Literal[False] = False) -> Array: ...

    @overload
    def predict(self, points: ArrayLike, return_std: Literal[True]) -> tuple[Array, Array]: ...

    def predict(self, points: ArrayLike, return_std: bool = False) -> Array | tuple[Array, Array]:
        """The map at ``points`` (n, d): the posterior mean of the GP the next ask scores with, in the
        objective's units (and its standard deviation with ``return_std``, as scikit-learn's GP). It
        changes nothing the agent asks next (a refit that is due is made here and not kept)."""
        mean, std = self.model(keep=False).predict(self.space.to_unit(points))
        return (mean, std) if return_std else mean

    def _suggest(self, n: int) -> Array:
        out: list[Array] = []
        n_sobol = min(n, max(0, self.n_init - len(self.obs) - len(self.pending)))
        if len(self.obs.X()) < 2:
            n_sobol = n
        if n_sobol:
            out.append(sobol_points(self.space, self.seed, self.n_init_drawn, n_sobol))
            self.n_init_drawn += n_sobol
        if n - n_sobol:
            out.append(self._targeted(n - n_sobol, out))
        return np.concatenate(out)

    def _targeted(self, n: int, extra: list[Array]) -> Array:
        if self.mode == "boundary" and self.space.dim == 2:
            return self._bisect_boundaries(n, extra)
        if self.mode == "error" and self.space.dim == 2:
            return self._refine_error(n, extra)
        gp = self.model()
        rng = self.rng(2)
        cand = rng.random((self.n_candidates, self.space.dim))
        cand = cand[self.space.allowed(self.space.from_unit(cand))]
        grad = self._gradient(gp, cand) if self.mode == "gradient" else None
        believers = [self.space.to_unit(p) for p in (self.pending_points(), self.failed_points(), *extra) if len(p)]
        if believers:
            xb = np.concatenate(believers)
            gp = gp.condition(xb, gp.predict(xb)[0])
        chosen: list[Array] = []
        for _ in range(n):
            _, std = gp.predict(cand)
            score = std if grad is None else std * (self.floor + grad)
            i = int(np.argmax(score))
            chosen.append(cand[i])
            gp = gp.condition(cand[i][None, :], gp.predict(cand[i][None, :])[0])
            cand = np.delete(cand, i, axis=0)
            if grad is not None:
                grad = np.delete(grad, i)
        return self.space.from_unit(np.asarray(chosen))

    def _bisect_boundaries(self, n: int, extra: list[Array]) -> Array:
        """Bisect the edges of the triangles whose values change most beyond the noise (see the module docstring)."""
        gp = self.model()
        noise_sd = float(gp.likelihood.noise_covar.noise.detach().reshape(-1).min().sqrt()) * gp.y_std
        points, values, _ = self._vertices(gp, extra)
        spread = float(np.ptp(values)) or 1.0
        chosen: list[Array] = []
        for _ in range(n):
            tri = Delaunay(points).simplices
            area = _areas(points[tri])
            change = np.clip(np.ptp(values[tri], axis=1) - 2.0 * noise_sd, 0.0, None)
            score = area * (change**2 + (self.floor * spread) ** 2)
            for i in np.argsort(-score):
                u = self._edge_midpoint(points[tri[i]], values[tri[i]])
                if self.space.allowed(self.space.from_unit(u))[0]:
                    break
            else:
                break
            chosen.append(u)
            points = np.concatenate([points, u[None, :]])
            values = np.concatenate([values, gp.predict(u[None, :])[0]])
        return self.space.from_unit(np.asarray(chosen).reshape(-1, 2))

    def _refine_error(self, n: int, extra: list[Array]) -> Array:
        """Measure the widest unvisited gap while one is wider than ``cover``, else inside the triangle
        where the linear map most likely misses the GP (see the module docstring)."""
        gp = self.model()
        pts, vals, n_extra = self._vertices(gp, extra)
        if n_extra:
            gp = gp.believe(pts[-n_extra:])
        noise_var = float(gp.likelihood.noise_covar.noise.detach().reshape(-1).min()) * gp.y_std**2
        visited = [self.space.to_unit(p) for p in (self.obs.X(), self.pending_points(), self.failed_points(), *extra)
                   if len(p)]
        n_meas = len(self.objective_values())
        chosen: list[Array] = []
        for _ in range(n):
            u = self._unresolved_peak(pts, vals, n_meas)
            if u is None:
                u = self._uncovered(np.vstack([*visited, *chosen]).reshape(-1, 2))
            if u is None:
                u = self._worst_miss(gp, pts, vals, noise_var)
            if u is None:
                break
            chosen.append(u)
            mu_u = gp.predict(u[None, :])[0]
            gp = gp.condition(u[None, :], mu_u)
            pts, vals = np.concatenate([pts, u[None, :]]), np.concatenate([vals, mu_u])
        return self.space.from_unit(np.asarray(chosen).reshape(-1, 2))

    def _worst_miss(self, gp: GP, pts: Array, vals: Array, noise_var: float) -> Array | None:
        """The lattice point with the largest miss in the triangle with the largest area × mean miss."""
        tri = Delaunay(pts).simplices
        corner = pts[tri]  # (t, 3, 2)
        area = _areas(corner)
        inner = np.einsum("kj,tjd->tkd", _LATTICE, corner)  # (t, k, 2)
        linear = np.einsum("kj,tj->tk", _LATTICE, vals[tri])
        mean, std = gp.predict(inner.reshape(-1, 2))
        miss = (mean.reshape(linear.shape) - linear) ** 2
        local = miss + self.explore * np.clip(std.reshape(linear.shape) ** 2 - noise_var, 0.0, None)
        score = area * local.mean(axis=1)
        allowed = self.space.allowed(self.space.from_unit(inner.reshape(-1, 2))).reshape(linear.shape)
        for i in np.argsort(-score):
            if allowed[i].any():
                return np.asarray(inner[i][int(np.argmax(np.where(allowed[i], local[i], -1.0)))], dtype=float)
        return None

    def _unresolved_peak(self, pts: Array, vals: Array, n_meas: int) -> Array | None:
        """With ``cover`` > 0: a measured point above all its Delaunay neighbours by more than ``floor`` × the
        map's range (with ``counts_k`` > 0: the highest, above their median by ``counts_k`` Poisson σ), none of
        them within ``cover`` / 3, is a deposit seen from its flank; the centroid of its widest triangle (the
        most raised such point's, in units of its threshold) closes in on it, so that the GP sees its shape."""
        if self.cover <= 0 or n_meas < 3:
            return None
        tri = Delaunay(pts)
        indptr, neighbours = tri.vertex_neighbor_vertices
        span = self.space.span
        floor = self.floor * (float(np.ptp(vals[:n_meas])) or 1.0)
        best, best_score = None, 1.0
        for i in range(n_meas):
            nb = neighbours[indptr[i]:indptr[i + 1]]
            if self.counts_k > 0:  # highest of its neighbours, and above their median by k Poisson σ
                mid = float(np.median(vals[nb]))
                excess = float(vals[i]) - mid if vals[i] >= vals[nb].max() else 0.0
                score = excess / (self.counts_k * float(np.sqrt(max(float(vals[i]) + mid, 1.0))))
            else:
                score = float(vals[i] - vals[nb].max()) / floor
            if score <= best_score or np.min(np.linalg.norm((pts[nb] - pts[i]) * span, axis=1)) <= self.cover / 3:
                continue
            around = tri.simplices[np.any(tri.simplices == i, axis=1)]
            for t in around[np.argsort(-_areas(pts[around]))]:
                u = pts[t].mean(axis=0)
                if self.space.allowed(self.space.from_unit(u))[0]:
                    best, best_score = np.asarray(u, dtype=float), score
                    break
        return best

    def _uncovered(self, visited: Array) -> Array | None:
        """With ``cover`` > 0: the allowed lattice point (unit cube) farthest from every visited point,
        if that distance (in the box's units) exceeds ``cover``; else None."""
        if self.cover <= 0 or not len(visited):
            return None
        if self._cover_lattice is None:
            g = np.linspace(0.0, 1.0, COVER_LATTICE)
            lattice = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
            self._cover_lattice = lattice[self.space.allowed(self.space.from_unit(lattice))]
        span = self.space.span
        dist, _ = cKDTree(visited * span).query(self._cover_lattice * span)
        i = int(np.argmax(dist))
        return np.asarray(self._cover_lattice[i], dtype=float) if dist[i] > self.cover else None

    def _vertices(self, gp: GP, extra: list[Array]) -> tuple[Array, Array, int]:
        """Triangulation vertices (unit cube) and values: the measured points, then the box's corners and
        the pending, failed and already chosen points (``extra``) valued by the GP's mean; and how many
        of those came after the measured ones."""
        pts = self.space.to_unit(self.obs.X())
        vals = np.asarray(self.objective_values(), dtype=float)
        believers = [self.space.to_unit(p) for p in (self.pending_points(), self.failed_points(), *extra) if len(p)]
        corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        extra_pts = np.concatenate([corners, *believers]) if believers else corners
        extra_pts = extra_pts[np.all(np.abs(extra_pts[:, None, :] - pts[None, :, :]).max(-1) > 1e-9, axis=1)]
        if not len(extra_pts):
            return pts, vals, 0
        return np.concatenate([pts, extra_pts]), np.concatenate([vals, gp.predict(extra_pts)[0]]), len(extra_pts)

    @staticmethod
    def _edge_midpoint(corner: Array, value: Array) -> Array:
        """The midpoint of the triangle's edge with the largest length × change of value."""
        pairs = ((0, 1), (1, 2), (0, 2))
        weight = [abs(value[i] - value[j]) * float(np.linalg.norm(corner[i] - corner[j])) for i, j in pairs]
        i, j = pairs[int(np.argmax(weight))]
        return np.asarray((corner[i] + corner[j]) / 2, dtype=float)

    @staticmethod
    def _gradient(gp: GP, cand: Array) -> Array:
        """|∇μ| at the candidates, scaled to [0, 1]."""
        t = torch.as_tensor(cand, dtype=DTYPE).requires_grad_(True)
        mean, _ = gp.posterior(t)
        (g,) = torch.autograd.grad(mean.sum(), t)
        mag = g.norm(dim=1).detach().numpy()
        top = float(mag.max()) if mag.size else 0.0
        return np.asarray(mag / top if top > 0 else mag, dtype=float)
