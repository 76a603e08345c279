"""Deterministic, seeded life for the two simulators: callers open incidents, technicians work tickets.

Why: the demo and the end-to-end tests need a world that changes on its own (new incidents in IT
and non-IT categories, incidents cancelled or re-categorised while they wait in the queue,
technicians moving *linked* Autotask tickets through their statuses) and tests need that world to
be repeatable. Everything random comes from one ``random.Random``, and time is simulated: tests
call :meth:`Scenario.step` with a number of seconds and get exactly the actions due in that span,
no sleeps. The demo runs the same steps on wall time in a background thread (:meth:`Scenario.start`)
or an asyncio task (:meth:`Scenario.run`).

Same seed, same simulators state => same actions. (The ServiceNow simulator's sys_ids come from its
own ``seed`` argument, so build both simulators with the same seed to compare runs.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimulator

log = logging.getLogger(__name__)

ScenarioName = Literal["quiet", "lively", "busy"]
SCENARIOS: tuple[ScenarioName, ...] = ("quiet", "lively", "busy")

ActionKind = Literal[
    "create_incident",
    "cancel_incident",
    "recategorise_incident",
    "escalate_incident",
    "create_ticket",
    "ticket_status",
    "ticket_priority",
    "ticket_note",
]

# Resolved incidents stay active=true until Closed; "open" means none of these states.
RESOLVED_STATES: frozenset[str] = frozenset({"6", "7", "8"})
IT_CATEGORIES: tuple[str, ...] = ("hardware", "software", "network", "database")
NON_IT_CATEGORIES: tuple[str, ...] = ("inquiry", "hr", "facilities")
CATEGORIES: tuple[str, ...] = IT_CATEGORIES + NON_IT_CATEGORIES
# Relative weights for new incidents: mostly IT (the trigger fires), a steady trickle of non-IT.
CATEGORY_WEIGHTS: tuple[int, ...] = (6, 6, 5, 3, 4, 2, 2)
# The backlog cycles through this (shuffled), so every category is represented in a small seed.
SEED_CYCLE: tuple[str, ...] = (
    "hardware",
    "software",
    "network",
    "inquiry",
    "database",
    "hardware",
    "hr",
    "software",
    "network",
    "facilities",
)

# Autotask status labels a technician moves a linked ticket through (labels, not tenant ids).
STATUS_COMPLETE = "Complete"
TICKET_PRIORITIES: tuple[str, ...] = ("Critical", "High", "Medium", "Low")
MAX_CATCH_UP_SECONDS = 30.0  # wall-time runner: after a suspend, do not replay hours of activity


@dataclass(frozen=True)
class ScenarioProfile:
    """How busy a scenario is. Intervals are (min, max) simulated seconds; None = never."""

    backlog: int
    incident_interval: tuple[float, float] | None
    incident_change_interval: tuple[float, float] | None
    technician_interval: tuple[float, float] | None
    max_open_incidents: int  # stop opening incidents past this many active ones (long demo runs)


PROFILES: dict[ScenarioName, ScenarioProfile] = {
    "quiet": ScenarioProfile(8, None, None, None, 0),
    "lively": ScenarioProfile(8, (3.0, 9.0), (15.0, 40.0), (4.0, 10.0), 150),
    "busy": ScenarioProfile(25, (0.5, 2.0), (3.0, 8.0), (0.5, 2.0), 1000),
}


@dataclass(frozen=True)
class ScenarioAction:
    """One thing the scenario did; the log tests compare and the simulate command can print."""

    at: float  # simulated seconds since the scenario began
    kind: ActionKind
    target: str  # incident number or ticket number
    detail: str


@dataclass(frozen=True)
class _Story:
    """Several reports of one problem: (minutes ago, caller user name, short description)."""

    category: str
    ci: str
    description: str
    reports: tuple[tuple[int, str, str], ...]


DUPLICATE_STORIES: tuple[_Story, ...] = (
    _Story(
        "software",
        "EXCH-PRD-01",
        "Outlook shows 'Trying to connect...' and no new mail arrives.",
        (
            (42, "beth.anglin", "Outlook cannot connect to the mail server"),
            (35, "david.loo", "Outlook not connecting to mail server"),
            (21, "amelia.hart", "Can't connect Outlook to the mail server"),
        ),
    ),
    _Story(
        "network",
        "",
        "The VPN client drops the connection and asks to sign in again.",
        (
            (95, "ravi.patel", "VPN disconnects every 10 minutes"),
            (12, "ravi.patel", "VPN keeps disconnecting every 10 minutes"),
        ),
    ),
)


@dataclass(frozen=True)
class _Template:
    short: str
    description: str
    subcategory: str = ""


# {laptop}, {desktop}, {site}, {app}, {host}, {db} are filled from the pools below.
TEMPLATES: dict[str, tuple[_Template, ...]] = {
    "hardware": (
        _Template(
            "Laptop {laptop} will not power on",
            "The laptop shows no lights after charging overnight. Tried another charger; same result.",
            "laptop",
        ),
        _Template(
            "Printer on floor 3 at {site} jams on every job",
            "Paper jams in tray 2 for every print job since this morning. Several people affected.",
            "printer",
        ),
        _Template(
            "Docking station not detecting external monitors",
            "Both monitors stay black when docked; the laptop screen works. Asset {laptop}.",
            "monitor",
        ),
        _Template(
            "Keyboard keys sticking on desktop {desktop}",
            "Several keys repeat or do not register. Cleaning did not help.",
            "keyboard",
        ),
    ),
    "software": (
        _Template(
            "{app} crashes when opening attachments",
            "{app} closes without an error message whenever an attachment is opened. Started after "
            "last night's update.",
            "application",
        ),
        _Template(
            "Cannot sign in to {app}",
            "Sign-in fails with 'account locked' although the password was reset yesterday.",
            "application",
        ),
        _Template(
            "{app} licence expired message",
            "Users at {site} get a licence expired banner and read-only mode in {app}.",
            "licensing",
        ),
        _Template(
            "Outlook search returns no results",
            "Search in Outlook finds nothing older than today. Rebuilding the index did not help.",
            "email",
        ),
    ),
    "network": (
        _Template(
            "VPN disconnects every few minutes",
            "The VPN client drops the tunnel roughly every 5 minutes when working from home.",
            "vpn",
        ),
        _Template(
            "Wi-Fi unavailable in meeting rooms at {site}",
            "No Wi-Fi in the ground-floor meeting rooms at {site}; wired ports work.",
            "wireless",
        ),
        _Template(
            "Slow network access to file share on {host}",
            "Opening files on \\\\{host}\\shared takes minutes. Other sites report the same.",
            "lan",
        ),
        _Template(
            "DNS resolution failing for internal sites",
            "Internal hostnames do not resolve from the {site} office since 08:00.",
            "dns",
        ),
    ),
    "database": (
        _Template(
            "Reporting database {db} very slow",
            "Month-end reports time out after 10 minutes; they normally finish in under one.",
            "performance",
        ),
        _Template(
            "Nightly backup of {db} failed",
            "The backup job for {db} on {host} failed with 'insufficient disk space'.",
            "backup",
        ),
        _Template(
            "Application cannot connect to {db}",
            "{app} reports 'connection refused' for {db}. Service restarted without effect.",
            "connectivity",
        ),
    ),
    "inquiry": (
        _Template(
            "How do I request a second monitor?",
            "I would like a second monitor for my desk at {site}. What is the process?",
        ),
        _Template(
            "Question about the new password policy",
            "Does the new 90-day password rule apply to service accounts as well?",
        ),
        _Template(
            "Where can I find the {app} training videos?",
            "A colleague mentioned recorded training sessions for {app}. Where are they?",
        ),
    ),
    "hr": (
        _Template(
            "Update my home address in the HR system",
            "I moved last month and need my address updated for payroll.",
        ),
        _Template(
            "Question about parental leave policy",
            "Where can I find the current parental leave policy and the request form?",
        ),
    ),
    "facilities": (
        _Template(
            "Air conditioning not working in room 2.14 at {site}",
            "The room is at 29 degrees; the thermostat does not respond.",
        ),
        _Template(
            "Broken chair at desk 4B at {site}",
            "The chair's gas lift has failed. Please replace it.",
        ),
        _Template(
            "Access badge does not open the car park gate",
            "My badge works for the front door but not the car park gate at {site}.",
        ),
    ),
}
POOLS: dict[str, tuple[str, ...]] = {
    "laptop": ("LT-20431", "LT-20877", "LT-21904", "LT-22018"),
    "desktop": ("DT-10342", "DT-11520", "DT-12007"),
    "site": ("Amsterdam", "Leeds", "Lyon", "Dublin", "Rotterdam"),
    "app": ("Outlook", "Teams", "SAP GUI", "Salesforce", "Adobe Acrobat", "Power BI"),
    "host": ("fs01", "fs02", "sql-prd-03", "app-prd-11"),
    "db": ("FINREP", "CRM_PROD", "HRDW", "INVENTORY"),
}
CALLERS: tuple[tuple[str, str], ...] = (
    ("beth.anglin", "Beth Anglin"),
    ("david.loo", "David Loo"),
    ("fred.luddy", "Fred Luddy"),
    ("amelia.hart", "Amelia Hart"),
    ("ravi.patel", "Ravi Patel"),
    ("sofia.martens", "Sofia Martens"),
    ("jonas.berg", "Jonas Berg"),
    ("chen.wei", "Chen Wei"),
    ("lucia.romero", "Lucia Romero"),
    ("tom.okafor", "Tom Okafor"),
)
CONTACT_TYPES: tuple[str, ...] = ("phone", "email", "self-service", "walk-in")
GROUP_FOR_CATEGORY: dict[str, str] = {"network": "Network", "hardware": "Hardware"}
RESOLUTIONS: tuple[str, ...] = (
    "Replaced the faulty part and confirmed with the caller that it works.",
    "Cleared the cached credentials and re-enrolled the device; sign-in works again.",
    "Rolled back last night's update; the application is stable.",
    "Reconfigured the access point channel plan; coverage confirmed on site.",
    "Freed disk space on the backup volume and re-ran the job successfully.",
    "Rebuilt the index and tuned the query; reports finish in under a minute.",
)
TECH_NOTES: tuple[str, ...] = (
    "Called the user, remote session scheduled for this afternoon.",
    "Waiting for the replacement part from the vendor.",
    "Checked the logs; the error started after the 02:00 maintenance window.",
    "Reproduced the issue on a test machine.",
)
UNLINKED_TICKET_TITLES: tuple[str, ...] = (
    "Quarterly firewall rule review",
    "New starter laptop build for Fabrikam",
    "Renew SSL certificate for the intranet",
    "Monitoring alert: disk 85% full on fs02",
)


def _interval(rng: random.Random, span: tuple[float, float]) -> float:
    return rng.uniform(span[0], span[1])


class Scenario:
    """Drives both simulators through their Python APIs, as callers and technicians would."""

    def __init__(
        self,
        servicenow: ServiceNowSimulator,
        autotask: AutotaskSimulator,
        rng: random.Random | None = None,
        name: str = "lively",
        *,
        drive_clock: bool = False,
    ) -> None:
        """``drive_clock`` moves the simulators' clocks with simulated time (for a ManualClock in tests;
        leave it off on wall time, where it would add an offset)."""
        if name not in PROFILES:
            raise ValueError(f"unknown scenario {name!r}; use one of {', '.join(SCENARIOS)}")
        self.servicenow = servicenow
        self.autotask = autotask
        self.rng = rng if rng is not None else random.Random(0)
        self.name: ScenarioName = name
        self.profile = PROFILES[self.name]
        self.drive_clock = drive_clock
        self.actions: list[ScenarioAction] = []
        self.elapsed = 0.0
        self._lock = threading.RLock()
        self._clock_at = 0.0  # simulated time the clocks have been moved to (drive_clock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.callers = self._register_callers()
        self._due: dict[str, float] = {}
        self._activities: dict[str, tuple[tuple[float, float], Callable[[], ScenarioAction | None]]] = {}
        for key, span, act in (
            ("incident", self.profile.incident_interval, self._new_incident),
            ("incident_change", self.profile.incident_change_interval, self._change_incident),
            ("technician", self.profile.technician_interval, self._technician),
        ):
            if span is not None:
                self._activities[key] = (span, act)
                self._due[key] = _interval(self.rng, span)

    # ---- simulated time ---------------------------------------------------------------------------

    def seed(self, n: int | None = None, *, unlinked_tickets: int = 3) -> list[ScenarioAction]:
        """An initial backlog: ``n`` incidents (default: the profile's) in every category, and a few
        Autotask tickets that belong to nobody's integration (technicians must leave them alone)."""
        count = self.profile.backlog if n is None else n
        with self._lock:
            done: list[ScenarioAction] = []
            categories = [SEED_CYCLE[i % len(SEED_CYCLE)] for i in range(count)]
            self.rng.shuffle(categories)
            for category in categories:
                in_progress = self.rng.random() < 0.25
                done.append(self._create_incident(category, state="2" if in_progress else "1"))
            for index in range(unlinked_tickets):
                done.append(self._create_unlinked_ticket(index))
            return done

    def seed_duplicates(self) -> list[ScenarioAction]:
        """What a triage desk meets in its first week: one outage reported by several callers
        (the same CI, worded differently, minutes apart) and a caller who reports the same problem
        again. Deterministic (no random draws), so the seeded backlog's actions stay as they were."""
        with self._lock:
            sn = self.servicenow
            now = sn.clock.now()
            done: list[ScenarioAction] = []
            for story in DUPLICATE_STORIES:
                ci = sn.configuration_item(story.ci) if story.ci else ""
                for minutes_ago, caller, text in story.reports:
                    record = sn.create_incident(
                        short_description=text,
                        description=story.description,
                        category=story.category,
                        impact="2",
                        urgency="2",
                        caller_id=sn.users.get(caller, ""),
                        cmdb_ci=ci,
                        assignment_group=sn.groups.get(
                            GROUP_FOR_CATEGORY.get(story.category, "Service Desk"), ""
                        ),
                        contact_type="phone",
                        stamp=now - timedelta(minutes=minutes_ago),
                    )
                    done.append(
                        self._record(
                            "create_incident", record["number"], f"{story.category} (repeat story): {text}"
                        )
                    )
            return done

    def step(self, elapsed_seconds: float) -> list[ScenarioAction]:
        """Advance simulated time and perform, in order, every action due in that span."""
        if elapsed_seconds < 0:
            raise ValueError("elapsed_seconds must be >= 0")
        with self._lock:
            target = self.elapsed + elapsed_seconds
            done: list[ScenarioAction] = []
            while True:
                due = [(at, key) for key, at in self._due.items() if at <= target]
                if not due:
                    break
                at, key = min(due)  # ties: alphabetical key, fixed and therefore deterministic
                self.elapsed = at
                self._move_clocks(at)
                span, act = self._activities[key]
                self._due[key] = at + _interval(self.rng, span)
                action = act()
                if action is not None:
                    done.append(action)
            self.elapsed = target
            self._move_clocks(target)
            return done

    def _move_clocks(self, at: float) -> None:
        if not self.drive_clock or at <= self._clock_at:
            return
        # Whole microseconds (what timedelta keeps), so many small steps add up exactly.
        delta = (round(at * 1_000_000) - round(self._clock_at * 1_000_000)) / 1_000_000
        self._clock_at = at
        self.servicenow.clock.advance(delta)
        if self.autotask.clock is not self.servicenow.clock:
            self.autotask.clock.advance(delta)

    # ---- wall-time runners ------------------------------------------------------------------------

    def start(self, tick: float = 0.25) -> None:
        """Run :meth:`step` on wall time in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("the scenario is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run_thread, args=(tick,), name=f"scenario-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread; returns within ``timeout`` (one tick plus one step)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run_thread(self, tick: float) -> None:
        last = time.monotonic()
        while not self._stop.wait(tick):
            now = time.monotonic()
            self._safe_step(now - last)
            last = now

    async def run(self, stop_event: asyncio.Event, tick: float = 0.25) -> None:
        """The asyncio flavour of the runner: steps on wall time until ``stop_event`` is set."""
        last = time.monotonic()
        while not stop_event.is_set():
            try:
                await asyncio.wait_for(stop_event.wait(), tick)
            except TimeoutError:
                pass
            if stop_event.is_set():
                break
            now = time.monotonic()
            self._safe_step(now - last)
            last = now

    def _safe_step(self, elapsed: float) -> None:
        # A failed action must not end the demo's world; log it and keep going.
        try:
            self.step(min(elapsed, MAX_CATCH_UP_SECONDS))
        except Exception:
            log.exception("scenario step failed")

    # ---- callers ------------------------------------------------------------------------------------

    def _register_callers(self) -> list[str]:
        """Add the caller users to the ServiceNow simulator, so references show real names."""
        ids: list[str] = []
        sn = self.servicenow
        for user_name, display in CALLERS:
            sys_id = sn.users.get(user_name)
            if sys_id is None:
                sys_id = f"{self.rng.getrandbits(128):032x}"
                sn.users[user_name] = sys_id
                sn.references[sys_id] = display
            ids.append(sys_id)
        return ids

    def _record(self, kind: ActionKind, target: str, detail: str) -> ScenarioAction:
        action = ScenarioAction(round(self.elapsed, 3), kind, target, detail)
        self.actions.append(action)
        return action

    def _fill(self, text: str) -> str:
        values = {name: self.rng.choice(pool) for name, pool in POOLS.items()}
        return text.format_map(values)

    def _create_incident(self, category: str, *, state: str = "1") -> ScenarioAction:
        template = self.rng.choice(TEMPLATES[category])
        fields: dict[str, Any] = {
            "short_description": self._fill(template.short),
            "description": self._fill(template.description),
            "category": category,
            "subcategory": template.subcategory,
            "impact": self.rng.choices(("1", "2", "3"), (1, 3, 3))[0],
            "urgency": self.rng.choices(("1", "2", "3"), (1, 3, 3))[0],
            "state": state,
            "caller_id": self.rng.choice(self.callers),
            "assignment_group": self.servicenow.groups.get(
                GROUP_FOR_CATEGORY.get(category, "Service Desk"), ""
            ),
            "contact_type": self.rng.choice(CONTACT_TYPES),
        }
        if state == "2":
            fields["assigned_to"] = self.servicenow.users.get("sam.triage", "")
        record = self.servicenow.create_incident(**fields)
        return self._record(
            "create_incident",
            record["number"],
            f"{category} P{record['priority']}: {record['short_description']}",
        )

    def _create_unlinked_ticket(self, index: int) -> ScenarioAction:
        title = UNLINKED_TICKET_TITLES[index % len(UNLINKED_TICKET_TITLES)]
        ticket_id = self.autotask.add_ticket(
            title=title,
            companyID=self.rng.choice((174, 175)),
            status=self.rng.choice(("New", "In Progress", "Scheduled")),
            priority=self.rng.choice(("Medium", "Low")),
            queueID=self.rng.choice(("Level I Support", "Level II Support")),
        )
        ticket = self.autotask.ticket(ticket_id) or {}
        return self._record("create_ticket", str(ticket.get("ticketNumber", ticket_id)), title)

    # ---- activities (each returns the action done, or None when there was nothing to do) -------------

    def _new_incident(self) -> ScenarioAction | None:
        active = sum(1 for r in self.servicenow.records() if r.get("state") not in RESOLVED_STATES)
        category = self.rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        if active >= self.profile.max_open_incidents:
            return None
        return self._create_incident(category)

    def _change_incident(self) -> ScenarioAction | None:
        """Callers cancel, triage re-categorises or escalates: incidents waiting in the queue may
        stop (or start) matching the trigger."""
        candidates = [
            r
            for r in self.servicenow.records()
            if r.get("state") not in RESOLVED_STATES and not r.get("correlation_id", "").strip()
        ]
        roll = self.rng.random()
        if not candidates:
            return None
        record = self.rng.choice(candidates)
        sys_id, number = record["sys_id"], record["number"]
        if roll < 0.35:
            self.servicenow.update_incident(
                sys_id, state="8", comments="Caller reports the problem went away; cancelling."
            )
            return self._record("cancel_incident", number, "cancelled by the caller (state 8)")
        if roll < 0.75:
            old = record.get("category", "")
            new = self.rng.choice([c for c in CATEGORIES if c != old])
            self.servicenow.update_incident(
                sys_id,
                category=new,
                subcategory="",
                work_notes=f"Re-categorised from {old or 'none'} to {new} during triage.",
            )
            return self._record("recategorise_incident", number, f"category {old} -> {new}")
        impact = record.get("impact", "3")
        raised = str(max(1, int(impact or "3") - 1))
        self.servicenow.update_incident(
            sys_id,
            impact=raised,
            urgency=self.rng.choice(("1", "2")),
            comments="More colleagues are affected now.",
        )
        return self._record("escalate_incident", number, f"impact {impact} -> {raised}")

    def _technician(self) -> ScenarioAction | None:
        """A technician works one *linked* ticket (externalID set by the integration); tickets
        other integrations or people created are never touched."""
        at = self.autotask
        complete = at.picklist_id("status", STATUS_COMPLETE)
        candidates = [
            t for t in at.tickets() if str(t.get("externalID") or "").strip() and t.get("status") != complete
        ]
        roll = self.rng.random()
        if not candidates:
            return None
        ticket = self.rng.choice(candidates)
        ticket_id = int(ticket["id"])
        number = str(ticket.get("ticketNumber") or ticket_id)
        if roll < 0.65:
            current = _label(at.picklists, "status", ticket.get("status"))
            new = self._next_status(current)
            fields: dict[str, Any] = {"status": new}
            if new == STATUS_COMPLETE:
                fields["resolution"] = self.rng.choice(RESOLUTIONS)
            at.technician_update(ticket_id, **fields)
            return self._record("ticket_status", number, f"status {current} -> {new}")
        if roll < 0.85:
            current = _label(at.picklists, "priority", ticket.get("priority"))
            new = self.rng.choice([p for p in TICKET_PRIORITIES if p != current])
            at.technician_update(ticket_id, priority=new)
            return self._record("ticket_priority", number, f"priority {current} -> {new}")
        text = self.rng.choice(TECH_NOTES)
        at.add_technician_note(ticket_id, text)
        return self._record("ticket_note", number, text)

    def _next_status(self, current: str) -> str:
        """New -> In Progress -> Waiting Customer -> Complete, with the odd detour back."""
        if current == "In Progress":
            return "Waiting Customer" if self.rng.random() < 0.55 else STATUS_COMPLETE
        if current == "Waiting Customer":
            return "In Progress" if self.rng.random() < 0.3 else STATUS_COMPLETE
        return "In Progress"


def _label(picklists: Mapping[str, Sequence[Mapping[str, Any]]], field: str, value: Any) -> str:
    for entry in picklists.get(field, ()):
        if entry.get("value") == value:
            return str(entry.get("label"))
    return str(value)
