"""The optional model protocol (``predict``) and the harness judging each map design by its own reconstruction."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from adaptive.agents import GPMapAgent, SobolAgent, make_agent
from adaptive.harness import run_episode
from adaptive.harness.report import summarise
from adaptive.harness.tasks import Hartmann6, Map2D
from adaptive.protocol import Predictor
from tests.adaptive.loop import ask_tell

BOX = [[-2.0, 6.0], [10.0, 14.0]]  # not the unit square: predict takes the box's units
NOISE = 0.5


def counts(x: np.ndarray) -> float:
    """A deposit of ~200 counts over 50 in ``BOX``, with a fixed noise draw per point (σ = ``NOISE``)."""
    clean = 50.0 + 200.0 * np.exp(-0.5 * ((x[0] - 1.0) ** 2 + (x[1] - 12.5) ** 2) / 1.2**2)
    rng = np.random.default_rng(np.abs(np.round(x * 1e6)).astype(np.int64))
    return float(clean + NOISE * rng.normal())


def mapper() -> GPMapAgent:
    return GPMapAgent(BOX, seed=4, n_init=12, mode="error", refit_every=5)


def test_only_agents_with_a_model_are_predictors() -> None:
    assert isinstance(mapper(), Predictor)
    assert not isinstance(SobolAgent(BOX), Predictor)
    assert not isinstance(make_agent("random", BOX), Predictor)


def test_predict_is_the_mean_the_agent_scores_with_in_the_objectives_units() -> None:
    agent = mapper()
    xs = ask_tell(counts, agent, 23)  # fitted at 12, 17, 22 points: no refit due at 23
    probe = np.array([[1.0, 12.5], [5.5, 10.5], [-1.0, 13.0]])
    before = (agent.hypers, agent.fitted_at)
    mean = agent.predict(probe)
    assert mean.shape == (3,)
    assert np.array_equal(mean, agent.model().predict(agent.space.to_unit(probe))[0])
    assert mean[0] > 150 and abs(mean[1] - 50) < 20, "counts, not standardised values"
    at_data = agent.predict(xs)
    ys = np.array([counts(x) for x in xs])
    assert np.max(np.abs(at_data - ys)) < 0.05 * np.ptp(ys), "the mean agrees with the data at measured points"
    m2, sd = agent.predict(probe, return_std=True)
    assert np.array_equal(m2, mean) and sd.shape == (3,) and np.all(sd > 0)
    assert (agent.hypers, agent.fitted_at) == before


def test_predict_when_a_refit_is_due_changes_nothing_the_agent_asks() -> None:
    plain, watched = mapper(), mapper()
    for n in range(30):
        x = plain.ask(1)[0]
        assert np.array_equal(watched.ask(1)[0], x), f"ask {n + 1} differs"
        plain.tell(x, counts(x))
        watched.tell(x, counts(x))
        if n >= 2:
            mean = watched.predict(x[None, :])  # fits when a refit is due, keeps nothing
            scored = copy.deepcopy(watched).model()  # the model the next ask scores with
            assert np.array_equal(mean, scored.predict(watched.space.to_unit(x[None, :]))[0])
    assert json.dumps(watched.state()) == json.dumps(plain.state())


def test_resume_from_a_checkpoint_predicts_the_same(tmp_path: Path) -> None:
    probe = np.random.default_rng(0).random((50, 2)) * [8.0, 4.0] + [-2.0, 10.0]
    for n in (22, 25):  # the stored hypers in use; a refit due (predict fits from the data)
        agent = mapper()
        ask_tell(counts, agent, n)
        agent.save(tmp_path / f"gp-map-{n}.json")
        resumed = mapper()
        resumed.load(tmp_path / f"gp-map-{n}.json")
        assert np.array_equal(resumed.predict(probe), agent.predict(probe)), n


def test_the_harness_judges_a_map_by_predict_when_present_and_linearly_otherwise() -> None:
    env = Map2D(seed=3, reconstructs=True)
    budget = 30
    results = {name: run_episode(name, lambda s: Map2D(seed=s, reconstructs=True), 3, budget=budget)
               for name in ("gp-map", "sobol")}
    for name, res in results.items():  # the same campaign again, by hand, to judge its points
        assert res.error is None and res.n_evals == budget
        agent = make_agent(name, env.bounds, seed=3, **env.agent_options(name))
        xs = ask_tell(lambda x: env.evaluate(x), agent, budget)
        ys = np.array([env.evaluate(x) for x in xs])
        linear = env.error(xs, ys)
        assert res.metrics["linear_error"] == pytest.approx(linear, rel=1e-12)
        if name == "gp-map":
            assert isinstance(agent, GPMapAgent)
            own = env.error(xs, ys, agent.predict)
            assert res.reconstruction == "model" and res.final_error == pytest.approx(own, rel=1e-9)
            assert abs(own - linear) > 0.02 * linear, "the two rules give different errors"
        else:
            assert res.reconstruction == "linear" and res.final_error == pytest.approx(linear, rel=1e-12)
    summary = summarise(list(results.values()))
    assert summary["gp-map"]["reconstruction"] == "model" and summary["sobol"]["reconstruction"] == "linear"
    assert summary["gp-map"]["metrics"]["linear_error"]["median"] == pytest.approx(
        results["gp-map"].metrics["linear_error"])


def test_predict_of_the_wrong_shape_is_refused_and_other_tasks_ignore_it() -> None:
    env = Map2D(seed=1)
    pts = env.grid[::500]
    with pytest.raises(ValueError, match="predict\\(grid\\) gave shape"):
        env.error(pts, np.zeros(len(pts)), lambda g: np.zeros(len(g) - 1))
    xs = np.random.default_rng(0).random((30, 2))
    ys = np.array([env.evaluate(x) for x in xs])
    flat = env.error(xs, ys, lambda g: np.zeros(len(g)))
    assert env.judge(xs, ys, lambda g: np.zeros(len(g))) == env.error(xs, ys) != flat, "map2d keeps the linear rule"
    h = Hartmann6()
    x, y = np.zeros((1, 6)), np.array([-3.0])
    assert h.judge(x, y, lambda g: np.zeros(len(g))) == h.error(x, y)
    res = run_episode("gp-map", lambda s: Hartmann6(seed=s), 0, budget=3)
    assert res.error is None and res.reconstruction is None and res.metrics == {}
