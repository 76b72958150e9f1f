"""The dashboard's server-side parts without a server: the live recorder, the plan forms, the search filters."""

from __future__ import annotations

from typing import Any, cast

import pytest

from qserver.auth import Principal
from qserver.manager import QueueManager
from qserver.web.forms import plans_for
from qserver.web.live import LiveRecorder
from qserver.web.runs import parse_md


def test_live_recorder_keeps_the_latest_run_and_notes_pauses_and_suspensions() -> None:
    rec = LiveRecorder(cast(QueueManager, None))
    for event in ({"type": "doc", "name": "start", "doc": {"uid": "a"}},
                  {"type": "doc", "name": "event", "doc": {"seq_num": 1}},
                  {"type": "doc", "name": "start", "doc": {"uid": "b"}},
                  {"type": "doc", "name": "event", "doc": {"seq_num": 1}},
                  {"type": "status", "worker": "idle"}, {"type": "status", "worker": "running"},
                  {"type": "status", "worker": "suspended"}, {"type": "status", "worker": "running"},
                  {"type": "console", "line": "| 3 | 17:00:01 | 12 |"},
                  {"type": "console", "line": "suspending: beam current below 10 mA"}):
        rec.take(event)
    snap: dict[str, Any] = rec.snapshot()
    assert [d["uid"] for n, d in snap["docs"] if n == "start"] == ["b"] and len(snap["docs"]) == 2
    assert [n["text"] for n in snap["notes"]] == ["worker running → suspended", "worker suspended → running",
                                                  "suspending: beam current below 10 mA"]


def test_plan_forms_follow_the_group() -> None:
    snapshot = {"devices": {"motor": {"kind": "motor"}, "det": {"kind": "scaler"}}}
    sample = Principal("alice", "sample", "user", frozenset({"count"}), frozenset({"det"}))
    forms = plans_for(sample, snapshot)
    assert list(forms["plans"]) == ["count"] and list(forms["devices"]) == ["det"]
    fields = {f["name"]: f for f in forms["plans"]["count"]["fields"]}
    assert fields["detectors"]["widget"] == "devices" and fields["detectors"]["required"]
    assert fields["num"]["widget"] == "int" and fields["num"]["default"] == 1 and not fields["num"]["required"]
    assert fields["md"]["passed"] == "keyword" and fields["md"]["widget"] == "json"
    admin = Principal("root", "admin", "admin", None, None)
    assert {"count", "scan", "mv"} <= set(plans_for(admin, snapshot)["plans"])
    observer = Principal("olga", "observers", "observer", frozenset(), frozenset())
    assert plans_for(observer, snapshot)["plans"] == {}


def test_free_metadata_terms() -> None:
    assert parse_md("sample=quartz, operator.name = ann,  Edge ") == ({"sample": "quartz", "operator.name": "ann"},
                                                                      ["edge"])
    with pytest.raises(ValueError, match="no key"):
        parse_md("=quartz")
