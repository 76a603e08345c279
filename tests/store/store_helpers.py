"""Shared helpers for the store tests (imported by module name: tests/ has no packages)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.records import Incident

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)

IncidentFactory = Callable[..., Incident]


def sys_id(n: int) -> str:
    return f"{n:032x}"


def make_incident(n: int = 1, *, mod: int = 0, minutes: int = 0, **fields: Any) -> Incident:
    values: dict[str, Any] = {
        "sys_id": sys_id(n),
        "number": f"INC{n:07d}",
        "short_description": f"Printer {n} on fire",
        "category": "hardware",
        "priority": 3,
        "caller_id": "caller-sys-id",
        "sys_updated_on": T0 + timedelta(minutes=minutes),
        "sys_mod_count": mod,
    }
    values.update(fields)
    return Incident(**values)
