"""benchmarks/store.py still runs (quick sizes) and prints its figures as JSON on the last line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_store_benchmark_quick_run_prints_its_figures() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "store.py"), "--quick"], capture_output=True,
                         text=True, timeout=240, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    for key in ("scalar_events_per_s_streaming", "scalar_events_per_s_jsonl_peer", "frames_MB_per_s_to_netcdf_file",
                "frames_MB_per_s_jsonl_peer", "replay_docs_per_s", "search_ms_p95", "rebuild_index_s"):
        assert figures[key] > 0, key
    assert figures["rebuild_run_files"] == 50
