"""Tickets that already exist are adopted, never created twice (DESIGN "Outbound push", step 2).

A reinstalled app, a lost or restored database or a second workstation re-queues every triggered
incident in the lookback: our own store cannot tell that a ticket exists. Autotask can. Before the
first create of a push round the round's sys_ids are looked up in ONE query by ``externalID`` (our
tickets always carry the sys_id there). An incident whose ``correlation_id`` names a ticket (an
earlier install, or a person, linked it) is checked with one more query by id, only when the round
has such incidents and the first query did not find them; its correlation_display, when set, must
be that ticket's number (another integration's numeric id is not a link). Whatever exists becomes
the link, marked *adopted*; the amortised cost stays near two requests per pushed ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.connectors.autotask import AutotaskClient
from app.domain.records import Incident, Ticket, TicketMetadata
from app.domain.return_trip import TRACKED, ticket_values

# Enough to link, name and seed the return trip's "last synced" values (no long text fields).
ADOPT_FIELDS: tuple[str, ...] = ("id", "ticketNumber", "externalID", "status", "priority", "resolution")
MAX_TICKET_ID_DIGITS = 12


@dataclass(frozen=True)
class Existing:
    """A ticket found in Autotask for an incident, and how it was found."""

    ticket: Ticket
    via: Literal["externalID", "correlation_id"]

    @property
    def how(self) -> str:
        return "its externalID" if self.via == "externalID" else "the incident's correlation_id"


def named_ticket_id(incident: Incident) -> int | None:
    """The Autotask ticket id the incident's correlation_id names, if it looks like one."""
    text = incident.correlation_id.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_TICKET_ID_DIGITS:
        return None
    value = int(text)
    return value if value > 0 else None


async def find_existing(autotask: AutotaskClient, incidents: Sequence[Incident]) -> dict[str, Existing]:
    """sys_id -> the ticket that already exists for it (the lowest id when several do)."""
    found: dict[str, Existing] = {}
    by_external = await autotask.find_by_external_ids(
        [incident.sys_id for incident in incidents], include_fields=ADOPT_FIELDS
    )
    for sys_id, tickets in by_external.items():
        found[sys_id] = Existing(min(tickets, key=lambda ticket: ticket.id), "externalID")
    named: dict[int, Incident] = {}
    for incident in incidents:
        ticket_id = named_ticket_id(incident)
        if incident.sys_id not in found and ticket_id is not None:
            named.setdefault(ticket_id, incident)
    if named:
        async for page in autotask.query_tickets_by_ids(list(named), include_fields=ADOPT_FIELDS):
            for ticket in page:
                naming = named.get(ticket.id)
                if naming is not None and _names(naming, ticket):
                    found[naming.sys_id] = Existing(ticket, "correlation_id")
    return found


def _names(incident: Incident, ticket: Ticket) -> bool:
    """Whether the incident's correlation fields really name this ticket. A ticket carrying another
    incident's sys_id belongs to that incident; a correlation_display that is not the ticket's
    number says the numeric correlation_id is another integration's own id (an alert number), which
    only happens to match an unrelated ticket's id."""
    display = incident.correlation_display.strip()
    return ticket.external_id in ("", incident.sys_id) and display in ("", ticket.ticket_number)


def adopted_synced_values(ticket: Ticket, metadata: TicketMetadata | None) -> dict[str, str]:
    """The ticket's current status/priority as "last synced": adopting writes nothing back, and only
    changes made after the adoption travel to the incident."""
    if metadata is None:
        return {}
    values = ticket_values(ticket, metadata)
    return {name: values[name] for name in TRACKED if values[name]}
