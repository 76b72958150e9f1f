"""``plans.fly_scan``: Bluesky's fly semantics (kickoff, complete, collect) in one run, metadata as
Bluesky users expect, and every argument checked before the plan exists."""

from __future__ import annotations

from typing import Any

import pytest

from acq import plans
from acq.devices import AreaDetector, LimitError, SoftBackend, TriggerBox, soft_motor
from acq.engine import Msg


def _soft(pv: str) -> SoftBackend:
    return SoftBackend(0, source=f"soft://{pv}")


@pytest.fixture
def rig() -> dict[str, Any]:
    return {"cam": AreaDetector("X:cam:", name="cam", backend=_soft),
            "box": TriggerBox("X:pc1:", name="pc", axes=["m"], backend=_soft),
            "m": soft_motor("m", limits=(-5.0, 5.0)), "other": soft_motor("other")}


def _messages(plan: Any) -> list[Msg]:
    out = []
    try:
        msg = next(plan)
        while True:
            out.append(msg)
            msg = plan.send(None)
    except StopIteration:
        return out


def test_one_run_of_kickoff_complete_collect_into_the_primary_stream(rig: dict[str, Any]) -> None:
    msgs = _messages(plans.fly_scan([rig["cam"]], rig["m"], -2.0, 2.0, 21, trigger_box=rig["box"], velocity=1.0,
                                    exposure=0.01))
    assert [m.command for m in msgs] == ["open_run", "declare_stream", "kickoff", "wait", "complete", "wait",
                                         "collect", "close_run"]
    flyer = msgs[2].obj
    assert msgs[1].obj is None and msgs[1].args == (flyer,) and msgs[1].kwargs == {"name": "primary", "collect": True}
    assert msgs[4].obj is flyer and msgs[6].obj is flyer and msgs[6].kwargs == {"name": "primary"}
    assert (flyer.begin, flyer.end, flyer.num, flyer.step) == (-2.0, 2.0, 21, pytest.approx(0.2))
    md = msgs[0].kwargs
    assert md["plan_name"] == "fly_scan" and md["num_points"] == 21 and md["motors"] == ["m"]
    assert md["detectors"] == ["cam"] and md["hints"]["dimensions"] == [[["m"], "primary"]]
    assert md["plan_pattern"] == "inner_product" and md["plan_pattern_args"] == {"num": 21, "args": ["m", -2.0, 2.0]}
    assert md["plan_args"]["velocity"] == 1.0 and md["plan_args"]["exposure"] == 0.01


def test_stream_name_and_user_metadata(rig: dict[str, Any]) -> None:
    msgs = _messages(plans.fly_scan([rig["cam"]], rig["m"], 1.0, -1.0, 5, trigger_box=rig["box"], stream="fly",
                                    md={"sample": "foil"}))
    assert msgs[0].kwargs["sample"] == "foil" and msgs[0].kwargs["hints"]["dimensions"] == [[["m"], "fly"]]
    assert msgs[6].kwargs == {"name": "fly"} and msgs[2].obj.step == pytest.approx(-0.5)


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"start": -6.0}, LimitError, "outside the limits"),
    ({"stop": 9.0}, LimitError, "outside the limits"),
    ({"num": 1}, ValueError, "need at least 2 trigger positions"),
    ({"num": 0}, ValueError, "num"),
    ({"start": 1.0, "stop": 1.0}, ValueError, "needs a distance to fly"),
    ({"velocity": -1.0}, ValueError, "velocity must be positive"),
    ({"exposure": 0.0}, ValueError, "exposure must be positive"),
    ({"motor": "other"}, ValueError, "motor 'other' is not wired to this trigger box"),
    ({"detectors": []}, ValueError, "detectors"),
])
def test_bad_arguments_fail_before_the_plan_exists(rig: dict[str, Any], change: dict[str, Any], error: type,
                                                   message: str) -> None:
    args: dict[str, Any] = {"detectors": [rig["cam"]], "motor": rig["m"], "start": -1.0, "stop": 1.0, "num": 5,
                            "velocity": None, "exposure": None}
    args.update(change)
    if isinstance(args["motor"], str):
        args["motor"] = rig[args["motor"]]
    with pytest.raises(error, match=message):
        plans.fly_scan(args["detectors"], args["motor"], args["start"], args["stop"], args["num"],
                       trigger_box=rig["box"], velocity=args["velocity"], exposure=args["exposure"])
