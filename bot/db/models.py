"""Tables: patients and their addresses, consents, messages, appointments, staff and audit."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

__all__ = [
    "Address",
    "Appointment",
    "AppointmentStatus",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastStatus",
    "Consent",
    "ConsentCategory",
    "ConsentEvent",
    "Delivery",
    "DeliveryStatus",
    "MessageLog",
    "PainScore",
    "Patient",
    "PatientStatus",
    "PatientTag",
    "ProcessedUpdate",
    "RateLane",
    "ReminderPreference",
    "SafetyEvent",
    "SchedulerState",
    "Staff",
    "StaffRole",
    "Ticket",
    "TicketPost",
    "TicketStatus",
    "TipCategory",
    "UTCDateTime",
    "WebChat",
    "WebChatMessage",
    "Worker",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and return them aware, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING)


class PatientStatus(StrEnum):
    """Whether a patient is an active contact or has asked to be erased."""

    ACTIVE = "active"
    ERASED = "erased"


class ConsentCategory(StrEnum):
    """The kinds of automated message a patient can agree to separately."""

    APPOINTMENTS = "appointments"
    TIPS = "tips"
    ANNOUNCEMENTS = "announcements"


class TipCategory(StrEnum):
    """The between-visit reminder topics a patient can choose."""

    EXERCISE = "exercise"
    DIET = "diet"
    MEDITATION = "meditation"


class AppointmentStatus(StrEnum):
    """Where an appointment stands."""

    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


class StaffRole(StrEnum):
    """What a staff member may do."""

    ADMIN = "admin"
    STAFF = "staff"


class Patient(Base):
    """One person, however many ways the clinic can reach them."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=PatientStatus.ACTIVE)
    # Where a multi-step conversation (Telegram onboarding) stands, so it resumes after a restart.
    onboarding_step: Mapped[str | None] = mapped_column(String(32))
    # A question the patient's next free-text reply answers, e.g. "consent", "appointment:12".
    pending_question: Mapped[str | None] = mapped_column(String(64))
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    addresses: Mapped[list[Address]] = relationship(back_populates="patient")


class Address(Base):
    """A way to reach a patient, as a URN: `telegram:<chat id>` or `tel:<E.164>`."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    urn: Mapped[str] = mapped_column(String(64), unique=True)
    scheme: Mapped[str] = mapped_column(String(16))
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str | None] = mapped_column(String(64))
    # Set when the number texted STOP (or the carrier says so): nothing but the STOP
    # confirmation goes to it until START.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="addresses")

    __table_args__ = (Index("ix_addresses_patient_id", "patient_id"),)


class Consent(Base):
    """A patient's current yes or no for one category, with where and when it was given."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("patient_id", "category", name="uq_consents_patient"),)


class ConsentEvent(Base):
    """Every consent change ever made, kept as evidence."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_consent_events_patient_id", "patient_id"),)


class MessageLog(Base):
    """One message in or out: ids and outcome always, the body only when configured."""

    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReminderPreference(Base):
    """One patient's choice for one tip category: on or off, which weekdays, what local time."""

    __tablename__ = "reminder_preferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    weekdays: Mapped[int] = mapped_column(Integer, default=0b1111111)  # bit 0 Monday ... 6 Sunday
    local_time: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM, patient's zone
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("patient_id", "category", name="uq_reminder_preferences_patient"),
        # The planner selects preferences by local wall-clock range per tick.
        Index("ix_reminder_preferences_local_time", "local_time"),
    )


class ProcessedUpdate(Base):
    """An inbound event already handled (Telegram update id, Twilio MessageSid): never twice."""

    __tablename__ = "processed_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_processed_updates_channel"),
    )


class Appointment(Base):
    """A visit, imported or entered by staff; `external_uid` keys re-imports."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    external_uid: Mapped[str | None] = mapped_column(String(255), unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    practitioner: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=AppointmentStatus.BOOKED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryStatus(StrEnum):
    """Where one automated message stands in the outbox."""

    PENDING = "pending"  # waiting for its due time
    CLAIMED = "claimed"  # taken by a tick, not yet handed to a channel
    SENDING = "sending"  # handed to a channel: after a crash, it may or may not have gone
    SENT = "sent"  # accepted by the channel
    DELIVERED = "delivered"  # the channel confirmed delivery
    FAILED = "failed"  # gave up (permanent error, or retries used up)
    SKIPPED = "skipped"  # not sent on purpose: no consent, opted out, unreachable ...
    MISSED = "missed"  # due while we were down, and no longer useful
    CANCELLED = "cancelled"  # its reason went away (appointment moved or cancelled)


class Delivery(Base):
    """One automated message in the outbox, unique on (patient, kind, reference, due time)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # "tip", "nudge", "broadcast"
    reference: Mapped[str] = mapped_column(String(64))  # category, "appt:<id>", "broadcast:<id>"
    rule_version: Mapped[int] = mapped_column(Integer, default=1)
    content_ref: Mapped[str | None] = mapped_column(String(64))  # tip id sent, or nudge rule id
    channel: Mapped[str | None] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the worker (workers.id)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_deliveries_status_due_at", "status", "due_at"),
        Index("ix_deliveries_patient_kind", "patient_id", "kind", "reference"),
        Index("ix_deliveries_kind_reference", "kind", "reference"),
    )


