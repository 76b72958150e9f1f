"""Replay pacing, exporters (jsonl, csv, xdi), import, and the ``runs``/``replay``/``export`` commands."""

from __future__ import annotations

import csv
import importlib
import io
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import event_model
import pytest

from scenarios.cli import main as cli
from store import Catalog, Writer, replay
from store.export import export
from store.importer import import_jsonl
from store.journal import to_json
from store.replay import doc_time
from tests.store import runs


def _store(data: Path, *all_docs: runs.Docs) -> None:
    writer = Writer(data)
    for docs in all_docs:
        for name, doc in docs:
            writer(name, doc)


def xafs_run(num: int = 5, scan_id: int = 9) -> runs.Docs:
    bundle = event_model.compose_run(metadata={"plan_name": "xafs", "scan_id": scan_id, "motors": ["energy"],
                                               "element": "Cu", "edge": "K", "d_spacing": 3.1356, "versions": {}})
    docs: runs.Docs = [("start", bundle.start_doc)]
    desc = bundle.compose_descriptor(name="primary", data_keys={
        "energy": {"dtype": "number", "shape": [], "source": "PV:mono", "units": "eV"},
        "i0": {"dtype": "number", "shape": [], "source": "PV:i0", "units": "counts"},
        "it": {"dtype": "number", "shape": [], "source": "PV:it", "units": "counts"}})
    docs.append(("descriptor", desc.descriptor_doc))
    for i in range(num):
        e = 8950.0 + 10.0 * i
        docs.append(("event", desc.compose_event(data={"energy": e, "i0": 1e5, "it": 5e4 - 1000 * i},
                                                 timestamps={"energy": 0.0, "i0": 0.0, "it": 0.0})))
    docs.append(("stop", bundle.compose_stop(exit_status="success")))
    return docs


def test_replay_paced_at_original_timing_or_faster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = time.time()
    docs = runs.scan_with_baseline(5, t0=t0)
    for _, d in docs:  # stretch the run to 0.6 s of document time
        if "time" in d and isinstance(d["time"], float):
            d["time"] = t0 + (d["time"] - t0) * (0.6 / 0.07)
    _store(tmp_path, docs)
    run = Catalog(tmp_path)[-1]
    stamps = [t for n, d in docs if (t := doc_time(n, d)) is not None]
    span = max(stamps) - min(stamps)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    pacing = importlib.import_module("store.replay")  # the module (``store.replay`` is the function)
    monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    got: list[str] = []
    arrived: list[tuple[float, float | None]] = []

    def take(name: str, doc: dict[str, Any]) -> None:
        got.append(name)
        arrived.append((time.monotonic(), doc_time(name, doc)))

    for pace in (1.0, 20.0):
        slept.clear()
        arrived.clear()
        began = time.monotonic()
        assert run.replay(take, pace=pace) == len(docs)
        first = next(t for _, t in arrived if t is not None)
        due = [(w - began, (t - first) / pace) for w, t in arrived if t is not None]
        early = [(at, due_at) for at, due_at in due if at < due_at]
        assert not early, f"pace {pace}: documents ahead of their original intervals / pace: {early}"
        assert 0 < sum(slept) <= span / pace + 1e-6, f"pace {pace}: waits longer than the pace asks: {slept}"
    assert span >= 0.55
    slept.clear()
    replay(run.documents(), lambda n, d: got.append(n))
    assert slept == [], "unpaced: no waiting at all"
    assert got == [n for n, _ in docs] * 3


def test_jsonl_export_and_import_round_trip(tmp_path: Path) -> None:
    docs = runs.grid_scan()
    _store(tmp_path / "a", docs, runs.scan_with_baseline(3, scan_id=8))
    buf = io.StringIO()
    for run in Catalog(tmp_path / "a").runs():
        export(run.documents(), "jsonl", stream=buf)
    lines = buf.getvalue().splitlines()
    assert json.loads(lines[0])[0] == "start"
    paths = import_jsonl(lines, tmp_path / "b")
    assert len(paths) == 2
    back = list(Catalog(tmp_path / "b")[2].documents())
    assert json.loads(to_json(back)) == json.loads(to_json(docs))
    with pytest.raises(ValueError, match="line 2: not a JSON"):
        import_jsonl([lines[0], "{oops"], tmp_path / "c")


def test_csv_per_stream(tmp_path: Path) -> None:
    docs = runs.scan_with_baseline(4)
    _store(tmp_path / "d", docs)
    paths = export(Catalog(tmp_path / "d")[-1].documents(), "csv", out_dir=tmp_path / "out")
    assert sorted(p.name.rsplit("-", 1)[1] for p in paths) == ["baseline.csv", "primary.csv"]
    prim = next(p for p in paths if p.name.endswith("primary.csv"))
    rows = list(csv.reader(prim.open()))
    assert rows[0][:4] == ["time", "seq_num", "m1 (mm)", "m1_setpoint (mm)"]
    assert len(rows) == 5
    want = [d["data"]["det"] for n, d in docs if n == "event" and "det" in d["data"]]
    assert [int(r[rows[0].index("det (counts)")]) for r in rows[1:]] == want


