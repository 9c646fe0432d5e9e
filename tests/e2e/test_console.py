"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright, against a real Herald.

Signs in, watches an alert appear without reloading, acknowledges and resolves from the incident page, reads the
post-mortem, and visits every page on a desktop and on a phone in dark mode. Screenshots of each page go to
`tests/artifacts/` for review. No browser is downloaded: Playwright drives `/usr/bin/chromium`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.web.conftest import MARA, PASSWORD, Console, seed
from tests.support.herald import make_settings, running_herald

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("HERALD_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LIVE_WAIT_MS = 15_000  # the page polls every 5 s


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (required in CI; `make test` installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (or run make test)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def console(sqlite_url: str, tmp_path: Path, fixtures_dir: Path) -> Iterator[Console]:
    with running_herald(make_settings(sqlite_url, data_dir=tmp_path)) as herald:
        seed(herald)
        yield Console(herald, fixtures_dir)


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_acknowledge_resolve_and_read_the_post_mortem(browser, console: Console) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(base_url=console.herald.base_url, timezone_id="America/New_York")
    page = context.new_page()
    page.goto("/console/incidents")
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    shot(page, "login")
    page.get_by_label("E-mail address").fill(MARA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    expect(page.locator("[data-tz]")).to_have_text("America/New_York")  # the browser's zone, not the profile's
    expect(page.get_by_text("all quiet")).to_be_visible()

    number = console.alert()  # an Alertmanager webhook arrives while the page is open
    link = page.get_by_role("link", name=f"#{number}", exact=True)
    expect(link).to_be_visible(timeout=LIVE_WAIT_MS)  # live update, no reload
    expect(page.locator("tr.row-triggered .sla-running")).to_contain_text("left")
    shot(page, "incidents")

    link.focus()
    page.keyboard.press("Enter")  # keyboard navigation
    expect(page.get_by_role("heading", level=1)).to_contain_text("TTSInferenceP95LatencyHigh")
    shot(page, "incident-triggered")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_have_text("You acknowledged this incident.")
    expect(page.locator(".facts .state-acknowledged")).to_have_text("acknowledged")
    expect(page.locator(".timeline .kind-acknowledged").first).to_contain_text("Acknowledged by Mara Lindqvist via web")
    shot(page, "incident-acknowledged")

    page.get_by_label("Note for the timeline").fill("Rolled back to v1.0.3")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".timeline .kind-note").first).to_contain_text("Rolled back to v1.0.3")
    page.get_by_label("Resolution note (optional)").fill("p95 back to 0.61 s")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".facts .state-resolved")).to_have_text("resolved")
    assert console.herald.client.get(f"/api/v1/incidents/{number}").json()["state"] == "resolved"
    shot(page, "incident-resolved")

    page.get_by_role("link", name="Post-mortem (HTML)").click()
    expect(page.locator("body")).to_contain_text(f"#{number}")
    expect(page.locator("body")).to_contain_text("Rolled back to v1.0.3")
    shot(page, "postmortem")

    page.goto("/console/oncall")
    expect(page.get_by_role("heading", name="mlops-primary")).to_be_visible()
    expect(page.locator(".facts").first).to_contain_text("Mara Lindqvist")
    shot(page, "oncall-week")
    page.get_by_label("View").select_option("month")  # submits itself
    expect(page.locator("table.shifts tbody tr")).to_have_count(30)
    shot(page, "oncall-month")

    console.herald.clock.advance(60)
    page.goto("/console/reports")
    expect(page.locator(".tiles li").first).to_have_text("1 incidents 0 open")
    expect(page.get_by_role("region", name="By service", exact=True)).to_contain_text("tts-inference")
    shot(page, "reports")
    context.close()


def test_a_phone_in_dark_mode_gets_readable_cards(browser, console: Console) -> None:
    from playwright.sync_api import expect

    number = console.alert()
    context = browser.new_context(
        base_url=console.herald.base_url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        color_scheme="dark",
    )
    page = context.new_page()
    page.goto("/console/login")
    page.get_by_label("E-mail address").fill(MARA)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("link", name=f"#{number}", exact=True)).to_be_visible()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)"  # the dark palette follows the system setting
    row = page.locator("tr.row-triggered")
    assert row.evaluate("el => getComputedStyle(el).display") == "block"  # table rows become cards
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    shot(page, "phone-incidents-dark")
    page.get_by_role("link", name=f"#{number}", exact=True).click()
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-incident-dark")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    context.close()
