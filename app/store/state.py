"""Key/value engine memory (the ``engine_state`` table): one short transaction per call.

Values are small JSON objects the engine owns (threshold reading, holds, picklists); the store does
not interpret them. Never a credential: callers put API answers and times here, nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from app.store.models import EngineState
from app.store.session import StoreSession
from app.store.types import require_utc


class StateStore(StoreSession):
    """Mixed into :class:`app.store.Store`."""

    def get_state(self, key: str) -> EngineState | None:
        with self._read() as session:
            return session.get(EngineState, key)

    def states_with_prefix(self, prefix: str) -> list[EngineState]:
        query = (
            select(EngineState).where(col(EngineState.key).startswith(prefix)).order_by(col(EngineState.key))
        )
        with self._read() as session:
            return list(session.exec(query).all())

    def put_state(self, key: str, value: dict[str, Any], *, now: datetime) -> EngineState:
        now = require_utc(now, "now")
        with self._write() as session:
            row = session.get(EngineState, key) or EngineState(key=key, updated_at=now)
            row.value = dict(value)
            row.updated_at = now
            session.add(row)
            return row

    def delete_state(self, key: str) -> None:
        with self._write() as session:
            row = session.get(EngineState, key)
            if row is not None:
                session.delete(row)