def test_xdi_for_xafs_runs_and_a_clear_error_otherwise(tmp_path: Path) -> None:
    _store(tmp_path / "d", xafs_run(), runs.grid_scan(scan_id=10))
    (path,) = export(Catalog(tmp_path / "d")[9].documents(), "xdi", out_dir=tmp_path / "out")
    text = path.read_text().splitlines()
    assert text[0].startswith("# XDI/1.0")
    assert "# Column.1: energy eV" in text and "# Element.symbol: Cu" in text and "# Element.edge: K" in text
    assert "# Mono.d_spacing: 3.1356" in text
    header = text.index("#----")
    assert text[header + 1] == "# energy i0 it"
    assert [float(v) for v in text[header + 2].split()] == [8950.0, 1e5, 5e4]
    assert len(text) == header + 2 + 5
    with pytest.raises(ValueError, match="not an XAFS run"):
        export(Catalog(tmp_path / "d")[10].documents(), "xdi", out_dir=tmp_path / "out")


def test_cli_runs_json_search_and_export(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "d"
    _store(data, runs.scan_with_baseline(3, scan_id=1, temperature=290.0), runs.grid_scan(scan_id=2),
           runs.aborted_run(scan_id=3), xafs_run(scan_id=4))
    assert cli(["runs", "--data-dir", str(data), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["scan_id"] for r in rows] == [4, 3, 2, 1]
    assert set(rows[0]) == {"uid", "scan_id", "plan_name", "time", "exit_status", "num_events"}
    assert rows[1]["exit_status"] == "abort" and rows[2]["num_events"] == 12
    assert cli(["runs", "--data-dir", str(data), "--json", "--plan", "scan", "--where", "temperature>=280"]) == 0
    assert [r["scan_id"] for r in json.loads(capsys.readouterr().out)] == [1]
    assert cli(["runs", "--data-dir", str(data), "--json", "--where", "plan_name in grid_scan,xafs"]) == 0
    assert [r["scan_id"] for r in json.loads(capsys.readouterr().out)] == [4, 2]
    assert cli(["runs", "--data-dir", str(data), "--json", "--where", "nonsense_key=3"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli(["runs", "--data-dir", str(data), "--where", "bad key"]) == 2
    assert "--where 'bad key'" in capsys.readouterr().err
    assert cli(["runs", "--data-dir", str(data)]) == 0
    assert "grid_scan" in capsys.readouterr().out
    assert cli(["runs", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "no data directory" in capsys.readouterr().err
    assert cli(["export", "2", "--data-dir", str(data), "--format", "csv", "--out", str(tmp_path / "o")]) == 0
    assert Path(capsys.readouterr().out.strip()).name.endswith("-primary.csv")
    assert cli(["export", "2", "--data-dir", str(data), "--format", "xdi", "--out", str(tmp_path / "o")]) == 2
    assert "not an XAFS run" in capsys.readouterr().err
    assert cli(["export", "1", "--data-dir", str(data), "--format", "jsonl", "--out", str(tmp_path / "j")]) == 0
    jsonl_file = Path(capsys.readouterr().out.strip())
    assert jsonl_file.parent == tmp_path / "j" and json.loads(jsonl_file.read_text().splitlines()[-1])[0] == "stop"
    assert cli(["export", "-1", "--data-dir", str(data), "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (tmp_path / "x.jsonl").write_text("\n".join(lines) + "\n")
    assert cli(["import", str(tmp_path / "x.jsonl"), "--data-dir", str(tmp_path / "e")]) == 0
    capsys.readouterr()
    assert Catalog(tmp_path / "e")[4].metadata["start"]["element"] == "Cu"


def test_cli_replay_into_the_live_table(tmp_path: Path, capsys: Any) -> None:
    data = tmp_path / "d"
    docs = runs.scan_with_baseline(4, scan_id=6)
    _store(data, docs)
    assert cli(["replay", "6", "--data-dir", str(data), "--pace", "50"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Run 6 (")
    assert "m1" in out[1] and "det" in out[1]
    dets = [d["data"]["det"] for n, d in docs if n == "event" and "det" in d["data"]]
    assert [int(line.split("|")[4]) for line in out[2:6]] == dets
    assert out[-1].endswith("ended: success")
    assert cli(["replay", "zzz", "--data-dir", str(data)]) == 2
    assert "no run with uid 'zzz'" in capsys.readouterr().err


def test_xdi_follows_the_xdi_1_0_header_rules(tmp_path: Path) -> None:
    from tests.store.xdi_spec import problems

    docs = xafs_run()
    docs[0][1].update(e0=8979.0, xdi_labels={"i0": "i0", "it": "itrans"})
    _store(tmp_path / "d", docs)
    (path,) = export(Catalog(tmp_path / "d")[9].documents(), "xdi", out_dir=tmp_path / "out")
    assert problems(path) == []
    text = path.read_text().splitlines()
    assert "# Column.3: itrans counts" in text and "# Scan.edge_energy: 8979.000" in text
    assert text[text.index("#----") + 1] == "# energy i0 itrans"
    assert text[text.index("#----") - 1] == "# ///"  # software writes no user comments
    # the checker is not vacuous: each broken rule is found
    good = path.read_text()
    spoiled = {
        "version line": good.replace("# XDI/1.0", "# XDI 1.0"),
        "Element.edge": good.replace("# Element.edge: K\n", ""),
        "Column.2": good.replace("# energy i0 itrans", "# energy I0 itrans"),
        "header-end": good.replace("#----\n", ""),
        "not ISO 8601": good.replace("# Scan.start_time: 20", "# Scan.start_time: 1/2/"),
        "fields for": good.rstrip("\n") + " 7\n",
        "Namespace.tag": good.replace("# Mono.d_spacing:", "# Mono d_spacing:"),
    }
    for expected, text_ in spoiled.items():
        bad = tmp_path / "bad.xdi"
        bad.write_text(text_)
        found = problems(bad)
        assert any(expected in p for p in found), (expected, found)
