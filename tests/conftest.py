"""Shared fixtures: a real twin IOC subprocess on a test-picked loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess


@pytest.fixture(scope="module")
def twin(request: pytest.FixtureRequest) -> Iterator[TwinProcess]:
    """The default twin, served by ``beamtwin serve`` in a subprocess, with CA env set."""
    seed = getattr(request.module, "TWIN_SEED", 11)
    speed = getattr(request.module, "TWIN_SPEED", 50.0)
    saved = {k: os.environ.get(k) for k in ("EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST",
                                           "EPICS_CA_SERVER_PORT", "EPICS_CA_MAX_ARRAY_BYTES")}
    with TwinProcess("demo", seed=seed, speed=speed) as proc:
        os.environ.update(proc.env)
        yield proc
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def validate_documents(docs: list[tuple[str, dict[str, Any]]]) -> None:
    """Every document against the event-model schemas, and the references between them."""
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    starts = [d for n, d in docs if n == "start"]
    stops = [d for n, d in docs if n == "stop"]
    assert len(starts) == 1 and len(stops) == 1, "one start and one stop per run"
    run_uid = starts[0]["uid"]
    assert docs[0][0] == "start" and docs[-1][0] == "stop"
    descriptors = {d["uid"]: d for n, d in docs if n == "descriptor"}
    assert all(d["run_start"] == run_uid for d in descriptors.values())
    assert stops[0]["run_start"] == run_uid
    per_stream: dict[str, list[int]] = {}
    for n, d in docs:
        if n == "event":
            assert d["descriptor"] in descriptors, "event refers to an emitted descriptor"
            stream = descriptors[d["descriptor"]]["name"]
            per_stream.setdefault(stream, []).append(d["seq_num"])
            keys = descriptors[d["descriptor"]]["data_keys"]  # STREAM: keys come through stream_datum only
            assert set(d["data"]) == {k for k, dk in keys.items() if dk.get("external") != "STREAM:"}
    for stream, seqs in per_stream.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"seq_num of {stream} runs 1…N"
        assert stops[0]["num_events"][stream] == len(seqs)
