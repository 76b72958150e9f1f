"""Never lost: a SIGKILLed writer's acknowledged events come back through ``Catalog.recover()``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scenarios.cli import main as cli
from store import Catalog, Writer
from store.journal import read_journal
from tests.conftest import wait_until
from tests.store import runs

FLUSH = 0.2

WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import event_model
    from store import Writer

    writer = Writer(sys.argv[1], flush_interval=float(sys.argv[2]))
    bundle = event_model.compose_run(metadata={"plan_name": "long_count", "scan_id": 77, "versions": {}})
    writer("start", bundle.start_doc)
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "det": {"dtype": "integer", "shape": [], "source": "sim"},
        "cam": {"dtype": "array", "shape": [16, 16], "source": "sim"}})
    writer("descriptor", desc.descriptor_doc)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        frame = np.full((16, 16), i, dtype=np.uint16)
        event = desc.compose_event(data={"det": i, "cam": frame}, timestamps={"det": time.time(), "cam": time.time()})
        writer("event", event)
        print(event["uid"], i, flush=True)   # acknowledged: the writer's call has returned
        time.sleep(0.002)
""")


def test_sigkilled_writer_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(data), str(FLUSH)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    acked: list[tuple[float, str, int]] = []
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        uid, seq = proc.stdout.readline().split()
        acked.append((time.monotonic(), uid, int(seq)))
    t_kill = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) > 50

    cat = Catalog(data)
    assert len(cat) == 0 and len(cat.interrupted()) == 1
    (path,) = cat.recover()
    run = Catalog(data)[77]
    assert run.path == path and run.metadata["stop"] is None
    assert run.entry.exit_status == "incomplete"
    stored = {d["uid"]: d for n, d in run.documents() if n == "event"}
    required = [uid for t, uid, _ in acked if t < t_kill - FLUSH]
    assert required and all(uid in stored for uid in required), "an event acknowledged before kill − flush is lost"
    # stronger: every write reached the OS before the call returned, so nothing acknowledged is lost
    assert all(uid in stored for _, uid, _ in acked)
    ds = run.stream("primary")
    assert ds.sizes["time"] >= len(acked)
    np.testing.assert_array_equal(ds["cam"].values[:, 3, 3], ds["det"].values)
    assert not cat.interrupted() and not list((data / ".journal").glob("*.jsonl"))


