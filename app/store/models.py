"""The store's tables. Nothing here ever holds a credential (DESIGN: secrets live in the keyring).

Objects returned by :class:`app.store.Store` are *detached copies*: reading their attributes is
safe anywhere, but changing them changes nothing in the database; use the store's methods.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, PrimaryKeyConstraint, Text
from sqlmodel import Field, SQLModel

from app.domain.records import Incident
from app.store.types import StrEnumType, UTCDateTime


class QueueState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PUSHING = "pushing"
    PUSHED = "pushed"
    REJECTED = "rejected"
    FAILED = "failed"
    DROPPED = "dropped"


class WritebackState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class AuditDirection(StrEnum):
    OUTBOUND = "outbound"
    RETURN = "return"
    SYSTEM = "system"


class AuditOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRY = "retry"


# Named constraints: Alembic batch migrations on SQLite need names to find them again.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}


def _json_dict() -> dict[str, Any]:
    return {}


_ITEM_VERSION = Column("version", Integer, nullable=False, server_default="1")


class QueueItem(SQLModel, table=True):
    """A triggered incident not yet linked (or just linked: state ``pushed``), with its snapshot."""

    __tablename__ = "queue_item"
    __table_args__ = (Index("ix_queue_item_state_next_retry", "state", "next_retry_at"),)

    id: int | None = Field(default=None, primary_key=True)
    sys_id: str = Field(max_length=64, unique=True)
    number: str = Field(default="", max_length=40, index=True)
    short_description: str = Field(default="", sa_type=Text)
    category: str = Field(default="", max_length=80)
    priority: int = 5
    caller: str = Field(default="", max_length=255)
    snapshot: str = Field(sa_type=Text)  # Incident.model_dump_json()
    sn_updated_on: datetime = Field(sa_type=UTCDateTime)
    sn_mod_count: int = 0
    state: QueueState = Field(default=QueueState.PENDING, sa_type=StrEnumType(QueueState))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    next_retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    queued_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=40)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # revision 0002
    drop_reason: str | None = Field(default=None, sa_type=Text)
    forced_reason: str | None = Field(default=None, sa_type=Text)  # "Push anyway", revision 0007
    # Revision 0009 (app.store.duplicates, app.store.overrides): the incident this one looks like a
    # repeat of, and why; a person's values for a few ticket fields of this one ticket.
    duplicate_of: str | None = Field(default=None, max_length=40)
    duplicate_note: str | None = Field(default=None, sa_type=Text)
    overrides: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # Row version (revision 0012): every UPDATE is "... WHERE id = ? AND version = ?" and bumps it,
    # so a change decided on a stale read can never overwrite another desk's (compare-and-set).
    version: int = Field(default=1, sa_column=_ITEM_VERSION)

    __mapper_args__ = {"version_id_col": _ITEM_VERSION}

    def incident(self) -> Incident:
        """The stored snapshot, parsed back into the domain model."""
        return Incident.model_validate_json(self.snapshot)


class Link(SQLModel, table=True):
    """Incident <-> ticket, with the last values synced each way (no re-sends, no echoes)."""

    __tablename__ = "link"
    __table_args__ = (Index("ix_link_writeback_due", "writeback_state", "writeback_next_at"),)

    id: int | None = Field(default=None, primary_key=True)
    sys_id: str = Field(max_length=64, unique=True, foreign_key="queue_item.sys_id")
    incident_number: str = Field(default="", max_length=40, index=True)
    ticket_id: int = Field(unique=True)
    ticket_number: str = Field(default="", max_length=40, index=True)
    linked_at: datetime = Field(sa_type=UTCDateTime)
    outbound_values: dict[str, Any] = Field(default_factory=_json_dict, sa_type=JSON)
    return_synced: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    writeback_state: WritebackState = Field(
        default=WritebackState.PENDING, sa_type=StrEnumType(WritebackState)
    )
    writeback_attempts: int = 0
    writeback_error: str | None = Field(default=None, sa_type=Text)
    writeback_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_outbound_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_return_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A return-trip PATCH was sent and its outcome is not known yet (revision 0003).
    return_in_flight: bool = False
    # Found in Autotask rather than created by this store (lost database, second desk, an incident
    # that already named its ticket) (revision 0004).
    adopted: bool = False
    # The latest thing worth saying about the link (a skipped closed incident, a correlation id
    # owned by another integration, a field the instance kept), shown in Links (revision 0004).
    note: str | None = Field(default=None, sa_type=Text)
    # The ticket's title as created, adopted or last read by the return trip (revision 0011).
    ticket_title: str = Field(default="", sa_type=Text)


class AuditEvent(SQLModel, table=True):
    """One thing that happened, for the activity view. Bodies are the exact JSON sent/received."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_direction_id", "direction", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    direction: AuditDirection = Field(sa_type=StrEnumType(AuditDirection))
    kind: str = Field(max_length=32)
    outcome: AuditOutcome = Field(sa_type=StrEnumType(AuditOutcome))
    sys_id: str | None = Field(default=None, max_length=64, index=True)
    incident_number: str | None = Field(default=None, max_length=40)
    ticket_id: int | None = Field(default=None, index=True)
    ticket_number: str | None = Field(default=None, max_length=40)
    summary: str = Field(default="", sa_type=Text)
    request_body: str | None = Field(default=None, sa_type=Text)
    response_body: str | None = Field(default=None, sa_type=Text)


