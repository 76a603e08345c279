"""The Store: every read and write the engine, the UI and the CLI make, one short transaction each.

The store is composed of one part per aggregate, each in its own module and all sharing the one
session/transaction helper of :mod:`app.store.session`:

- :mod:`app.store.queue`: queue items, their snapshots, and the reads of the queue
- :mod:`app.store.decisions`: approve, reject, restore, retry, push anyway, drop
- :mod:`app.store.push`: the outbound push steps (pushing, uncertain, failed, pushed + link)
- :mod:`app.store.links`: links, the incident write-back and the return trip's state
- :mod:`app.store.audit`: the audit trail
- :mod:`app.store.cursors`: poll cursors and the reconciliation schedule
- :mod:`app.store.state`: the engine's small key/value memory (holds, budget reading, picklists)
- :mod:`app.store.lease_store`: the single-engine lease
- :mod:`app.store.overview`: the Overview tab's audit ranges and engine samples
- :mod:`app.store.duplicates`, :mod:`app.store.overrides`, :mod:`app.store.link_titles`: the desk
  tools (suspected duplicates, per-ticket overrides, ticket titles on links)
- :mod:`app.store.claims`: soft claims, "Anna is reviewing"
- :mod:`app.store.desk_requests`: live reads desks ask of the engine

Nothing here stores credentials, tokens or auth headers: callers pass request/response bodies for
the audit trail, never headers (DESIGN: Conventions).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL, Engine

from app.store.audit import AuditStore
from app.store.claims import ClaimStore
from app.store.connect import server_errors
from app.store.cursors import CursorStore
from app.store.db import create_store_engine, migrate, require_current
from app.store.decisions import DecisionStore, TransitionResult, TransitionStatus
from app.store.desk_requests import DeskRequestStore
from app.store.duplicates import DuplicateStore
from app.store.lease_store import LeaseStore
from app.store.link_titles import LinkTitleStore
from app.store.links import LinkConflict, LinkNotFound, LinkStore
from app.store.overrides import OverrideStore
from app.store.overview import OverviewStore
from app.store.push import PushStore
from app.store.queue import InvalidTransition, ItemNotFound, QueueStore
from app.store.session import Key, utcnow
from app.store.state import StateStore

__all__ = [
    "InvalidTransition",
    "ItemNotFound",
    "Key",
    "LinkConflict",
    "LinkNotFound",
    "Store",
    "TransitionResult",
    "TransitionStatus",
    "utcnow",
]


class Store(
    QueueStore,
    DecisionStore,
    PushStore,
    LinkStore,
    AuditStore,
    CursorStore,
    StateStore,
    LeaseStore,
    OverviewStore,
    DuplicateStore,
    OverrideStore,
    LinkTitleStore,
    ClaimStore,
    DeskRequestStore,
):
    """The app's persistent state. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, engine: Engine, *, backup_path: Path | None = None) -> None:
        self.engine = engine
        #: The pre-migration copy made by :meth:`open`, if a migration ran (show it to the user).
        self.backup_path = backup_path
        #: Set by :meth:`close`. A call after it would quietly open new connections (a disposed
        #: SQLAlchemy engine reconnects) that nobody closes: late, optional callers check it.
        self.closed = False

    @classmethod
    def open(cls, url: str | URL | None = None, *, migrate_schema: bool = True) -> Store:
        """Connect and bring the schema to head (backing up an older SQLite file first).

        ``url`` None means the default SQLite file in the user data dir. ``migrate_schema`` False
        (``store.auto_migrate = false``) never changes the schema: an older one raises SchemaBehind.
        Raises SchemaTooNew when a newer app version wrote the database, StoreUnavailable when the
        server cannot be reached or refuses the login.
        """
        if url is None:
            from app.config import default_store_url

            url = default_store_url()
        engine = create_store_engine(url)
        try:
            with server_errors(engine.url):
                if migrate_schema:
                    backup = migrate(engine)
                else:
                    require_current(engine)
                    backup = None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, backup_path=backup)

    def close(self) -> None:
        self.closed = True
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to show and log)."""
        return self.engine.url.render_as_string(hide_password=True)