def test_recover_leaves_a_live_writers_run_alone(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(5)
    writer = Writer(tmp_path, flush_interval=0.1)
    for name, doc in docs[:6]:
        writer(name, doc)
    cat = Catalog(tmp_path)
    assert cat.interrupted() == [] and cat.recover() == []
    for name, doc in docs[6:]:
        writer(name, doc)
    assert Catalog(tmp_path)[-1].metadata["stop"]["exit_status"] == "success"


def test_torn_journal_tail_is_dropped_and_the_rest_recovered(tmp_path: Path, capsys: Any) -> None:
    docs = runs.frames_run(6, (16, 16))
    writer = Writer(tmp_path, flush_interval=0.1)
    for name, doc in docs[:-3]:
        writer(name, doc)
    journal = next((tmp_path / ".journal").glob("*.jsonl"))
    for run in writer._runs.values():  # the process "dies": nobody holds the journal any more
        run.journal.close()
    with journal.open("a") as f:
        f.write('["event", {"uid": "half-writ')
    assert len(read_journal(journal)) == len(docs) - 3
    assert cli(["runs", "--data-dir", str(tmp_path), "--json"]) == 0
    shown = capsys.readouterr()
    assert json.loads(shown.out) == [] and "1 interrupted run(s) not recovered yet" in shown.err
    assert cli(["runs", "--data-dir", str(tmp_path), "--json", "--recover"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["exit_status"] == "incomplete" and row["num_events"] == 4
    cat = Catalog(tmp_path)
    run = cat[-1]
    assert run.metadata["stop"] is None and run.stream("primary").sizes["time"] == 4
    replayed = list(run.documents())
    assert [n for n, _ in replayed] == [n for n, _ in docs[:-3]]


def test_flush_interval_is_bounded() -> None:
    with pytest.raises(ValueError, match="flush_interval"):
        Writer("/tmp/unused-beamtwin", flush_interval=5.0)


def test_snapshots_let_readers_follow_a_run_in_progress(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(6)
    writer = Writer(tmp_path, snapshot_interval=0.05)
    for name, doc in docs[:6]:  # start, baseline descriptor + event, primary descriptor, two events
        writer(name, doc)
        time.sleep(0.06)
    live = Catalog(tmp_path)[-1]
    assert live.entry.exit_status == "incomplete" and live.metadata["stop"] is None
    assert live.stream("primary").sizes["time"] == 2
    assert not Catalog(tmp_path).interrupted(), "the writer still holds the run"
    for name, doc in docs[6:]:
        writer(name, doc)
    done = Catalog(tmp_path)[-1]
    assert done.entry.exit_status == "success" and done.stream("primary").sizes["time"] == 6
    assert len(Catalog(tmp_path)) == 1


def test_the_journal_is_fsynced_within_the_flush_interval_without_further_documents(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(3)
    writer = Writer(tmp_path, flush_interval=0.1)
    for name, doc in docs[:5]:
        writer(name, doc)
    (run,) = writer._runs.values()
    deadline = time.monotonic() + 5.0
    while run.journal._dirty and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not run.journal._dirty, "the background flusher fsyncs an idle run's journal"
    for name, doc in docs[5:]:
        writer(name, doc)


CONVERT_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import store.writer
    from store import Writer
    from tests.store import runs

    slow = store.writer.write_run
    def slowed(*a, **k):  # the conversion made slow, so that the kill lands after 'done', before the file
        time.sleep(30)
        return slow(*a, **k)
    store.writer.write_run = slowed
    writer = Writer(sys.argv[1], convert_after_stop=True)
    for name, doc in runs.scan_with_baseline(5):
        writer(name, doc)
    print("done", flush=True)   # what the queue's worker reports once the stop document's call returns
    time.sleep(60)
""")


def test_a_run_done_before_its_file_is_made_survives_a_kill(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CONVERT_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "done"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    cat = Catalog(tmp_path)
    assert len(cat) == 0 and len(cat.interrupted()) == 1   # no file yet: the journal, complete, is left
    (path,) = cat.recover()
    run = Catalog(tmp_path)[-1]
    assert run.path == path and run.metadata["stop"]["exit_status"] == "success"
    assert run.stream("primary").sizes["time"] == 5


def test_convert_after_stop_returns_before_the_file_and_lookups_wait_for_it(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(5)
    uid = docs[0][1]["uid"]
    writer = Writer(tmp_path, convert_after_stop=True)
    journal = tmp_path / ".journal" / f"{uid}.jsonl"
    with writer._finishing:                                # the writer's thread cannot convert meanwhile
        for name, doc in docs:
            writer(name, doc)
        assert [n for n, _ in read_journal(journal)][-1] == "stop" and not list(tmp_path.glob("*.nc"))
        t0 = time.monotonic()
        releaser = threading.Thread(target=lambda: (time.sleep(0.5), writer._finishing.release()))
        releaser.start()
        run = Catalog(tmp_path)[uid[:8]]                   # waits for the writer's thread
        assert time.monotonic() - t0 >= 0.45
        writer._finishing.acquire()                        # (the with block releases it again)
        releaser.join()
    assert run.metadata["stop"]["exit_status"] == "success" and run.stream("primary").sizes["time"] == 5
    deadline = time.monotonic() + 10
    while journal.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not journal.exists() and Catalog(tmp_path).interrupted() == []
    with pytest.raises(KeyError, match="no run with uid"):
        Catalog(tmp_path)["ffffffff"]                       # an unknown uid does not wait


def test_a_lookup_finds_a_run_converted_between_its_search_and_its_look_at_the_journals(tmp_path: Path) -> None:
    """The run was not indexed yet when the lookup searched, and its writer finished (file in place,
    journal gone) before the lookup looked for journals being converted: the lookup finds the file."""
    docs = runs.scan_with_baseline(3)
    uid = docs[0][1]["uid"]
    writer = Writer(tmp_path, convert_after_stop=True)
    journal = tmp_path / ".journal" / f"{uid}.jsonl"
    cat = Catalog(tmp_path)
    search = cat.index.search
    converted = threading.Event()

    def search_then_let_the_writer_finish(*args: Any, **kwargs: Any) -> Any:
        found = search(*args, **kwargs)
        if not converted.is_set():
            converted.set()
            writer._finishing.release()                     # the writer's thread converts now …
            wait_until(lambda: not journal.exists(), 10.0, "the writer to let the journal go")
            writer._finishing.acquire()
        return found

    with writer._finishing:
        for name, doc in docs:
            writer(name, doc)
        cat.index.search = search_then_let_the_writer_finish  # type: ignore[method-assign]
        run = cat[uid]
    assert converted.is_set() and run.metadata["stop"]["exit_status"] == "success"
