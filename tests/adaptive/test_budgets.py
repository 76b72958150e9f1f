"""Per-agent budgets and stopping at the target in the evaluation harness and ``beamtwin evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from adaptive.harness import evaluate, run_episode, task_factory
from adaptive.harness.report import spread
from adaptive.harness.tasks import Hartmann6
from scenarios.cli import main
from scenarios.commands.evaluate import parse_budgets


def test_an_episode_stops_where_it_reaches_the_target_when_asked() -> None:
    easy = run_episode("sobol", lambda seed: Hartmann6(seed=seed, target=3.0), 3, budget=6, stop_at_target=True)
    assert easy.error is None and easy.evals_to_target == 1 and easy.n_evals == 1 and len(easy.latencies) == 1
    hard = run_episode("sobol", lambda seed: Hartmann6(seed=seed, target=1e-9), 3, budget=6, stop_at_target=True)
    assert hard.evals_to_target is None and hard.n_evals == 6  # never reached: the whole budget
    full = run_episode("sobol", lambda seed: Hartmann6(seed=seed, target=3.0), 3, budget=6)
    assert full.n_evals == 6 and full.evals_to_target == easy.evals_to_target


def test_evaluate_gives_an_agent_its_own_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", "--agent", "sobol", "--agent", "random", "--scenario", "hartmann6", "--episodes", "2",
                 "--budget", "4", "--agent-budget", "random=9", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    agents = json.loads((out / "summary.json").read_text())["agents"]
    assert agents["sobol"]["evaluations"]["median"] == 4 and agents["random"]["evaluations"]["median"] == 9
    assert agents["random"]["suggestion_latency_s"]["n"] == 18


def test_bad_budgets_are_named_before_anything_runs() -> None:
    assert parse_budgets(["random=400", "coordinate=12"], ["gp-bo", "random", "coordinate"]) == {
        "random": 400, "coordinate": 12}
    for item, message in (("random", "AGENT=N"), ("random=0", "positive"), ("random=x", "positive"),
                          ("sobol=5", "'sobol' is not evaluated")):
        with pytest.raises(ValueError, match=message):
            parse_budgets([item], ["gp-bo", "random"])
    factory = task_factory("hartmann6")
    with pytest.raises(ValueError, match=r"\['gp-bo'\] that are not evaluated"):
        evaluate(["random"], factory, episodes=1, budgets={"gp-bo": 5})
    with pytest.raises(ValueError, match="positive integers"):
        evaluate(["random"], factory, episodes=1, budgets={"random": 0})


def test_metric_spread_has_the_rms() -> None:
    s = spread([3.0, -4.0])
    assert s["rms"] == pytest.approx(math.sqrt(12.5)) and s["median"] == pytest.approx(-0.5)
    assert spread([1.0, math.inf])["rms"] is None


def test_the_report_keeps_the_whole_message_of_a_failed_episode(tmp_path: Path) -> None:
    from adaptive.harness.report import write_report

    failed = run_episode("slope", task_factory("hartmann6"), 0, budget=3)
    ok = run_episode("sobol", task_factory("hartmann6"), 0, budget=3)
    summary = write_report([failed, ok], tmp_path)
    assert summary["agents"]["slope"]["failed_episodes"][0]["seed"] == 0
    text = (tmp_path / "failures.txt").read_text()
    assert text.startswith("== slope seed 0\n") and "Traceback" in text and "sobol" not in text
    write_report([ok], tmp_path / "clean")
    assert not (tmp_path / "clean" / "failures.txt").exists()


def test_evaluate_passes_an_agent_its_own_options(tmp_path: Path) -> None:
    factory = task_factory("hartmann6")
    with pytest.raises(ValueError, match=r"agent_options name agent\(s\) \['gp-bo'\] that are not evaluated"):
        evaluate(["random"], factory, episodes=1, agent_options={"gp-bo": {"restart_after": 0}})
    summary = evaluate(["random", "sobol"], factory, episodes=1, budget=3, out=tmp_path,
                       agent_options={"random": {"acquisition": "ei"}})  # random takes no acquisition
    assert "acquisition" in summary["agents"]["random"]["failed_episodes"][0]["error"]
    assert not summary["agents"]["sobol"]["failed_episodes"]  # the options went to the agent named only
