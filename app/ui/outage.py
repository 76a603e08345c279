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


REASON_CHARS = 80  # the banner names the cause; the Activity tab has the whole message


def outage_text(system: str, since: datetime, health: HealthState | None = None) -> str:
    """ "Unreachable" only when the system could not be reached: one that answers with refusals
    (a 429 storm, server errors) is failing, and the banner says why."""
    name = SYSTEM_LABELS.get(system, system)
    affected = AFFECTED.get(system, "data may be stale")
    if health is None or health.level == "offline" or not health.message:
        return f"{name} unreachable since {local_time(since)} — {affected}"
    reason = " ".join(health.message.split()).removeprefix(f"{name}: ")  # named once is enough
    if len(reason) > REASON_CHARS:
        reason = reason[: REASON_CHARS - 1].rstrip() + "…"
    return f"{name} failing since {local_time(since)} ({reason}) — {affected}"
