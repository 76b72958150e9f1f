"""Issue 7's edge criterion (``scenarios.envs.xafs_edge.edge_criterion``): RMS over seeds, E0 and step
judged separately, ≤ 50 % of the 0.5 eV scan's points; and the environment's signed errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scenarios.cli import main
from scenarios.envs.xafs_edge import XafsEdgeEnv, edge_criterion, fixed_step_points


def rows(slope: list[tuple[int, float, float]], fixed: list[tuple[float, float]]) -> list[dict[str, object]]:
    return [{"seed": i, "slope": {"points": n, "e0_error_ev": e0, "step_error": st},
             "fixed": {"points": 921, "e0_error_ev": fe0, "step_error": fst}}
            for i, ((n, e0, st), (fe0, fst)) in enumerate(zip(slope, fixed, strict=True))]


def test_met_on_rms_over_seeds_not_on_each_seed() -> None:
    # the slope scan loses seed 0 on both quantities but wins on the RMS over the seeds
    c = edge_criterion(rows([(300, 0.03, -0.010), (280, 0.01, 0.002)], [(0.02, 0.008), (-0.04, 0.009)]))
    assert c["e0_rms_ev"]["slope"] == pytest.approx(math.sqrt((0.03**2 + 0.01**2) / 2))
    assert c["e0_rms_ev"]["fixed"] == pytest.approx(math.sqrt((0.02**2 + 0.04**2) / 2))
    assert c["step_bias"]["slope"] == pytest.approx(-0.004) and c["e0_median_abs_ev"]["fixed"] == pytest.approx(0.03)
    assert c["points_fraction_max"] == pytest.approx(300 / 921) and c["met"] is True


@pytest.mark.parametrize("slope, why", [
    ([(300, 0.05, 0.001), (280, 0.05, 0.001)], "E0 less precise"),
    ([(300, 0.001, 0.02), (280, 0.001, 0.02)], "step less precise"),
    ([(470, 0.001, 0.001), (280, 0.001, 0.001)], "more than half the points"),
    ([(300, math.nan, 0.001), (280, 0.001, 0.001)], "an undetermined E0"),
])
def test_not_met(slope: list[tuple[int, float, float]], why: str) -> None:
    assert edge_criterion(rows(slope, [(0.02, 0.008), (-0.04, 0.009)]))["met"] is False, why


def test_environment_errors_are_signed_against_the_twins_truth() -> None:
    env = XafsEdgeEnv(seed=3, mode="direct", ci=True, target=0.0)  # target given: no reference scan
    assert env.reference is None and env.metrics(np.zeros((0, 1)), np.zeros(0))["e0_error_ev"] == math.inf
    x = fixed_step_points(env.xp, 1.0)[:, None]
    y = np.array([env.evaluate(p) for p in x])
    e0, step = env.edge_errors(x, y)
    assert 0 < abs(e0) < 0.3 and 0 < abs(step) < 0.05
    assert env.error(x, y) == abs(e0) and env.edge_step_error(x, y) == abs(step)
    # without the post-edge window the step is undetermined, E0 is not
    below = x[:, 0] < float(env.truth["e0_ev"]) + 20
    e0_short, step_short = env.edge_errors(x[below], y[below])
    assert math.isfinite(e0_short) and math.isnan(step_short) and env.edge_step_error(x[below], y[below]) == math.inf


def test_evaluate_summary_puts_both_designs_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", "--agent", "slope", "--scenario", "xafs-edge", "--direct", "--episodes", "1",
                 "--first-seed", "4", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    metrics = json.loads((out / "summary.json").read_text())["agents"]["slope"]["metrics"]
    for key in ("e0_error_ev", "step_error", "reference_e0_error_ev", "reference_step_error"):
        assert metrics[key]["rms"] == pytest.approx(metrics[key]["median"]), key  # one episode
        assert 0 < metrics[key]["rms"] < 0.1, key
    assert metrics["points_fraction"]["median"] <= 0.5
    assert "reference_step_error rms" in printed
