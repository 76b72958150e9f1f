"""GP mapping: measure where the map is uncertain *and* changing (gradients, boundaries).

A stationary GP's variance alone only fills space (no better than Sobol), so the score
weighs the posterior standard deviation by the magnitude of the posterior mean's gradient:
``σ(x) · (floor + |∇μ(x)| / max|∇μ|)``. With ``mode="variance"`` the score is σ alone,
which is also the expected information gain of a GP observation (½ log(1 + σ²/σₙ²) is
monotone in σ). Batches and pending points are handled by believers, as in GP-BO.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import ArrayLike

from adaptive.agents.baselines import sobol_points
from adaptive.agents.gp import DTYPE, GP
from adaptive.protocol import Agent, Array


class GPMapAgent(Agent):
    """Map the objective channel over the box; ``predict(points)`` gives the reconstruction."""

    name: ClassVar[str] = "gp-map"

    def __init__(self, bounds: ArrayLike, *, n_init: int = 20, mode: str = "gradient", floor: float = 0.02,
                 n_candidates: int = 2048, refit_every: int = 5, **kwargs: Any) -> None:
        super().__init__(bounds, **kwargs)
        if mode not in ("gradient", "variance"):
            raise ValueError(f"mode must be 'gradient' or 'variance', got {mode!r}")
        self.n_init = int(n_init)
        self.mode = mode
        self.floor = float(floor)
        self.n_candidates = int(n_candidates)
        self.refit_every = int(refit_every)
        self.n_init_drawn = 0
        self.hypers: dict[str, Any] | None = None
        self.fitted_at = 0

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {**super().config(), "n_init": self.n_init, "mode": self.mode, "floor": self.floor,
                "n_candidates": self.n_candidates, "refit_every": self.refit_every}

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

    def model(self) -> GP:
        """The GP on the measured points (unit-cube inputs); hyperparameters refitted every ``refit_every`` points."""
        x, y = self.space.to_unit(self.obs.X()), self.objective_values()
        if self.hypers is None or len(x) - self.fitted_at >= self.refit_every:
            gp = GP(x, y)
            self.hypers, self.fitted_at = gp.hypers(), len(x)
            return gp
        return GP(x, y, hypers=self.hypers)

    def predict(self, points: ArrayLike) -> tuple[Array, Array]:
        """Reconstructed mean and standard deviation at ``points`` (n, d)."""
        return self.model().predict(self.space.to_unit(points))

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

    @staticmethod
    def _gradient(gp: GP, cand: Array) -> Array:
        """|∇μ| at the candidates, scaled to [0, 1]."""
        t = torch.as_tensor(cand, dtype=DTYPE).requires_grad_(True)
        mean, _ = gp.posterior(t)
        (g,) = torch.autograd.grad(mean.sum(), t)
        mag = g.norm(dim=1).detach().numpy()
        top = float(mag.max()) if mag.size else 0.0
        return np.asarray(mag / top if top > 0 else mag, dtype=float)
