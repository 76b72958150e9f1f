"""The evaluation harness and ``beamtwin evaluate``: episodes on dask, the report's files and shape."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from adaptive.harness import evaluate, run_episode, task_factory
from adaptive.harness.functions import HARTMANN6_ARGMIN, HARTMANN6_MIN, hartmann6
from adaptive.harness.report import quartiles
from adaptive.harness.tasks import Hartmann6
from scenarios.cli import main


def test_hartmann6_is_the_published_function() -> None:
    assert abs(float(hartmann6(HARTMANN6_ARGMIN)[0]) - HARTMANN6_MIN) < 1e-4
    assert float(hartmann6(np.zeros(6))[0]) > -0.1
    assert Hartmann6().error(np.zeros((1, 6)), np.array([HARTMANN6_MIN + 0.05])) == pytest.approx(0.05)


def test_episode_traces_the_error_and_evaluations_to_target() -> None:
    res = run_episode("sobol", lambda seed: Hartmann6(seed=seed, target=3.0), 3, budget=5)  # reached at once
    assert res.error is None and res.n_evals == 5 and len(res.latencies) == 5
    assert res.evals_to_target == 1
    errors = [e for _, e in res.trace]
    assert errors == sorted(errors, reverse=True), "simple regret never increases"


def test_an_episode_whose_agent_fails_says_why() -> None:
    res = run_episode("slope", task_factory("hartmann6"), 0, budget=3)
    assert res.error is not None and "missing 3 required keyword-only arguments" in res.error


def test_quartiles_with_unreached_episodes() -> None:
    assert quartiles([10, 20, 30, float("inf")]) == {"median": 25.0, "q1": 17.5, "q3": None}
    assert quartiles([10, float("inf"), float("inf")])["median"] is None


def test_evaluate_command_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", "--agent", "sobol", "--agent", "random", "--scenario", "hartmann6", "--episodes", "3",
                 "--workers", "2", "--budget", "12", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["agents"]) == {"sobol", "random"}
    for stats in summary["agents"].values():
        assert set(stats["evals_to_target"]) >= {"median", "q1", "q3"}
        assert set(stats["final_regret"]) >= {"median", "q1", "q3"}
        assert stats["suggestion_latency_s"]["median"] > 0 and stats["suggestion_latency_s"]["n"] == 36
        assert stats["final_regret"]["median"] > 0.1  # 12 space-filling points do not find the optimum
    with open(out / "episodes.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["agent"], r["seed"]) for r in rows) == sorted(
        (a, str(s)) for a in ("sobol", "random") for s in range(3))
    with open(out / "traces.csv") as f:
        assert sum(1 for _ in csv.DictReader(f)) == 2 * 3 * 12
    for png in ("error_vs_evaluations.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the episodes are seeded: the same command gives the same regrets
    by_seed = {int(r["seed"]): float(r["final_error"]) for r in rows if r["agent"] == "sobol"}
    assert by_seed == {s: run_episode("sobol", task_factory("hartmann6"), s, budget=12).final_error for s in range(3)}


def test_evaluate_rejects_bad_input_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--agent", "gp-bo", "--scenario", "nowhere", "--episodes", "1", "--out", "x"]) == 2
    assert "unknown evaluation scenario 'nowhere'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--agent", "magic", "--scenario", "hartmann6"])


def test_evaluate_on_an_existing_scheduler() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                      protocol="tcp", host="127.0.0.1") as cluster:
        summary = evaluate(["random"], task_factory("hartmann6"), episodes=2, scheduler=cluster.scheduler_address,
                           budget=5)
    assert summary["scheduler"] == cluster.scheduler_address
    assert summary["agents"]["random"]["evals_to_target"]["episodes"] == 2
    assert summary["agents"]["random"]["suggestion_latency_s"]["n"] == 10


def test_the_command_line_knows_every_agent() -> None:
    from adaptive.agents import AGENTS
    from scenarios.commands.evaluate import AGENT_NAMES

    assert AGENT_NAMES == list(AGENTS) == ["gp-bo", "gp-map", "slope", "cluster", "grid", "random", "sobol",
                                          "coordinate"]


def test_gp_bo_finds_the_global_hartmann6_well_on_a_held_out_seed() -> None:
    """Held-out seed 106: with the task's lengthscale cap (0.7) GP-BO reaches regret < 0.1 in 26
    evaluations; with the GP's general cap (2) it stays in the −3.20 well all 60 (the cap's reason)."""
    res = run_episode("gp-bo", task_factory("hartmann6"), 106, budget=40)
    assert res.error is None and res.evals_to_target is not None and res.evals_to_target <= 40, res.final_error
