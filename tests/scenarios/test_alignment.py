"""The alignment scenario: GP-BO maximises the flux over 4 coupled optics axes per event over CA,
parks on the best point, and is judged against the twin's true optimum; each criterion can fail."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenarios import scenario as scenarios
from scenarios.envs.alignment import AlignmentEnv, AlignmentFactory, true_optimum
from scenarios.envs.spec import parse_campaign
from scenarios.experiments.alignment import judge_alignment
from scenarios.runner import Outcome
from store import Catalog
from tests.conftest import assert_plot, run_ci_variant
from twin.physics import BeamlineModel


@pytest.fixture(scope="module")
def aligned(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``beamtwin run alignment --ci`` once, over CA against a real twin subprocess."""
    return run_ci_variant(tmp_path_factory, "alignment", timeout=240)


def _model(sc: scenarios.Scenario) -> BeamlineModel:
    return BeamlineModel(sc.beamline["physics"], seed=sc.seed)


def test_the_axes_are_coupled_the_best_setting_of_one_moves_with_the_others() -> None:
    sc = scenarios.load("alignment")
    model = _model(sc)

    def best(axis: str, lo: float, hi: float, **fixed: float) -> float:
        xs = np.linspace(lo, hi, 4001)
        return float(xs[np.argmax([model.flux_at({**fixed, axis: x}) for x in xs])])

    # the exit slit must follow the spot: 2·D·Δθ (D = 10 m) when the mirror pitch changes
    s_a = best("slit2_vcen", -3, 3, mirror_pitch=2.95, slit1_vcen=0.0, dcm_pitch2=0.0)
    s_b = best("slit2_vcen", -3, 3, mirror_pitch=3.05, slit1_vcen=0.0, dcm_pitch2=0.0)
    assert s_b - s_a == pytest.approx(2 * 10.0 * 0.1, abs=0.05)
    # and the white-beam slit and the DCM's fine pitch steer the ray too
    s_c = best("slit2_vcen", -3, 3, mirror_pitch=2.95, slit1_vcen=0.2, dcm_pitch2=0.0)
    s_d = best("slit2_vcen", -3, 3, mirror_pitch=2.95, slit1_vcen=0.0, dcm_pitch2=25.0)
    assert abs(s_c - s_a) > 0.1 and abs(s_d - s_a) > 0.1
    # the best fine pitch is not the crystals' parallel setting alone: the mirror footprint pulls it
    offset = model.misalignment["dcm_offset"]
    p_a = best("dcm_pitch2", -30, 30, mirror_pitch=2.95, slit1_vcen=0.25, slit2_vcen=s_c)
    p_b = best("dcm_pitch2", -30, 30, mirror_pitch=2.95, slit1_vcen=-0.25, slit2_vcen=s_c)
    assert abs(p_a - p_b) > 1.0 and min(abs(p_a - offset), abs(p_b - offset)) > 0.5


def test_the_true_optimum_is_inside_the_box_and_beats_the_nominal_setting() -> None:
    sc = scenarios.load("alignment")
    spec = parse_campaign(sc.experiment)
    model = _model(sc)
    x, flux = true_optimum(model, spec.names, spec.bounds)
    nominal = model.flux_at({n: (lo + hi) / 2 for n, (lo, hi) in spec.axes.items()})
    assert flux > 3 * nominal
    for v, (lo, hi) in zip(x, spec.axes.values(), strict=True):
        assert lo < v < hi
    # no sampled point in the box does better than the optimum found
    rng = np.random.default_rng(0)
    pts = rng.uniform([b[0] for b in spec.bounds], [b[1] for b in spec.bounds], size=(3000, 4))
    assert max(model.flux_at(dict(zip(spec.names, p, strict=True))) for p in pts) <= flux * (1 + 1e-9)


