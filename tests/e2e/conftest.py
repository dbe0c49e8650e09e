"""Browser tests: the app served by uvicorn on a free local port, driven by Debian's headless Chromium.

Browsers are never downloaded: Playwright launches /usr/bin/chromium. Screenshots of each step go to
test-artifacts/e2e/ (git-ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sigmd import content
from sigmd.cdshooks.settings import CDSSettings
from sigmd.registry import Registry, Role
from sigmd.web.app import create_app
from sigmd.web.settings import WebSettings
from tests.network import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
TODAY = date(2026, 11, 1)
CLINICIAN, PASSWORD = "dr-e2e", "a long synthetic password"
ADMIN = "admin-e2e"
MOBILE = {"width": 390, "height": 844}
"""A small phone held upright: every page must be usable at this width without scrolling sideways."""
DESKTOP = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class Server:
    url: str
    registry: Registry


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The combined app on 127.0.0.1 with a temporary SQLite registry and one clinician account."""
    import uvicorn

    data_dir = tmp_path_factory.mktemp("e2e-data")
    registry = Registry.open(None, data_dir=data_dir)
    registry.create_user(CLINICIAN, PASSWORD, Role.CLINICIAN, actor="e2e")
    registry.create_user(ADMIN, PASSWORD, Role.ADMIN, actor="e2e")
    settings = WebSettings(data_dir=data_dir, secret_key="e" * 48, today=lambda: TODAY)
    cds = CDSSettings(base_url="http://127.0.0.1", allow_unauthenticated=False)
    app = create_app(settings, cds, content.load(), registry)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start within 20 seconds")
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", registry)
    uv.should_exit = True
    thread.join(timeout=10)
    registry.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-packages.sh to install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def mobile_page(browser: Any, server: Server) -> Iterator[Any]:
    """A page 390 px wide (a phone), with touch and the phone's device scale."""
    context = browser.new_context(
        base_url=server.url, viewport=MOBILE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def shot() -> Any:
    """Save a screenshot as test-artifacts/e2e/<name>.png: the full page, one element, or what the window shows."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str, selector: str | None = None, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        if selector:
            page.locator(selector).first.screenshot(path=str(path))
        else:
            page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
