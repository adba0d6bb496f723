"""Console pages over plain HTTP: each renders, and each action does what it says, audited."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import Appointment, AuditEntry, Broadcast, Delivery, Patient
from tests.console_support import MEMBER, Console, running_console


@pytest.fixture
async def console(database_url: str) -> AsyncIterator[Console]:
    async with running_console(database_url, store_message_bodies=True) as running:
        yield running


async def _audited(console: Console, action: str) -> list[AuditEntry]:
    async with console.app.state.services.db.session() as session:
        found = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(found)


async def test_every_page_renders_for_an_admin(console: Console) -> None:
    ana, ticket = console.ids["ana"], console.ids["ticket"]
    pages = {
        "/console/inbox": "Ana Lopez",
        f"/console/tickets/{ticket}": "Can I move my Thursday visit?",
        "/console/patients?q=ana": "Ana Lopez",
        "/console/patients?q=%23knee": "Ana Lopez",
        "/console/patients?q=5550123": "Bo Chen",
        f"/console/patients/{ana}": "Pain score trend",
        "/console/broadcasts": "New announcement",
        "/console/appointments": "Check the file",
        "/console/audit?action=staff.": "staff.add",
        "/console/stats": "Messages per day by channel",
        "/console/staff": "4343",
    }
    async with console.signed_in() as client:
        for path, expected in pages.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert expected in response.text, path
            # Every asset, link and form is the console's own: nothing loads from elsewhere.
            outside = re.findall(r'(?:src|href|action)="((?:[a-z]+:)?//[^"]*)"', response.text)
            assert outside == [], (path, outside)
        assert (await client.get("/console/")).headers["location"] == "/console/inbox"
        assert (await client.get("/console/patients/999")).status_code == 404


async def test_the_search_does_not_match_everyone(console: Console) -> None:
    async with console.signed_in() as client:
        page = (await client.get("/console/patients?q=chen")).text
        assert "Bo Chen" in page and "Ana Lopez" not in page
        assert "No patient matches" in (await client.get("/console/patients?q=%25")).text


async def test_the_pain_chart_plots_each_score_and_lists_it(console: Console) -> None:
    async with console.signed_in() as client:
        page = (await client.get(f"/console/patients/{console.ids['ana']}")).text
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert len(re.findall(r"<circle ", svg)) == 6 and "<polyline" in svg
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert ys == sorted(ys)  # 8, 7, 7, 5, 4, 3: falling scores sit lower, larger y
    rows = re.findall(r"<td>(\d{4}-\d\d-\d\d)</td><td>(\d+)</td>", page)
    assert [int(score) for _, score in rows] == [8, 7, 7, 5, 4, 3]


async def test_staff_cannot_manage_staff_or_erase(console: Console) -> None:
    async with console.signed_in(MEMBER) as client:
        assert (await client.get("/console/staff")).status_code == 403
        response = await client.post(
            "/console/staff", data={"telegram_user_id": "4242", "action": "remove"}
        )
        assert response.status_code == 403
        erase = f"/console/patients/{console.ids['ana']}/erase"
        assert (await client.post(erase, data={"confirm": "ERASE"})).status_code == 403
        page = await client.get(f"/console/patients/{console.ids['ana']}")
        assert "Erase patient" not in page.text and "Staff</a>" not in page.text
    assert await _audited(console, "staff.remove") == []


async def test_an_admin_removes_staff_and_their_session_ends(console: Console) -> None:
    async with console.signed_in(MEMBER) as member, console.signed_in() as admin:
        assert (await member.get("/console/inbox")).status_code == 200
        response = await admin.post(
            "/console/staff", data={"telegram_user_id": str(MEMBER), "action": "remove"}
        )
        assert response.status_code == 303
        assert (await member.get("/console/inbox")).status_code == 303
    [entry] = await _audited(console, "staff.remove")
    assert entry.actor == "staff:4242" and entry.target == f"staff:{MEMBER}"


async def test_export_and_erase_are_audited(console: Console) -> None:
    ana = console.ids["ana"]
    async with console.signed_in() as client:
        export = await client.post(f"/console/patients/{ana}/export")
        assert export.status_code == 200
        assert export.json()["patient"]["name"] == "Ana Lopez"
        assert "attachment" in export.headers["content-disposition"]
        unconfirmed = await client.post(f"/console/patients/{ana}/erase", data={"confirm": "no"})
        assert unconfirmed.headers["location"].endswith("erase=unconfirmed")
        erased = await client.post(f"/console/patients/{ana}/erase", data={"confirm": "ERASE"})
        assert erased.status_code == 303
        assert (await client.get(f"/console/patients/{ana}")).status_code == 404
    async with console.app.state.services.db.session() as session:
        assert await session.get(Patient, ana) is None
    assert [e.actor for e in await _audited(console, "patient.exported")] == ["staff:4242"]
    assert [e.target for e in await _audited(console, "patient.erased")] == [f"patient:{ana}"]


async def test_closing_a_ticket_is_audited_and_leaves_the_inbox(console: Console) -> None:
    ticket = console.ids["ticket"]
    async with console.signed_in() as client:
        assert (await client.post(f"/console/tickets/{ticket}/close")).status_code == 303
        assert "No open tickets" in (await client.get("/console/inbox")).text
    [entry] = await _audited(console, "ticket.closed")
    assert entry.actor == "staff:4242" and entry.target == f"ticket:{ticket}"


async def test_a_reply_without_a_running_channel_says_so(console: Console) -> None:
    ticket = console.ids["ticket"]
    async with console.signed_in() as client:
        response = await client.post(f"/console/tickets/{ticket}/reply", data={"text": "Hi"})
        assert response.headers["location"].endswith("sent=no_channel")
    [entry] = await _audited(console, "ticket.replied")
    assert entry.detail == "no_channel"


async def test_the_broadcast_preview_counts_segments_and_recipients(console: Console) -> None:
    form = {"text_en": "Closed Friday", "text_es": "Cerrado el sábado", "channel": "both"}
    async with console.signed_in() as client:
        page = (await client.post("/console/broadcasts/preview", data=form)).text
        assert "2 recipients" in page and "1 on Telegram, 1 by SMS" in page
        counts = [int(n) for n in re.findall(r'class="segments">(\d+) segment', page)]
        assert counts == [1, 1]  # English, then Spanish: short texts, one SMS each
        long = await client.post("/console/broadcasts/preview", data={"text_en": "word " * 70})
        assert re.findall(r'class="segments">(\d+) segments', long.text) == ["3"]
        tagged = await client.post("/console/broadcasts/preview", data={**form, "tags": "knee"})
        assert "1 recipients" in tagged.text
        empty = await client.post("/console/broadcasts/preview", data={"text_es": "hola"})
        assert "English text is empty" in empty.text


async def test_a_broadcast_is_sent_scheduled_and_cancelled(console: Console) -> None:
    async with console.signed_in() as client:
        now = await client.post("/console/broadcasts", data={"text_en": "Hello", "when": "now"})
        assert now.status_code == 303
        report = await client.get(now.headers["location"])
        assert "Hello" in report.text and "Delivery report" in report.text
        later = (console.clock() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        form = {"text_en": "Later", "when": "later", "send_at": later, "channel": "sms"}
        scheduled = await client.post("/console/broadcasts", data=form)
        path = scheduled.headers["location"]
        cancelled = await client.post(f"{path}/cancel")
        assert cancelled.headers["location"].endswith("cancelled=1")
        bad = await client.post("/console/broadcasts", data={"text_en": "x", "tags": "no one"})
        assert "error=" in bad.headers["location"]
    async with console.app.state.services.db.session() as session:
        statuses = list(await session.scalars(select(Broadcast.status).order_by(Broadcast.id)))
        pending = await session.scalar(select(func.count()).select_from(Delivery))
    assert statuses == ["scheduled", "cancelled"] and pending == 3
    assert len(await _audited(console, "broadcast.create")) == 2
    assert len(await _audited(console, "broadcast.cancel")) == 1


async def test_an_import_is_a_dry_run_until_committed(console: Console) -> None:
    start = (console.clock() + timedelta(days=10)).strftime("%Y-%m-%dT10:00:00-07:00")
    moved = (console.clock() + timedelta(days=11)).strftime("%Y-%m-%dT10:00:00-07:00")
    csv = (
        "id,phone,name,start,status\n"
        f"new-1,(503) 555-0101,Cy Ruiz,{start},booked\n"
        f"seed-1,+1 415 555 0123,Bo Chen,{moved},booked\n"
        f"bad-1,12345,Nobody,{start},booked\n"
    )
    files = {"file": ("week.csv", csv.encode(), "text/csv")}
    async with console.signed_in() as client:
        dry = await client.post("/console/appointments/dry-run", files=files)
        assert dry.status_code == 200 and "Dry run" in dry.text
        assert re.search(r'id="n-new">1<', dry.text) and re.search(r'id="n-moved">1<', dry.text)
        assert "line 4" in dry.text
        async with console.app.state.services.db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Appointment)) == 1
        key = re.search(r'name="key" value="([^"]+)"', dry.text)
        assert key is not None
        done = await client.post("/console/appointments/commit", data={"key": key.group(1)})
        assert done.status_code == 200 and "Imported" in done.text
        again = await client.post("/console/appointments/commit", data={"key": key.group(1)})
        assert again.status_code == 409
        wrong = {"file": ("week.txt", b"x", "text/plain")}
        assert (
            "not a .csv" in (await client.post("/console/appointments/dry-run", files=wrong)).text
        )
    async with console.app.state.services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Appointment)) == 2
    [entry] = await _audited(console, "appointments.imported")
    assert entry.detail is not None and entry.detail.startswith("1 created, 1 updated")
