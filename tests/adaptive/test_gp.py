"""The GP's fit: warm starts that stop early on many points, and the lengthscale cap."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import adaptive.agents.gp as gp_module
import adaptive.agents.gp_bo as gp_bo_module
from adaptive.agents import GPBOAgent
from adaptive.agents.gp import GP


def smooth(x: np.ndarray) -> np.ndarray:
    """A smooth 4-D function with coupled axes (the latency benchmark's)."""
    return np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]) + (x[:, 2] - 0.5 * x[:, 3]) ** 2


class CountingMinimize:
    """Wraps scipy's minimize in a module (the GP's fit, GP-BO's polish) and counts each run's evaluations."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any = gp_module) -> None:
        self.calls: list[int] = []
        self.real = module.minimize
        monkeypatch.setattr(module, "minimize", self)

    def __call__(self, fun: Any, x0: Any, **kw: Any) -> Any:
        count = [0]

        def counted(v: Any) -> Any:
            count[0] += 1
            return fun(v)

        res = self.real(counted, x0, **kw)
        self.calls.append(count[0])
        return res


def test_a_warm_fit_with_a_loose_tolerance_costs_less_and_finds_the_same_lengthscales(
        monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingMinimize(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.random((151, 4))
    y = smooth(x)
    warm = GP(x[:150], y[:150]).raw_vector()
    full = GP(x, y, start=warm)
    fast = GP(x, y, start=warm, ftol=1e-6)
    n_full, n_fast = counter.calls[-2:]
    assert n_fast < n_full, counter.calls
    np.testing.assert_allclose(fast.lengthscales(), full.lengthscales(), rtol=0.02)


def test_gp_bo_fits_and_polishes_fast_only_on_many_points(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingMinimize(monkeypatch)
    polish = CountingMinimize(monkeypatch, gp_bo_module)
    rng = np.random.default_rng(1)
    for n, fast_expected in ((40, False), (120, True)):
        fits, polishes = [], []
        x = rng.random((n, 4))
        for after in (100, 10_000):  # the default, and never
            agent = GPBOAgent([[0.0, 1.0]] * 4, seed=0, n_init=5, n_candidates=256, n_polish=2,
                              fast_refit_after=after)
            agent.tell_many(x, list(smooth(x)))
            for _ in range(2):  # a cold fit, then a warm one
                u = agent.ask(1)[0]
                agent.tell(u, float(smooth(u[None, :])[0]))
            fits.append(counter.calls[-1])
            polishes.append(polish.calls[-1])
        fast, never = fits
        assert (fast < never) == fast_expected and fast <= never, (n, fits)
        assert (polishes[0] < polishes[1]) == fast_expected and polishes[0] <= polishes[1], (n, polishes)


def test_lengthscales_are_capped() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((40, 3))
    y = np.sin(6 * x[:, 0])  # the other two inputs are irrelevant: their lengthscales go to the cap
    assert max(GP(x, y).lengthscales()[1:]) > 1.0
    assert max(GP(x, y, ls_max=0.5).lengthscales()) <= 0.5 + 1e-9
    x6 = rng.random((12, 6))  # the prior's start (0.5 in 6-D) lies above a low cap: it starts inside
    assert max(GP(x6, np.sin(4 * x6[:, 0]), ls_max=0.3).lengthscales()) <= 0.3 + 1e-9
    with pytest.raises(ValueError, match="lengthscale_max"):
        GPBOAgent([[0.0, 1.0]], lengthscale_max=0.0)
