"""The sample-map scenario: GP mapping per event over CA with a camera frame at every point, the
map judged against the twin's noise-free map; each criterion can fail on a sabotaged run."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from scenarios import scenario as scenarios
from scenarios.envs.sample_map import SampleMapEnv, SampleMapFactory, grid_over
from scenarios.envs.spec import parse_campaign
from scenarios.experiments.map import judge_map
from scenarios.runner import Outcome
from store import Catalog
from tests.conftest import assert_plot, run_ci_variant


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run sample-map --ci`` once, over CA against a real twin subprocess."""
    return run_ci_variant(tmp_path_factory, "sample-map", timeout=240)


def test_ci_variant_maps_the_sample_and_stores_a_frame_per_point(
        mapped: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = mapped
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_plot(done.stdout, data)
    for check in ("stored", "within_budget", "frames", "map_error"):
        assert f"PASS {check}" in done.stdout
    sc = scenarios.load("sample-map").ci_variant()
    run = Catalog(data)[-1]
    assert run.metadata["start"]["adaptive"]["agent"] == "gp-map"
    names = [n for n, _ in run.documents()]
    assert names.count("stream_resource") == 1 and names.count("stream_datum") == names.count("event")
    ds = run.stream("primary")
    n = len(ds["det_fluor"])
    assert n == sc.experiment["budget"]
    frames = np.asarray(ds["cam_image"].values)
    assert frames.shape == (n, 96, 128) and frames.dtype == np.uint16
    # the frames are the camera's own HDF5 file, referenced by the run, not copies in the netCDF file
    resource = next(d for k, d in run.documents() if k == "stream_resource")
    path = Path(resource["uri"].removeprefix("file://localhost"))
    with h5py.File(path, "r") as f:
        assert f[resource["parameters"]["dataset"]].shape[0] == n
        np.testing.assert_array_equal(f[resource["parameters"]["dataset"]][n - 1], frames[-1])
    # GP sampling after the first Sobol points concentrates where the map changes: more points on deposits
    # than a space-filling design would put there
    env = SampleMapEnv(seed=sc.seed, mode="direct")
    pts = np.stack([ds["sample_x"].values, ds["sample_y"].values], axis=-1)
    truth = env.truth.reshape(100, 100)
    on_deposit = truth > truth.min() + 0.1 * np.ptp(truth)
    gx = np.clip(((pts[:, 0] - env.bounds[0][0]) / np.ptp(env.bounds[0]) * 99).round().astype(int), 0, 99)
    gy = np.clip(((pts[:, 1] - env.bounds[1][0]) / np.ptp(env.bounds[1]) * 99).round().astype(int), 0, 99)
    later = slice(20, None)
    assert on_deposit[gx[later], gy[later]].mean() > 1.5 * on_deposit.mean()


def test_each_map_criterion_fails_on_a_sabotaged_run(mapped: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = mapped
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sc = scenarios.load("sample-map").ci_variant()
    spec = parse_campaign(sc.experiment)
    env = SampleMapEnv(seed=sc.seed, mode="direct")
    run = Catalog(data)[-1]
    ds = run.stream("primary")
    points = np.stack([ds["sample_x"].values, ds["sample_y"].values], axis=-1).tolist()
    values = [float(v) for v in ds["det_fluor"].values]
    frames = np.asarray(ds["cam_image"].values)
    good = Outcome(uids=(run.uid,), path=run.path, fit=None, truth={},
                   details={"points": points, "values": values, "frames": len(frames),
                            "frame_max": [float(f.max()) for f in frames]})
    judge_map(good, sc, spec, env)
    assert good.ok, good.checks

    rng = np.random.default_rng(0)
    sabotage: dict[str, Callable[[dict[str, Any]], object]] = {
        "map_error": lambda d: d.update(values=rng.permutation(d["values"]).tolist()),  # values at the wrong places
        "frames": lambda d: d.update(frames=d["frames"] - 1),                             # a frame lost
        "frames ": lambda d: d["frame_max"].__setitem__(3, 0.0),                          # a blank frame
        "within_budget": lambda d: d.update(points=d["points"] * 5, values=d["values"] * 5),
        "stored": lambda d: d.update(values=[]),
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad.details)
        judge_map(bad, sc, spec, env)
        assert not bad.checks[name.strip()], name
        assert not bad.ok


def test_direct_environment_truth_target_and_error() -> None:
    env = SampleMapFactory(mode="direct")(5)
    # the truth is the fluorescence counter's expected counts: background + deposits
    assert env.truth.shape == (10000,) and env.truth.min() > 0 and np.ptp(env.truth) > 1000
    # measured counts scatter around the truth with Poisson noise
    p = env.grid[int(np.argmax(env.truth))]
    counts = [env.evaluate(p) for _ in range(20)]
    assert np.mean(counts) == pytest.approx(env.truth.max(), rel=0.03)
    # the target is a 30×30 raster's error; a 10×10 raster does worse, the truth itself perfectly
    coarse = grid_over(env.bounds, 10)
    assert env.raster_error(10) > 2 * env.target > 0
    exact = SampleMapEnv(seed=5, mode="direct")
    assert exact.error(env.grid, env.truth) == pytest.approx(0.0, abs=1e-9)
    assert len(coarse) == 100


@pytest.mark.parametrize(("patch", "message"), [
    ({"axes": {"sample_x": [-8, 8]}}, "experiment.axes"),
    ({"camera": "det2"}, "device 'det2'"),
    ({"camera": "det"}, "not an area_detector"),
    ({"agent_options": [1, 2]}, "experiment.agent_options"),
])
def test_bad_map_fields_are_named_before_anything_starts(tmp_path: Path, patch: dict[str, Any], message: str) -> None:
    import yaml

    from scenarios.runner import run_scenario

    raw = yaml.safe_load((scenarios.LIBRARY / "sample-map.yaml").read_text())
    raw["experiment"].update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        run_scenario(str(path), data_dir=tmp_path / "data")
