"""The inbox: open hand-off tickets, a ticket's conversation, reply and close."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.console.auth import SignedIn
from bot.console.delivery import close_and_tell, patient_senders, reply_to_ticket
from bot.console.guard import staff_only
from bot.console.state import console_of
from bot.db.models import MessageLog, Patient, Ticket, TicketStatus
from handlers.ids import read_id

__all__ = ["inbox", "ticket_close", "ticket_page", "ticket_reply"]

MAX_REPLY = 4000
CONVERSATION = 50
OPEN_SHOWN = 200


async def _open_tickets(request: Request) -> list[tuple[Ticket, str | None]]:
    services = console_of(request).services(request)
    async with services.db.session() as session:
        rows = await session.execute(
            select(Ticket, Patient.name)
            .join(Patient, Patient.id == Ticket.patient_id)
            .where(Ticket.status == TicketStatus.OPEN)
            .order_by(Ticket.opened_at)
            .limit(OPEN_SHOWN)
        )
        return [(ticket, name) for ticket, name in rows]


@staff_only
async def inbox(request: Request, who: SignedIn) -> Response:
    """List open tickets, oldest first; htmx asks for the list alone every few seconds."""
    console = console_of(request)
    tickets = await _open_tickets(request)
    name = "_tickets.html" if request.query_params.get("part") == "list" else "inbox.html"
    return console.render(request, name, {"who": who, "tickets": tickets, "page": "inbox"})


async def _ticket_context(request: Request, ticket_id: int) -> dict[str, object] | None:
    console = console_of(request)
    services = console.services(request)
    async with services.db.session() as session:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return None
        patient = await session.get(Patient, ticket.patient_id)
        messages = list(
            await session.scalars(
                select(MessageLog)
                .where(MessageLog.patient_id == ticket.patient_id)
                .order_by(MessageLog.id.desc())
                .limit(CONVERSATION)
            )
        )
    messages.reverse()
    return {
        "ticket": ticket,
        "patient": patient,
        "messages": messages,
        "bodies": services.settings.store_message_bodies,
        "page": "inbox",
    }


@staff_only
async def ticket_page(request: Request, who: SignedIn) -> Response:
    """Show a ticket's conversation with reply and close; the thread refreshes itself."""
    console = console_of(request)
    ticket_id = read_id(request.path_params["ticket_id"])
    context = await _ticket_context(request, ticket_id) if ticket_id else None
    if context is None:
        return console.render(request, "missing.html", {"who": who, "what": "ticket"}, 404)
    context["who"] = who
    context["sent"] = request.query_params.get("sent")
    name = "_conversation.html" if request.query_params.get("part") == "thread" else "ticket.html"
    return console.render(request, name, context)


@staff_only
async def ticket_reply(request: Request, who: SignedIn) -> Response:
    """Send the staff answer to the patient's channel, then show the ticket again."""
    console = console_of(request)
    ticket_id = read_id(request.path_params["ticket_id"])
    form = await request.form()
    text = str(form.get("text", "")).strip()[:MAX_REPLY]
    if ticket_id is None:
        return console.render(request, "missing.html", {"who": who, "what": "ticket"}, 404)
    if not text:
        return RedirectResponse(f"/console/tickets/{ticket_id}?sent=empty", status_code=303)
    services = console.services(request)
    senders = patient_senders(request.app.state, services)
    status = await reply_to_ticket(services, senders, ticket_id, text, who.actor)
    return RedirectResponse(f"/console/tickets/{ticket_id}?sent={status}", status_code=303)


@staff_only
async def ticket_close(request: Request, who: SignedIn) -> Response:
    """Close the ticket and tell the patient, as /close does."""
    console = console_of(request)
    ticket_id = read_id(request.path_params["ticket_id"])
    if ticket_id is None:
        return console.render(request, "missing.html", {"who": who, "what": "ticket"}, 404)
    services = console.services(request)
    senders = patient_senders(request.app.state, services)
    await close_and_tell(services, senders, ticket_id, who.actor, who.name)
    return RedirectResponse("/console/inbox", status_code=303)
