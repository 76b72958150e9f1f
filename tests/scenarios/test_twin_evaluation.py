"""``beamtwin evaluate --scenario alignment|sample-map``: the twin-backed factories in the harness."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from adaptive.harness import run_episode
from scenarios.adaptive_tasks import scenario_factory
from scenarios.cli import main
from scenarios.envs.alignment import AlignmentEnv
from scenarios.envs.sample_map import SampleMapEnv, SampleMapFactory


def test_factories_are_picklable_and_full_stack_by_default() -> None:
    for name, cls in (("alignment", AlignmentEnv), ("sample-map", SampleMapEnv)):
        factory = scenario_factory(name)
        assert factory.env is cls and factory.mode == "ca"
        assert scenario_factory(name, direct=True).mode == "direct"
        assert pickle.loads(pickle.dumps(factory)) == factory


def test_evaluate_alignment_in_direct_mode_writes_the_report(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", "--agent", "coordinate", "--agent", "random", "--scenario", "alignment", "--direct",
                 "--episodes", "2", "--workers", "1", "--budget", "30", "--first-seed", "40", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "alignment" and summary["target"] == pytest.approx(0.05)
    assert set(summary["agents"]) == {"coordinate", "random"}
    for stats in summary["agents"].values():
        assert 0.0 <= stats["final_regret"]["median"] <= 1.0
        assert stats["evaluations"]["median"] == 30


def test_sample_map_episode_traces_the_map_error_against_the_raster_target() -> None:
    result = run_episode("sobol", SampleMapFactory(mode="direct"), 41, budget=50)
    assert result.error is None, result.error
    assert result.task == "sample-map" and result.reference_points == 900
    ns = [n for n, _ in result.trace]
    errors = [e for _, e in result.trace]
    assert ns == [25, 50] and errors[1] < errors[0]
    assert errors[-1] > result.target > 0  # 50 space-filling points do not reach a 30×30 raster