class RateLane(Base):
    """One slot of a shared rate limit: a send may take it once `free_at` has passed.

    A limit of N messages per window is N lanes of one bucket (a sender, or one chat); a lane
    is held from the claim until the provider answers, then freed a window after the answer,
    so every process, whatever its latency, keeps to N sends in any window.
    """

    __tablename__ = "rate_lanes"

    bucket: Mapped[str] = mapped_column(String(96), primary_key=True)
    lane: Mapped[int] = mapped_column(Integer, primary_key=True)
    free_at: Mapped[datetime] = mapped_column(UTCDateTime())
    holder: Mapped[int | None] = mapped_column(Integer)  # the delivery holding it

    __table_args__ = (Index("ix_rate_lanes_bucket_free_at", "bucket", "free_at"),)


class Worker(Base):
    """A running process that claims outbox rows, and when it was last seen alive."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SchedulerState(Base):
    """A named value the scheduler keeps across restarts (planning watermark, rules hash)."""

    __tablename__ = "scheduler_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PainScore(Base):
    """A patient's 0-10 answer to "how is your back today?" after a visit."""

    __tablename__ = "pain_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL")
    )
    score: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BroadcastStatus(StrEnum):
    """Where a staff announcement stands."""

    SCHEDULED = "scheduled"  # recipients planned; waiting for send_at
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class Broadcast(Base):
    """A staff announcement: its text per language, who it is for, and when it goes."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64))  # "staff:<telegram id>" or "cli"
    texts: Mapped[str] = mapped_column(Text)  # JSON: {"en": "...", "es": "..."}
    audience: Mapped[str] = mapped_column(Text)  # JSON: the audience as chosen
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.SCHEDULED)
    send_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    report_chat_id: Mapped[int | None] = mapped_column(BigInteger)  # where progress goes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PatientTag(Base):
    """A label staff give patients, to choose an announcement's audience."""

    __tablename__ = "patient_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("patient_id", "tag", name="uq_patient_tags_patient"),
        Index("ix_patient_tags_tag", "tag"),
    )


class TicketStatus(StrEnum):
    """Whether a hand-off to staff is open."""

    OPEN = "open"
    CLOSED = "closed"


class Ticket(Base):
    """A conversation handed to staff: while open, the patient's messages go to the staff group."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN)
    reason: Mapped[str] = mapped_column(String(32))  # "human", "reschedule", "fallback"
    channel: Mapped[str] = mapped_column(String(16))  # where the patient wrote from
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # At most one open ticket per patient, even when two messages arrive at once
        # (migration 0006; handlers.staff.tickets.open_ticket relies on it).
        Index(
            "ix_tickets_patient_open",
            "patient_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class TicketPost(Base):
    """A message posted to the staff group for a ticket, so a reply to it finds the ticket."""

    __tablename__ = "ticket_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_ticket_posts_message"),)


class Staff(Base):
    """A Telegram user who works at the clinic, with a role."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default=StaffRole.STAFF)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what to whom, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SafetyEvent(Base):
    """A red-flag message: its category and rule, never its text."""

    __tablename__ = "safety_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebChat(Base):
    """A web chat visitor, known by a hash of the token their browser keeps (never the token)."""

    __tablename__ = "webchat_chats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Set by the first message: a visitor who never writes is no patient.
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class WebChatMessage(Base):
    """One line of a web chat's transcript: what the browser replays after a reload."""

    __tablename__ = "webchat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("webchat_chats.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))
    # The browser's id for a message it sent, so a retried POST is stored and answered once.
    client_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # JSON: text, kind, options
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("chat_id", "client_id", name="uq_webchat_messages_client"),
        Index("ix_webchat_messages_chat_id", "chat_id", "id"),
    )


# The staff console's tables live beside the console (bot/console/models.py); imported here so
# that Base.metadata, which migrations are checked against, always holds them.
from bot.console import models as _console_models  # noqa: E402, F401
