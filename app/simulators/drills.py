"""Outage drills: named faults a trainer switches on and off on either simulator.

A drill replaces whatever faults the system's simulator had with an endless fault on every API
path (the loopback control endpoints ``/_sim/...`` are never affected), until "normal" clears it.
Used by the demo's Simulator menu, ``triage-sync simulate --fault SYSTEM=DRILL`` and documented with
the fault endpoint in docs/simulators.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.simulators.faults import Fault, FaultPlan

SYSTEMS: dict[str, str] = {"servicenow": "ServiceNow", "autotask": "Autotask"}
STORM_RETRY_AFTER = 30  # seconds, as a busy Autotask tenant or ServiceNow rate limit says
SLOW_SECONDS = 3.0  # per answer: slow, but inside the clients' timeouts


@dataclass(frozen=True)
class Drill:
    key: str
    label: str  # menu text
    effect: str  # what the trainer should now see in the app


DRILLS: dict[str, Drill] = {
    "outage": Drill(
        "outage",
        "Outage (503 Service Unavailable)",
        "every request fails with 503; after two poll intervals the red outage banner shows",
    ),
    "storm": Drill(
        "storm",
        f"429 storm (Retry-After {STORM_RETRY_AFTER} s)",
        f"every request is refused with 429 and Retry-After {STORM_RETRY_AFTER} s; "
        "the status bar shows the hold",
    ),
    "auth": Drill(
        "auth",
        "Refused credentials (401)",
        "every request is refused with 401; the red credentials banner shows and sync pauses",
    ),
    "slow": Drill(
        "slow",
        f"Slow instance ({SLOW_SECONDS:.0f} s per answer)",
        f"every answer takes {SLOW_SECONDS:.0f} s longer; polls and pushes slow down",
    ),
    "normal": Drill("normal", "Back to normal", "faults cleared; the next poll succeeds again"),
}


def drill_faults(drill: str) -> list[Fault]:
    """The faults of one drill (none for "normal"); every API path, until cleared."""
    if drill == "outage":
        return [Fault("status", status=503, count=None, message="Service Unavailable (outage drill)")]
    if drill == "storm":
        return [Fault("status", status=429, count=None, retry_after=STORM_RETRY_AFTER)]
    if drill == "auth":
        return [Fault("status", status=401, count=None, message="User Not Authenticated (drill)")]
    if drill == "slow":
        return [Fault("latency", count=None, seconds=SLOW_SECONDS)]
    if drill == "normal":
        return []
    raise KeyError(f"unknown drill {drill!r}; use one of {', '.join(DRILLS)}")


def parse_fault_option(text: str) -> tuple[str, str]:
    """``servicenow=outage`` -> ("servicenow", "outage"); ValueError with the choices otherwise."""
    system, sep, drill = text.partition("=")
    system, drill = system.strip().lower(), drill.strip().lower()
    if not sep or system not in SYSTEMS or drill not in DRILLS:
        raise ValueError(
            f"bad fault {text!r}: use SYSTEM=DRILL with SYSTEM one of {', '.join(SYSTEMS)} "
            f"and DRILL one of {', '.join(DRILLS)}"
        )
    return system, drill


class DrillBoard:
    """The drills of one demo session: what runs on which system (thread-safe, for the menu)."""

    def __init__(self, plans: dict[str, FaultPlan]) -> None:
        self._plans = plans
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}

    @property
    def systems(self) -> dict[str, str]:
        return {key: SYSTEMS[key] for key in self._plans}

    @property
    def drills(self) -> dict[str, str]:
        """Drill key -> menu label."""
        return {key: drill.label for key, drill in DRILLS.items()}

    def apply(self, system: str, drill: str) -> str:
        """Start ``drill`` on ``system`` (replacing its faults); returns what the user should see."""
        faults = drill_faults(drill)
        plan = self._plans[system]
        with self._lock:
            plan.clear()
            for fault in faults:
                plan.add(fault)
            if drill == "normal":
                self._running.pop(system, None)
            else:
                self._running[system] = drill
        name = SYSTEMS[system]
        if drill == "normal":
            return f"Drill over: {name} answers normally again"
        return f"Drill: {name} — {DRILLS[drill].effect}"

    def running(self) -> dict[str, str]:
        """System key -> running drill label (the banner's text)."""
        with self._lock:
            return {system: DRILLS[drill].label for system, drill in self._running.items()}
