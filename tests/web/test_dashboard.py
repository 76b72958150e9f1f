"""The dashboard in a real headless chromium against a real queue server, worker and twin IOCs."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import xarray as xr

from qserver import Client
from scenarios.twin_process import TwinProcess
from store import Catalog
from tests.conftest import wait_until
from tests.qserver.conftest import QueueServer
from tests.web.conftest import api_get, log_in

TWIN_SPEED = 5.0  # slow enough that a 24-point scan takes several seconds: it can be watched and paused
PAGE = Path(__file__).resolve().parents[2] / "qserver" / "web" / "index.html"


def _points(page: Any) -> int:
    return int(page.evaluate("window.dashboard.live && window.dashboard.live.plot ? "
                             "window.dashboard.live.plot.data[0].length : 0"))


def _server_points(page: Any) -> int:
    """The primary events of the live run as the server holds them (``/api/web/live``)."""
    docs = api_get(page, "/api/web/live")["docs"]
    primary = {d["uid"] for name, d in docs if name == "descriptor" and d["name"] == "primary"}
    return sum(1 if name == "event" else len(d["seq_num"]) for name, d in docs
               if name in ("event", "event_page") and d["descriptor"] in primary)


def _wait(predicate: Any, timeout: float = 30.0, what: str = "the condition") -> None:
    """``wait_until`` at the page's pace (each look asks the browser or the server)."""
    wait_until(predicate, timeout, what, every=0.1)


def _fill_scan(page: Any, start: str, stop: str, num: str) -> None:
    """Fill the form of Bluesky's ``scan(detectors, *args, num)``: the motor's range goes in ``args``."""
    page.select_option("#plan-select", "scan")
    page.check('.field[data-param="detectors"] input[value="det"]')
    page.fill("#field-args", f'["motor", {start}, {stop}]')
    page.fill("#field-num", num)


def test_without_a_key_only_the_login_page(qs: QueueServer, page: Any, shots: Path) -> None:
    page.goto(f"{qs.url}/")
    assert page.is_visible("#login-form") and page.is_hidden("#app")
    page.screenshot(path=str(shots / "login.png"))
    for path in ("/api/web/plans", "/api/web/runs", "/api/web/beamline", "/api/web/live", "/api/web/agents"):
        r = httpx.get(f"{qs.url}{path}")
        assert r.status_code == 401 and "no API key" in r.json()["error"], path
    page.fill("#login-key", "not-a-key")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:has-text('invalid API key')")
    assert page.is_hidden("#app")


