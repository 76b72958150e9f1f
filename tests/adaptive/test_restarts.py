"""Basin restarts of GP-BO: a stalled incumbent starts a phase in another basin; state resumes exactly."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adaptive.agents import GPBOAgent
from adaptive.agents.restarts import BasinRestarts, Predict
from tests.adaptive.loop import ask_tell

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


run = partial(ask_tell, lambda x: float(two_wells(x)[0]))  # (agent, n) → the points asked


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


def fitted(xu: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], Predict, np.ndarray]:
    """Values of ``two_wells`` at ``xu`` (standardised), and a noise-free GP's mean, prediction and lengthscales."""
    from adaptive.agents.gp import GP

    gp = GP(xu, two_wells(xu), noise=1e-6)

    def predict(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, s = gp.predict(u)
        return (m - gp.y_mean) / gp.y_std, s / gp.y_std

    return gp.y.numpy(), (lambda u: predict(u)[0]), predict, np.asarray(gp.lengthscales())


SPREAD = np.array([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5], [0.1, 0.1], [0.6, 0.9], [0.72, 0.66]])


def test_the_exhausted_trigger_leaves_a_converged_well_for_the_other_basin() -> None:
    top = LOW + 0.02 * np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1], [1, 1]])
    xu = np.concatenate([SPREAD, top])
    y, mean, predict, ls = fitted(xu)
    restarts = BasinRestarts(4, exhausted=0.002, confirm=1)
    restarts.update(xu, y, n_init=len(SPREAD), mean=mean, predict=predict, lengthscales=ls)
    assert restarts.restarts == 1
    np.testing.assert_allclose(restarts.abandoned[0], LOW, atol=0.03)
    assert restarts.centre is not None and restarts.centre < len(SPREAD)  # a point far from LOW's top
    assert np.linalg.norm(xu[restarts.centre] - LOW) > 0.3


def test_the_exhausted_trigger_stays_in_a_well_it_is_still_descending() -> None:
    # five points after the best that did not improve on it: the stall trigger leaves, but the model
    # still predicts a climb towards LOW's top from the best point
    way = LOW + np.array([[0.3, 0.0], [0.2, 0.0], [0.16, 0.05], [0.2, -0.06], [0.24, 0.03], [0.22, -0.03],
                       [0.19, 0.07]])
    xu = np.concatenate([SPREAD, way])
    y, mean, predict, ls = fitted(xu)
    assert int(np.argmax(y)) == len(SPREAD) + 2  # then no better point
    stall = BasinRestarts(4)
    stall.update(xu, y, n_init=len(SPREAD), mean=mean)
    assert stall.restarts == 1
    exhausted = BasinRestarts(4, exhausted=0.002, confirm=1)
    exhausted.update(xu, y, n_init=len(SPREAD), mean=mean, predict=predict, lengthscales=ls)
    assert exhausted.restarts == 0 and exhausted.low == 0
    assert exhausted.local_gain(xu[len(SPREAD) + 2], float(y.max()), float(np.ptp(y)), predict, ls, 0) > 0.002


def test_the_exhausted_trigger_needs_the_model() -> None:
    restarts = BasinRestarts(4, exhausted=0.002)
    xu = np.concatenate([SPREAD, [LOW]])
    with pytest.raises(ValueError, match="predictions and lengthscales"):
        restarts.update(xu, two_wells(xu), n_init=len(SPREAD), mean=two_wells)
    with pytest.raises(ValueError, match="restart_exhausted"):
        BasinRestarts(4, exhausted=-1.0)


def test_gp_bo_with_the_exhausted_trigger_finds_the_higher_well_and_resumes_exactly(tmp_path: Path) -> None:
    bounds = [[0.0, 1.0], [0.0, 1.0]]
    options: dict[str, Any] = {"seed": 2, "n_init": 5, "noise": 1e-6, "restart_after": 4, "restart_exhausted": 0.01}
    agent = GPBOAgent(bounds, **options)
    run(agent, 18)
    assert agent.report()["best_y"] < 0.85  # still on the lower bump (the plain agent stays there)
    assert agent.basins.centre is not None  # the checkpoint is taken inside a restarted phase
    agent.save(tmp_path / "agent.json")
    resumed = GPBOAgent(bounds, **options)
    resumed.load(tmp_path / "agent.json")
    np.testing.assert_allclose(run(resumed, 12), run(agent, 12))
    assert agent.report()["best_y"] > 0.95