def test_ci_variant_reaches_95_percent_of_the_true_optimum_over_ca(
        aligned: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = aligned
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_plot(done.stdout, data)
    for check in ("stored", "within_budget", "best_flux", "parked_flux"):
        assert f"PASS {check}" in done.stdout
    sc = scenarios.load("alignment").ci_variant()
    run = Catalog(data)[-1]
    start = run.metadata["start"]
    assert start["plan_name"] == "ask_tell_scan" and start["simulated"] is True
    assert start["adaptive"]["agent"] == "gp-bo" and start["adaptive"]["axes"] == list(sc.experiment["axes"])
    ds = run.stream("primary")
    assert 10 < len(ds["det_flux"]) <= sc.experiment["budget"]
    assert run.metadata["stop"]["exit_status"] == "success"


def test_each_alignment_criterion_fails_on_a_sabotaged_run(
        aligned: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, data = aligned
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    sc = scenarios.load("alignment").ci_variant()
    spec = parse_campaign(sc.experiment)
    model = _model(sc)
    run = Catalog(data)[-1]
    ds = run.stream("primary")
    points = np.stack([ds[n].values for n in spec.names], axis=-1).tolist()
    values = [float(v) for v in ds["det_flux"].values]
    _, flux_opt = true_optimum(model, spec.names, spec.bounds)
    good = Outcome(uids=(run.uid,), path=run.path, fit=None, truth={"optimum_flux": flux_opt},
                   details={"points": points, "values": values,
                            "parked": dict(zip(spec.names, points[int(np.argmax(values))], strict=True))})
    judge_alignment(good, sc, spec, model)
    assert good.ok, good.checks

    worst = int(np.argmin(values))

    def spoil_best(d: dict[str, Any]) -> None:  # the best measured value sits on a poor point
        d["values"][worst] = 10 * max(d["values"])

    sabotage: dict[str, Callable[[dict[str, Any]], object]] = {
        "best_flux": spoil_best,
        "parked_flux": lambda d: d.update(parked=dict(zip(spec.names, points[worst], strict=True))),
        "within_budget": lambda d: d.update(points=d["points"] * 3, values=d["values"] * 3),
        "stored": lambda d: d.update(values=[]),
    }
    for name, spoil in sabotage.items():
        bad = copy.deepcopy(good)
        bad.checks = {}
        spoil(bad.details)
        judge_alignment(bad, sc, spec, model)
        assert not bad.checks[name], name
        assert not bad.ok


def test_direct_environment_scores_distance_from_the_true_optimum() -> None:
    env = AlignmentFactory(mode="direct")(3)
    x_opt, _ = env.optimum
    near = env.evaluate(x_opt)
    lo = np.array([b[0] for b in env.bounds])
    far = env.evaluate(lo)
    assert near > 100 * max(far, 1.0)
    assert env.error(np.array([lo, x_opt]), np.array([far, near])) == pytest.approx(0.0, abs=1e-3)
    assert env.error(np.array([lo]), np.array([far])) > 0.9
    # the counts are the flux monitor's: gain × flux × count time, with Poisson noise
    expected = env.model.input_rate_at("flux", dict(zip(env.spec.names, x_opt, strict=True))) * 1e-6 * 0.1
    assert near == pytest.approx(expected, rel=0.02)


def test_ca_environment_measures_through_a_twin_and_stops_it() -> None:
    env = AlignmentEnv(seed=4, mode="ca", speed=100.0)
    try:
        x_opt, _ = env.optimum
        got = env.evaluate(x_opt)
        twin = env.session.twin if env.session else None
        assert twin is not None and twin.proc is not None and twin.proc.poll() is None
        direct = AlignmentEnv(seed=4, mode="direct").evaluate(x_opt)
        assert got == pytest.approx(direct, rel=0.05)
    finally:
        env.close()
    assert twin.proc is None or twin.proc.poll() is not None


@pytest.mark.parametrize(("patch", "message"), [
    ({"axes": {"mirror_pitch": [3.1, 2.9]}}, "experiment.axes.mirror_pitch"),
    ({"axes": {"nonesuch": [0, 1]}}, "device 'nonesuch'"),
    ({"agent": "oracle"}, "experiment.agent"),
    ({"budget": 0}, "experiment.budget"),
    ({"channel": "I0"}, "experiment.channel"),
    ({"count_time": -1}, "experiment.count_time"),
    ({"colour": "red"}, "unknown field"),
])
def test_bad_alignment_fields_are_named_before_anything_starts(tmp_path: Path, patch: dict[str, Any],
                                                               message: str) -> None:
    import yaml

    from scenarios.runner import run_scenario

    raw = yaml.safe_load((scenarios.LIBRARY / "alignment.yaml").read_text())
    raw["experiment"].update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message):
        run_scenario(str(path), data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists() or not list((tmp_path / "data").glob("*.nc"))
