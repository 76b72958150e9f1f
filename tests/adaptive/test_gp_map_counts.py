"""gp-map's climbing threshold in counting noise (``counts_k``): a faint deposit seen from its flank (one
raised point among background, while a bright deposit sets the map's range) is climbed to, and so is one
seen from several sides at once; Poisson noise over a flat background is not."""

from __future__ import annotations

import numpy as np
import pytest

from adaptive.agents import GPMapAgent

BOX = [[0.0, 1.0], [0.0, 1.0]]  # the unit box: the agent's unit-cube points are the box's points
G = np.linspace(0.0, 1.0, 7)
LATTICE = np.stack(np.meshgrid(G, G, indexing="ij"), axis=-1).reshape(-1, 2)  # spacing 1/6 > cover / 3
FAINT, BRIGHT = 8, 40  # lattice indices of (1/6, 1/6) and (5/6, 5/6)
BESIDE = np.array([[0.86, 0.85]])  # a point beside BRIGHT (closer than cover / 3): that deposit is resolved


def background(seed: int) -> np.ndarray:
    """Poisson counts of a flat background of 10 on the lattice."""
    return np.random.default_rng(seed).poisson(10.0, len(LATTICE)).astype(float)


def climbs_to(agent: GPMapAgent, vals: np.ndarray) -> np.ndarray | None:
    """Where the agent's climbing step goes for these values on the lattice (+ BESIDE; None: nowhere)."""
    pts = LATTICE if len(vals) == len(LATTICE) else np.concatenate([LATTICE, BESIDE])
    return agent._unresolved_peak(pts, vals, len(pts))


def with_deposits(seed: int) -> np.ndarray:
    """Background; a bright deposit already resolved (4,000 counts at BRIGHT and 3,990 beside it: the map's
    range) and a faint one seen once (60 counts)."""
    vals = np.append(background(seed), 3990.0)
    vals[BRIGHT], vals[FAINT] = 4000.0, 60.0
    return vals


def test_a_faint_raised_point_is_climbed_to_by_counting_noise_not_by_the_range() -> None:
    by_range = GPMapAgent(BOX, mode="error", cover=0.3)
    by_counts = GPMapAgent(BOX, mode="error", cover=0.3, counts_k=4.0)
    for seed in range(10):
        vals = with_deposits(seed)
        # the faint point's excess is far beyond the noise (σ ≈ 9) but below floor × range (0.02 × 3,990)
        excess = vals[FAINT] - np.delete(vals, [FAINT, BRIGHT, len(LATTICE)]).max()
        assert 4 * np.sqrt(vals[FAINT] + 20) < excess < 0.02 * np.ptp(vals), excess
        u = climbs_to(by_counts, vals)
        assert u is not None and np.linalg.norm(u - LATTICE[FAINT]) < 1 / 6, u  # inside a triangle at it
        assert climbs_to(by_range, vals) is None


def test_a_deposit_seen_from_several_sides_is_climbed_to() -> None:
    # seed 104 of the sample map: the deposit lies between four points of 75, 53, 33 and 24 counts over
    # a background of ~10; the highest is not far above the next (22 counts, 2 σ) but far above the median
    agent = GPMapAgent(BOX, mode="error", cover=0.3, counts_k=4.0)
    for seed in range(10):
        vals = background(seed)
        vals[FAINT], vals[FAINT + 1], vals[FAINT + 7], vals[FAINT - 1] = 75.0, 53.0, 33.0, 24.0
        u = climbs_to(agent, vals)
        assert u is not None and np.linalg.norm(u - LATTICE[FAINT]) < 1 / 6, u


def test_counting_noise_over_a_flat_background_is_not_climbed() -> None:
    strict = GPMapAgent(BOX, mode="error", cover=0.3, counts_k=4.0)
    loose = GPMapAgent(BOX, mode="error", cover=0.3, counts_k=0.5)
    assert all(climbs_to(strict, background(seed)) is None for seed in range(50))
    # the test can fail: a threshold of half a σ takes noise for deposits
    assert sum(climbs_to(loose, background(seed)) is not None for seed in range(50)) >= 25


def test_counts_k_is_checked_and_kept_in_the_config() -> None:
    with pytest.raises(ValueError, match="counts_k"):
        GPMapAgent(BOX, mode="error", cover=0.3, counts_k=-1.0)
    assert GPMapAgent(BOX, mode="error", cover=0.3, counts_k=3.0).config()["counts_k"] == 3.0
