"""Bad arguments fail with a clear message when the plan is made, before anything moves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from acq import plans
from acq.devices import LimitError
from tests.plans.conftest import Rig


def _cases(r: Rig) -> list[tuple[Callable[[], Any], type[Exception], str]]:
    d, m1, m2 = r.det, r.m1, r.m2
    return [
        (lambda: plans.count([], 3), ValueError, "detectors: give at least one detector"),
        (lambda: plans.count(d, 3), TypeError, "detectors: give a list"),
        (lambda: plans.count([d], 0), ValueError, "num must be a positive integer, got 0"),
        (lambda: plans.count([d], 3, delay=[1.0]), ValueError, "one delay per gap"),
        (lambda: plans.count([object()]), TypeError, "cannot be read"),
        (lambda: plans.scan([d], m1, 0, 1), ValueError, "num: give the number of points"),
        (lambda: plans.scan([d], m1, 0, 1, 2.5), ValueError, "num must be a positive integer, got 2.5"),
        (lambda: plans.scan([d], m1, 0, num=3), ValueError, "groups of 3"),
        (lambda: plans.scan([d], m1, 0, "a", num=3), TypeError, "m1 stop must be a number"),
        (lambda: plans.scan([d], m1, 0, float("nan"), num=3), ValueError, "m1 stop must be finite"),
        (lambda: plans.scan([d], m1, 0, 1, m1, 0, 1, num=3), ValueError, "m1 appears twice"),
        (lambda: plans.scan([d], "m1", 0, 1, num=3), TypeError, "cannot be moved"),
        (lambda: plans.scan([d], m1, 0, 11, 3), LimitError, r"m1: position 11\.0 is outside the limits"),
        (lambda: plans.list_scan([d], m1, [1, 2], m2, [1]), ValueError, "same number of positions; got m1: 2, m2: 1"),
        (lambda: plans.list_scan([d], m1, []), ValueError, "m1 positions is empty"),
        (lambda: plans.list_scan([d], m1, [0, 20]), LimitError, "position 20.0"),
        (lambda: plans.grid_scan([d], m1, 0, 1, 2, m2, 0, 1), ValueError, "groups of 4"),
        (lambda: plans.grid_scan([d], m1, 0, 1, 2, m2, 0, 1, 0), ValueError, "m2 num must be a positive integer"),
        (lambda: plans.grid_scan([d], m1, 0, 1, 2, m2, 0, 1, 2, snake_axes=[m1]), ValueError,
         "first .slowest. motor m1 cannot snake"),
        (lambda: plans.grid_scan([d], m1, 0, 1, 2, m2, 0, 1, 2, snake_axes=[d]), ValueError, "not one of the scanned"),
        (lambda: plans.grid_scan([d], m1, 0, 1, 2, m2, 0, 12, 2), LimitError, "m2: position 12"),
        (lambda: plans.log_scan([d], m1, 0, 2, 3), LimitError, r"m1: position 100\.0"),
        (lambda: plans.scan_nd([d], []), ValueError, "trajectory is empty"),
        (lambda: plans.scan_nd([d], [{m1: 1}, {m2: 1}]), ValueError, "step 1 moves"),
        (lambda: plans.spiral([d], m1, m2, 0, 0, -1, 1, 0.1, 3), ValueError, "x_range must be > 0"),
        (lambda: plans.spiral([d], m1, m2, 9.5, 0, 2, 2, 0.3, 3), LimitError, "m1: position"),
        (lambda: plans.spiral_fermat([d], m1, m2, 0, 0, 1, 1, 0.1, 0), ValueError, "factor must be > 0"),
        (lambda: plans.spiral_square([d], m1, m2, 0, 0, 1, 1, 1, 3), ValueError, "at least 2"),
        (lambda: plans.adaptive_scan([d], "det", m1, 0, 1, 0.5, 0.1, 1, True), ValueError,
         r"min_step \(0\.5\) must not exceed max_step"),
        (lambda: plans.tune_centroid([d], "det", m1, 0, 1, 0.1, step_factor=1.0), ValueError,
         "step_factor must be greater than 1.0"),
        (lambda: plans.tune_centroid([d], "det", m1, 0, 20, 0.1), LimitError, "position 20"),
        (lambda: plans.mv(m1), ValueError, "pairs of"),
        (lambda: plans.repeat(lambda: plans.count([d]), num=0), ValueError, "positive integer"),
        (lambda: plans.ramp_plan(iter(()), m1, "x", timeout=1), TypeError, "inner_plan_func must be callable"),
    ]


def test_every_bad_call_raises_a_clear_error_before_anything_moves(rig: Rig) -> None:
    for make, error, message in _cases(rig):
        with pytest.raises(error, match=message):
            plan = make()
            next(iter(plan))  # stubs check on their first step; plans already did, when made
    assert (rig.m1.position, rig.m2.position) == (0.0, 0.0)


def test_relative_plans_check_limits_from_where_the_motors_are(rig: Rig) -> None:
    rig.m1.set(9.0).wait(2)
    with pytest.raises(LimitError, match=r"m1: position 11\.0 is outside"):
        rig.RE(plans.rel_scan([rig.det], rig.m1, -1, 2, 4))
    assert rig.docs == [], "no run was opened"
    assert rig.m1.position == 9.0
