"""Dashboard fixtures: a real queue server + twin, and Debian's chromium driven by Playwright.

The browser is the system's (``/usr/bin/chromium``, installed by ``make test``); Playwright
never downloads one. A missing browser fails these tests: it never skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios.twin_process import TwinProcess
from tests.qserver.conftest import QueueServer
from tests.qserver.conftest import admin as admin  # an admin client on an idle, empty queue of `qs`

CHROMIUM = os.environ.get("BEAMTWIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless chromium (the system binary) with a fresh profile, for the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="beamtwin-chromium-")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            ignore_default_args=["--headless"], viewport={"width": 1400, "height": 900}, accept_downloads=True)
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A new tab; closed after the test (its session storage, hence its login, goes with it)."""
    tab = chromium.new_page()
    tab.set_default_timeout(20000)
    messages: list[str] = []
    tab.on("console", lambda m: messages.append(f"console {m.type}: {m.text}"))
    tab.on("pageerror", lambda e: messages.append(f"page error: {e}"))
    yield tab
    print("\n".join(messages))  # shown when the test fails
    if not tab.is_closed():
        tab.close()


@pytest.fixture(scope="module")
def qs(twin: TwinProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueueServer]:
    """A queue server (environment open) for the module, with a restricted group and an observer."""
    server = QueueServer(tmp_path_factory.mktemp("webqs") / "state", twin).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(qs: QueueServer) -> dict[str, str]:
    """API keys: admin, a 'sample' user (count only, det only), an observer."""
    with qs.client() as admin:
        admin.add_group("sample", "user", plans=["count"], devices=["det"])
        return {"admin": qs.admin_key, "sample": admin.add_user("alice", "sample"),
                "observer": admin.add_user("olga", "observers")}


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $BEAMTWIN_SCREENSHOTS (e.g. docs/screenshots) or a temporary folder."""
    where = os.environ.get("BEAMTWIN_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_in(page: Any, url: str, key: str, *, at: str | None = None) -> None:
    """Open the dashboard (served by ``at`` or the server) and log in to ``url`` with ``key``."""
    page.goto(at or f"{url}/")
    page.fill("#login-url", url)
    page.fill("#login-key", key)
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    # the app shows before the login has drawn the live run so far (its snapshot, fetched at once)
    # and followed the stream (connected after it): a test that feeds the page before then has its
    # documents replaced by the snapshot's run when that arrives
    page.wait_for_function("() => !!window.dashboard.source")


def api_get(page: Any, path: str) -> Any:
    """``GET path`` from the dashboard's server, as the logged-in page asks it (its URL and key): the JSON."""
    return json.loads(page.evaluate(f"fetch(`${{window.dashboard.url}}{path}`, "
                                    "{headers: {Authorization: `Bearer ${window.dashboard.key}`}})"
                                    ".then((r) => r.text())"))
