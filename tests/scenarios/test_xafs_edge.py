"""The xafs-edge scenario: an adaptive edge search finds E0 and the edge step of the twin's Cu K
edge, an XAFS region scan follows, exported as XDI; each criterion can fail; bad fields are named."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from scenarios import scenario as scenarios
from scenarios.experiments.xafs import judge, measure_edge, parse
from scenarios.runner import Outcome, run_scenario
from store import Catalog
from tests.conftest import run_ci_variant
from tests.store.xdi_spec import problems
from twin.physics import BeamlineModel


@pytest.fixture(scope="module")
def edge_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run xafs-edge --ci`` once, over CA against a real twin subprocess."""
    return run_ci_variant(tmp_path_factory, "xafs-edge", timeout=400)


def _outcome(data: Path) -> tuple[Outcome, scenarios.Scenario]:
    """The stored runs, read back through the catalog and reduced again, as the judge sees them."""
    sc = scenarios.load("xafs-edge").ci_variant()
    xp = parse(sc)
    catalog = Catalog(data)
    search, regions = catalog[1], catalog[2]
    ds = search.stream("primary")
    mu = np.log(ds["det_I0"].values / ds["det_It"].values)
    e0, step = measure_edge(ds["energy"].values, mu, xp)
    truth = BeamlineModel(sc.beamline["physics"], seed=sc.seed).truth()
    (xdi,) = data.glob("*.xdi")
    outcome = Outcome(uids=(search.uid, regions.uid), path=regions.path, fit=None, truth=truth,
                      details={"e0": e0, "edge_step": step, "xdi": str(xdi),
                               "stored_points": int(regions.stream("primary").sizes["time"]),
                               "planned_points": regions.metadata["start"]["num_points"]})
    return outcome, sc


def test_the_edge_is_found_adaptively_and_the_region_scan_exported(
        edge_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = edge_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for check in ("stored", "regions_complete", "xdi", "e0", "edge_step"):
        assert f"PASS {check}" in done.stdout
    sc = scenarios.load("xafs-edge").ci_variant()
    xp = parse(sc)
    catalog = Catalog(data)
    search, regions = catalog[1], catalog[2]
    assert search.metadata["start"]["plan_name"] == "ask_tell_scan"
    energy = np.sort(search.stream("primary")["energy"].values)
    steps = np.diff(energy)
    # per-event steps: fine through the edge, coarse where μ is flat; fewer points than a 0.5 eV scan's half
    assert steps.min() < 0.5 < 3.0 < steps.max()
    assert len(energy) <= xp.reference_points // 2
    near = np.abs(energy - BeamlineModel(sc.beamline["physics"], seed=sc.seed).truth()["e0_ev"]) < 2.0
    assert near.sum() >= 6, "the agent must crowd its points at the edge"
    # each point counted as long as the agent asked (the scaler's elapsed time, stored per event): the window
    # fill longer than the base time, the whole search within the scenario's counting budget
    counted = search.stream("primary")["det_elapsed_time"].values
    assert xp.dwell_budget is not None and len(energy) == xp.max_points
    assert counted.min() == pytest.approx(xp.search_count_time, rel=0.01) and counted.max() > 1.5 * xp.search_count_time
    assert xp.max_points * xp.search_count_time < counted.sum() <= xp.dwell_budget * xp.search_count_time + 1e-6
    assert "counting" in done.stdout
    start = regions.metadata["start"]
    assert start["plan_name"] == "xafs_scan" and abs(start["e0"] - search_e0(data)) < 1e-6
    assert regions.metadata["stop"]["exit_status"] == "success"
    (xdi,) = data.glob("*.xdi")
    assert problems(xdi) == []
    text = xdi.read_text()
    assert "# Element.symbol: Cu" in text and "# Column.3: i0" in text and "# Column.4: itrans" in text
    assert sum(1 for ln in text.splitlines() if ln and not ln.startswith("#")) == start["num_points"]


def search_e0(data: Path) -> float:
    """E0 as the experiment found it (the region scan's start document)."""
    return float(Catalog(data)[2].metadata["start"]["e0"])


def test_each_criterion_fails_on_a_sabotaged_run(edge_run: tuple[subprocess.CompletedProcess[str], Path],
                                                  tmp_path: Path) -> None:
    done, data = edge_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    good, sc = _outcome(data)
    assert abs(good.details["e0"] - search_e0(data)) < 1e-9  # the same reduction as the live run
    judge(good, sc)
    assert good.ok, good.checks

    broken_xdi = tmp_path / "broken.xdi"
    broken_xdi.write_text(Path(good.details["xdi"]).read_text().replace("# Element.edge: K\n", ""))
    sabotage: dict[str, Callable[[Outcome], object]] = {
        "e0": lambda o: o.details.update(e0=o.details["e0"] + 0.5),                  # the edge missed by 0.5 eV
        "edge_step": lambda o: o.details.update(edge_step=o.details["edge_step"] * 1.08),
        "regions_complete": lambda o: o.details.update(stored_points=o.details["stored_points"] - 1),
        "xdi": lambda o: o.details.update(xdi=str(broken_xdi)),
        "stored": lambda o: setattr(o, "path", tmp_path / "gone.nc"),
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad)
        judge(bad, sc)
        assert not bad.checks[name], name
        assert not bad.ok


@pytest.mark.parametrize(("patch", "message"), [
    ({"search": {"range": [9000, 8900], "count_time": 0.1, "target_delta": 0.02, "min_step": 0.2, "max_step": 5,
                 "max_points": 10}}, "experiment.search.range"),
    ({"search": {"range": [8900, 9000], "count_time": 0.1, "target_delta": 0.02, "min_step": 2, "max_step": 1,
                 "max_points": 10}}, "experiment.search.max_step"),
    ({"search": {"range": [8900, 9000], "count_time": 0.1, "target_delta": 0.02, "min_step": 0.2, "max_step": 5}},
     "experiment.search.max_points"),
    ({"search": {"range": [8900, 9000], "count_time": 0.1, "target_delta": 0.02, "min_step": 0.2, "max_step": 5,
                 "max_points": 10, "focus": [2, 10]}}, "experiment.search.focus"),
    ({"regions": [[-20, 30, 0.5, 0.1, "eV"], [2.0, 1.0, 0.05, 0.1, "k"]]}, "experiment.regions[1]"),
    ({"regions": [[-20, 30, 0.5, 0.1, "furlong"]]}, "experiment.regions[0]"),
    ({"mono": {"bragg": "dcm_theta", "d_spacing": -1}}, "experiment.mono.d_spacing"),
    ({"mono": {"bragg": "det", "d_spacing": 3.1}}, "experiment.mono.bragg"),
    ({"windows": {"pre": [-30, -150]}}, "experiment.windows.pre"),
    ({"serach": {}}, "experiment.serach"),
    ({"i0": ""}, "experiment.i0"),
])
def test_bad_fields_are_named_before_anything_starts(tmp_path: Path, patch: dict[str, Any], message: str) -> None:
    raw = yaml.safe_load((scenarios.LIBRARY / "xafs-edge.yaml").read_text())
    raw["experiment"].update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_scenario(str(path), data_dir=tmp_path / "d")
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_bad_success_field_is_named(tmp_path: Path) -> None:
    sc = scenarios.load("xafs-edge")
    sc.success = {"e0_tolerance_ev": "tight"}
    out = Outcome(uids=(), path=None, fit=None, truth={"e0_ev": 1.0, "edge_step": 1.0}, details={"e0": 1.0})
    with pytest.raises(ValueError, match=r"success\.e0_tolerance_ev"):
        judge(out, sc)