def test_add_a_scan_watch_it_grow_pause_resume_find_and_download(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any, shots: Path, tmp_path: Path) -> None:
    log_in(page, qs.url, keys["admin"])
    _fill_scan(page, "-3", "3", "24")
    page.click("#form-submit")
    row = page.wait_for_selector("#queue-table tbody tr:has-text('scan')")
    assert "-3" in row.inner_text() and "24" in row.inner_text()
    [item] = admin.items()
    assert item["name"] == "scan" and [*item["args"], *item["kwargs"].values()] == [["det"], "motor", -3, 3, 24]
    page.screenshot(path=str(shots / "queue.png"), full_page=True)

    page.click("button[data-action=start]")
    page.wait_for_selector("#badge-worker:has-text('running')")
    page.click("#nav button[data-view=live]")
    _wait(lambda: _points(page) >= 2, what="the first points on the live plot")
    first = _points(page)
    _wait(lambda: _points(page) > first, what="the live plot to grow")
    assert page.locator("#live-table tbody tr").count() >= 2
    assert "/ 24 points" in page.inner_text("#live-points")

    page.click("#nav button[data-view=queue]")
    page.click("button[data-action=pause]")
    page.wait_for_selector("#badge-worker:has-text('paused')")
    assert page.is_enabled("button[data-action=resume]") and page.is_disabled("button[data-action=pause]")
    page.click("#nav button[data-view=live]")
    measured = _server_points(page)  # the worker is paused: the server has every event it measured
    _wait(lambda: _points(page) == measured, what=f"the page to draw the {measured} points measured before the pause")
    held = _points(page)
    time.sleep(1.5)
    assert _points(page) == held < 24, "nothing is measured while paused"
    assert "paused" in page.inner_text("#live-notes")
    page.screenshot(path=str(shots / "live.png"), full_page=True)
    page.click("#nav button[data-view=queue]")
    page.click("button[data-action=resume]")
    page.wait_for_selector("#history-table tbody tr:has-text('completed')", timeout=60000)
    page.click("#nav button[data-view=live]")
    _wait(lambda: _points(page) == 24, what="all 24 points on the live plot")
    assert "finished: success" in page.inner_text("#live-left")
    [done] = admin.history()[-1:]
    run_uid = done["run_uids"][0]

    page.click("#nav button[data-view=data]")
    page.fill("#search-form input[name=plan]", "scan")
    page.select_option("#search-form select[name=exit_status]", "success")
    page.click("#search-submit")
    page.click(f"#runs-table tr[data-uid='{run_uid}']")
    page.wait_for_selector(f"#run-title:has-text('{run_uid[:8]}')")
    assert page.locator("#run-plot .uplot").count() == 1
    assert '"plan_name": "scan"' in page.inner_text("#run-metadata")
    page.screenshot(path=str(shots / "data.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#download-netcdf")
    nc = tmp_path / dl.value.suggested_filename
    dl.value.save_as(nc)
    assert nc.suffix == ".nc"
    with xr.open_dataset(nc, group="primary", decode_times=False) as ds:
        assert ds.sizes["time"] == 24 and float(ds["motor"].min()) == -3.0 and float(ds["det"].max()) > 0
    with page.expect_download() as dl:
        page.click("#download-csv")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 24 and abs(float(rows[-1]["motor"]) - 3.0) < 1e-6 and "det" in rows[0]


def test_bad_form_input_shows_the_error_next_to_the_field(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any) -> None:
    log_in(page, qs.url, keys["admin"])
    _fill_scan(page, "-1", "1", "2.5")
    page.click("#form-submit")
    err = page.wait_for_selector("#error-num:has-text('integer')")
    assert page.locator('.field[data-param="num"].invalid').count() == 1
    assert page.inner_text("#form-error") == ""
    page.fill("#field-num", "5")
    page.fill("#field-args", '["motor", -1, 50]')  # scan(detectors, *args, num): the motor's range is in args
    page.click("#form-submit")
    page.wait_for_selector("#form-error:has-text('position 50')")
    assert "outside the limits" in page.inner_text("#form-error")
    assert err.inner_text() == "", "the old error is cleared"
    page.fill("#field-args", '["motor", -1, abc]')
    page.click("#form-submit")
    page.wait_for_selector("#error-args:has-text('not valid JSON')")
    page.select_option("#plan-select", "mv")  # *args as a JSON list: a typo is caught next to it
    page.fill("#field-args", '["motor", 99')
    page.click("#form-submit")
    page.wait_for_selector("#error-args:has-text('not valid JSON')")
    page.fill("#field-args", '["motor", 99]')
    page.click("#form-submit")
    page.wait_for_selector("#form-error:has-text('outside the limits')")
    assert admin.items() == [], "nothing was queued"


def test_restricted_user_is_not_offered_forbidden_plans_or_devices(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any) -> None:
    log_in(page, qs.url, keys["sample"])
    assert page.inner_text("#whoami").startswith("alice (sample")
    options = page.eval_on_selector_all("#plan-select option", "els => els.map(e => e.value)")
    assert options == ["count"]
    choices = page.eval_on_selector_all('.field[data-param="detectors"] input', "els => els.map(e => e.value)")
    assert choices == ["det"]
    page.fill("#field-num", "2")
    page.click("#form-submit")
    page.wait_for_selector("#queue-table tbody tr:has-text('count')")
    assert [(it["name"], it["user"]) for it in admin.items()] == [("count", "alice")]
    page.close()

    observer = page.context.new_page()
    log_in(observer, qs.url, keys["observer"])
    assert observer.is_hidden("#plan-form") and observer.is_visible("#form-none")
    assert all(observer.is_hidden(f"button[data-action={a}]") for a in ("start", "pause", "abort"))
    assert observer.locator("#queue-table tbody tr").count() == 1, "an observer still sees the queue"
    observer.close()


def test_drag_and_drop_reorders_and_edit_changes_an_item(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any) -> None:
    uids = [admin.add("count", [["det"]], {"num": n})["uid"] for n in (1, 2, 3)]
    log_in(page, qs.url, keys["admin"])
    page.wait_for_selector(f"#queue-table tr[data-uid='{uids[2]}']")
    page.locator(f"#queue-table tr[data-uid='{uids[2]}'] .handle").drag_to(
        page.locator(f"#queue-table tr[data-uid='{uids[0]}']"), target_position={"x": 5, "y": 2})
    _wait(lambda: [it["uid"] for it in admin.items()] == [uids[2], uids[0], uids[1]], 10, "the move")
    page.wait_for_selector(f"#queue-table tbody tr:first-child[data-uid='{uids[2]}']")
    page.click(f"#queue-table tr[data-uid='{uids[0]}'] button:has-text('edit')")
    page.fill("#field-num", "7")
    page.click("#form-submit")
    _wait(lambda: admin.items()[1]["kwargs"].get("num") == 7 or 7 in admin.items()[1]["args"], 10, "the edit")
    assert admin.items()[1]["uid"] == uids[0]
    page.click(f"#queue-table tr[data-uid='{uids[1]}'] button:has-text('remove')")
    _wait(lambda: len(admin.items()) == 2, 10, "the removal")
    page.click(f"#queue-table tr[data-uid='{uids[2]}'] button:has-text('duplicate')")
    _wait(lambda: len(admin.items()) == 3, 10, "the duplicate")
    copy = admin.items()[1]
    assert copy["uid"] not in uids and copy["kwargs"] == admin.items()[0]["kwargs"] == {"num": 3}
    page.wait_for_selector("#queue-table tbody tr:nth-child(3)")


def test_beamline_readbacks_follow_the_motor(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any, shots: Path) -> None:
    log_in(page, qs.url, keys["admin"])
    page.click("#nav button[data-view=beamline]")
    page.wait_for_selector("#device-table tr[data-device=motor]")
    assert "det" in page.inner_text("#device-table tr[data-device=det]")
    admin.execute("mv", ["motor", 1.25])
    page.wait_for_selector("#device-table tr[data-device=motor]:has-text('motor = 1.25')", timeout=30000)
    faults = page.locator("#fault-buttons button").count()
    notes = page.inner_text("#beamline-notes")
    if faults:  # this twin serves its fault PVs and beam status: a beam dump shows on the panel
        page.wait_for_selector("#beam-available .value:has-text('yes')")
        assert "mA" in page.inner_text("#beam-current")
        page.click("#fault-buttons button[data-fault=beam_dump]")
        page.wait_for_selector("#beam-available .value:has-text('no')", timeout=15000)
        assert "twin_fault" in [e["action"] for e in admin.log(20)]
    else:  # a twin without fault PVs: no button, and the panel names the PVs it looked for
        assert "BT:twin:Dump-Cmd" in notes, notes
    page.screenshot(path=str(shots / "beamline.png"), full_page=True)


def test_agents_panel_shows_suggestions_executed_rounds_and_report(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any, shots: Path) -> None:
    for rnd, (lo, hi) in enumerate([(-4.0, 4.0), (-2.0, 2.0)]):
        admin.add("scan", [["det"], "motor", lo, hi, 5], {"md": {"agent": "webtest", "agent_round": rnd}})
    admin.start()
    admin.wait_idle(timeout=60)
    admin.add("scan", [["det"], "motor", -1.0, 1.0, 5], {"md": {"agent": "webtest", "agent_round": 2}})
    log_in(page, qs.url, keys["admin"])
    page.click("#nav button[data-view=agents]")
    card = page.wait_for_selector("[data-campaign=webtest]")
    text = card.inner_text()
    assert "2 round(s) run, 1 suggestion(s) waiting" in text
    assert "-4 … 4" in text and "-2 … 2" in text
    assert page.locator("[data-campaign=webtest] .uplot").count() == 1
    page.screenshot(path=str(shots / "agents.png"), full_page=True)


def test_a_page_served_elsewhere_steers_the_server(qs: QueueServer, keys: dict[str, str], admin: Client,
                                                   page: Any) -> None:
    admin.add("count", [["det"]], {"num": 1})
    log_in(page, qs.url, keys["admin"], at=PAGE.as_uri())
    page.wait_for_selector("#queue-table tbody tr:has-text('count')")
    page.wait_for_selector("#badge-env:has-text('env open')")  # the status stream reaches the file:// page
    r = httpx.options(f"{qs.url}/api/queue", headers={"Origin": "http://elsewhere:8080",
                                                          "Access-Control-Request-Method": "GET",
                                                          "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] in ("*", "http://elsewhere:8080")


def test_grid_documents_draw_a_2d_map(qs: QueueServer, keys: dict[str, str], page: Any) -> None:
    """A run with two scanned dimensions is drawn as a colour map (documents fed to the page's handler)."""
    log_in(page, qs.url, keys["admin"])
    page.click("#nav button[data-view=live]")
    page.evaluate("""() => {
      liveDoc("start", {uid: "grid-run", scan_id: 99, plan_name: "grid_scan", time: Date.now() / 1000, num_points: 9,
                        detectors: ["det"], hints: {dimensions: [[["y"], "primary"], [["x"], "primary"]]}});
      liveDoc("descriptor", {uid: "d1", name: "primary", hints: {det: {fields: ["det"]}},
                             data_keys: {x: {dtype: "number"}, y: {dtype: "number"}, det: {dtype: "number"}}});
      let n = 0;
      for (const y of [0, 1, 2]) for (const x of [0, 1, 2]) {
        n += 1;
        const det = x === 2 && y === 0 ? 100 : 1;
        liveDoc("event", {uid: "e" + n, descriptor: "d1", seq_num: n, time: n, data: {x, y, det}});
      }
    }""")
    page.wait_for_selector("#live-map:not([hidden])")
    assert page.is_hidden("#live-plot") and "9 / 9 points" in page.inner_text("#live-points")
    # the hottest cell (x=2, y=0) is bottom right, a cold one (x=0, y=2) top left: different colours
    hot, cold = page.evaluate("""() => {
      const c = document.getElementById("live-map").getContext("2d");
      return [Array.from(c.getImageData(400, 300, 1, 1).data), Array.from(c.getImageData(60, 60, 1, 1).data)];
    }""")
    assert hot[3] == 255 and cold[3] == 255 and hot[:3] != cold[:3]


def test_buttons_follow_the_state_stop_after_current_and_abort(
        qs: QueueServer, keys: dict[str, str], admin: Client, page: Any) -> None:
    admin.add("count", [["det"]], {"num": 200, "delay": 0.05})
    admin.add("count", [["det"]], {"num": 1})
    log_in(page, qs.url, keys["admin"])
    page.wait_for_selector("#badge-worker:has-text('idle')")
    page.wait_for_selector("button[data-action=start]:enabled")
    assert all(page.is_disabled(f"button[data-action={a}]") for a in ("stop", "pause", "resume", "abort"))
    page.click("button[data-action=start]")
    page.wait_for_selector("#badge-worker:has-text('running')")
    page.wait_for_selector("button[data-action=abort]:enabled")
    assert page.is_disabled("button[data-action=start]") and page.is_disabled("button[data-action=env_close]")
    time.sleep(1.0)
    late = page.context.new_page()  # a page opened mid-run draws the run so far, then follows it
    log_in(late, qs.url, keys["observer"])
    late.click("#nav button[data-view=live]")
    _wait(lambda: _points(late) >= 3, 10, "the run so far on a page opened mid-run")
    assert late.evaluate("window.dashboard.live.rows[0].seq_num") == 1, "it has the points from before it opened"
    first = _points(late)
    _wait(lambda: _points(late) > first, 10, "the late page to follow the run")
    late.close()
    page.click("button[data-action=stop]")
    page.wait_for_selector("#badge-queue:has-text('queue stopping')")
    page.wait_for_selector("button[data-action=stop_cancel]:enabled")
    assert page.is_disabled("button[data-action=stop]")
    page.click("button[data-action=abort]")
    page.wait_for_selector("#history-table tbody tr:first-child:has-text('aborted')", timeout=30000)
    page.wait_for_selector("#badge-queue:has-text('queue stopped')")
    page.wait_for_selector("button[data-action=abort]:disabled")
    page.wait_for_selector("button[data-action=start]:enabled")
    assert [it["kwargs"]["num"] for it in admin.items()] == [1], "the second item was not started"


def test_run_search_filters_and_errors(qs: QueueServer, keys: dict[str, str], admin: Client) -> None:
    admin.add("count", [["det"]], {"num": 2, "md": {"sample": "quartz", "operator": {"name": "ann"}}})
    admin.start()
    admin.wait_idle(timeout=60)
    uid = admin.history()[-1]["run_uids"][0]
    auth = {"Authorization": f"Bearer {keys['observer']}"}  # an observer may search and download

    def found(**params: str) -> list[str]:
        r = httpx.get(f"{qs.url}/api/web/runs", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [run["uid"] for run in r.json()["runs"]]

    assert uid in found(sample="quartz") and uid in found(md="operator.name=ann") and uid in found(md="QUARTZ")
    assert uid in found(plan="count", exit_status="success", since=str(time.time() - 600))
    assert uid not in found(md="operator.name=bob") and uid not in found(sample="salt")
    assert uid not in found(since=str(time.time() + 60)) and uid not in found(plan="scan")
    for params, expected in (({"scan_id": "one"}, "scan_id"), ({"since": "yesterday"}, "since"),
                             ({"md": "=x"}, "md")):
        r = httpx.get(f"{qs.url}/api/web/runs", params=params, headers=auth)
        assert r.status_code == 400 and expected in r.json()["error"], (params, r.text)
    r = httpx.get(f"{qs.url}/api/web/runs/{uid}/csv", headers=auth)
    assert r.status_code == 200 and len(r.text.strip().splitlines()) == 3 and "det" in r.text.splitlines()[0]
    r = httpx.get(f"{qs.url}/api/web/runs/ffffffff/netcdf", headers=auth)
    assert r.status_code == 404 and "no run" in r.json()["error"]
    r = httpx.post(f"{qs.url}/api/web/faults", json={"fault": "beam_dump"}, headers=auth)
    assert r.status_code == 403, "an observer may not trigger faults"


def test_a_beam_dump_during_a_queued_scan_shows_as_a_suspension(
        qs: QueueServer, twin: TwinProcess, keys: dict[str, str], admin: Client, page: Any, shots: Path) -> None:
    events: list[dict[str, Any]] = []

    def follow() -> None:
        with qs.client() as c:
            for ev in c.stream(timeout=60):
                events.append(ev)
                if ev["type"] == "finished":
                    return

    log_in(page, qs.url, keys["admin"])
    page.click("#nav button[data-view=live]")
    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    _wait(lambda: bool(events), what="the stream's first event (its status)")  # following before anything runs
    item = admin.add("scan", [["det"], "motor", -2.0, 2.0, 12])
    admin.start()
    _wait(lambda: _points(page) >= 2, what="the first points")
    twin.fault("dump", value=10.0)                   # 10 simulated s without beam: 2 s here
    page.wait_for_selector("#live-notes li:has-text('SUSPENDED')", timeout=15000)
    page.wait_for_selector("#badge-worker:has-text('suspended')")
    page.screenshot(path=str(shots / "live-suspended.png"), full_page=True)
    page.wait_for_selector("#live-notes li:has-text('RESUMED')", timeout=30000)
    admin.wait_idle(timeout=60)
    watcher.join(30)
    [done] = admin.history()[-1:]
    assert done["item"]["uid"] == item["uid"] and done["exit_status"] == "completed"
    suspensions = [e for e in events if e["type"] == "suspension"]
    assert [e["state"] for e in suspensions] == ["suspended", "resumed"]
    assert "beam not available" in suspensions[0]["justification"]
    assert any(e["type"] == "status" and e["worker"] == "suspended" for e in events)
    with xr.open_dataset(Catalog(qs.state_dir / "data")[done["run_uids"][0]].path, group="primary",
                         decode_times=False) as ds:   # nothing lost or measured twice through the suspension
        assert list(ds["seq_num"].values) == list(range(1, 13))
        np.testing.assert_allclose(ds["motor"].values, np.linspace(-2.0, 2.0, 12), atol=1e-3)
