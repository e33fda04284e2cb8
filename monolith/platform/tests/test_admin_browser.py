"""Fleet staff use the real Django admin in a real browser (Debian's Chromium via Playwright)."""

import os
import re
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from modules.vehicles import api as vehicles_api
from monolith.platform.access import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a root sandbox with no network beyond loopback (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures
    # are ordinary blocking calls, which Django would otherwise refuse inside it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield launched
            launched.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def _fleet() -> dict[str, Any]:
    registered = {
        vin: vehicles_api.vehicle_register(
            vin=vin,
            make="Zoox",
            model="Robotaxi",
            seats=4,
            latitude=Decimal("52.52"),
            longitude=Decimal("13.40"),
        )
        for vin in ("5YJ3E1EA2PF000101", "5YJ3E1EA4PF000102", "5YJ3E1EA6PF000103")
    }
    # One vehicle is already out of service: the status filter must hide it.
    offline = registered["5YJ3E1EA6PF000103"]
    vehicles_api.vehicle_status_change(vehicle_id=offline.id, status="offline", reason="test")
    return registered


def test_staff_filters_vehicles_and_sends_them_to_maintenance(
    page: Page, live_server: Any, make_user: Callable[..., Any]
) -> None:
    make_user("staff-eve", Role.FLEET_STAFF, is_staff=True)
    fleet = _fleet()

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "staff-eve")
    page.fill("#id_password", "pw-staff-eve")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_contain_text("Fleet platform")

    page.goto(f"{live_server.url}/admin/vehicles/vehicle/")
    page.locator("#changelist-filter").get_by_role(
        "link", name=re.compile(r"^available$", re.IGNORECASE)
    ).click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#result_list")).not_to_contain_text("5YJ3E1EA6PF000103")

    page.check("#action-toggle")
    page.select_option("select[name=action]", label="Send selected vehicles to maintenance")
    page.click("button[name=index]")

    expect(page.locator("ul.messagelist")).to_contain_text("sent to maintenance")
    for vin in ("5YJ3E1EA2PF000101", "5YJ3E1EA4PF000102"):
        assert vehicles_api.vehicle_get(vehicle_id=fleet[vin].id).status == "maintenance"
    assert vehicles_api.vehicle_get(vehicle_id=fleet["5YJ3E1EA6PF000103"].id).status == "offline"

    page.goto(f"{live_server.url}/admin/vehicles/vehicle/?status__exact=maintenance")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
