"""Thompson sample paths and max-value entropy search for GP-BO: values, gradients, determinism, resume."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptive.agents import GPBOAgent
from adaptive.agents.gp import DTYPE, GP, PathSample, gumbel_max_values, max_value_entropy
from tests.adaptive.loop import ask_tell


def _entropy_of_truncated(mean: float, std: float, top: float) -> float:
    """The differential entropy of N(mean, std²) truncated above at ``top``, by quadrature."""
    z = np.linspace(mean - 12 * std, top, 200_001)
    dens = np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
    dens /= np.trapezoid(dens, z)
    integrand = np.where(dens > 0, -dens * np.log(np.where(dens > 0, dens, 1.0)), 0.0)
    return float(np.trapezoid(integrand, z))


def test_max_value_entropy_is_the_entropy_reduction_computed_directly() -> None:
    mean = torch.tensor([0.0, 0.4, -1.0], dtype=DTYPE)
    std = torch.tensor([1.0, 0.3, 2.0], dtype=DTYPE)
    y_star = torch.tensor([0.8, 1.5], dtype=DTYPE)
    got = max_value_entropy(mean, std, y_star).numpy()
    for i in range(3):
        prior = 0.5 * math.log(2 * math.pi * math.e * float(std[i]) ** 2)
        want = np.mean([prior - _entropy_of_truncated(float(mean[i]), float(std[i]), float(t)) for t in y_star])
        assert got[i] == pytest.approx(want, abs=2e-4)


def test_max_value_entropy_gradient_matches_finite_differences() -> None:
    y_star = torch.tensor([0.5, 1.2, 3.0], dtype=DTYPE)

    def f(m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return max_value_entropy(m, s, y_star)

    m = torch.tensor([-0.3, 0.2, 2.5], dtype=DTYPE, requires_grad=True)
    s = torch.tensor([0.5, 1.0, 0.2], dtype=DTYPE, requires_grad=True)
    assert torch.autograd.gradcheck(f, (m, s))


def test_gumbel_max_values_match_the_maximum_of_independent_normals() -> None:
    rng = np.random.default_rng(0)
    mean = rng.normal(size=300)
    std = 0.2 + rng.random(300)
    draws = (mean + std * rng.standard_normal((20_000, 300))).max(axis=1)
    samples = gumbel_max_values(mean, std, best=-10.0, k=400, rng=np.random.default_rng(1))
    assert np.median(samples) == pytest.approx(np.median(draws), abs=0.05)
    assert np.percentile(samples, 90) == pytest.approx(np.percentile(draws, 90), abs=0.1)
    assert gumbel_max_values(mean, std, best=100.0, k=5, rng=rng).min() > 100.0  # never below the best seen


def _fitted_gp(kernel: str = "matern") -> GP:
    rng = np.random.default_rng(3)
    x = rng.random((12, 2))
    y = np.sin(4 * x[:, 0]) + x[:, 1] ** 2
    return GP(x, y, noise=1e-6, kernel=kernel)


@pytest.mark.parametrize("kernel", ["matern", "rbf"])
def test_path_samples_interpolate_the_data_and_average_to_the_posterior(kernel: str) -> None:
    gp = _fitted_gp(kernel)
    rng = np.random.default_rng(4)
    paths = [PathSample(gp, rng, features=2048) for _ in range(300)]
    np.testing.assert_allclose(paths[0](gp.x).detach().numpy(), gp.y.numpy(), atol=1e-2)  # noise-free data
    u = torch.as_tensor(np.random.default_rng(5).random((6, 2)), dtype=DTYPE)
    values = torch.stack([p(u) for p in paths]).detach().numpy()
    with torch.no_grad():
        mean, std = gp.posterior(u)
    np.testing.assert_allclose(values.mean(0), mean.numpy(), atol=4 * float(std.max()) / math.sqrt(300) + 1e-3)
    np.testing.assert_allclose(values.std(0), std.numpy(), rtol=0.25, atol=2e-3)


_run = partial(ask_tell, lambda x: float(np.sin(5 * x[0]) * np.cos(3 * x[1]) - (x[0] - 0.6) ** 2))


@pytest.mark.parametrize("acquisition", ["ts", "mes"])
def test_new_acquisitions_are_seeded_and_resume_exactly(acquisition: str, tmp_path: Path) -> None:
    bounds = [[0.0, 1.0], [0.0, 1.0]]
    a = GPBOAgent(bounds, seed=7, n_init=5, noise=1e-6, acquisition=acquisition)
    b = GPBOAgent(bounds, seed=7, n_init=5, noise=1e-6, acquisition=acquisition)
    np.testing.assert_allclose(_run(a, 9), _run(b, 9))
    a.save(tmp_path / "agent.json")
    resumed = GPBOAgent(bounds, seed=7, n_init=5, noise=1e-6, acquisition=acquisition)
    resumed.load(tmp_path / "agent.json")
    np.testing.assert_allclose(_run(resumed, 3), _run(a, 3))


def test_an_unknown_acquisition_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="acquisition must be one of ei, ucb, ts, mes, got 'pi'"):
        GPBOAgent([[0.0, 1.0]], acquisition="pi")


def test_more_fit_starts_never_give_a_worse_posterior_and_are_seeded() -> None:
    rng = np.random.default_rng(11)
    x = rng.random((25, 4))
    y = np.sin(9 * x[:, 0]) * np.exp(-3 * x[:, 1]) + 0.1 * x[:, 2]
    single = GP(x, y, noise=1e-6, ls_max=0.7)
    several = GP(x, y, noise=1e-6, ls_max=0.7, fit_starts=4, rng=np.random.default_rng(0))
    again = GP(x, y, noise=1e-6, ls_max=0.7, fit_starts=4, rng=np.random.default_rng(0))
    assert several.loss <= single.loss + 1e-12
    assert several.raw_vector() == again.raw_vector()
    warm = GP(x, y, noise=1e-6, ls_max=0.7, start=several.raw_vector(), fit_starts=2)
    assert warm.loss <= several.loss + 1e-6  # a warm start plus the prior's mode: no worse than the start
