"""The fly-scan scenario: ``beamtwin run fly-scan --ci`` over CA against a real twin subprocess; the
run references every camera frame in HDF5; each success criterion fails on a sabotaged run."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenarios import scenario as scenarios
from scenarios.experiments.fly import check_experiment, fly_truth, judge_fly, measure
from scenarios.runner import Outcome
from store import Catalog
from tests.conftest import assert_plot, run_ci_variant

CHECKS = ("stored", "frames_equal_triggers", "positions_on_grid", "frames_at_positions", "spot_centroid")


@pytest.fixture(scope="module")
def flown(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run fly-scan --ci`` once."""
    return run_ci_variant(tmp_path_factory, "fly-scan", timeout=180)


def test_fly_scan_stores_triggers_and_references_every_frame(
        flown: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = flown
    assert done.returncode == 0, done.stdout + done.stderr
    assert_plot(done.stdout, data)
    for check in CHECKS:
        assert f"PASS {check}" in done.stdout
    sc = scenarios.load("fly-scan").ci_variant()
    exp = sc.experiment
    run = Catalog(data)[-1]
    start = run.metadata["start"]
    assert start["scenario"] == "fly-scan" and start["plan_name"] == "fly_scan" and start["simulated"] is True
    assert run.metadata["stop"]["exit_status"] == "success"
    ds = run.stream("primary")
    np.testing.assert_allclose(ds["sample_x"].values, np.linspace(exp["start"], exp["stop"], exp["num"]), atol=1e-6)
    frames = ds["cam_image"]
    assert frames.shape == (exp["num"], 48, 64) and type(frames.data).__module__.startswith("dask")
    resources = [d for n, d in run.documents() if n == "stream_resource"]
    assert len(resources) == 1 and resources[0]["uri"].startswith(f"file://localhost{(data / 'frames').resolve()}/")
    assert int(frames[3].values.max()) > 100, "a frame read back from its HDF5 file holds the beam spot"


def _outcome(data: Path) -> tuple[Outcome, scenarios.Scenario]:
    """The stored run, read back through the catalog, as the judge sees it."""
    sc = scenarios.load("fly-scan").ci_variant()
    exp = sc.experiment
    run = Catalog(data)[-1]
    grid = [float(v) for v in np.linspace(exp["start"], exp["stop"], exp["num"])]
    truth = fly_truth(sc, sc.seed, "sample_x", {"sample_y": 0.0}, grid, "cam")
    outcome = Outcome(uids=(run.uid,), path=run.path, fit=None, truth=truth, details={"planned_positions": grid})
    outcome.details.update(measure(run.stream("primary"), "sample_x", "cam_image", truth["pixel"]))
    return outcome, sc


def test_each_criterion_fails_on_a_sabotaged_run(flown: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = flown
    assert done.returncode == 0, done.stdout + done.stderr
    good, sc = _outcome(data)
    judge_fly(good, sc)
    assert good.ok and set(good.checks) == set(CHECKS), good.checks
    step = good.details["planned_positions"][1] - good.details["planned_positions"][0]
    pixel = good.truth["pixel"]

    def late(d: dict[str, Any]) -> None:  # every frame taken one trigger late
        d["brightness"] = d["brightness"][1:] + d["brightness"][-1:]

    sabotage: dict[str, Callable[[dict[str, Any]], object]] = {
        "frames_equal_triggers": lambda d: d.update(frames=d["frames"] - 1),           # a frame lost
        "frames_equal_triggers ": lambda d: d.update(triggers=d["triggers"] + 1),      # a trigger without frame
        "positions_on_grid": lambda d: d["positions"].__setitem__(5, d["positions"][5] + step / 2),
        "positions_on_grid ": lambda d: d["positions"].pop(),
        "frames_at_positions": late,
        "frames_at_positions ": lambda d: d.update(brightness=[float(np.mean(d["brightness"]))] * len(d["brightness"])),
        "frames_at_positions  ": lambda d: d["brightness"].pop(),
        "spot_centroid": lambda d: d.update(centroid=[d["centroid"][0] + 2 * pixel, d["centroid"][1]]),
        "spot_centroid ": lambda d: d.update(centroid=[d["centroid"][0], d["centroid"][1] - 2 * pixel]),
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad.details)
        judge_fly(bad, sc)
        assert not bad.checks[name.strip()], name
        assert not bad.ok
    bad = copy.deepcopy(good)
    bad.path = data / "missing.nc"
    judge_fly(bad, sc)
    assert not bad.checks["stored"]


def test_without_truth_only_what_the_run_shows_is_judged(flown: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, data = flown
    outcome, sc = _outcome(data)
    outcome.truth = {}  # the real beamline: no twin to compare with
    judge_fly(outcome, sc)
    assert set(outcome.checks) == {"stored", "frames_equal_triggers", "positions_on_grid"} and outcome.ok


@pytest.mark.parametrize(("patch", "message"), [
    ({"trigger_box": None}, "experiment.trigger_box is missing"),
    ({"num": 1}, r"experiment.num must be an integer ≥ 2"),
    ({"velocity": "fast"}, "experiment.velocity must be a number"),
    ({"detectors": "cam"}, "experiment.detectors must list the cameras"),
    ({"binning": 2}, r"unknown field\(s\) \['binning'\]"),
])
def test_bad_experiment_fields_are_named(patch: dict[str, Any], message: str) -> None:
    sc = scenarios.load("fly-scan")
    exp = {**sc.experiment, **patch}
    sc.experiment = {k: v for k, v in exp.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        check_experiment(sc)


def test_unknown_criteria_are_named() -> None:
    sc = scenarios.load("fly-scan")
    sc.success = {**sc.success, "frame_shift": 1}
    with pytest.raises(ValueError, match=r"unknown criteria \['frame_shift'\]"):
        check_experiment(sc)
