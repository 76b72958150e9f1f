"""The slope agent's counting time (``dwell_budget``): the window fill counts longer ∝ its weight in the
edge step, the scan keeps the base time, the total never exceeds the budget, and a checkpoint resumes
the same points with the same count times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acq.callbacks.edge import edge_e0, step_weights
from adaptive.agents import SlopeAgent
from adaptive.agents.slope import share
from adaptive.wiring import Guarded

EDGE = 50.0
WINDOWS = [[-40.0, -10.0], [10.0, 40.0]]


def mu(x: float) -> float:
    """A smooth edge at 50 with a sloping background."""
    return 0.01 * x + 1.0 / (1.0 + np.exp(-(x - EDGE)))


def agent(**extra: object) -> SlopeAgent:
    opts: dict[str, object] = {"target_delta": 0.1, "min_step": 0.2, "max_step": 5.0, "budget": 80,
                               "windows": WINDOWS, "dwell_budget": 200.0, **extra}
    return SlopeAgent([[0.0, 100.0]], seed=3, **opts)  # type: ignore[arg-type]


def run(a: SlopeAgent, n: int | None = None) -> tuple[list[float], list[float]]:
    """Ask/tell until the agent stops (or ``n`` points); the points and the count times it asked."""
    xs, dwells = [], []
    while (n is None or len(xs) < n) and len(pts := a.ask(1)):
        xs.append(float(pts[0][0]))
        dwells.append(a.dwell(pts[0]))
        a.tell(pts[0], mu(xs[-1]))
    return xs, dwells


def test_share_sums_to_the_total_never_above_it_with_a_floor() -> None:
    w = np.array([0.0, 0.1, 1.0, 2.0, 5.0, 0.01])
    t = np.array(share(30.0, w))
    assert t.sum() <= 30.0 and t.sum() == pytest.approx(30.0, abs=1e-5)
    assert np.all(t >= 1.0) and t[0] == t[1] == t[5] == 1.0  # small weights keep the floor
    above = t > 1.0
    assert np.allclose(t[above] / w[above], (t[above] / w[above])[0], rtol=1e-5)  # ∝ weight above the floor
    assert share(3.0, [1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="cannot give 4 shares"):
        share(3.0, [1.0, 1.0, 1.0, 1.0])


def test_fill_counts_longer_by_its_weight_within_the_budget() -> None:
    a = agent()
    xs, dwells = run(a)
    assert len(xs) == 80
    assert sum(dwells) <= 200.0 and sum(dwells) == pytest.approx(200.0, abs=1e-3)
    assert a.counting_time() == pytest.approx(sum(dwells))
    end = xs.index(100.0)  # the scan ends at the high bound; the fill follows, in one ascending sweep
    scan, fill, fill_dwell = xs[:end + 1], np.array(xs[end + 1:]), np.array(dwells[end + 1:])
    assert dwells[:end + 1] == [1.0] * len(scan) and np.all(np.diff(fill) > 0)
    assert np.all(fill_dwell >= 1.0) and fill_dwell.max() > 2.0
    # the longest counts go to the points that weigh most in the edge step of the whole design
    edge = edge_e0(xs, [mu(x) for x in xs])
    w = np.abs(step_weights(np.array(xs), edge, pre=(-40.0, -10.0), post=(10.0, 40.0)))[end + 1:]
    long = fill_dwell > 1.0
    assert np.allclose(fill_dwell[long] / w[long], (fill_dwell[long] / w[long])[0], rtol=1e-4)
    assert np.all(w[~long] <= w[long].min() * (1 + 1e-6))


def test_without_a_dwell_budget_every_point_counts_the_base_time_at_the_same_points() -> None:
    xs_dwell, _ = run(agent())
    xs, dwells = run(agent(dwell_budget=None))
    assert dwells == [1.0] * len(xs) and xs == xs_dwell  # the budget changes how long, not where


def test_dwell_budget_is_checked() -> None:
    with pytest.raises(ValueError, match=r"dwell_budget \(50.0\) must be at least budget \(80\)"):
        agent(dwell_budget=50.0)
    with pytest.raises(ValueError, match="dwell_budget needs budget and windows"):
        SlopeAgent([[0.0, 1.0]], target_delta=0.1, min_step=0.1, max_step=0.2, dwell_budget=10.0)


@pytest.mark.parametrize("stop_at", [10, 60])  # before the fill is planned, and inside it
def test_checkpoint_resumes_the_same_points_and_count_times(tmp_path: Path, stop_at: int) -> None:
    whole = run(agent())
    first = agent()
    head = run(first, stop_at)
    first.save(tmp_path / "slope.json")
    resumed = agent()
    resumed.load(tmp_path / "slope.json")
    tail = run(resumed)
    assert (head[0] + tail[0], head[1] + tail[1]) == whole


def test_guarded_passes_the_dwell_on() -> None:
    a = agent()
    g = Guarded(a)
    run(a, 75)
    x = g.ask(1)[0]
    assert g.dwell(x) == a.dwell(x) and g.dwell(x) >= 1.0


def test_with_a_focus_the_scan_counts_the_average_outside_it_and_the_base_time_near_the_edge() -> None:
    a = agent(focus=[-5.0, 5.0])
    xs, dwells = run(a)
    end = xs.index(100.0)
    scan, scan_dwell = np.array(xs[:end + 1]), np.array(dwells[:end + 1])
    near = np.abs(scan - EDGE) <= 5.0
    # the focus follows the edge found so far: the points that reach the rise before it is seen count the average
    assert np.all(scan_dwell[near][2:] == 1.0) and near.sum() >= 5, scan_dwell[near]
    assert set(scan_dwell[~near][4:]) == {200.0 / 80}  # the first 4 points come before there is an edge
    assert sum(dwells) <= 200.0 and sum(dwells) == pytest.approx(200.0, abs=1e-3) and len(xs) == 80
