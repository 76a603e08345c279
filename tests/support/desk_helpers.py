"""Desk-tool scenarios shared by the engine and the UI tests (issue 15)."""

from __future__ import annotations

from datetime import timedelta

from sim_harness import SimHarness


def repeated_report(harness: SimHarness) -> tuple[dict[str, str], dict[str, str]]:
    """One caller reports the same VPN problem twice, an hour apart: (first, repeat)."""
    caller = harness.sn.users["abel.tuter"]
    now = harness.sn.clock.now()
    first = harness.incident(
        short_description="VPN disconnects every 10 minutes", caller_id=caller, stamp=now - timedelta(hours=1)
    )
    repeat = harness.incident(short_description="VPN keeps disconnecting every 10 minutes", caller_id=caller)
    return first, repeat
