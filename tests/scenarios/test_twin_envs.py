"""The twin-backed evaluation factories of xafs-edge and phase-library: direct mode on the physics
model, full-stack mode over CA against a real twin subprocess, and ``beamtwin evaluate`` on them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from adaptive.harness import run_episode
from scenarios.adaptive_tasks import scenario_factory
from scenarios.cli import main
from scenarios.envs.phase_library import PhaseLibraryEnv, PhaseLibraryFactory
from scenarios.envs.xafs_edge import XafsEdgeEnv, XafsEdgeFactory


def test_factories_are_picklable_and_chosen_by_name() -> None:
    for name, cls in (("xafs-edge", XafsEdgeEnv), ("phase-library", PhaseLibraryEnv)):
        factory = scenario_factory(name, direct=True)
        assert factory.env is cls and factory.mode == "direct"
        assert pickle.loads(pickle.dumps(factory)) == factory
        assert scenario_factory(name).mode == "ca"


def test_slope_agent_on_the_twins_edge_in_direct_mode() -> None:
    res = run_episode("slope", XafsEdgeFactory(mode="direct", ci=True), 1)
    assert res.error is None, res.error
    assert res.reference_points == 921 and res.n_evals <= res.reference_points // 2
    # E0 as precise as the 0.5 eV scan's on the same twin, within a fifth of the motor's 0.07 eV step
    assert res.final_error <= res.target + 0.015 and res.final_error < 0.1, (res.final_error, res.target)
    # both designs side by side in the metrics: the slope scan's errors and the 0.5 eV scan's on this twin
    m = res.metrics
    assert m["e0_error_ev"] == pytest.approx(res.final_error) and m["reference_e0_error_ev"] == res.target
    assert m["points_fraction"] == pytest.approx(res.n_evals / 921)
    assert 0 < m["step_error"] < 0.05 and 0 < m["reference_step_error"] < 0.05


def test_cluster_agent_on_the_twins_library_in_direct_mode() -> None:
    res = run_episode("cluster", PhaseLibraryFactory(mode="direct", ci=True), 0)
    assert res.error is None, res.error
    assert res.evals_to_target is not None and res.final_error <= 0.1  # ARI ≥ 0.9


def test_full_stack_measures_what_the_physics_model_does() -> None:
    ca, direct = XafsEdgeFactory(mode="ca", ci=True)(2), XafsEdgeFactory(mode="direct", ci=True)(2)
    try:
        for energy in (8900.0, 9100.0):
            x = np.array([energy])
            assert ca.evaluate(x) == pytest.approx(direct.evaluate(x), abs=0.01)  # μt; noise ~0.002
        assert ca._session.twin is not None
        # the errors take the mono's readbacks (the Bragg motor's steps), not the energies asked
        assert set(ca.readback) == {8900.0, 9100.0} and direct.readback == {}
        assert all(0 < abs(ca.readback[e] - e) < 0.1 for e in ca.readback), ca.readback
    finally:
        ca.close()
    assert ca._session.twin is None
    ca_lib, direct_lib = PhaseLibraryFactory(mode="ca", ci=True)(2), PhaseLibraryFactory(mode="direct", ci=True)(2)
    try:
        spot = ca_lib.library[7]
        a, b = ca_lib.evaluate(spot), direct_lib.evaluate(spot)
        assert len(a) == len(b) == ca_lib.xp.pattern[2]
        assert np.corrcoef(a, b)[0, 1] > 0.95 and a.sum() == pytest.approx(b.sum(), rel=0.1)
    finally:
        ca_lib.close()


def test_evaluate_command_in_direct_mode_writes_the_report(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", "--agent", "cluster", "--scenario", "phase-library", "--direct", "--episodes", "1",
                 "--budget", "10", "--out", str(out)])
    assert code == 0, capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    stats = summary["agents"]["cluster"]
    assert summary["scenario"] == "phase-library" and stats["evaluations"]["median"] == 10
    assert stats["failed_episodes"] == [] and stats["suggestion_latency_s"]["n"] == 10
    assert 0 < stats["final_regret"]["median"] <= 1  # 1 − ARI after 10 of the 100 spots
