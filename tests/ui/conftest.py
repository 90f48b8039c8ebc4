"""Fixtures for the UI tests: the settled deployment, its webserver, and headless Chromium.

Playwright drives the distribution's Chromium (``apt-get install -y chromium``),
never a browser build downloaded by ``playwright install``, so the tests run
where only the Debian archive is reachable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.ui.deployment import SettledDeployment, Webserver, settle_on_devnet

CHROMIUM = Path(os.environ.get("ORCHESTRATOR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 60_000
# Wide enough for the six-asset graph to be drawn at a scale where nodes show their details.
VIEWPORT = {"width": 1920, "height": 820}
# UI preferences an operator would have clicked once: navigation collapsed, the asset list
# beside the graph closed, the community sign-up dialog already seen.
UI_PREFERENCES = {"dagster-nav-collapsed": "true", "large-screen-nav-open": "false", "communityNux": '"1"'}

expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="module")
def settled_deployment(tmp_path_factory: pytest.TempPathFactory) -> SettledDeployment:
    return settle_on_devnet(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def dagster_ui(settled_deployment: SettledDeployment) -> Iterator[str]:
    """The webserver's base URL."""
    webserver = Webserver(settled_deployment)
    try:
        yield webserver.start()
    finally:
        webserver.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), f"{CHROMIUM} not found: apt-get install -y chromium (or set ORCHESTRATOR_CHROMIUM)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def ui_page(dagster_ui: str, browser: Browser) -> Iterator[Page]:
    """A fresh browser context on the webserver, with the operator's UI preferences set."""
    context = browser.new_context(base_url=dagster_ui, viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    context.add_init_script(
        "".join(f"localStorage.setItem({name!r}, {value!r});" for name, value in UI_PREFERENCES.items())
    )
    page = context.new_page()
    # Should a Dagster release show its sign-up dialog under another preference name, close it.
    skip = page.get_by_role("button", name="Skip", exact=True)
    page.add_locator_handler(skip, lambda: skip.click())
    try:
        yield page
    finally:
        context.close()
