"""The phase-library scenario: one stored run per spot, the cluster agent steering across runs from
the catalog, phase labels of the whole library recovered (ARI ≥ 0.9 vs the twin's truth); each
criterion can fail; bad fields are named."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score

from adaptive.wiring import observations_from_catalog
from scenarios import scenario as scenarios
from scenarios.experiments.phases import judge, parse, recovered_labels, true_labels
from scenarios.runner import Outcome, run_scenario
from store import Catalog
from tests.conftest import assert_plot, run_ci_variant


@pytest.fixture(scope="module")
def library_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run phase-library --ci`` once, over CA against a real twin subprocess."""
    return run_ci_variant(tmp_path_factory, "phase-library", timeout=500)


def _stored(data: Path) -> tuple[np.ndarray[Any, Any], list[Any], list[str]]:
    return observations_from_catalog(Catalog(data), ["sample_x", "sample_y"], "det", reduce="series",
                                     where=lambda start: start.get("purpose") == "phase library")


def test_phases_are_recovered_from_the_stored_runs(library_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = library_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_plot(done.stdout, data)
    assert "PASS runs_stored" in done.stdout and "PASS ari" in done.stdout
    sc = scenarios.load("phase-library").ci_variant()
    xp = parse(sc)
    xs, ys, uids = _stored(data)
    assert len(uids) == xp.budget and all(len(y) == xp.pattern[2] for y in ys)
    library = xp.library()
    # every run measured a different spot of the library
    spots = {tuple(np.round(x, 6)) for x in xs}
    assert len(spots) == xp.budget and spots <= {tuple(np.round(p, 6)) for p in library}
    truth = true_labels(sc.beamline["physics"], sc.seed, library)
    assert adjusted_rand_score(truth, recovered_labels(xp, sc.seed, xs, ys)) >= 0.9
    # the runs carry the agent's decisions, so that the campaign can be audited
    first = Catalog(data)[uids[0]].metadata["start"]
    assert first["adaptive"]["agent"] == "cluster" and first["campaign"]
    # after the space-filling start, the agent measured where the phase is uncertain: next to boundaries
    grid = truth.reshape(xp.x[2], xp.y[2])
    boundary = np.zeros_like(grid, dtype=bool)
    boundary[:-1] |= grid[:-1] != grid[1:]
    boundary[1:] |= grid[1:] != grid[:-1]
    boundary[:, :-1] |= grid[:, :-1] != grid[:, 1:]
    boundary[:, 1:] |= grid[:, 1:] != grid[:, :-1]
    at = {tuple(np.round(p, 6)): b for p, b in zip(library, boundary.ravel(), strict=True)}
    later = [at[tuple(np.round(x, 6))] for x in xs[8:]]
    assert np.mean(later) > boundary.mean(), (np.mean(later), boundary.mean())


def test_each_criterion_fails_on_a_sabotaged_run(library_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = library_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sc = scenarios.load("phase-library").ci_variant()
    xp = parse(sc)
    xs, ys, uids = _stored(data)
    good = Outcome(uids=tuple(uids), path=data, fit=None,
                   truth={"labels": true_labels(sc.beamline["physics"], sc.seed, xp.library()).tolist()},
                   details={"runs": len(uids), "runs_ok": len(uids), "stored": len(uids),
                            "labels": recovered_labels(xp, sc.seed, xs, ys).tolist()})
    judge(good, sc)
    assert good.ok, good.checks
    rng = np.random.default_rng(0)
    sabotage: dict[str, Callable[[dict[str, Any]], object]] = {
        "ari": lambda d: d.update(labels=rng.permutation(d["labels"]).tolist()),   # labels scrambled
        "ari ": lambda d: d.update(labels=[0] * len(d["labels"])),                   # one phase only
        "runs_stored": lambda d: d.update(stored=d["stored"] - 1),                    # a run not stored
        "runs_stored ": lambda d: d.update(runs_ok=d["runs_ok"] - 1),                 # a run failed
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad.details)
        judge(bad, sc)
        assert not bad.checks[name.strip()], name
        assert not bad.ok


@pytest.mark.parametrize(("patch", "message"), [
    ({"library": {"x": [4, -4, 6], "y": [-4, 4, 6]}}, "experiment.library.x"),
    ({"library": {"x": [-4, 4, 6], "y": [-4, 4, 1]}}, "experiment.library.y"),
    ({"pattern": {"start": 50, "stop": 18, "num": 17, "count_time": 0.2}}, "experiment.pattern.stop"),
    ({"pattern": {"start": 18, "stop": 50, "num": 17, "count_time": 0}}, "experiment.pattern.count_time"),
    ({"budget": 1000}, "experiment.budget"),
    ({"method": "dbscan"}, "experiment.method"),
    ({"stage": ["sample_x"]}, "experiment.stage"),
    ({"phases": 1}, "experiment.phases"),
    ({"colour": "blue"}, "experiment.colour"),
])
def test_bad_fields_are_named_before_anything_starts(tmp_path: Path, patch: dict[str, Any], message: str) -> None:
    raw = yaml.safe_load((scenarios.LIBRARY / "phase-library.yaml").read_text())
    raw["experiment"].update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_scenario(str(path), data_dir=tmp_path / "d")
