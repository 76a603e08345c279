"""The Rules window's impact report (and ``config diff``'s) over a big queue: a priority value map
edited, N queued incidents and N linked tickets; the pure computation only (the store is read once
and reused while someone edits)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from app.config import parse_config
from app.domain.impact import HeldIncident, LinkedValues, compute_impact
from app.domain.metadata import FieldInfo, PicklistValue, TicketMetadata
from app.domain.records import Incident


def impact(count: int) -> dict[str, Any]:
    """compute_impact over ``count`` queued snapshots and ``count`` links, as the Rules window and
    ``config diff`` run it (two previews per item); the store reads are not included."""

    def picklist(labels: list[str]) -> tuple[PicklistValue, ...]:
        return tuple(PicklistValue(value=index + 1, label=label) for index, label in enumerate(labels))

    metadata = TicketMetadata(
        fields={
            "priority": FieldInfo(name="priority", picklist=picklist(["Critical", "High", "Medium", "Low"])),
            "status": FieldInfo(name="status", picklist=picklist(["New", "In Progress", "Complete"])),
            "queueID": FieldInfo(name="queueID", picklist=picklist(["Level I Support", "Network Team"])),
        }
    )
    old = parse_config({"outbound": {"company_id": 174, "default_queue": "Level I Support"}}, "bench")
    rule = old.outbound.fields["priority"]
    new_map = {**getattr(rule, "map", {}), "3": "High"}
    fields = {**old.outbound.fields, "priority": rule.model_copy(update={"map": new_map})}
    new = old.model_copy(update={"outbound": old.outbound.model_copy(update={"fields": fields})})
    now = datetime.now(UTC)
    held = [
        HeldIncident(
            Incident(
                sys_id=f"{n:032x}",
                number=f"INC{n:07d}",
                short_description=f"Printer {n} jams",
                description="Paper jam on tray 2.",
                category=("hardware", "software", "network")[n % 3],
                priority=n % 5 + 1,
                sys_updated_on=now,
            ),
            queued=True,
        )
        for n in range(count)
    ]
    links = [
        LinkedValues(f"INC{n:07d}", f"T{n}", {"status": "In Progress", "priority": "High"})
        for n in range(count)
    ]
    started = time.perf_counter()
    report = compute_impact(old, new, held, links, metadata, now=now)
    seconds = time.perf_counter() - started
    return {"queued_and_linked": count, "altered": len(report.altered), "seconds": round(seconds, 3)}
