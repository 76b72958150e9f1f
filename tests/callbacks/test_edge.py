"""The edge-step reduction (``acq.callbacks.edge``) against the twin's own absorption model: the step
it finds on noise-free μt is the twin's truth, for an even scan and for uneven points alike."""

from __future__ import annotations

import numpy as np
import pytest

from acq.callbacks.edge import edge_step, step_weights
from twin.physics.samples import Shell, XafsEdge

GRID = np.arange(8825.0, 9285.0 + 1e-9, 0.5)  # the xafs-edge scenario's 0.5 eV scan
CU = XafsEdge("Cu", 6.0)  # the xafs beamline's foil, without EXAFS
CU_EXAFS = XafsEdge("Cu", 6.0, shells=(Shell(12, 2.55, 0.0035), Shell(6, 3.61, 0.005)), amplitude=0.3)


def straight_lines(x: np.ndarray, y: np.ndarray, e0: float) -> float:
    """The old reduction: a line per window (weighted by spacing), their gap at E0."""
    lines = []
    for lo, hi in ((-150.0, -30.0), (50.0, 300.0)):
        sel = (x >= e0 + lo) & (x <= e0 + hi)
        lines.append(np.polyfit(x[sel], y[sel], 1, w=np.sqrt(np.gradient(x[sel]))))
    return float(np.polyval(lines[1], e0) - np.polyval(lines[0], e0))


def test_step_of_the_twins_edge_without_exafs_is_its_truth() -> None:
    e0, truth = CU.e0_ev(), CU.edge_step()
    mu = CU.mu_t(GRID, exafs=False)
    assert edge_step(GRID, mu, e0) / truth - 1 == pytest.approx(0.0, abs=2e-4)
    # straight lines miss by the arctan's tails in the windows and the post-edge's curvature (−1.2 %)
    assert straight_lines(GRID, mu, e0) / truth - 1 < -0.01


def test_step_with_exafs_is_close_to_the_truth_and_the_same_for_uneven_points() -> None:
    e0, truth = CU_EXAFS.e0_ev(), CU_EXAFS.edge_step()
    dense = edge_step(GRID, CU_EXAFS.mu_t(GRID), e0) / truth - 1
    assert abs(dense) < 0.002  # the tapered windows; straight lines: +0.76 %
    assert straight_lines(GRID, CU_EXAFS.mu_t(GRID), e0) / truth - 1 > 0.005
    rng = np.random.default_rng(3)
    for x in (np.arange(8825.0, 9285.0, 6.0), np.sort(rng.uniform(8825.0, 9285.0, 300)),
              np.concatenate([np.arange(8825.0, 8995.0, 6.0), np.arange(8995.0, 9285.0, 1.0)])):
        assert edge_step(x, CU_EXAFS.mu_t(x), e0) / truth - 1 == pytest.approx(dense, abs=5e-4)


def test_step_is_its_weights_times_mu_and_needs_both_windows() -> None:
    e0 = CU.e0_ev()
    x = np.random.default_rng(1).permutation(GRID)
    mu = CU_EXAFS.mu_t(x)
    w = step_weights(x, e0)
    assert float(w @ mu) == pytest.approx(edge_step(x, mu, e0), rel=1e-12)
    u = x - e0
    assert np.all(w[(u < -150) | ((u > -30) & (u < 50)) | (u > 300)] == 0), "only the windows count"
    assert np.all(w[np.isclose(u, -150.0, atol=0.3) | np.isclose(u, 300.0, atol=0.3)] == pytest.approx(0.0, abs=1e-6))
    with pytest.raises(ValueError, match="post-edge window"):
        edge_step(GRID[GRID < e0 + 60], CU.mu_t(GRID[GRID < e0 + 60]), e0)
