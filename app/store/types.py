"""Column types that keep the app's invariants at the database edge.

SQLite has no time zone support: a ``DateTime`` column hands back naive values. The app works in
timezone-aware UTC everywhere (DESIGN: Conventions), so :class:`UTCDateTime` stores naive UTC and
returns aware UTC, whatever the backend. A naive datetime handed to the store is a bug in the
caller (its zone is unknown), so it is refused loudly instead of being guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


def require_utc(moment: datetime, name: str = "datetime") -> datetime:
    """Return ``moment`` in UTC; refuse naive values (their zone is unknown)."""
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out; stored as naive UTC so SQLite ordering and comparison work."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return require_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumType(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as its plain value in a VARCHAR (no native enum: cheap to extend later)."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum_cls: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        if value is None:
            return None
        return self.enum_cls(value)
