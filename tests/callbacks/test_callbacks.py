"""Live callbacks fed with documents from real runs on soft devices, and fits on known curves."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import erfc

from acq import plans
from acq.callbacks import LiveProgress, PeakFit, PeakStats, PlotPNG, fit_curve, peak_stats
from acq.engine import RunEngine
from tests.test_engine_soft import SoftDet, SoftMotor


@pytest.mark.parametrize("model", ["gaussian", "lorentzian", "erf"])
def test_fits_recover_known_parameters(model: str) -> None:
    rng = np.random.default_rng(5)
    x = np.linspace(-5, 5, 81)
    if model == "gaussian":
        truth = 2000 * np.exp(-((x - 0.7) ** 2) / (2 * 0.6**2)) + 50
    elif model == "lorentzian":
        truth = 2000 / (1 + ((x - 0.7) / 0.6) ** 2) + 50
    else:  # a rising step written with the complementary error function
        truth = 50 + 1000 * (1 - 0.5 * erfc((x - 0.7) / (0.6 * math.sqrt(2))))
    fit = fit_curve(model, x, rng.poisson(truth))
    assert fit["center"] == pytest.approx(0.7, abs=0.05)
    assert fit["sigma"] == pytest.approx(0.6, rel=0.1)
    assert fit["redchi"] < 2.0


def test_fit_refuses_too_few_points() -> None:
    with pytest.raises(ValueError, match="at least 5 points, got 3"):
        fit_curve("gaussian", [1, 2, 3], [1, 2, 1])
    with pytest.raises(ValueError, match="unknown model 'voigt'"):
        fit_curve("voigt", [1, 2, 3, 4, 5], [1, 2, 3, 2, 1])


def test_peak_stats_of_a_sampled_gaussian() -> None:
    x = np.linspace(-10, 10, 2001)
    y = 10 + 100 * np.exp(-((x - 1.5) ** 2) / (2 * 1.2**2))
    s = peak_stats(x, y)
    assert s["max"][0] == pytest.approx(1.5, abs=0.011)
    assert s["com"] == pytest.approx(1.5, abs=1e-3)
    assert s["cen"] == pytest.approx(1.5, abs=1e-3)
    assert s["fwhm"] == pytest.approx(2 * math.sqrt(2 * math.log(2)) * 1.2, rel=1e-3)


def _scan_with(callbacks: list[Any], num: int = 21) -> None:
    m = SoftMotor("m")
    d = SoftDet("d", m)  # d = 10 - (m - 1)^2
    RE = RunEngine()
    for cb in callbacks:
        RE.subscribe(cb)
    RE(plans.scan([d], m, -2.0, 4.0, num))


def test_peak_stats_and_progress_follow_a_run(tmp_path: Path) -> None:
    stats = PeakStats("m", "d")
    out = io.StringIO()
    progress = LiveProgress(out=out)
    fit = PeakFit("m", "d")
    plot = PlotPNG("m", "d", tmp_path, fit=fit)
    _scan_with([stats, progress, fit, plot])
    assert stats.result is not None and stats.result["max"][0] == pytest.approx(1.0, abs=0.01)
    assert progress.done == 21 and "21/21 points" in out.getvalue() and "success" in out.getvalue()
    assert plot.path is not None and plot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
