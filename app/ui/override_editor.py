"""Edit ticket fields: a person changes queue, priority, issue type and title of one ticket.

The picklist fields offer the tenant's active labels (from the picklists the engine keeps in the
store), with "as mapped" first; the title is free text within the tenant's title length. Save sends
only what differs from the mapping (and clears what was set back to it); the preview then shows the
ticket as it will be created, each changed field marked with who changed it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.outbound import Preview
from app.engine.views import OverrideChoices
from app.ui.theme import Tone, foreground, palette
from app.ui.ticket_view import field_label
from app.ui.widgets import plain_label

AS_MAPPED = "As mapped"


class OverrideEditor(QWidget):
    """The form; the pane owns saving (``saveRequested``: field -> value, None = as mapped)."""

    saveRequested = Signal(object)  # dict[str, str | None]
    clearRequested = Signal()
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Edit ticket fields")
        self.intro = plain_label(
            "Change fields of this one ticket before you approve it. The mapping stays as it is "
            "for every other incident."
        )
        self.intro.setWordWrap(True)
        self.title = QLineEdit()
        self.title.setAccessibleName("Ticket title")
        self.title_count = QLabel()
        self.title_count.setAccessibleName("Title length")
        self.combos: dict[str, QComboBox] = {}
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        title_row = QHBoxLayout()
        title_row.addWidget(self.title, 1)
        title_row.addWidget(self.title_count)
        title_label = QLabel("&Title:")
        title_label.setBuddy(self.title)  # a row holding a layout gets no buddy by itself
        self.form.addRow(title_label, title_row)
        for target, mnemonic in (
            ("queueID", "&Queue"),
            ("priority", "&Priority"),
            ("issueType", "&Issue type"),
            ("subIssueType", "S&ub-issue type"),
        ):
            combo = QComboBox()
            combo.setAccessibleName(field_label(target))
            self.combos[target] = combo
            self.form.addRow(f"{mnemonic}:", combo)
        self.problem = plain_label()
        red = QPalette(palette())
        red.setColor(QPalette.ColorRole.WindowText, foreground(Tone.ERROR))
        self.problem.setPalette(red)
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.save_button = QPushButton("Save chan&ges")  # Alt+S is the Sync menu
        self.save_button.setToolTip("Keep these values for this ticket (Enter in the title)")
        self.save_button.setDefault(True)
        self.save_button.setAutoDefault(True)
        self.clear_button = QPushButton("&Back to the mapping")
        self.clear_button.setToolTip("Forget every change made to this ticket's fields")
        self.cancel_button = QPushButton("Cancel")
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self.intro)
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._mapped_title = ""
        self._limit = 255
        self._overrides: dict[str, str] = {}
        self.title.textChanged.connect(self._title_changed)
        self.save_button.clicked.connect(self._save)
        self.title.returnPressed.connect(self._save)
        self.clear_button.clicked.connect(self.clearRequested)
        self.cancel_button.clicked.connect(self.cancelled)

    def load(self, preview: Preview, choices: OverrideChoices, overrides: dict[str, str]) -> None:
        """Fill the form: the current values (overridden or mapped) and the tenant's labels."""
        self._limit = choices.title_max
        self.title.setMaxLength(choices.title_max)
        title = preview.field("title")
        current_title = title.display if title is not None and title.sent else ""
        self._mapped_title = current_title if title is None or not title.overridden_by else ""
        self.title.setText(overrides.get("title", current_title))
        for target, combo in self.combos.items():
            combo.clear()
            shown = preview.field(target)
            mapped = shown.display if shown is not None and shown.sent and not shown.overridden_by else ""
            combo.addItem(f"{AS_MAPPED} ({mapped})" if mapped else AS_MAPPED, None)
            for label in choices.labels.get(target, ()):
                combo.addItem(label, label)
            wanted = overrides.get(target)
            position = combo.findData(wanted) if wanted is not None else 0
            combo.setCurrentIndex(max(position, 0))
            combo.setEnabled(combo.count() > 1)
        self.clear_button.setEnabled(bool(overrides))
        self._overrides = dict(overrides)
        if not choices.loaded:
            self._show_problem(
                "The Autotask picklists are not loaded yet: only the title can be changed now."
            )
        else:
            self._show_problem(None)
        self._title_changed(self.title.text())

    def values(self) -> dict[str, str | None]:
        """Field -> the chosen value (None: as mapped). Only what the form sets differently."""
        chosen: dict[str, str | None] = {}
        text = self.title.text().strip()
        if text and text != self._mapped_title:
            chosen["title"] = text
        elif "title" in self._overrides:
            chosen["title"] = None
        for target, combo in self.combos.items():
            data = combo.currentData()
            if isinstance(data, str):
                chosen[target] = data
            elif target in self._overrides:
                chosen[target] = None
        return chosen

    def _title_changed(self, text: str) -> None:
        self.title_count.setText(f"{len(text)} / {self._limit}")
        if not text.strip():
            self._show_problem("The title must not be empty.")
            self.save_button.setEnabled(False)
        else:
            if self.problem.text() == "The title must not be empty.":
                self._show_problem(None)
            self.save_button.setEnabled(True)

    def _show_problem(self, text: str | None) -> None:
        self.problem.setText(text or "")
        self.problem.setVisible(bool(text))

    def show_problem(self, text: str) -> None:
        """The engine refused the change (a label gone from Autotask meanwhile)."""
        self._show_problem(text)

    def _save(self) -> None:
        if self.save_button.isEnabled():
            self.saveRequested.emit(self.values())

    def focus_first(self) -> None:
        self.title.setFocus()
        self.title.selectAll()
