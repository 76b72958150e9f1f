"""Documents: order, schema validity, exit statuses, scan_id and RE.md persistence, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acq import plans
from acq.engine import Msg, RunEngine
from tests.conftest import validate_documents
from tests.engine.soft import Counter, PlainDet, SoftMotor, collect, events, stop_of


def test_scan_documents_in_order_with_configuration_hints_and_num_events() -> None:
    m, det = SoftMotor("m"), Counter("det")
    RE = RunEngine(md={"operator": "ada"})
    docs = collect(RE)
    (uid,) = RE(plans.scan([det], m, 0.0, 1.0, 3), sample="Si")
    validate_documents(docs)
    assert [n for n, _ in docs] == ["start", "descriptor", "event", "event", "event", "stop"]
    start, desc, stop = docs[0][1], docs[1][1], docs[-1][1]
    assert uid == start["uid"] and start["operator"] == "ada" and start["sample"] == "Si"
    assert isinstance(start["scan_id"], int) and start["plan_name"] == "scan"
    assert desc["configuration"]["m"]["data"] == {"m_velocity": 1.0}
    assert desc["hints"] == {"det": {"fields": ["det"]}, "m": {"fields": ["m"]}}
    assert desc["object_keys"] == {"det": ["det"], "m": ["m"]}
    assert stop["exit_status"] == "success" and stop["num_events"] == {"primary": 3}


def test_two_runs_in_one_plan_and_explicit_exit_status() -> None:
    d = PlainDet("d")
    RE = RunEngine()
    docs = collect(RE)
    step = [Msg("create", None, name="primary"), Msg("read", d), Msg("save")]
    uids = RE([Msg("open_run"), *step, Msg("close_run"),
               Msg("open_run"), Msg("close_run", exit_status="abort", reason="sample gone")])
    assert len(uids) == 2
    stops = [doc for n, doc in docs if n == "stop"]
    assert [s["exit_status"] for s in stops] == ["success", "abort"] and stops[1]["reason"] == "sample gone"
    validate_documents(docs[:4])


def test_a_stream_must_keep_its_keys() -> None:
    a, b = PlainDet("a"), PlainDet("b")
    RE = RunEngine()
    with pytest.raises(RuntimeError, match="read the same devices"):
        RE([Msg("open_run"), Msg("create"), Msg("read", a), Msg("save"),
            Msg("create"), Msg("read", b), Msg("save")])


def test_scan_id_and_md_persist_across_restarts(tmp_path: Path) -> None:
    RE = RunEngine(md={"beamline": "BT"}, state_dir=tmp_path)
    RE.md["proposal"] = 42
    docs = collect(RE)
    RE([Msg("open_run"), Msg("close_run")])
    first = docs[0][1]["scan_id"]
    RE2 = RunEngine(state_dir=tmp_path)
    assert RE2.md == {"beamline": "BT", "proposal": 42}
    docs2 = collect(RE2)
    RE2([Msg("open_run"), Msg("close_run")])
    assert docs2[0][1]["scan_id"] == first + 1 and docs2[0][1]["proposal"] == 42
    assert json.loads((tmp_path / "md.json").read_text())["proposal"] == 42
    with pytest.raises(TypeError, match="JSON"):
        RE2.md["motor"] = SoftMotor("m")


def test_a_device_error_fails_the_run_unstages_and_names_the_device() -> None:
    m, det = SoftMotor("m"), Counter("det", fail_on=2)
    RE = RunEngine()
    docs = collect(RE)
    with pytest.raises(RuntimeError, match="detector fault") as info:
        RE(plans.scan([det], m, 0.0, 1.0, 4))
    assert any("det" in note for note in info.value.__notes__)
    validate_documents(docs)
    stop = stop_of(docs)
    assert stop["exit_status"] == "fail" and "detector fault on trigger 2" in stop["reason"]
    assert stop["num_events"] == {"primary": 1} and len(events(docs)) == 1
    assert (m.staged, m.unstaged) == (1, 1) and m.stops == 1, "unstaged and stopped after the failure"
    assert RE.state == "idle"


def test_plan_errors_reach_the_plan_first_so_finalize_runs() -> None:
    m = SoftMotor("m")
    RE = RunEngine()
    docs = collect(RE)
    cleaned: list[Any] = []

    def plan() -> Any:
        yield Msg("open_run")
        try:
            yield Msg("set", m, 1.0, group="g")
            yield Msg("wait", None, group="g")
            raise ValueError("bad sample")
        finally:
            cleaned.append((yield Msg("set", m, 0.0, group="home")))
            yield Msg("wait", None, group="home")

    with pytest.raises(ValueError, match="bad sample"):
        RE(plan())
    assert cleaned and stop_of(docs)["exit_status"] == "fail" and stop_of(docs)["reason"] == "ValueError: bad sample"
    with pytest.raises(TypeError, match="Msg"):
        RE(iter(["not a message"]))  # type: ignore[list-item]
    assert RE.state == "idle"
