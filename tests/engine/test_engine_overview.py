"""The Overview tab's numbers after a simulated day: the real engine against both simulators, on
the Autotask simulator's clock moved forward hour by hour, then :meth:`SyncEngine.overview`.

Nothing here writes chart numbers by hand: the audit rows come from the pipelines (polls, pushes,
a refused create, a return trip) and the levels from the engine's own periodic sample.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine_harness import Harness, Shift, ticket_id
from sim_harness import RETRY_ATTEMPTS

from app.domain.overview import window_range
from app.engine.engine import SyncEngine

BUSINESS_HOURS = range(8, 18)  # 10 hours with traffic
FAILING_HOUR = 12
RETURN_HOURS = (9, 14)
RETURN_DELAY = 600.0  # a technician's change waits this long for the next return-trip poll
OUTAGE_HOUR = 20  # ServiceNow does not answer one idle poll


async def simulated_day(harness: Harness, shift: Shift) -> tuple[SyncEngine, dict[int, datetime]]:
    """Per business hour: three incidents arrive, the lead approves two (one stays queued), they are
    pushed; at :data:`FAILING_HOUR` Autotask refuses the first create attempts; at
    :data:`RETURN_HOURS` a technician changes a ticket which the next poll brings back; at
    :data:`OUTAGE_HOUR` a ServiceNow poll fails."""
    # Start at five past a whole hour, so each hour's work (at :05 and :15) stays in its bucket.
    now = harness.at.clock.now()
    shift((now.replace(minute=5, second=0, microsecond=0) + timedelta(hours=1) - now).total_seconds())
    engine = harness.engine(clock=harness.at.clock.now)
    at_hour: dict[int, datetime] = {}
    for hour in range(24):
        at_hour[hour] = harness.at.clock.now()
        if hour not in BUSINESS_HOURS:
            if hour == OUTAGE_HOUR:
                harness.sn.faults.inject("status", method="GET", status=503, count=RETRY_ATTEMPTS)
            await engine.run_once()  # idle: polls and a sample, nothing else
            shift(3600)
            continue
        incidents = [harness.incident(short_description=f"Printer {hour}-{n} jams") for n in range(3)]
        await engine.run_once()  # queued
        await engine.approve([incident["number"] for incident in incidents[:2]], by="lead")
        if hour == FAILING_HOUR:
            harness.at.faults.inject(
                "status", method="POST", path=r"/Tickets$", status=503, count=RETRY_ATTEMPTS
            )
        await engine.run_once()  # pushed (or, at the failing hour, a failure to retry)
        if hour in RETURN_HOURS:
            harness.at.technician_update(ticket_id(harness, incidents[0]["sys_id"]), status="In Progress")
        shift(RETURN_DELAY)
        await engine.run_once()  # the retry, the return trip, the next sample
        shift(3600 - RETURN_DELAY)
    return engine, at_hour


async def test_overview_after_a_simulated_day(harness: Harness, shift: Shift) -> None:
    engine, at_hour = await simulated_day(harness, shift)
    overview = await engine.overview("24h")
    start, _end, bucket = window_range("24h", harness.at.clock.now())
    assert (overview.start, overview.bucket, len(overview.buckets)) == (start, bucket, 24)

    def index(hour: int) -> int:
        return int((at_hour[hour] - start) / bucket)

    linked, returned = (series.values for series in overview.chart("pushes").series)
    assert sum(v or 0 for v in linked) == 2 * len(BUSINESS_HOURS)  # every approved incident, once
    # The refused creates are retried: what the failing hour misses, the next one links.
    after = FAILING_HOUR + 1
    assert linked[index(FAILING_HOUR)] < 2
    assert (linked[index(FAILING_HOUR)] or 0) + (linked[index(after)] or 0) == 4
    for hour in set(BUSINESS_HOURS) - {FAILING_HOUR, after}:
        assert linked[index(hour)] == 2, hour
    assert sum(v or 0 for v in returned) == len(RETURN_HOURS)

    failed, retried, polls = (series.values for series in overview.chart("failures").series)
    failing = [i for i, (f, r) in enumerate(zip(failed, retried, strict=True)) if (f or 0) + (r or 0)]
    assert failing == [index(FAILING_HOUR)]
    # A failed poll is no audit row; the engine's sample of that cycle counts it.
    assert [i for i, value in enumerate(polls) if value] == [index(OUTAGE_HOUR)]
    assert sum(v or 0 for v in polls) == 1

    [queue] = overview.chart("queue").series
    # One incident per business hour stays unapproved: the queue grows by one each hour.
    for waiting, hour in enumerate(BUSINESS_HOURS, start=1):
        if hour == FAILING_HOUR:  # plus the push still waiting for its retry
            assert queue.values[index(hour)] == waiting + 1
        else:
            assert queue.values[index(hour)] == waiting, hour
    assert queue.values[index(23)] == len(BUSINESS_HOURS)
    assert "10 waiting now" in overview.chart("queue").summary

    [lag] = overview.chart("lag").series
    known = [value for value in lag.values if value is not None]
    assert len(known) == len(RETURN_HOURS)
    assert all(RETURN_DELAY - 5 <= value <= RETURN_DELAY + 60 for value in known), known

    ours, _tenant = overview.chart("budget").series
    assert all((ours.values[index(hour)] or 0) > 0 for hour in BUSINESS_HOURS)
    assert "Pushes: 20 ticket(s) linked and 2 return-trip update(s)" in overview.chart("pushes").summary

    week = await engine.overview("7d")
    assert sum(v or 0 for v in week.chart("pushes").series[0].values) == 20
    assert week.bucket == timedelta(hours=6)
