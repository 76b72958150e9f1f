"""Our plans against Bluesky's own (the installed ``bluesky``): same positions, same messages."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from acq import plans
from acq.engine import RunEngine
from acq.plans.validate import name_of
from tests.plans.conftest import Rig

bp = pytest.importorskip("bluesky.plans")

SKIP = {"checkpoint", "stage", "unstage"}  # Bluesky stages motors in set order; we stage in argument order


def _messages(plan: Any) -> list[tuple[Any, ...]]:
    """(command, device name, args) of every message, answered by a dry run."""
    return [(m.command, name_of(m.obj) if m.obj is not None else None,
             tuple(round(float(a), 9) if isinstance(a, numbers.Real) else a for a in m.args))
            for m in plans.dry_run(plan).messages if m.command not in SKIP]


def _absolute(r: Rig) -> dict[str, Callable[[Any], Any]]:
    d, m1, m2 = r.det, r.m1, r.m2
    return {
        "count": lambda mod: mod.count([d], 3),
        "scan": lambda mod: mod.scan([d], m1, 0, 1, m2, 2, 3, num=4),
        "list_scan": lambda mod: mod.list_scan([d], m1, [1, 2, 3], m2, [4, 5, 6]),
        "grid_scan": lambda mod: mod.grid_scan([d], m1, 0, 1, 3, m2, 0, 2, 4, snake_axes=True),
        "grid_scan_3d": lambda mod: mod.grid_scan([d], m1, 0, 1, 2, m2, 0, 1, 2, r.m3, 0, 1, 3, snake_axes=True),
        "list_grid_scan": lambda mod: mod.list_grid_scan([d], m1, [0, 1], m2, [0, 1, 2], snake_axes=True),
        "log_scan": lambda mod: mod.log_scan([d], m1, 0, 1, 4),
        "spiral": lambda mod: mod.spiral([d], m1, m2, 0, 0, 1, 1.5, 0.3, 3, tilt=0.2),
        "spiral_fermat": lambda mod: mod.spiral_fermat([d], m1, m2, 0, 0, 1, 1, 0.3, 2, dr_y=0.4),
        "spiral_square": lambda mod: mod.spiral_square([d], m1, m2, 0, 0, 1, 1, 5, 3),
    }


@pytest.fixture
def rig3(rig: Rig) -> Rig:
    from acq.devices import soft_motor

    rig.m3 = soft_motor("m3", limits=(-10.0, 10.0))  # type: ignore[attr-defined]
    return rig


@pytest.mark.parametrize("name", list(_absolute(Rig())))
def test_same_messages_as_bluesky(rig3: Rig, name: str) -> None:
    make = _absolute(rig3)[name]
    ours, theirs = _messages(make(plans)), _messages(make(bp))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a[:2] == b[:2]
        np.testing.assert_allclose([x for x in a[2] if isinstance(x, float)],
                                   [x for x in b[2] if isinstance(x, float)], atol=1e-9)


def test_same_start_metadata_as_bluesky(rig: Rig) -> None:
    ours = plans.dry_run(plans.grid_scan([rig.det], rig.m1, 0, 1, 3, rig.m2, 0, 2, 3, snake_axes=True)).start[0]
    theirs = plans.dry_run(bp.grid_scan([rig.det], rig.m1, 0, 1, 3, rig.m2, 0, 2, 3, snake_axes=True)).start[0]
    for key in ("plan_name", "detectors", "num_points", "num_intervals", "plan_pattern", "hints"):
        assert _plain(ours[key]) == _plain(theirs[key]), key
    assert list(ours["motors"]) == list(theirs["motors"]) and list(ours["shape"]) == list(theirs["shape"])


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def _visited(make: Callable[[], Any], rig: Rig, motor: str = "m1") -> list[float]:
    RE = RunEngine()
    seen: list[float] = []
    RE.subscribe(lambda n, d: seen.append(d["data"][motor]) if n == "event" else None)
    RE(make())
    return seen


@pytest.mark.parametrize("backstep", [True, False])
def test_adaptive_scan_visits_the_same_points_as_bluesky(rig: Rig, backstep: bool) -> None:
    rig.m2.set(-1.0).wait(2)
    args = ([rig.det], "det", rig.m1, -4, 6, 0.05, 1.0, 60.0, backstep)
    ours = _visited(lambda: plans.adaptive_scan(*args), rig)
    rig.m1.set(0.0).wait(2)
    theirs = _visited(lambda: bp.adaptive_scan(*args), rig)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert len(ours) > 10


def test_tune_centroid_visits_the_same_points_as_bluesky(rig: Rig) -> None:
    rig.m2.set(-1.0).wait(2)
    ours = _visited(lambda: plans.tune_centroid([rig.det], "det", rig.m1, -2, 4, 0.05, 7, 2.0), rig)
    ours_end = rig.m1.position
    theirs = _visited(lambda: bp.tune_centroid([rig.det], "det", rig.m1, -2, 4, 0.05, 7, 2.0), rig)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert ours_end == pytest.approx(rig.m1.position, abs=1e-9)