class Cursor(SQLModel, table=True):
    """Per system poll position. ``seen`` maps record id -> update marker inside the overlap window."""

    __tablename__ = "sync_cursor"

    system: str = Field(primary_key=True, max_length=32)
    watermark: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seen: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    # Reconciliation (revision 0006): where the incremental path began, the schedule, the last result.
    covered_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reconcile_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reconciled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reconcile_found: int | None = None
    reconcile_summary: str | None = Field(default=None, sa_type=Text)


class EngineLease(SQLModel, table=True):
    """The single row naming the engine that currently runs (one engine per database)."""

    __tablename__ = "engine_lease"

    id: int = Field(default=1, primary_key=True)
    token: str = Field(max_length=64)
    holder: str = Field(default="", max_length=255)
    pid: int
    hostname: str = Field(max_length=255)
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)


class EngineState(SQLModel, table=True):
    """Small pieces of engine memory that must outlive the process (revision 0005), so that a
    ``run --once`` from cron starts where the last run stopped: the tenant's last
    ThresholdInformation reading, every "not before" (Retry-After per system and kind of call),
    and the Autotask picklists with the time they were read."""

    __tablename__ = "engine_state"

    key: str = Field(primary_key=True, max_length=64)
    value: dict[str, Any] = Field(default_factory=_json_dict, sa_type=JSON)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class DeskClaim(SQLModel, table=True):
    """A soft claim (revision 0012): a desk has this item open ("Anna is reviewing"). It expires on
    its own; the desk renews it while the item stays open and releases it when it moves on."""

    __tablename__ = "desk_claim"
    __table_args__ = (PrimaryKeyConstraint("sys_id", "desk", name="pk_desk_claim"),)

    sys_id: str = Field(max_length=64)
    desk: str = Field(max_length=40)
    claimed_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class DeskRequest(SQLModel, table=True):
    """A live read a desk asks of the engine through the store (revision 0012): desks hold no API
    credentials, so "explain an incident the store does not know" or "re-read it now" is a row the
    engine answers. ``params`` says more than ``key`` can (a reason); ``answer`` is the engine's JSON
    answer; ``error`` what went wrong instead."""

    __tablename__ = "desk_request"
    __table_args__ = (Index("ix_desk_request_pending", "answered_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=255)
    asked_by: str = Field(default="", max_length=40)
    asked_at: datetime = Field(sa_type=UTCDateTime)
    params: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # e.g. push_anyway's reason
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str | None = Field(default=None, sa_type=Text)
