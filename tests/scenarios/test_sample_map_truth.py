"""The sample map's noise-free truth in one vectorised pass is the same numbers as the twin's per-point
model (``input_rate_at`` and the detector's dead time, one call per point)."""

from __future__ import annotations

import numpy as np

import beamlines
from scenarios.envs.sample_map import grid_over, true_map
from scenarios.envs.spec import parse_campaign
from scenarios.scenario import load
from twin.physics import BeamlineModel


def per_point(model: BeamlineModel, channel: str, names: list[str], points: np.ndarray,
              count_time: float) -> np.ndarray:
    """The old loop: one model call per point."""
    det = model.detector(channel)
    return np.array([det.observed_rate(model.input_rate_at(channel, dict(zip(names, map(float, p), strict=True)))
                                       * det.gain + det.dark_rate) * count_time for p in points])


def test_vectorised_truth_equals_the_per_point_model() -> None:
    sc = load("sample-map")
    spec = parse_campaign(sc.experiment)
    rng = np.random.default_rng(0)
    for seed in (0, 1, 7):
        model = BeamlineModel(sc.beamline["physics"], seed=seed)
        points = np.concatenate([grid_over(spec.bounds, 40), rng.uniform(-8, 8, (200, 2)),
                                 [[b[0], b[1]] for b in model.sample.truth()["blobs"]]])  # the peaks too
        fast, slow = true_map(model, spec, points), per_point(model, spec.channel, spec.names, points, spec.count_time)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0)
        assert np.ptp(fast) > 1000  # deposits, not just background


def test_axes_that_move_the_beam_are_computed_point_by_point_and_agree() -> None:
    physics = beamlines.load("alignment")["physics"]
    model = BeamlineModel(physics, seed=3)
    names = ["mirror_pitch", "slit1_vcen"]
    assert set(names) <= model.beam_axes()
    points = np.stack([np.linspace(2.92, 3.04, 15), np.linspace(-0.15, 0.25, 15)], axis=-1)
    rates = model.input_rates_at("flux", names, points)
    slow = [model.input_rate_at("flux", dict(zip(names, map(float, p), strict=True))) for p in points]
    np.testing.assert_array_equal(rates, slow)
    assert np.ptp(rates) > 0
