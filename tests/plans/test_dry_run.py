"""The dry run: a plan walked without hardware."""

from __future__ import annotations

import pytest

from acq import plans
from acq.devices import LimitError
from tests.plans.conftest import Rig


def test_dry_run_reports_points_positions_and_duration(rig: Rig) -> None:
    snapshot = plans.snapshot_of({"m1": rig.m1, "m2": rig.m2, "det": rig.det})
    assert snapshot["m1"] == {"position": 0.0, "velocity": 2.0, "acceleration_time": 0.1}
    assert snapshot["det"] == {"count_time": 0.5}
    report = plans.dry_run(plans.scan([rig.det], rig.m1, 0, 4, 5), snapshot)
    assert report.num_points == 5 and report.streams == {"primary": 5}
    assert report.positions == [{"m1": float(x)} for x in range(5)]
    # four 1 mm moves at 2 mm/s with 0.1 s acceleration, five 0.5 s counts
    assert report.duration == pytest.approx(4 * 0.6 + 5 * 0.5)
    assert report.start[0]["plan_name"] == "scan" and report.warnings == []
    assert [m.command for m in report.messages[:3]] == ["stage", "stage", "open_run"]
    assert rig.m1.position == 0.0 and rig.det.triggers == 0, "nothing moved, nothing counted"


def test_moves_in_one_step_overlap_and_the_slowest_counts(rig: Rig) -> None:
    snapshot = {"m1": {"position": 0.0, "velocity": 2.0}, "m2": {"position": 0.0, "velocity": 1.0},
                "det": {"count_time": 0.0}}
    report = plans.dry_run(lambda: plans.scan([rig.det], rig.m1, 0, 2, rig.m2, 0, 2, num=2), snapshot)
    assert report.duration == pytest.approx(2.0), "m2 takes 2 s while m1 takes 1 s at the same time"
    assert report.positions == [{"m1": 0.0, "m2": 0.0}, {"m1": 2.0, "m2": 2.0}]


def test_relative_plans_start_from_the_snapshot(rig: Rig) -> None:
    report = plans.dry_run(plans.rel_grid_scan([rig.det], rig.m1, -1, 1, 3, rig.m2, 0, 1, 2),
                           {"m1": {"position": 5.0}, "m2": {"position": 1.0}})
    assert report.num_points == 6
    assert report.positions[0] == {"m1": 4.0, "m2": 1.0} and report.positions[-1] == {"m1": 6.0, "m2": 2.0}
    assert report.messages[-2].args == (5.0,) or report.messages[-3].args == (5.0,), "it moves home at the end"
    assert any("no velocity" in w for w in report.warnings) and any("count_time" in w for w in report.warnings)


def test_dry_run_raises_the_plans_own_errors(rig: Rig) -> None:
    with pytest.raises(LimitError, match=r"m1: position 10\.5 is outside"):
        plans.dry_run(plans.rel_scan([rig.det], rig.m1, 0, 1, 3), {"m1": {"position": 9.5}})


def test_sleeps_and_count_delays_add_up(rig: Rig) -> None:
    report = plans.dry_run(plans.count([rig.det], 3, delay=[1.0, 2.0]), {"det": {"count_time": 0.25}})
    assert report.duration == pytest.approx(3.0 + 3 * 0.25)


def test_endless_plans_are_cut_off(rig: Rig) -> None:
    with pytest.raises(RuntimeError, match="more than 500 messages"):
        plans.dry_run(plans.count([rig.det], num=None), max_messages=500)
