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


def _grid_documents(n: int) -> list[tuple[str, dict[str, Any]]]:
    """A snaking 2-D grid run's documents, z = x·y."""
    start = {"uid": "run-1", "scan_id": 7, "time": 0.0}
    desc = {"uid": "desc-1", "name": "primary", "run_start": "run-1", "data_keys": {}}
    docs: list[tuple[str, dict[str, Any]]] = [("start", start), ("descriptor", desc)]
    for i in range(n):
        x, y = float(i % 4), float(i // 4)
        docs.append(("event", {"descriptor": "desc-1", "seq_num": i + 1, "data": {"sx": x, "sy": y, "d": x * y}}))
    docs.append(("stop", {"run_start": "run-1", "exit_status": "success"}))
    return docs


def test_a_live_plot_follows_every_event(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    plot = PlotPNG("m", "d", tmp_path, live=True)
    drawn: list[int] = []
    _scan_with([plot, lambda name, doc: drawn.append(len(plot._line.get_xdata())) if name == "event" else None])
    plt.ioff()
    assert drawn == list(range(1, 22)) and plot.path is not None and plot.path.stat().st_size > 5000


@pytest.mark.parametrize("live", [False, True])
def test_live_grid_maps_every_point_and_writes_a_png(tmp_path: Path, live: bool) -> None:
    from acq.callbacks import LiveGrid

    grid = LiveGrid("sx", "sy", "d", tmp_path, live=live)
    docs = _grid_documents(12)
    shown: list[int] = []
    for name, doc in docs:
        grid(name, doc)
        if name == "event":
            shown.append(len(grid._scatter.get_offsets()) if grid._scatter is not None else 0)
    # live: the window follows every event; otherwise nothing is drawn before the run stops
    import matplotlib.pyplot as plt

    plt.ioff()
    assert shown == (list(range(1, 13)) if live else [0] * 12)
    assert grid.path is not None and grid.path.name == "000007-run-1-map.png"
    assert grid.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_allclose(np.asarray(grid._scatter.get_array()), [i % 4 * (i // 4) for i in range(12)])
