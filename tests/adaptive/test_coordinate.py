"""The coordinate-by-coordinate scan baseline, and GP-BO's log output option."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive.agents import CoordinateAgent, make_agent


def test_scans_one_axis_at_a_time_around_the_best_point_then_shrinks() -> None:
    agent = CoordinateAgent([[0.0, 1.0], [0.0, 2.0]], points_per_axis=5, shrink=0.5)
    peak = np.array([0.7, 0.4])

    def f(x: np.ndarray) -> float:  # separable: the scan along x1 then x2 finds the peak's grid cell
        return float(-np.sum((x - peak) ** 2))

    first = agent.ask(5)
    np.testing.assert_allclose(first[:, 0], np.linspace(0, 1, 5))
    np.testing.assert_allclose(first[:, 1], 1.0)  # the box centre for the other axis
    for p in first:
        agent.tell(p, f(p))
    second = agent.ask(5)
    np.testing.assert_allclose(second[:, 0], 0.75)  # the best x1 of the first scan
    np.testing.assert_allclose(second[:, 1], np.linspace(0, 2, 5))
    for p in second:
        agent.tell(p, f(p))
    third = agent.ask(5)  # cycle 2: half the range around the best point, clipped to the box
    assert third[:, 0].min() == pytest.approx(0.5) and third[:, 0].max() == pytest.approx(1.0)
    np.testing.assert_allclose(third[:, 1], 0.5)
    for _ in range(6):
        for p in agent.ask(5):
            agent.tell(p, f(p))
    assert np.allclose(agent.report()["best_x"], peak, atol=0.05)


def test_coordinate_options_are_checked() -> None:
    with pytest.raises(ValueError, match="points_per_axis"):
        CoordinateAgent([[0, 1]], points_per_axis=1)
    with pytest.raises(ValueError, match="shrink"):
        CoordinateAgent([[0, 1]], shrink=1.5)


def test_gp_bo_log_output_models_the_logarithm() -> None:
    with pytest.raises(ValueError, match="output"):
        make_agent("gp-bo", [[0, 1]], output="sqrt")
    agent = make_agent("gp-bo", [[0.0, 1.0], [0.0, 1.0]], seed=1, n_init=6, output="log")
    rng = np.random.default_rng(0)

    def flux(x: np.ndarray) -> float:  # a narrow peak on a dark floor: many decades
        return float(1e6 * np.exp(-0.5 * np.sum(((x - 0.62) / 0.08) ** 2)) + 3.0 + rng.poisson(2))

    for _ in range(22):
        x = agent.ask(1)[0]
        agent.tell(x, flux(x))
    assert agent.report()["best_y"] > 0.5e6
    np.testing.assert_allclose(agent._transformed(np.array([1.0, np.e, -5.0])), [0.0, 1.0, np.log(5e-6)])
    assert agent.config()["output"] == "log"
