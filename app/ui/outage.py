"""When a failing system becomes an outage the desk must shout about (no Qt here).

One failed poll is noise; a system that has not answered for longer than two poll intervals is an
outage: the queue (ServiceNow) or the return trip (Autotask) may be stale, and the user must know.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from app.engine.views import HealthState
from app.ui.format import SYSTEM_LABELS, local_time

OUTAGE_LEVELS = frozenset({"offline", "degraded"})
AFFECTED = {
    "servicenow": "the queue may be stale",
    "autotask": "tickets are not created and return trips wait",
}


def outage_since(health: HealthState, poll_seconds: int, now: datetime, started: datetime) -> datetime | None:
    """The time the system was last fine, when it has failed for longer than two poll intervals."""
    if health.level not in OUTAGE_LEVELS:
        return None
    since = health.last_success or started
    if now - since <= timedelta(seconds=2 * poll_seconds):
        return None
    return since


def outage_text(system: str, since: datetime) -> str:
    name = SYSTEM_LABELS.get(system, system)
    return f"{name} unreachable since {local_time(since)} — {AFFECTED.get(system, 'data may be stale')}"
