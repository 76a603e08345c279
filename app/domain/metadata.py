"""Autotask field metadata: ticket field names, picklists (label <-> id, parent and child), and
JSON objects whose keys match in any case.

Split from :mod:`app.domain.records` (which re-exports these names): field metadata answers have
been seen with PascalCase names, and child picklists (``subIssueType``) repeat labels under
several parents, so resolution needs more than a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

# The ticket fields we read back from Autotask (IncludeFields).
TICKET_FIELDS: tuple[str, ...] = (
    "id",
    "ticketNumber",
    "title",
    "description",
    "companyID",
    "status",
    "priority",
    "queueID",
    "issueType",
    "subIssueType",
    "externalID",
    "resolution",
    "dueDateTime",
    "createDate",
    "lastActivityDate",
    "completedDate",
)


class CaseBlind(Mapping[str, Any]):
    """A read-only view of a JSON object whose keys match case-insensitively (``Status`` is
    ``status``): Autotask has been seen to spell names in PascalCase."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._keys = {str(key).casefold(): key for key in raw}

    def __getitem__(self, key: str) -> Any:
        return self._raw[self._keys[key.casefold()]]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.casefold() in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class PicklistValue(BaseModel):
    """One entry of an Autotask picklist. ``value`` is a string in metadata, an int on records."""

    model_config = ConfigDict(frozen=True)

    value: int
    label: str
    is_active: bool = True
    is_default: bool = False
    parent_value: int | None = None
    sort_order: int = 0


class FieldInfo(BaseModel):
    """Metadata for one Autotask ticket field, from ``/Tickets/entityInformation/fields``."""

    model_config = ConfigDict(frozen=True)

    name: str
    data_type: str = "string"
    length: int | None = None
    is_required: bool = False
    is_read_only: bool = False
    is_picklist: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    parent_field: str = ""  # picklistParentValueField: e.g. subIssueType's values belong to issueType


# Our spelling of the ticket and note fields; metadata names in another case are mapped to these.
KNOWN_FIELD_NAMES: tuple[str, ...] = (
    *TICKET_FIELDS,
    "contactID",
    "assignedResourceID",
    "assignedResourceRoleID",
    "ticketType",
    "ticketCategory",
    "source",
    "serviceLevelAgreementID",
    "estimatedHours",
    "ticketID",
    "noteType",
    "publish",
)
_CANONICAL = {name.casefold(): name for name in KNOWN_FIELD_NAMES}


def _flag(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    return default if value is None else bool(value)


class TicketMetadata(BaseModel):
    """Label <-> id resolution and required/length rules for the tenant's ticket fields.

    Field names match in any case. A child picklist (``subIssueType``) resolves a label under its
    parent's value, because child labels such as "Other" repeat under several parents."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, FieldInfo] = {}

    def field(self, name: str) -> FieldInfo | None:
        info = self.fields.get(name)
        if info is not None:
            return info
        wanted = name.casefold()
        return next((item for key, item in self.fields.items() if key.casefold() == wanted), None)

    def _active(self, field: str, parent: int | None) -> list[PicklistValue]:
        info = self.field(field)
        if info is None:
            return []
        return [
            entry
            for entry in sorted(info.picklist, key=lambda e: e.sort_order)
            if entry.is_active and (parent is None or entry.parent_value == parent)
        ]

    def id_for_label(self, field: str, label: str, parent: int | None = None) -> int | None:
        """Case-insensitive, active values only (under ``parent`` when given); None when unknown.
        Without a parent, the first match wins: use :meth:`parents_for_label` to detect ambiguity."""
        wanted = label.strip().casefold()
        for entry in self._active(field, parent):
            if entry.label.strip().casefold() == wanted:
                return entry.value
        return None

    def parents_for_label(self, field: str, label: str) -> list[int]:
        """The parent values under which a child label exists (several for "Other", "General")."""
        wanted = label.strip().casefold()
        parents = [
            entry.parent_value
            for entry in self._active(field, None)
            if entry.label.strip().casefold() == wanted and entry.parent_value is not None
        ]
        return list(dict.fromkeys(parents))

    def label_for_id(self, field: str, value: int | None) -> str | None:
        if value is None:
            return None
        info = self.field(field)
        if info is None:
            return None
        for entry in info.picklist:
            if entry.value == value:
                return entry.label
        return None

    def labels(self, field: str, parent: int | None = None) -> list[str]:
        return [entry.label for entry in self._active(field, parent)]

    @classmethod
    def from_wire(cls, raw_fields: Sequence[Mapping[str, Any]]) -> TicketMetadata:
        """Parse the ``fields`` array of ``/Tickets/entityInformation/fields`` (keys in any case)."""
        parsed: dict[str, FieldInfo] = {}
        for wire in raw_fields:
            raw = CaseBlind(wire)
            given = str(raw.get("name") or "")
            if not given:
                continue
            name = _CANONICAL.get(given.casefold(), given)
            if raw.get("isPickList") and not isinstance(raw.get("picklistValues"), list):
                # A picklist without its values would leave every label unmappable; cached, it
                # would refuse every push until a restart. Unreadable, so read again later.
                raise ValueError(f"picklist field {name!r} comes without its picklistValues")
            values: list[PicklistValue] = []
            for wire_entry in raw.get("picklistValues") or []:
                entry = CaseBlind(wire_entry)
                try:
                    value = int(str(entry.get("value", "")).strip())
                except ValueError:
                    continue  # a non-numeric picklist value is of no use for an int record field
                parent_text = str(entry.get("parentValue") or "").strip()
                values.append(
                    PicklistValue(
                        value=value,
                        label=str(entry.get("label", "")),
                        is_active=_flag(entry, "isActive", True),
                        is_default=_flag(entry, "isDefaultValue", False),
                        parent_value=int(parent_text) if parent_text.lstrip("-").isdigit() else None,
                        sort_order=int(entry.get("sortOrder") or 0),
                    )
                )
            length = raw.get("length")
            parent_field = str(raw.get("picklistParentValueField") or "")
            parsed[name] = FieldInfo(
                name=name,
                data_type=str(raw.get("dataType") or "string"),
                length=int(length) if isinstance(length, int) and length > 0 else None,
                is_required=_flag(raw, "isRequired", False),
                is_read_only=_flag(raw, "isReadOnly", False),
                is_picklist=_flag(raw, "isPickList", False),
                picklist=tuple(values),
                parent_field=_CANONICAL.get(parent_field.casefold(), parent_field),
            )
        return cls(fields=parsed)
