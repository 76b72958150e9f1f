"""Basin restarts of GP-BO: a stalled incumbent starts a phase in another basin; state resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adaptive.agents import GPBOAgent
from adaptive.agents.restarts import BasinRestarts

LOW, HIGH = np.array([0.25, 0.25]), np.array([0.8, 0.75])


def two_wells(x: np.ndarray) -> np.ndarray:
    """Two bumps to maximise: a broad lower one at LOW (0.8), a narrow higher one at HIGH (1.0)."""
    x = np.atleast_2d(x)
    return np.asarray(0.8 * np.exp(-((x - LOW) ** 2).sum(1) / (2 * 0.2**2))
                      + 1.0 * np.exp(-((x - HIGH) ** 2).sum(1) / (2 * 0.05**2)))


def test_a_stalled_phase_restarts_from_the_best_point_of_another_basin() -> None:
    restarts = BasinRestarts(4)
    xu = np.array([[0.7, 0.7], [0.1, 0.9], LOW, [0.3, 0.3], [0.2, 0.25], [0.25, 0.3], [0.28, 0.22]])
    y = two_wells(xu)
    restarts.update(xu[:6], y[:6], n_init=2, mean=two_wells)
    assert restarts.restarts == 0  # the best came within the last 4 model-based points
    restarts.update(xu, y, n_init=2, mean=two_wells)  # it has not moved in the last 4
    assert restarts.restarts == 1
    assert restarts.centre == 0  # the point on the other bump's slope, not the better ones beside LOW
    np.testing.assert_allclose(restarts.abandoned[0], xu[int(np.argmax(y))])
    best, lo, hi = restarts.region(xu, y, np.array([0.2, 0.2])) or (None, None, None)
    assert best == 0 and np.all(lo <= xu[0]) and np.all(xu[0] <= hi)
    # a point near the abandoned incumbent is inside its basin; the other bump's top is not
    assert restarts.outside(np.array([[0.3, 0.3], HIGH]), two_wells(np.array([[0.3, 0.3], HIGH])),
                            0.0, two_wells).tolist() == [False, True]


def test_a_phase_whose_best_becomes_the_global_best_ends_the_restart() -> None:
    restarts = BasinRestarts(4)
    restarts.restore({"abandoned": [LOW.tolist()], "centre": 0, "start": 6, "restarts": 1})
    xu = np.array([[0.7, 0.7], [0.1, 0.9], [0.25, 0.3], [0.26, 0.25], [0.24, 0.26], [0.25, 0.24], HIGH])
    restarts.update(xu, two_wells(xu), n_init=2, mean=two_wells)
    assert restarts.centre is None and restarts.restarts == 1


def run(agent: GPBOAgent, n: int) -> list[np.ndarray]:
    asked = []
    for _ in range(n):
        x = agent.ask(1)[0]
        agent.tell(x, float(two_wells(x)[0]))
        asked.append(x)
    return asked


def test_gp_bo_with_restarts_leaves_the_lower_well_and_finds_the_higher_one() -> None:
    bounds = [[0.0, 1.0], [0.0, 1.0]]
    seed = 2  # a seed whose plain agent stays on the lower bump (as do 0, 1, 4–7)
    plain, restarting = (GPBOAgent(bounds, seed=seed, n_init=5, noise=1e-6, restart_after=r) for r in (0, 4))
    run(plain, 30)
    run(restarting, 30)
    assert plain.report()["best_y"] < 0.85  # stays on the lower bump
    assert restarting.basins.restarts >= 1
    assert restarting.report()["best_y"] > 0.95


def test_restart_state_resumes_exactly(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    bounds = [[0.0, 1.0], [0.0, 1.0]]
    agent = GPBOAgent(bounds, seed=2, n_init=5, noise=1e-6, restart_after=4)
    run(agent, 16)
    assert agent.basins.restarts >= 1  # the checkpoint is taken inside a restarted phase
    agent.save(path)
    resumed = GPBOAgent(bounds, seed=2, n_init=5, noise=1e-6, restart_after=4)
    resumed.load(path)
    np.testing.assert_allclose(run(resumed, 4), run(agent, 4))


def test_with_no_new_basin_left_a_stalled_phase_goes_back_to_the_best_earlier_one() -> None:
    restarts = BasinRestarts(2)
    xu = np.array([LOW, [0.3, 0.3], [0.2, 0.2], [0.75, 0.75], HIGH, [0.81, 0.76], [0.79, 0.74], [0.8, 0.76],
                   [0.82, 0.75], [0.78, 0.74]])
    restarts.restore({"abandoned": [LOW.tolist()], "centre": 3, "start": 4, "restarts": 1})
    restarts.update(xu, two_wells(xu), n_init=3, mean=two_wells)
    assert restarts.restarts == 2
    assert restarts.centre == 0  # back to LOW's incumbent, now that HIGH's basin has stalled
    np.testing.assert_allclose(restarts.abandoned, [HIGH])
