"""Every plan of the catalogue against soft devices: the positions it visits, the documents it emits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from acq import plans
from acq.engine import Msg
from tests.conftest import validate_documents
from tests.plans.conftest import Rig

START_KEYS = {"plan_name", "plan_args", "detectors", "num_points", "hints"}


def _checked(rig: Rig, name: str, num: int | None) -> dict[str, Any]:
    validate_documents(rig.docs)
    start = rig.start
    assert START_KEYS <= set(start), START_KEYS - set(start)
    assert ("motors" in start) == (name != "count"), "every plan that moves names its motors (count has none)"
    assert start["plan_name"] == name
    if num is not None:
        assert start["num_points"] == num == len(rig.events())
    return start


def test_count(rig: Rig) -> None:
    rig.RE(plans.count([rig.det], num=3, delay=0.01))
    start = _checked(rig, "count", 3)
    assert start["hints"]["dimensions"] == [[["time"], "primary"]]
    assert len(rig.events()) == 3 and rig.det.triggers == 3


def test_scan_moves_motors_together(rig: Rig) -> None:
    rig.RE(plans.scan([rig.det], rig.m1, 0, 1, rig.m2, 2, 3, num=3))
    start = _checked(rig, "scan", 3)
    assert rig.visited("m1", "m2") == [(0.0, 2.0), (0.5, 2.5), (1.0, 3.0)]
    assert start["motors"] == ["m1", "m2"] and start["plan_pattern"] == "inner_product"
    assert start["hints"]["dimensions"] == [[["m1"], "primary"], [["m2"], "primary"]]
    assert start["plan_args"]["num"] == 3 and start["plan_args"]["args"][1:3] == [0, 1]


def test_rel_scan_is_relative_and_returns_home(rig: Rig) -> None:
    rig.m1.set(2.0).wait(2)
    rig.RE(plans.rel_scan([rig.det], rig.m1, -1, 1, 3))
    _checked(rig, "rel_scan", 3)
    assert rig.visited("m1") == [(1.0,), (2.0,), (3.0,)]
    assert rig.m1.position == 2.0


def test_list_scan_and_rel_list_scan(rig: Rig) -> None:
    rig.RE(plans.list_scan([rig.det], rig.m1, [1, 3, 2], rig.m2, [0, -1, -2]))
    _checked(rig, "list_scan", 3)
    assert rig.visited("m1", "m2") == [(1, 0), (3, -1), (2, -2)]
    rig.docs.clear()
    rig.m2.set(1.0).wait(2)
    rig.RE(plans.rel_list_scan([rig.det], rig.m2, [0.5, -0.5]))
    _checked(rig, "rel_list_scan", 2)
    assert rig.visited("m2") == [(1.5,), (0.5,)] and rig.m2.position == 1.0


def test_grid_scan_snakes_and_records_shape(rig: Rig) -> None:
    rig.RE(plans.grid_scan([rig.det], rig.m1, 0, 1, 2, rig.m2, 0, 2, 3, snake_axes=True))
    start = _checked(rig, "grid_scan", 6)
    assert rig.visited("m1", "m2") == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 1), (1, 0)]
    assert start["shape"] == [2, 3] and start["extents"] == [[0, 1], [0, 2]] and start["snaking"] == [False, True]
    assert start["plan_pattern"] == "outer_product" and start["hints"]["gridding"] == "rectilinear"


def test_grid_scan_without_snake_and_old_style_flags(rig: Rig) -> None:
    rig.RE(plans.grid_scan([rig.det], rig.m1, 0, 1, 2, rig.m2, 0, 1, 2))
    assert rig.visited("m1", "m2") == [(0, 0), (0, 1), (1, 0), (1, 1)]
    rig.docs.clear()
    rig.RE(plans.grid_scan([rig.det], rig.m1, 0, 1, 2, rig.m2, 0, 1, 2, True))
    assert rig.visited("m1", "m2") == [(0, 0), (0, 1), (1, 1), (1, 0)]


def test_grid_scan_moves_only_the_motors_that_change(rig: Rig) -> None:
    moves: list[str] = []
    rig.m1.setpoint.subscribe(lambda r: moves.append("m1"))
    rig.RE(plans.grid_scan([rig.det], rig.m1, 0, 1, 2, rig.m2, 0, 1, 3))
    assert moves.count("m1") == 1 + 2, "the slow motor moves once per row (plus the initial callback)"


def test_rel_grid_scan_returns_home(rig: Rig) -> None:
    rig.m1.set(1.0).wait(2)
    rig.RE(plans.rel_grid_scan([rig.det], rig.m1, -1, 1, 2, rig.m2, 0, 1, 2))
    _checked(rig, "rel_grid_scan", 4)
    assert rig.visited("m1", "m2") == [(0, 0), (0, 1), (2, 0), (2, 1)]
    assert (rig.m1.position, rig.m2.position) == (1.0, 0.0)


def test_list_grid_scans(rig: Rig) -> None:
    rig.RE(plans.list_grid_scan([rig.det], rig.m1, [0, 1], rig.m2, [5, 6, 7], snake_axes=True))
    start = _checked(rig, "list_grid_scan", 6)
    assert rig.visited("m1", "m2") == [(0, 5), (0, 6), (0, 7), (1, 7), (1, 6), (1, 5)]
    assert start["shape"] == [2, 3]
    rig.docs.clear()
    rig.m1.set(3.0).wait(2)
    rig.RE(plans.rel_list_grid_scan([rig.det], rig.m1, [0, 1], rig.m2, [1]))
    assert rig.visited("m1", "m2") == [(3, 6), (4, 6)] and rig.m1.position == 3.0, "m2 was left at 5"


def test_log_scans(rig: Rig) -> None:
    rig.RE(plans.log_scan([rig.det], rig.m1, 0, 1, 3))
    _checked(rig, "log_scan", 3)
    np.testing.assert_allclose([p for (p,) in rig.visited("m1")], [1, math.sqrt(10), 10])
    rig.docs.clear()
    rig.m1.set(-5.0).wait(2)
    rig.RE(plans.rel_log_scan([rig.det], rig.m1, -1, 0, 2))
    np.testing.assert_allclose([p for (p,) in rig.visited("m1")], [-4.9, -4.0])
    assert rig.m1.position == -5.0


def test_scan_nd_takes_any_iterable_of_steps(rig: Rig) -> None:
    cycler = pytest.importorskip("cycler")
    traj = cycler.cycler(rig.m1, [1, 2]) * cycler.cycler(rig.m2, [3, 4])
    rig.RE(plans.scan_nd([rig.det], traj))
    _checked(rig, "scan_nd", 4)
    assert rig.visited("m1", "m2") == [(1, 3), (1, 4), (2, 3), (2, 4)]
    rig.docs.clear()
    rig.RE(plans.scan_nd([rig.det], [{rig.m1: 0.5}, {rig.m1: 0.25}]))
    assert rig.visited("m1") == [(0.5,), (0.25,)]


@pytest.mark.parametrize("name", ["spiral", "spiral_fermat", "spiral_square"])
def test_spirals_stay_in_their_box(rig: Rig, name: str) -> None:
    if name == "spiral":
        plan = plans.spiral([rig.det], rig.m1, rig.m2, 1.0, -1.0, 2.0, 1.0, 0.3, 4)
    elif name == "spiral_fermat":
        plan = plans.spiral_fermat([rig.det], rig.m1, rig.m2, 1.0, -1.0, 2.0, 1.0, 0.3, 2.0)
    else:
        plan = plans.spiral_square([rig.det], rig.m1, rig.m2, 1.0, -1.0, 2.0, 1.0, 5, 3)
    rig.RE(plan)
    start = _checked(rig, name, None)
    pts = rig.visited("m1", "m2")
    assert start["num_points"] == len(pts) >= 10 and start["plan_pattern"] == name
    assert all(0.0 - 1e-9 <= x <= 2.0 + 1e-9 and -1.5 - 1e-9 <= y <= -0.5 + 1e-9 for x, y in pts)
    if name == "spiral_square":
        assert pts[0] == (1.0, -1.0) and len(set(pts)) == 15


def test_rel_spirals_return_home(rig: Rig) -> None:
    rig.m1.set(1.0).wait(2)
    for plan in (plans.rel_spiral([rig.det], rig.m1, rig.m2, 1.0, 1.0, 0.4, 3),
                 plans.rel_spiral_fermat([rig.det], rig.m1, rig.m2, 1.0, 1.0, 0.4, 1.5),
                 plans.rel_spiral_square([rig.det], rig.m1, rig.m2, 1.0, 1.0, 3, 3)):
        rig.docs.clear()
        rig.RE(plan)
        pts = rig.visited("m1", "m2")
        assert all(0.5 - 1e-9 <= x <= 1.5 + 1e-9 for x, _ in pts)
        assert (rig.m1.position, rig.m2.position) == (1.0, 0.0)


def test_adaptive_scan_takes_small_steps_on_the_peak(rig: Rig) -> None:
    rig.m2.set(-1.0).wait(2)
    rig.RE(plans.adaptive_scan([rig.det], "det", rig.m1, -4, 6, 0.05, 1.0, 60.0, True))
    start = _checked(rig, "adaptive_scan", None)
    xs = [x for (x,) in rig.visited("m1")]
    assert xs[0] == -4 and xs[-1] < 6 and start["plan_pattern"] == "adaptive"
    steps = np.diff(xs)
    near = [abs(s) for x, s in zip(xs[1:], steps, strict=True) if abs(x - 1) < 1.5 and s > 0]
    far = [abs(s) for x, s in zip(xs[1:], steps, strict=True) if abs(x - 1) > 3.5 and s > 0]
    assert np.mean(near) < np.mean(far) / 2, "steps shrink where the signal changes fast"
    assert any(s < 0 for s in steps), "with backstep it went back at least once"


def test_rel_adaptive_scan_returns_home(rig: Rig) -> None:
    rig.m1.set(1.0).wait(2)
    rig.RE(plans.rel_adaptive_scan([rig.det], "det", rig.m1, -1, 1, 0.1, 0.5, 50.0, False))
    xs = [x for (x,) in rig.visited("m1")]
    assert xs[0] == 0.0 and all(0.0 <= x < 2.0 for x in xs) and rig.m1.position == 1.0


def test_tune_centroid_parks_on_the_peak(rig: Rig) -> None:
    rig.m2.set(-1.0).wait(2)
    rig.RE(plans.tune_centroid([rig.det], "det", rig.m1, -2, 4, 0.05, num=7, step_factor=2.0))
    _checked(rig, "tune_centroid", None)
    assert abs(rig.m1.position - 1.0) < 0.05
    assert len(rig.events()) > 7, "it made several passes"


def test_stubs_mv_mvr_one_shot_and_repeat(rig: Rig) -> None:
    def plan() -> Any:
        yield from plans.mv(rig.m1, 1.0, rig.m2, -1.0)
        yield from plans.mvr(rig.m1, 0.5)
        yield from plans.open_run({"plan_name": "custom"})
        # a stream keeps its data keys (as in Bluesky), so the detector-only shots get their own
        shots = lambda dets: plans.trigger_and_read(dets, name="shots")  # noqa: E731
        yield from plans.repeat(lambda: plans.one_shot([rig.det], take_reading=shots), num=2, delay=0.01)
        yield from plans.one_1d_step([rig.det], rig.m1, 2.0)
        cache: dict[Any, Any] = {}
        nd = lambda dets: plans.trigger_and_read(dets, name="nd")  # noqa: E731
        yield from plans.one_nd_step([rig.det], {rig.m1: 2.0, rig.m2: 0.0}, cache, take_reading=nd)
        yield from plans.move_per_step({rig.m1: 2.0, rig.m2: 0.5}, cache)
        yield from plans.sleep(0.01)
        yield from plans.trigger_and_read([rig.det, rig.m2], name="extra")
        yield from plans.close_run()

    rig.RE(plan())
    validate_documents(rig.docs)
    assert [e["det"] for e in rig.events("shots")] == [pytest.approx(1000 * math.exp(-0.125))] * 2
    assert [e["m1"] for e in rig.events()] == [2.0]
    assert [(e["m1"], e["m2"]) for e in rig.events("nd")] == [(2.0, 0.0)]
    assert rig.events("extra") == [{"det": rig.events("extra")[0]["det"], "m2": 0.5, "m2_setpoint": 0.5}]


def test_stage_unstage_stubs_reach_the_device(rig: Rig) -> None:
    calls: list[str] = []
    rig.det.stage = lambda: calls.append("stage")  # type: ignore[method-assign,assignment,return-value]
    rig.det.unstage = lambda: calls.append("unstage")  # type: ignore[method-assign,assignment,return-value]
    rig.RE(plans.count([rig.det]))
    assert calls == ["stage", "unstage"]
    rig.RE(iter([*plans.stage(rig.det), *plans.unstage(rig.det)]))
    assert calls[-2:] == ["stage", "unstage"]


def test_baseline_reads_at_start_and_end(rig: Rig) -> None:
    rig.RE(plans.baseline_wrapper(plans.scan([rig.det], rig.m1, 0, 1, 2), [rig.m2]))
    validate_documents(rig.docs)
    names = [d.get("name") for n, d in rig.docs if n == "descriptor"]
    assert sorted(names) == ["baseline", "primary"] and len(rig.events("baseline")) == 2
    assert len(rig.events()) == 2


def test_relative_and_reset_wrappers(rig: Rig) -> None:
    rig.m1.set(5.0).wait(2)
    rig.RE(plans.reset_positions_wrapper(plans.relative_set_wrapper(plans.scan([rig.det], rig.m1, -1, 1, 3))))
    assert rig.visited("m1") == [(4.0,), (5.0,), (6.0,)] and rig.m1.position == 5.0


def test_finalize_runs_even_when_the_plan_fails(rig: Rig) -> None:
    done: list[str] = []

    def cleanup() -> Any:
        done.append("cleanup")
        yield from plans.mv(rig.m1, 0.0)

    def broken() -> Any:
        yield from plans.mv(rig.m1, 3.0)
        raise RuntimeError("sample fell off")

    with pytest.raises(RuntimeError, match="sample fell off"):
        rig.RE(plans.finalize_wrapper(broken(), cleanup))
    assert done == ["cleanup"] and rig.m1.position == 0.0


def test_subs_wrapper_subscribes_for_the_plan_only(rig: Rig) -> None:
    msgs = list(plans.subs_wrapper(plans.count([rig.det]), {"event": print}))
    assert msgs[0] == Msg("subscribe", None, print, "event")
    assert msgs[-1].command == "unsubscribe"


def test_fly_kicks_off_completes_collects(rig: Rig) -> None:
    flyer = object()
    with pytest.raises(TypeError, match="cannot fly"):
        plans.fly([flyer])

    class Flyer:
        name = "flyer"

        def kickoff(self) -> None: ...
        def complete(self) -> None: ...
        def collect(self) -> list[Any]: return []

    cmds = [m.command for m in plans.fly([Flyer()])]
    assert cmds == ["open_run", "kickoff", "wait", "complete", "wait", "collect", "close_run"]


def test_custom_per_step_in_both_signatures(rig: Rig) -> None:
    calls: list[Any] = []

    def nd(detectors: Any, step: dict[Any, Any], pos_cache: dict[Any, Any]) -> Any:
        calls.append(("nd", {m.name: p for m, p in step.items()}))
        return (yield from plans.one_nd_step(detectors, step, pos_cache))

    def one_d(detectors: Any, motor: Any, step: float) -> Any:
        calls.append(("1d", motor.name, step))
        return (yield from plans.one_1d_step(detectors, motor, step))

    rig.RE(plans.grid_scan([rig.det], rig.m1, 0, 1, 2, rig.m2, 0, 1, 2, per_step=nd))
    assert [c[1] for c in calls] == [{"m1": 0, "m2": 0}, {"m1": 0, "m2": 1}, {"m1": 1, "m2": 0}, {"m1": 1, "m2": 1}]
    calls.clear()
    rig.docs.clear()
    rig.RE(plans.scan([rig.det], rig.m1, 0, 1, 3, per_step=one_d))
    assert calls == [("1d", "m1", 0.0), ("1d", "m1", 0.5), ("1d", "m1", 1.0)]
    assert rig.visited("m1") == [(0.0,), (0.5,), (1.0,)]
    with pytest.raises(TypeError, match="per_step must be callable"):
        plans.scan([rig.det], rig.m1, 0, 1, 3, per_step=3)  # type: ignore[arg-type]
