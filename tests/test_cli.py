"""The ``beamtwin`` command as scripts use it: exit codes, data dir, JSON-lines export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import validate_documents


def _beamtwin(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scenarios", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_run_then_export(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _beamtwin("run", "--data-dir", str(data), "--speed", "100", "--seed", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS peak_center" in done.stdout
    files = list(data.glob("*.nc"))
    assert len(files) == 1 and str(files[0]) in done.stdout

    exported = _beamtwin("export", "-1", "--format", "jsonl", "--data-dir", str(data))
    assert exported.returncode == 0, exported.stderr
    docs = [tuple(json.loads(line)) for line in exported.stdout.splitlines()]
    validate_documents(docs)  # type: ignore[arg-type]
    start = docs[0][1]
    assert start["twin_seed"] == 5 and start["simulated"] is True
    by_scan_id = _beamtwin("export", str(start["scan_id"]), "--data-dir", str(data))
    uid = start["uid"]
    # an all-digit prefix would mean a scan_id, so take the shortest one (≥ 6) with a letter
    prefix = next(uid[:n] for n in range(6, len(uid) + 1) if not uid[:n].isdigit())
    by_prefix = _beamtwin("export", prefix, "--data-dir", str(data))
    assert by_scan_id.stdout == by_prefix.stdout == exported.stdout


def test_export_of_an_unknown_run_is_an_error(tmp_path: Path) -> None:
    done = _beamtwin("export", "deadbeef", "--data-dir", str(tmp_path))
    assert done.returncode != 0 and "no run with uid 'deadbeef'" in done.stderr


def test_serve_writes_the_ready_file(tmp_path: Path) -> None:
    from scenarios.twin_process import TwinProcess

    with TwinProcess("demo", seed=1) as twin:
        assert "BT:m1.RBV" in twin.pvs and "BT:sc1.S2" in twin.pvs and "BT:m1.DMOV" in twin.pvs
        assert len(twin.pvs) == len(set(twin.pvs))
