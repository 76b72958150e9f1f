"""The agent protocol: tell/ask checks, channels, failed points, seeds, and exact resume from checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adaptive.agents import AGENTS, make_agent
from adaptive.harness.functions import map2d_truth
from adaptive.protocol import Agent, AgentError

SMALL_GP: dict[str, dict[str, Any]] = {"gp-bo": {"n_init": 4, "n_candidates": 256},
                                       "gp-map": {"n_init": 4, "n_candidates": 256}}
LIBRARY = np.stack(np.meshgrid(np.linspace(0.05, 0.95, 8), np.linspace(0.05, 0.95, 8)), -1).reshape(-1, 2)


def build(name: str, seed: int = 3) -> Agent:
    """A small configuration of each agent on a 2-D box (1-D for slope)."""
    if name == "slope":
        return make_agent(name, [[0.0, 10.0]], seed=seed, target_delta=0.05, min_step=0.1, max_step=1.0)
    options: dict[str, Any] = {**SMALL_GP, "cluster": {"candidates": LIBRARY, "n_clusters": 2},
                               "grid": {"budget": 25}}.get(name, {})
    return make_agent(name, [[0.0, 1.0], [0.0, 1.0]], seed=seed, **options)


def measure(name: str, x: np.ndarray[Any, Any]) -> Any:
    if name == "slope":
        return float(np.tanh(x[0] - 5.0))
    if name == "cluster":
        return [10.0, 1.0, 1.0] if x[0] < 0.5 else [1.0, 1.0, 10.0]
    return float(map2d_truth(x)[0])


def drive(agent: Agent, name: str, steps: int) -> list[list[float]]:
    asked = []
    for _ in range(steps):
        pts = agent.ask(1)
        if not len(pts):
            break
        asked.append(pts[0].tolist())
        agent.tell(pts[0], measure(name, pts[0]))
    return asked


@pytest.mark.parametrize("name", list(AGENTS))
def test_a_campaign_resumed_from_its_checkpoint_asks_the_same_points(name: str, tmp_path: Path) -> None:
    unbroken = build(name)
    drive(unbroken, name, 7)
    unbroken.save(tmp_path / "ckpt.json")
    expected = drive(unbroken, name, 3)

    resumed = build(name)
    resumed.load(tmp_path / "ckpt.json")
    assert drive(resumed, name, 3) == expected
    assert len(expected) == 3


@pytest.mark.parametrize("name", ["gp-bo", "random", "sobol"])
def test_seeded(name: str) -> None:
    a, b, c = build(name, seed=5), build(name, seed=5), build(name, seed=6)
    first = drive(a, name, 5)
    assert first == drive(b, name, 5)
    assert drive(c, name, 5) != first


def test_load_refuses_another_agent_or_configuration(tmp_path: Path) -> None:
    a = build("random")
    a.save(tmp_path / "r.json")
    with pytest.raises(ValueError, match="checkpoint of agent 'random', not 'sobol'"):
        build("sobol").load(tmp_path / "r.json")
    with pytest.raises(ValueError, match="differs from this agent's in \\['seed'\\]"):
        build("random", seed=99).load(tmp_path / "r.json")


def test_tell_channels_uncertainty_and_failed_points() -> None:
    a = make_agent("random", [[0, 1]], objective="flux")
    a.tell([0.2], {"flux": 3.0, "size": 1.0}, sigma={"flux": 0.1, "size": 0.2})
    a.tell([0.4], {"flux": 5.0, "size": 2.0})
    a.tell([0.6], None, status="failed")
    a.tell([0.8], None, status="abandoned")
    rep = a.report()
    assert (rep["n_ok"], rep["n_failed"], rep["n_abandoned"]) == (2, 1, 1)
    assert rep["best_y"] == 5.0 and rep["best_x"] == [0.4]
    assert a.obs.channels == ["flux", "size"]
    assert a.failed_points().tolist() == [[0.6], [0.8]]
    with pytest.raises(ValueError, match="lacks channel"):
        a.tell([0.5], {"size": 1.0})
    with pytest.raises(ValueError, match="status must be one of"):
        a.tell([0.5], 1.0, status="lost")
    with pytest.raises(ValueError, match="x must have 1 coordinate"):
        a.tell([0.5, 0.5], 1.0)
    with pytest.raises(ValueError, match="finite"):
        a.tell([0.5], {"flux": float("nan"), "size": 1.0})


def test_ask_checks_its_argument_and_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="high <= low"):
        make_agent("random", [[1.0, 0.0]])
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        make_agent("nope", [[0, 1]])
    with pytest.raises(ValueError, match="positive integer"):
        make_agent("random", [[0, 1]]).ask(0)


class Rogue(Agent):
    name = "rogue"

    def _suggest(self, n: int) -> Any:
        return np.full((n, 2), 0.5)


def test_an_agent_that_suggests_into_a_forbidden_region_is_stopped() -> None:
    with pytest.raises(AgentError, match="forbidden region"):
        Rogue([[0, 1], [0, 1]], forbidden=[[[0.4, 0.6], [0.4, 0.6]]]).ask(1)


@pytest.mark.parametrize("name", ["gp-bo", "gp-map", "grid", "random", "sobol"])
def test_forbidden_regions_and_bounds_respected(name: str) -> None:
    forbidden = [[[0.2, 0.7], [0.2, 0.7]]]
    options: dict[str, Any] = {**SMALL_GP, "grid": {"budget": 36}}.get(name, {})
    agent = make_agent(name, [[0.0, 1.0], [0.0, 1.0]], forbidden=forbidden, seed=1, **options)
    # the objective peaks inside the forbidden square, tempting the optimiser
    pts = []
    for _ in range(14):
        p = agent.ask(1)
        if not len(p):
            break
        pts.append(p[0])
        agent.tell(p[0], -float(np.sum((p[0] - 0.45) ** 2)))
    arr = np.array(pts)
    assert len(arr) == 14
    assert np.all((arr >= 0) & (arr <= 1))
    inside = np.all((arr > 0.2) & (arr < 0.7), axis=1)
    assert not inside.any(), arr[inside]
