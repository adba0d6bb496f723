"""Patients: search by name, phone or tag; a patient's page with the pain trend; export, erase."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.channels.telegram.staff_group import erase_ticket_posts
from bot.console.auth import SignedIn
from bot.console.charts import line_chart
from bot.console.guard import admin_only, staff_only
from bot.console.state import console_of
from bot.db.models import (
    Address,
    Appointment,
    Consent,
    ConsentEvent,
    PainScore,
    Patient,
    PatientStatus,
    PatientTag,
    ReminderPreference,
    Ticket,
)
from handlers.ids import read_id
from handlers.patients.privacy import export, export_json, forget
from handlers.staff.roles import audit
from handlers.staff.tickets import ticket_posts_of

__all__ = ["patient_erase", "patient_export", "patient_page", "patients"]

log = logging.getLogger(__name__)
PAGE = 50


def _search(query: str) -> Any:
    """Build the search: a tag (`#knee`), digits of a phone number, or part of a name."""
    base = select(Patient).where(Patient.status == PatientStatus.ACTIVE)
    query = query.strip()[:64]
    if not query:
        return base.order_by(Patient.id.desc())
    if query.startswith("#"):
        tagged = select(PatientTag.patient_id).where(PatientTag.tag == query[1:].lower())
        return base.where(Patient.id.in_(tagged)).order_by(Patient.id)
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) >= 4 and len(digits) >= len(query.replace(" ", "")) - 3:
        phones = select(Address.patient_id).where(
            Address.scheme == "tel", Address.urn.like(f"%{digits}%")
        )
        return base.where(Patient.id.in_(phones)).order_by(Patient.id)
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return base.where(Patient.name.ilike(f"%{escaped}%", escape="\\")).order_by(Patient.name)


@staff_only
async def patients(request: Request, who: SignedIn) -> Response:
    """List patients matching the search box (htmx swaps the results as staff type)."""
    console = console_of(request)
    query = request.query_params.get("q", "")
    async with console.services(request).db.session() as session:
        found = list(await session.scalars(_search(query).limit(PAGE)))
    context = {"who": who, "page": "patients", "q": query, "patients": found}
    partial = request.headers.get("hx-request") == "true"
    return console.render(request, "_patients.html" if partial else "patients.html", context)


async def _rows(session: Any, model: Any, patient_id: int, order: Any) -> list[Any]:
    return list(
        await session.scalars(select(model).where(model.patient_id == patient_id).order_by(order))
    )


@staff_only
async def patient_page(request: Request, who: SignedIn) -> Response:
    """Show everything staff need about one patient, the pain-score trend first."""
    console = console_of(request)
    patient_id = read_id(request.path_params["patient_id"])
    async with console.services(request).db.session() as session:
        patient = await session.get(Patient, patient_id) if patient_id else None
        if patient is None or patient.status != PatientStatus.ACTIVE:
            return console.render(request, "missing.html", {"who": who, "what": "patient"}, 404)
        pid = patient.id
        context: dict[str, Any] = {
            "who": who,
            "page": "patients",
            "patient": patient,
            "addresses": await _rows(session, Address, pid, Address.id),
            "consents": await _rows(session, Consent, pid, Consent.category),
            "history": await _rows(session, ConsentEvent, pid, ConsentEvent.id.desc()),
            "tags": [t.tag for t in await _rows(session, PatientTag, pid, PatientTag.tag)],
            "appointments": await _rows(session, Appointment, pid, Appointment.starts_at.desc()),
            "tips": await _rows(session, ReminderPreference, pid, ReminderPreference.category),
            "tickets": await _rows(session, Ticket, pid, Ticket.id.desc()),
            "scores": await _rows(session, PainScore, pid, PainScore.recorded_at),
        }
    points = [(s.recorded_at.date(), float(s.score)) for s in context["scores"]]
    context["chart"] = line_chart("pain", "Pain score over time (0 none, 10 worst)", points)
    context["erased"] = request.query_params.get("erase")
    return console.render(request, "patient.html", context)


@staff_only
async def patient_export(request: Request, who: SignedIn) -> Response:
    """Download everything held about the patient as JSON (audited, as /mydata is)."""
    console = console_of(request)
    patient_id = read_id(request.path_params["patient_id"])
    services = console.services(request)
    async with services.db.session() as session, session.begin():
        data = await export(session, patient_id) if patient_id else {}
        if data:
            await audit(
                session,
                who.actor,
                "patient.exported",
                console.now(request),
                f"patient:{patient_id}",
            )
    if not data:
        return console.render(request, "missing.html", {"who": who, "what": "patient"}, 404)
    return Response(
        export_json(data),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="patient-{patient_id}.json"'},
    )


@admin_only
async def patient_erase(request: Request, who: SignedIn) -> Response:
    """Erase the patient and everything about them, once an admin typed ERASE (audited)."""
    console = console_of(request)
    patient_id = read_id(request.path_params["patient_id"])
    form = await request.form()
    if patient_id is None:
        return console.render(request, "missing.html", {"who": who, "what": "patient"}, 404)
    if str(form.get("confirm", "")).strip() != "ERASE":
        return RedirectResponse(
            f"/console/patients/{patient_id}?erase=unconfirmed", status_code=303
        )
    services = console.services(request)
    async with services.db.session() as session, session.begin():
        if await session.get(Patient, patient_id) is None:
            return console.render(request, "missing.html", {"who": who, "what": "patient"}, 404)
        posts = await ticket_posts_of(session, patient_id)  # read before their rows go
        removed = await forget(session, patient_id, actor=who.actor, now=console.now(request))
    log.info("console: patient %s erased (%s rows)", patient_id, removed)
    telegram = getattr(request.app.state, "telegram", None)
    if posts and telegram is not None:
        # The staff group's posts carry the patient's words: removed as the patient's /forget
        # removes them, in the background (the group takes about a message a second).
        erase = erase_ticket_posts(
            telegram.application.bot,
            services.conversation.answerer.content,
            posts,
            alerts=services.conversation.alerts,
        )
        if telegram.application.running:
            telegram.application.create_task(erase, name="erase-ticket-posts")
        else:
            await erase
    return RedirectResponse("/console/patients?erased=1", status_code=303)
