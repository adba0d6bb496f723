"""The console in a real browser: sign in by link, answer, broadcast, chart, import, axe, 360 px.

Set CONSOLE_SCREENSHOTS=docs/console to refresh the README's screenshots from this run.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram import TelegramOptions
from bot.clock import utc_now
from bot.db.migrate import upgrade
from bot.db.models import Address, Consent, ConsentCategory, Patient
from bot.db.session import Database
from bot.settings import load_settings
from bot.web import create_app
from tests.browser_support import axe_serious, launch_chromium, outside_requests, serve
from tests.console_support import ADMIN, ANA_CHAT, cli_link, seed_clinic, token_of
from tests.telegram_fake import BASE_URL, TOKEN, FakeBotApi

BLOCKED_CHAT = 555009


async def _prepare(url: str) -> None:
    database = Database.open(url)
    try:
        await upgrade(database.engine)
        now = utc_now()
        async with database.session() as session, session.begin():
            await seed_clinic(session, now)
            cy = Patient(name="Cy Blocked", language="en", created_at=now, updated_at=now)
            session.add(cy)
            await session.flush()
            urn = f"telegram:{BLOCKED_CHAT}"
            session.add(Address(patient_id=cy.id, urn=urn, scheme="telegram", created_at=now))
            session.add_all(
                Consent(patient_id=cy.id, category=c, granted=True, source="t", recorded_at=now)
                for c in ConsentCategory
            )
    finally:
        await database.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, str, FakeBotApi]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    asyncio.run(_prepare(url))
    settings = load_settings(
        database_url=url,
        store_message_bodies=True,
        telegram_bot_token=TOKEN,
        telegram_base_url=BASE_URL,
        public_url="https://clinic.example/",
        telegram_webhook_secret="browser-test-secret",
        scheduler_tick_seconds=1.0,
    )
    api = FakeBotApi()
    app = create_app(settings, telegram=TelegramOptions(request=api))
    with serve(app) as base:
        yield base, url, api
    assert api.violations == [], api.violations


class Pages:
    """Checks every page the test visits: axe, 360 px, and a screenshot."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.problems = page, folder, []  # type: list[str]
        self.folder.mkdir(parents=True, exist_ok=True)

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")
        self.problems += [f"{name}: {finding}" for finding in axe_serious(page)]
        page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 360, "height": 740})
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 360:
            self.problems.append(f"{name}: {wide} px wide at 360 px")
        page.set_viewport_size({"width": 1100, "height": 800})


def test_staff_work_through_the_console_in_chromium(
    site: tuple[str, str, FakeBotApi], tmp_path: Path
) -> None:
    base, url, api = site
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    link = cli_link(url, ADMIN)
    with launch_chromium() as browser:
        context = browser.new_context(viewport={"width": 1100, "height": 800})
        page = context.new_page()
        outside = outside_requests(page, base)
        errors: list[str] = []  # a Content-Security-Policy violation is logged as an error
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        pages = Pages(page, folder)

        # Sign in through the link `clinicbot staff link` printed (on this server's origin).
        page.goto(f"{base}/console/signin?t={token_of(link)}")
        pages.check("signin")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/console/inbox")
        assert page.get_by_role("link", name="#1").is_visible()
        pages.check("inbox")

        # Answer the ticket: the patient gets it on Telegram.
        page.get_by_role("link", name="#1").click()
        assert page.get_by_text("Can I move my Thursday visit?").is_visible()
        page.get_by_label("Answer to the patient").fill("Yes, Friday at 10 works.")
        page.get_by_role("button", name="Send answer").click()
        page.get_by_text("Your answer was sent.").wait_for()
        pages.check("ticket")
        to_ana = [c.text for c in api.sent() if c.params.get("chat_id") == ANA_CHAT]
        assert "Yes, Friday at 10 works." in to_ana

        # A broadcast to Telegram patients: live preview, send, then its report.
        page.goto(f"{base}/console/broadcasts")
        page.get_by_label("English (required").fill("The clinic is closed on Friday.")
        page.get_by_label("Spanish (optional)").fill("La clínica cierra el viernes.")
        page.get_by_label("Channel").select_option("telegram")
        page.locator("#recipients").filter(has_text="2 recipients").wait_for()
        assert page.locator(".segments").first.inner_text().endswith("segment")
        pages.check("broadcasts")
        api.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        page.get_by_role("button", name="Send broadcast").click()
        page.wait_for_url(re.compile(r".*/console/broadcasts/\d+$"))
        page.locator("#bc-status").filter(has_text="done").wait_for(timeout=30_000)
        failures = page.locator("td.reason")
        assert failures.count() == 1 and failures.first.inner_text() != "-"
        pages.check("broadcast-report")

        # A patient's pain-score trend chart, with its table.
        page.goto(f"{base}/console/patients")
        page.get_by_label("Name, phone or #tag").fill("ana")
        page.get_by_role("link", name="Ana Lopez").click()
        chart = page.get_by_role("img", name="Pain score over time (0 none, 10 worst)")
        assert chart.is_visible() and chart.locator("circle").count() == 6
        assert page.get_by_role("table", name="Pain scores (0 none, 10 worst)").is_visible()
        pages.check("patient")
        page.goto(f"{base}/console/patients")
        pages.check("patients")

        # Import a file: the dry-run first, then the commit.
        start = (utc_now() + timedelta(days=9)).strftime("%Y-%m-%dT10:00:00-07:00")
        csv = tmp_path / "week.csv"
        csv.write_text(
            f"id,phone,name,start\nw-1,(503) 555-0101,Dee Park,{start}\nw-2,123,Bad,{start}\n"
        )
        page.goto(f"{base}/console/appointments")
        page.get_by_label("CSV or iCalendar").set_input_files(str(csv))
        page.get_by_role("button", name="Check the file (dry run)").click()
        page.get_by_text("Dry run: nothing is changed yet").wait_for()
        assert page.locator("#n-new").inner_text() == "1"
        assert page.locator("#n-errors").inner_text() == "1"
        pages.check("appointments-dry-run")
        page.get_by_role("button", name="Import 1 rows").click()
        page.get_by_text("Imported · week.csv").wait_for()

        for name in ("audit", "stats", "staff"):
            page.goto(f"{base}/console/{name}")
            pages.check(name)
            if name == "audit":  # the answer, the broadcast and the import, by this admin
                for action in ("ticket.replied", "broadcast.create", "appointments.imported"):
                    assert page.get_by_role("cell", name=action, exact=True).count() == 1
        context.close()
    assert pages.problems == []
    assert outside == []
    assert errors == []
