"""The catalog: lookups, search through the SQLite index, rebuild, bad files, many runs with dask."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from store import Catalog, Writer
from tests.store import runs

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("catalog")
    writer = Writer(d)
    specs: list[tuple[Any, dict[str, Any]]] = [
        (runs.scan_with_baseline, {"scan_id": 1, "t0": T0, "temperature": 280.0}),
        (runs.scan_with_baseline, {"scan_id": 2, "t0": T0 + 100, "temperature": 300.0, "sample_tags": ["cu", "k"]}),
        (runs.grid_scan, {"scan_id": 3, "t0": T0 + 200}),
        (runs.aborted_run, {"scan_id": 4, "t0": T0 + 300}),
        (runs.scan_with_baseline, {"scan_id": 5, "t0": T0 + 400, "temperature": 320.0, "operator": "grace"}),
    ]
    for make, kw in specs:
        for name, doc in make(**kw):
            writer(name, doc)
    return d


def _ids(found: list[Any]) -> list[int]:
    return [r.metadata["start"]["scan_id"] for r in found]


def test_lookup_by_scan_id_uid_prefix_and_recency(data_dir: Path) -> None:
    cat = Catalog(data_dir)
    assert len(cat) == 5 and _ids(cat.runs()) == [1, 2, 3, 4, 5]
    assert cat[-1].metadata["start"]["scan_id"] == 5 and cat[-5].metadata["start"]["scan_id"] == 1
    assert cat["3"].metadata["start"]["plan_name"] == "grid_scan"
    uid = cat[2].uid
    assert cat[uid].uid == uid and cat[uid[:10]].uid == uid
    with pytest.raises(KeyError, match="no run with scan_id 99"):
        cat[99]
    with pytest.raises(KeyError, match="reaches past the first"):
        cat[-6]
    with pytest.raises(KeyError, match="no run with uid"):
        cat["zzzz"]


def test_ambiguous_uid_prefix_lists_the_matches(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    uids = ["abc11111-0000", "abc22222-0000"]
    for i, uid in enumerate(uids):
        docs = runs.scan_with_baseline(2, scan_id=i + 1)
        start = {**docs[0][1], "uid": uid}
        writer("start", start)
        for name, doc in docs[1:]:
            doc = {**doc, "run_start": uid} if "run_start" in doc else doc
            writer(name, doc)
    with pytest.raises(KeyError, match=r"ambiguous: .*abc11111-0000.*abc22222-0000|ambiguous: .*abc22222"):
        Catalog(tmp_path)["abc"]
    assert Catalog(tmp_path)["abc1"].uid == uids[0]


def test_search_fields_ranges_in_and_time(data_dir: Path) -> None:
    cat = Catalog(data_dir)
    assert _ids(cat.search()) == [5, 4, 3, 2, 1], "newest first"
    assert _ids(cat.search(plan_name="scan")) == [5, 4, 2, 1]
    assert _ids(cat.search(plan_name="grid_scan")) == [3]
    assert _ids(cat.search(scan_id=2)) == [2]
    assert _ids(cat.search(exit_status="abort")) == [4]
    assert _ids(cat.search(exit_status={"$in": ["abort", "success"]})) == [5, 4, 3, 2, 1]
    assert _ids(cat.search(temperature={"$gte": 300})) == [5, 2]
    assert _ids(cat.search(temperature={"$gt": 279, "$lt": 310})) == [2, 1]
    assert _ids(cat.search(operator={"$in": ["grace", "nobody"]})) == [5]
    assert _ids(cat.search({"sample.name": "foil", "plan_name": "scan"}, limit=2)) == [5, 4]
    assert _ids(cat.search(sample_tags="k")) == [2]
    assert _ids(cat.search(since=T0 + 150, until=T0 + 350)) == [4, 3]
    assert _ids(cat.search(uid=cat[3].uid[:6])) == [3]
    assert _ids(cat.search(num_events={"$gt": 11})) == [3]
    assert _ids(cat.search(num_events=11)) == [5, 2, 1]


def test_unknown_keys_return_nothing(data_dir: Path) -> None:
    cat = Catalog(data_dir)
    assert cat.search(no_such_key=1) == []
    assert cat.search({"sample.colour": {"$in": ["red"]}}) == []
    assert cat.search(plan_name="no_such_plan") == []
    with pytest.raises(ValueError, match=r"unknown operator '\$regex'"):
        cat.search(plan_name={"$regex": "sc.*"})


def test_corrupt_and_foreign_files_are_reported_and_skipped(tmp_path: Path, capsys: Any) -> None:
    writer = Writer(tmp_path)
    for name, doc in runs.scan_with_baseline(3):
        writer(name, doc)
    (tmp_path / "garbage.nc").write_bytes(b"not a netCDF file at all")
    import netCDF4

    with netCDF4.Dataset(tmp_path / "foreign.nc", "w") as nc:
        nc.title = "somebody else's data"
    good = next(tmp_path.glob("0*.nc"))
    (tmp_path / "truncated.nc").write_bytes(good.read_bytes()[:2000])
    cat = Catalog(tmp_path)
    assert len(cat) == 1
    err = capsys.readouterr().err
    assert "garbage.nc" in err and "foreign.nc" in err and "not a beamtwin run file" in err and "truncated.nc" in err
    assert set(cat.problems) == {"garbage.nc", "foreign.nc", "truncated.nc"}
    assert cat.search(plan_name="scan")[0].path == good


def test_index_is_rebuilt_from_the_files_alone(data_dir: Path, tmp_path: Path) -> None:
    cat = Catalog(data_dir)
    before = [(r.uid, r.entry) for r in cat.search()]
    (data_dir / ".catalog.sqlite").unlink()
    for extra in data_dir.glob(".catalog.sqlite-*"):
        extra.unlink()
    again = Catalog(data_dir)
    assert [(r.uid, r.entry) for r in again.search()] == before
    db = sqlite3.connect(data_dir / ".catalog.sqlite")
    db.execute("DELETE FROM start_keys")
    db.commit()
    db.close()
    assert again.rebuild() == 5
    assert _ids(again.search(temperature={"$gte": 300})) == [5, 2]


def test_index_follows_removed_and_new_files(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    for name, doc in runs.scan_with_baseline(2, scan_id=1):
        writer(name, doc)
    cat = Catalog(tmp_path)
    assert len(cat) == 1
    for name, doc in runs.grid_scan(scan_id=2):
        writer(name, doc)
    assert _ids(cat.search()) == [2, 1]
    next(tmp_path.glob("000001-*.nc")).unlink()
    assert _ids(cat.search()) == [2]


def test_many_runs_together_with_dask(data_dir: Path) -> None:
    cat = Catalog(data_dir)
    found = cat.search(plan_name="scan", exit_status="success")
    ds = cat.to_dask(found, fields=["det", "m1"])
    assert ds.sizes["run"] == 3 and ds.sizes["seq_num"] == 9
    assert ds["det"].chunks is not None, "lazy until computed"
    mean = ds["det"].mean("seq_num").compute()
    want = [Catalog(data_dir)[r.uid].stream()["det"].values.mean() for r in found]
    np.testing.assert_allclose(mean.values, want)
    assert list(ds["run"].values) == [r.uid for r in found]
    ragged = cat.to_dask([1, 4])  # a full scan and the aborted one (3 points): padded with NaN
    assert ragged.sizes["seq_num"] == 9 and "m1" in ragged.data_vars
    assert int(ragged["det"].isnull().sum()) == 6 and ragged.attrs == {"stream": "primary"}


def test_index_answers_match_a_plain_filter_on_many_rows() -> None:
    from store.index import BROAD_MATCHES, Entry, Index

    n = 3 * BROAD_MATCHES // 2
    index = Index(":memory:")
    starts = [{"uid": f"{i:08x}-run", "time": T0 + i, "scan_id": i, "plan_name": ["scan", "count", "xafs"][i % 3],
               "temperature": float(i % 50), "tags": ["a", "b"] if i % 4 == 0 else ["c"],
               "sample": {"name": ["foil", "film"][i % 2]}} for i in range(n)]
    index.add((Entry(s["uid"], f"{i}.nc", s["scan_id"], s["plan_name"], s["time"], "success", 1, ["primary"], s,
                     None), 0.0, 0) for i, s in enumerate(starts))

    def plain(pred: Any) -> list[int]:
        return [s["scan_id"] for s in reversed(starts) if pred(s)][:100]

    def ids(q: dict[str, Any], **kw: Any) -> list[int]:
        return [e.scan_id for e in index.search(q, limit=100, **kw)]

    assert ids({"temperature": {"$gte": 10}}) == plain(lambda s: s["temperature"] >= 10)  # broad: walked by time
    assert ids({"temperature": {"$gte": 48.5}}) == plain(lambda s: s["temperature"] >= 48.5)  # narrow: by index
    assert ids({"tags": {"$in": ["a", "b"]}}) == plain(lambda s: "a" in s["tags"])  # list values, no duplicates
    assert ids({"tags": {"$in": ["a", "c"]}, "plan_name": "xafs"}) == plain(lambda s: s["plan_name"] == "xafs")
    assert ids({"sample.name": "film", "temperature": {"$lt": 5}}, since=T0 + 1000) == plain(
        lambda s: s["sample"]["name"] == "film" and s["temperature"] < 5 and s["time"] >= T0 + 1000)
    assert ids({"temperature": {"$gt": 5, "$lt": 7}}) == plain(lambda s: 5 < s["temperature"] < 7)
