"""The preview as Autotask will show the ticket: labels, names, local times, the caller, the text.

The rule behind each field stays one click away ("How was this mapped?", the mapping table). Every
value here comes from remote records, so every label is plain text.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.domain.outbound import FieldPreview, Preview
from app.engine.views import QueueRow
from app.ui.format import local_time, priority_label
from app.ui.theme import hint_palette

FIELD_LABELS = {
    "title": "Title",
    "description": "Description",
    "status": "Status",
    "priority": "Priority",
    "queueID": "Queue",
    "dueDateTime": "Due",
    "companyID": "Company",
    "externalID": "External reference",
    "issueType": "Issue type",
    "subIssueType": "Sub-issue type",
    "source": "Source",
    "ticketType": "Ticket type",
    "ticketCategory": "Category",
    "serviceLevelAgreementID": "Service level agreement",
    "assignedResourceID": "Assigned to",
    "contactID": "Contact",
}
# Shown in the header or the body rather than in the field list.
_SPECIAL = frozenset({"title", "description", "externalID"})


def field_label(target: str) -> str:
    return FIELD_LABELS.get(target, target)


def field_text(item: FieldPreview) -> str:
    """What Autotask will show for the field: names not ids, times in local time."""
    if item.target == "dueDateTime" and isinstance(item.value, str):
        try:
            moment = datetime.fromisoformat(item.value.replace("Z", "+00:00"))
        except ValueError:
            return item.display
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return local_time(moment, with_date=True)[:16]
    if not item.sent:
        return "— (not sent)"
    return item.display


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class TicketView(QScrollArea):
    """The ticket body: title, the fields as labelled values, the caller and the description."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Ticket as Autotask will show it")
        body = QWidget()
        self.title = _plain()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.title.setFont(font)
        self.title_note = _plain()
        self.title_note.setPalette(hint_palette())
        self.title_note.hide()
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.form.setHorizontalSpacing(14)
        self.form.setVerticalSpacing(6)
        self.description_caption = QLabel("Description")
        bold = self.description_caption.font()
        bold.setBold(True)
        self.description_caption.setFont(bold)
        self.description = _plain()
        self.description.setAccessibleName("Ticket description")
        self.reference = _plain()
        self.reference.setPalette(hint_palette())
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self.title)
        layout.addWidget(self.title_note)
        layout.addLayout(self.form)
        layout.addWidget(self.description_caption)
        layout.addWidget(self.description)
        layout.addWidget(self.reference)
        layout.addStretch(1)
        self.setWidget(body)
        self.values: dict[str, str] = {}

    def show_ticket(self, preview: Preview, row: QueueRow | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.values = {}
        title = preview.field("title")
        self.title.setText(title.display if title is not None and title.sent else "(no title)")
        overridden = title is not None and title.overridden_by
        self.title_note.setText(f"Title overridden by {title.overridden_by}" if title and overridden else "")
        self.title_note.setVisible(bool(overridden))
        for item in preview.fields:
            if item.target in _SPECIAL:
                continue
            text = field_text(item)
            if item.overridden_by:
                text += f"  (overridden by {item.overridden_by})"
            self.values[field_label(item.target)] = text
            value = _plain(text)
            if item.error:
                value.setText(f"{text} — {item.error}")
            self.form.addRow(field_label(item.target) + ":", value)
        if row is not None:
            caller = row.caller or "(no caller)"
            self.values["Caller"] = caller
            self.form.addRow("Caller:", _plain(caller))
            incident = (
                f"{row.number} · {priority_label(row.priority)} · queued "
                f"{local_time(row.queued_at, with_date=True)[:16]}"
            )
            self.values["Incident"] = incident
            self.form.addRow("Incident:", _plain(incident))
        description = preview.field("description")
        self.description.setText(
            description.display if description is not None and description.sent else "(no description)"
        )
        external = preview.field("externalID")
        self.reference.setText(
            f"External reference {external.display}: the link back to the incident, so a retry never "
            "creates a second ticket."
            if external is not None and external.sent
            else ""
        )
