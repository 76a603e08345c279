"""The Overview tab's read on a big store: N audit rows over 7 days and 8 days of 5-minute samples.

Measured: the bounded, indexed store reads (``audit_points``, ``overview_samples``) and the pure
aggregation (``build_overview``) for the 24-hour and the 7-day window, on SQLite. Rows are bulk
inserted (the engine writes them one transaction each over days; the read is what is measured).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from app.domain.overview import SamplePoint, build_overview, window_range
from app.store import AuditDirection, AuditEvent, AuditOutcome, Store
from app.store.overview import OverviewSample

KINDS = (
    ("queued", AuditOutcome.OK),
    ("create", AuditOutcome.OK),
    ("writeback", AuditOutcome.OK),
    ("update", AuditOutcome.OK),
    ("failure", AuditOutcome.RETRY),
)


def overview_read(rows: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'overview.sqlite3'}")
        try:
            span = timedelta(days=7).total_seconds()
            with Session(store.engine) as session:
                for n in range(rows):
                    kind, outcome = KINDS[n % len(KINDS)]
                    direction = AuditDirection.RETURN if kind == "update" else AuditDirection.OUTBOUND
                    session.add(
                        AuditEvent(
                            at=now - timedelta(seconds=span * n / rows),
                            direction=direction,
                            kind=kind,
                            outcome=outcome,
                            summary=f"INC{n:07d} {kind}",
                            request_body='{"title": "' + "x" * 400 + '"}',  # bodies are never read
                        )
                    )
                for n in range(8 * 24 * 12):
                    session.add(
                        OverviewSample(
                            at=now - timedelta(minutes=5 * n),
                            queue_waiting=n % 40,
                            budget_used=n % 500,
                            budget_limit=5000,
                        )
                    )
                session.commit()
            result: dict[str, Any] = {"audit_rows": rows}
            for window in ("24h", "7d"):
                started = time.perf_counter()
                start, end, bucket = window_range(window, now)
                audit = store.audit_counts(start, end, bucket)
                samples: list[SamplePoint] = store.overview_samples(start, end)
                read = time.perf_counter()
                build_overview(window, now, audit, samples)
                done = time.perf_counter()
                result[f"read_{window}_ms"] = round((read - started) * 1000, 1)
                result[f"aggregate_{window}_ms"] = round((done - read) * 1000, 1)
                result[f"rows_{window}"] = sum(point.count for point in audit)
            return result
        finally:
            store.close()
