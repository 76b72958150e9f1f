"""XAFS scans: energy regions, k-weighted count times, the gap tracking the energy, I0 normalisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from acq import plans
from acq.devices import Device, LimitError, MonoEnergy, Signal, SoftBackend, soft_motor
from acq.engine import RunEngine
from acq.loop import call_in_loop
from acq.plans.xafs import K_TO_EV, e_of, k_of
from tests.conftest import validate_documents

E0 = 8979.0  # the Cu K edge


class Counters(Device):
    """A soft scaler: I0 and It channels whose trigger measures a fake Cu edge; a preset time."""

    def __init__(self, mono: MonoEnergy) -> None:
        self.I0 = Signal(SoftBackend(0.0), kind="hinted", read_only=True)
        self.It = Signal(SoftBackend(0.0), kind="hinted", read_only=True)
        self.preset_time = Signal(SoftBackend(1.0), kind="config")
        super().__init__("counters")
        self.set_name("counters")
        self.I0.set_name("I0")
        self.It.set_name("It")
        self.mono = mono
        self.times: list[float] = []

    def children(self) -> Any:
        return ((a, c) for a, c in super().children() if a != "mono")

    def trigger(self) -> Any:
        from acq.devices._async import status_of

        async def count() -> None:
            e = mono_energy(self.mono)
            t = await self.preset_time.get_value()
            self.times.append(t)
            mu = 0.5 + (1 if e > E0 else 0)
            self.I0.backend.set_now(1e5 * t)  # type: ignore[attr-defined]
            self.It.backend.set_now(1e5 * t * math.exp(-mu))  # type: ignore[attr-defined]

        return status_of(count(), "count")


def mono_energy(mono: MonoEnergy) -> float:
    return mono.energy_of(mono.bragg.readback.backend._reading.value)  # type: ignore[attr-defined]


@pytest.fixture
def rig() -> tuple[MonoEnergy, Counters, Any]:
    made: dict[str, SoftBackend] = {}

    def factory(pv: str) -> SoftBackend:
        made[pv] = SoftBackend(0 if pv.endswith((".LVIO", ".MSTA")) else 15.0, source=f"soft://{pv}")
        return made[pv]

    mono = MonoEnergy("X:mono:", name="energy", backend=factory)
    made["X:mono:bragg"].on_put = made["X:mono:bragg.RBV"].set_now
    mono.bragg._limits = (5.0, 30.0)
    gap = soft_motor("gap", 10.0, limits=(5.0, 25.0))
    return mono, Counters(mono), gap


REGIONS = [(-50, -10, 10, 0.5), (-10, 20, 2, 0.5), (k_of(24.0), 8.0, 1.0, 0.5, "k")]


def test_points_follow_the_regions() -> None:
    pts = plans.xafs_points(E0, REGIONS, k_weight=2)
    es = [e - E0 for e, _ in pts]
    assert es[:5] == pytest.approx([-50, -40, -30, -20, -10])
    assert es[5:20] == pytest.approx(list(range(-8, 21, 2))), "the edge region, -10 not repeated"
    ks = [k_of(e) for e in es[20:]]
    np.testing.assert_allclose(np.diff(ks), 1.0, atol=1e-9)
    times = [t for _, t in pts[20:]]
    assert times[0] == 0.5 and times[-1] == pytest.approx(0.5 * (ks[-1] / ks[0]) ** 2)
    assert e_of(k_of(123.0)) == pytest.approx(123.0) and K_TO_EV == pytest.approx(3.81, abs=1e-2)


def test_xafs_scan_moves_energy_gap_and_count_time_and_normalises(rig: Any) -> None:
    mono, counters, gap = rig
    RE = RunEngine()
    docs: list[tuple[str, dict[str, Any]]] = []
    RE.subscribe(lambda n, d: docs.append((n, d)))
    RE(plans.xafs_scan([counters], mono, E0, REGIONS, count_time=counters.preset_time, k_weight=2,
                       gap=gap, gap_of=lambda e: e / 1000.0, i0="I0", normalise=["It"]))
    validate_documents(docs)
    start = docs[0][1]
    assert start["plan_name"] == "xafs_scan" and start["e0"] == E0 and start["motors"] == ["energy", "gap"]
    events = [d["data"] for n, d in docs if n == "event"]
    expected = plans.xafs_points(E0, REGIONS, k_weight=2)
    assert len(events) == start["num_points"] == len(expected)
    np.testing.assert_allclose([e["energy"] for e in events], [e for e, _ in expected], atol=1e-6)
    np.testing.assert_allclose([e["gap"] for e in events], [e / 1000.0 for e, _ in expected], atol=1e-9)
    np.testing.assert_allclose(counters.times, [t for _, t in expected])
    for e in events:
        assert e["It_norm"] == pytest.approx(e["It"] / e["I0"])
    above = [e["It_norm"] for e in events if e["energy"] > E0]
    below = [e["It_norm"] for e in events if e["energy"] < E0]
    assert max(above) < min(below), "the edge is in the normalised data"


def test_bad_xafs_arguments_fail_before_anything_moves(rig: Any) -> None:
    mono, counters, gap = rig
    before = call_in_loop(mono.bragg.readback.get_value())
    with pytest.raises(ValueError, match=r"regions\[0\]: stop \(-20\) must be above start"):
        plans.xafs_scan([counters], mono, E0, [(-10, -20, 1, 1)])
    with pytest.raises(ValueError, match=r"regions\[1\] goes back"):
        plans.xafs_scan([counters], mono, E0, [(-10, 30, 5, 1), (2.0, 5.0, 1, 1, "k")])
    with pytest.raises(ValueError, match="gap and gap_of go together"):
        plans.xafs_scan([counters], mono, E0, REGIONS, gap=gap)
    with pytest.raises(LimitError, match=r"energy: .* eV cannot be reached"):
        plans.xafs_scan([counters], mono, 3000.0, REGIONS)
    with pytest.raises(LimitError, match="gap: position"):
        plans.xafs_scan([counters], mono, E0, REGIONS, gap=gap, gap_of=lambda e: e / 100.0)
    with pytest.raises(ValueError, match="normalise needs i0"):
        plans.xafs_scan([counters], mono, E0, REGIONS, normalise=["It"])
    assert call_in_loop(mono.bragg.readback.get_value()) == before


def test_dry_run_counts_the_k_weighted_times(rig: Any) -> None:
    mono, counters, _ = rig
    report = plans.dry_run(plans.xafs_scan([counters], mono, E0, REGIONS, count_time=counters.preset_time))
    expected = plans.xafs_points(E0, REGIONS, k_weight=2)
    assert report.num_points == len(expected)
    assert report.duration == pytest.approx(sum(t for _, t in expected))
    assert [p["energy"] for p in report.positions] == pytest.approx([e for e, _ in expected])
    assert any("energy: no velocity" in w for w in report.warnings)
