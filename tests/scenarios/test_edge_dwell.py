"""Counting time in the edge task: the environment counts each point for the dwell the agent asks
(direct and over CA), the criterion checks the counting time against the 0.5 eV scan's, the scenario
refuses a counting budget below its points, and an evaluation's slope scan keeps to the budget."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest

from acq.loop import call_in_loop
from adaptive.harness import run_episode
from adaptive.harness.tasks import Hartmann6
from scenarios import scenario as scenarios
from scenarios.envs.xafs_edge import XafsEdgeEnv, XafsEdgeFactory, edge_criterion
from scenarios.experiments.xafs import parse


def rows(slope_time: float) -> list[dict[str, Any]]:
    return [{"seed": i, "slope": {"points": 460, "counting_time": slope_time, "e0_error_ev": 0.01, "step_error": 0.001},
             "fixed": {"points": 921, "counting_time": 921.0, "e0_error_ev": 0.02, "step_error": 0.002}}
            for i in range(2)]


def test_criterion_fails_when_the_slope_scan_counts_longer_than_the_half_ev_scan() -> None:
    met = edge_criterion(rows(921.0))
    assert met["met"] is True and met["counting_time_fraction_max"] == 1.0
    assert met["counting_time"] == {"slope": {"median": 921.0, "max": 921.0}, "fixed": {"median": 921.0, "max": 921.0}}
    longer = edge_criterion(rows(921.5))
    assert longer["met"] is False and longer["counting_time_fraction_max"] == pytest.approx(921.5 / 921)


def test_direct_mode_counts_longer_where_told() -> None:
    """μt's noise from the counts falls as 1/dwell: 4× the count time, ¼ the variance."""
    env = XafsEdgeEnv(seed=7, mode="direct", ci=True, target=0.0)
    x = np.array([9100.0])
    var = {d: np.var([env.evaluate(x, d) for _ in range(300)]) for d in (1.0, 4.0)}
    _, expected = env.mean_mu(9100.0)
    assert var[1.0] == pytest.approx(expected, rel=0.3) and var[1.0] / var[4.0] == pytest.approx(4.0, rel=0.35)
    assert env.mean_mu(9100.0, 4.0)[1] == pytest.approx(expected / 4)
    assert env.counting_time(np.array([[9100.0], [9000.0]])) == 4.0 + 1.0  # the last dwell at 9100; 9000 unmeasured
    with pytest.raises(ValueError, match="dwell must be a positive number"):
        env.measure(x, 0.0)


def test_over_ca_the_scaler_counts_for_the_dwell() -> None:
    env = XafsEdgeFactory(mode="ca", ci=True, target=0.0)(2)
    try:
        counts = {}
        for dwell in (1.0, 3.0):
            env.measure(np.array([9000.0]), dwell)
            det = env._session.devices[env.xp.detector]
            assert call_in_loop(det.preset_time.get_value()) == pytest.approx(0.1 * dwell)
            assert call_in_loop(det.elapsed_time.get_value()) == pytest.approx(0.1 * dwell, rel=0.02)
            counts[dwell] = float(call_in_loop(getattr(det, env.xp.i0).get_value()))
        assert counts[3.0] / counts[1.0] == pytest.approx(3.0, rel=0.05)  # I0 counts: ring current ±0.5 %
    finally:
        env.close()


def test_tasks_without_a_count_time_refuse_a_dwell() -> None:
    task = Hartmann6()
    assert task.measure(np.full(6, 0.5)) == task.evaluate(np.full(6, 0.5))
    with pytest.raises(ValueError, match="no count time"):
        task.measure(np.full(6, 0.5), 2.0)


def test_scenario_counting_budget_is_checked() -> None:
    sc = scenarios.load("xafs-edge")
    assert parse(sc).dwell_budget == 921 and parse(sc.ci_variant()).dwell_budget == 460
    bad = copy.deepcopy(sc.experiment)
    bad["search"]["dwell_budget"] = 400
    with pytest.raises(ValueError, match=r"experiment.search.dwell_budget \(400 count times\) must not be below "
                                         r"max_points \(460\)"):
        parse(dataclasses.replace(sc, experiment=bad))


def test_evaluation_slope_scan_counts_the_half_ev_scans_time_with_half_its_points() -> None:
    res = run_episode("slope", XafsEdgeFactory(mode="direct", target=0.0), 4)
    assert res.error is None, res.error
    assert res.metrics["points_fraction"] <= 0.5
    assert 0.99 < res.metrics["counting_time_fraction"] <= 1.0, res.metrics
    assert res.metrics["step_error"] < 0.01 and res.metrics["e0_error_ev"] < 0.1
