"""gp-map's "error" acquisition (the sample-map scenario's): points go where the linear map misses the GP's mean."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from adaptive.agents import GPMapAgent
from tests.adaptive.loop import ask_tell

STEP = 0.37


def step(x: np.ndarray) -> float:
    """A synthetic step along x at STEP, a little noise keyed by the point."""
    rng = np.random.default_rng(np.abs(np.round(np.asarray(x) * 1e9)).astype(np.int64))
    return float(x[0] > STEP) + 0.01 * float(rng.normal())


campaign = partial(ask_tell, step)  # (agent, n) → the points asked, each told the step's value


def test_error_mode_places_more_points_at_a_step_than_a_variance_only_gp() -> None:
    near = {}
    for mode in ("error", "variance"):
        pts = campaign(GPMapAgent([[0.0, 1.0], [0.0, 1.0]], seed=3, n_init=12, mode=mode, n_candidates=512), 48)
        near[mode] = int(np.sum(np.abs(pts[12:, 0] - STEP) < 0.06))
    # the band |x − 0.37| < 0.06 is 12 % of the box: variance sampling puts about that share there
    assert near["error"] >= 2 * max(near["variance"], 3), near
    assert near["error"] >= 0.5 * 36, near


def test_error_mode_is_seeded() -> None:
    a = campaign(GPMapAgent([[0.0, 1.0], [0.0, 1.0]], seed=5, n_init=8, mode="error"), 20)
    b = campaign(GPMapAgent([[0.0, 1.0], [0.0, 1.0]], seed=5, n_init=8, mode="error"), 20)
    c = campaign(GPMapAgent([[0.0, 1.0], [0.0, 1.0]], seed=6, n_init=8, mode="error"), 20)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_error_mode_resumes_exactly_from_a_checkpoint(tmp_path: Path) -> None:
    bounds = [[-8.0, 8.0], [-8.0, 8.0]]
    straight = GPMapAgent(bounds, seed=2, n_init=8, mode="error")
    campaign(straight, 23)  # 23: between refits, so the kept hyperparameters matter
    straight.save(tmp_path / "agent.json")
    resumed = GPMapAgent(bounds, seed=2, n_init=8, mode="error")
    resumed.load(tmp_path / "agent.json")
    np.testing.assert_array_equal(campaign(straight, 6), campaign(resumed, 6))


def test_error_mode_batch_points_are_distinct_and_inside_the_box() -> None:
    agent = GPMapAgent([[0.0, 2.0], [-1.0, 1.0]], seed=1, n_init=10, mode="error")
    campaign(agent, 10)
    batch = agent.ask(4)
    assert batch.shape == (4, 2)
    assert np.all((batch[:, 0] >= 0) & (batch[:, 0] <= 2) & (batch[:, 1] >= -1) & (batch[:, 1] <= 1))
    gaps = np.linalg.norm(batch[:, None] - batch[None], axis=-1)[np.triu_indices(4, 1)]
    assert gaps.min() > 1e-6, batch
