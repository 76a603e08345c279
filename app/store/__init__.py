"""Persistent state: queue items, links, audit events, poll cursors and the single-engine lease.

SQLite (WAL) by default; any SQLAlchemy URL works. The store never holds credentials: secrets
live in the OS keyring or the environment, and audit bodies are payloads, never auth headers.
"""

from app.store.claims import CLAIM_TTL
from app.store.connect import resolve_server_url
from app.store.db import (
    SchemaStatus,
    backup_sqlite,
    create_store_engine,
    head_revision,
    migrate,
    schema_status,
)
from app.store.decisions import Seen, what_happened
from app.store.desk_requests import REQUEST_MAX_AGE
from app.store.errors import SchemaBehind, SchemaTooNew, StoreError, StoreUnavailable
from app.store.lease import DEFAULT_LEASE_TIMEOUT, EngineAlreadyRunning, Lease, LeaseLost, pid_alive
from app.store.models import (
    AuditDirection,
    AuditEvent,
    AuditOutcome,
    Cursor,
    DeskClaim,
    DeskRequest,
    EngineLease,
    EngineState,
    Link,
    QueueItem,
    QueueState,
    WritebackState,
)
from app.store.store import (
    InvalidTransition,
    ItemNotFound,
    LinkConflict,
    LinkNotFound,
    Store,
    TransitionResult,
    utcnow,
)

__all__ = [
    "CLAIM_TTL",
    "REQUEST_MAX_AGE",
    "DeskClaim",
    "DeskRequest",
    "Seen",
    "what_happened",
    "DEFAULT_LEASE_TIMEOUT",
    "AuditDirection",
    "AuditEvent",
    "AuditOutcome",
    "Cursor",
    "EngineAlreadyRunning",
    "EngineLease",
    "EngineState",
    "InvalidTransition",
    "ItemNotFound",
    "Lease",
    "LeaseLost",
    "Link",
    "LinkConflict",
    "LinkNotFound",
    "QueueItem",
    "QueueState",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "TransitionResult",
    "WritebackState",
    "backup_sqlite",
    "create_store_engine",
    "resolve_server_url",
    "schema_status",
    "SchemaBehind",
    "SchemaStatus",
    "StoreUnavailable",
    "head_revision",
    "migrate",
    "pid_alive",
    "utcnow",
]
