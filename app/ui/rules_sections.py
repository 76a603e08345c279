"""The three parts of the Rules window: the business trigger, the outbound mapping (one row per
Autotask ticket field) and the return-trip mapping. Each gives its part back as TOML-shaped data
(:meth:`data`) and says ``changed`` on every edit."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.config import AppConfig, TriggerOp
from app.domain.choices import field_choices
from app.domain.outbound import APP_FIELDS, FIELD_ORDER
from app.domain.records import INCIDENT_FIELDS, INCIDENT_STATES
from app.ui.rules_editors import (
    RULE_KINDS,
    RuleContext,
    RuleEditor,
    label_choices,
    make_editor,
    starter_rule,
)

OPS: dict[str, str] = {
    "equals": "is",
    "not_equals": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "is_empty": "is empty",
    "not_empty": "is not empty",
}
NO_RULE = "(no rule)"


def _values_text(condition: dict[str, Any]) -> str:
    if condition.get("values") is not None:
        return ", ".join(str(value) for value in condition["values"])
    return str(condition.get("value") or "")


class TriggerSection(QWidget):
    """Conditions on the incident's real fields, with their known choices offered."""

    changed = Signal()

    def __init__(self, config: AppConfig, context: RuleContext) -> None:
        super().__init__()
        self.context = context
        self._last_cell: QWidget | None = None
        trigger = config.trigger.model_dump(mode="json", exclude_none=True)
        self.description = QLineEdit(str(trigger.get("description", "")))
        self.description.textChanged.connect(lambda _t: self.changed.emit())
        self.require_unlinked = QCheckBox("Only incidents not linked to an Autotask ticket yet")
        self.require_unlinked.setChecked(bool(trigger.get("require_unlinked", True)))
        self.require_unlinked.toggled.connect(lambda _c: self.changed.emit())
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("trigger-conditions")
        self.table.setHorizontalHeaderLabels(["Incident field", "Condition", "Values (comma-separated)"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setTabKeyNavigation(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        add = QPushButton("New co&ndition")
        add.clicked.connect(lambda: self.add_condition({"field": "category", "op": "in", "values": []}))
        remove = QPushButton("Re&move condition")
        remove.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        form = QFormLayout()
        form.addRow("&Description", self.description)
        form.addRow(self.require_unlinked)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("An incident is queued when every condition holds:"))
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        for condition in trigger.get("conditions", []):
            self.add_condition(condition)

    def add_condition(self, condition: dict[str, Any]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        field = QComboBox()
        field.addItems(list(INCIDENT_FIELDS))
        field.setCurrentText(str(condition.get("field", "category")))
        op = QComboBox()
        for key, words in OPS.items():
            op.addItem(words, key)
        op.setCurrentIndex(list(OPS).index(str(condition.get("op", "equals"))))
        values = QLineEdit(_values_text(condition))
        values.setPlaceholderText("e.g. hardware, software")

        def offer(*_args: object) -> None:
            named = [part.strip() for part in values.text().split(",")]
            choices = [
                value for value, _label in field_choices(field.currentText(), self.context.incidents, named)
            ]
            completer = QCompleter(choices, values)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            values.setCompleter(completer)
            values.setToolTip(
                "Known values: "
                + ", ".join(
                    f"{value} ({label})" if label != value else value
                    for value, label in field_choices(field.currentText(), self.context.incidents)
                )
            )

        field.currentTextChanged.connect(offer)
        offer()

        def operands(*_args: object) -> None:  # "is empty" takes no value
            values.setEnabled(op.currentData() not in ("is_empty", "not_empty"))

        op.currentIndexChanged.connect(operands)
        operands()
        for widget in (field, op, values):
            widget.installEventFilter(self)
        for widget in (field, op):
            widget.currentIndexChanged.connect(lambda _i: self.changed.emit())
        values.textChanged.connect(lambda _t: self.changed.emit())
        self.table.setCellWidget(row, 0, field)
        self.table.setCellWidget(row, 1, op)
        self.table.setCellWidget(row, 2, values)
        self.changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, QWidget):
            self._last_cell = watched  # the condition "Remove condition" acts on
        return super().eventFilter(watched, event)

    def current_row(self) -> int | None:
        """The condition last focused (or selected); None when there is none."""
        for row in range(self.table.rowCount()):
            if any(self.table.cellWidget(row, column) is self._last_cell for column in range(3)):
                return row
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return rows[0] if rows else None

    def remove_selected(self) -> None:
        row = self.current_row()
        if row is None:
            return  # nothing chosen: never remove a condition the user did not point at
        self.table.removeRow(row)
        self._last_cell = None
        self.changed.emit()

    def data(self) -> dict[str, Any]:
        conditions: list[dict[str, Any]] = []
        for row in range(self.table.rowCount()):
            field = self.table.cellWidget(row, 0)
            op = self.table.cellWidget(row, 1)
            values = self.table.cellWidget(row, 2)
            assert (
                isinstance(field, QComboBox) and isinstance(op, QComboBox) and isinstance(values, QLineEdit)
            )
            kind: TriggerOp = op.currentData()
            condition: dict[str, Any] = {"field": field.currentText(), "op": kind}
            if kind in ("equals", "not_equals"):
                condition["value"] = values.text().strip()
            elif kind in ("in", "not_in"):
                condition["values"] = [part.strip() for part in values.text().split(",") if part.strip()]
            conditions.append(condition)
        return {
            "description": self.description.text(),
            "require_unlinked": self.require_unlinked.isChecked(),
            "conditions": conditions,
        }


class OutboundSection(QWidget):
    """One row per Autotask ticket field; the selected row's rule in the editor for its kind."""

    changed = Signal()

    def __init__(self, config: AppConfig, context: RuleContext) -> None:
        super().__init__()
        self.context = context
        self.rules: dict[str, dict[str, Any]] = {
            target: rule.model_dump(mode="json", exclude_none=True)
            for target, rule in config.outbound.fields.items()
        }
        self.editors: dict[str, RuleEditor] = {}
        self.fields = QListWidget()
        self.fields.setObjectName("outbound-fields")
        self.fields.currentTextChanged.connect(self._show)
        self.kind = QComboBox()
        for key, words in RULE_KINDS.items():
            self.kind.addItem(words, key)
        self.kind.activated.connect(self._kind_chosen)
        self.stack = QStackedWidget()
        self.add_field = QComboBox()
        self.add_field.setObjectName("add-field")
        self.add_button = QPushButton("&Add field")
        self.add_button.clicked.connect(lambda: self.add(self.add_field.currentText()))
        self.remove_button = QPushButton("Remove fie&ld")
        self.remove_button.clicked.connect(self.remove_current)
        left = QVBoxLayout()
        left.addWidget(QLabel("Autotask ticket &fields"))
        left.itemAt(0).widget().setBuddy(self.fields)  # type: ignore[union-attr]
        left.addWidget(self.fields, 1)
        adder = QHBoxLayout()
        adder.addWidget(self.add_field, 1)
        adder.addWidget(self.add_button)
        left.addLayout(adder)
        left.addWidget(self.remove_button)
        right = QVBoxLayout()
        kind_row = QFormLayout()
        kind_row.addRow("Rule &kind", self.kind)
        right.addLayout(kind_row)
        right.addWidget(self.stack, 1)
        note = QLabel(
            "companyID (outbound.company_id) and externalID (the incident sys_id) are set by the app."
        )
        note.setWordWrap(True)
        right.addWidget(note)
        splitter = QSplitter()
        for layout in (left, right):
            holder = QWidget()
            holder.setLayout(layout)
            splitter.addWidget(holder)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([170, 460])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)
        self._refill()

    def _refill(self) -> None:
        order = sorted(self.rules, key=lambda t: (FIELD_ORDER.index(t) if t in FIELD_ORDER else 99, t))
        current = self.fields.currentItem().text() if self.fields.currentItem() else None
        self.fields.blockSignals(True)
        self.fields.clear()
        for target in order:
            QListWidgetItem(target, self.fields)
        self.fields.blockSignals(False)
        known = list(self.context.metadata.fields) if self.context.metadata else list(FIELD_ORDER)
        candidates = [n for n in known if n not in self.rules and n not in APP_FIELDS]
        info = self.context.metadata
        candidates = [
            n
            for n in candidates
            if info is None or not (info.field(n) and info.field(n).is_read_only)  # type: ignore[union-attr]
        ]
        self.add_field.clear()
        self.add_field.addItems(sorted(candidates))
        self.select(current if current in self.rules else (order[0] if order else None))

    def select(self, target: str | None) -> None:
        if target is None:
            return
        matches = self.fields.findItems(target, Qt.MatchFlag.MatchExactly)
        if matches:
            self.fields.setCurrentItem(matches[0])
            self._show(target)

    def editor(self, target: str) -> RuleEditor:
        editor = self.editors.get(target)
        if editor is None:
            editor = self.editors[target] = make_editor(target, self.rules[target], self.context)
            editor.changed.connect(self.changed.emit)
            self.stack.addWidget(editor)
        return editor

    def _show(self, target: str) -> None:
        if not target or target not in self.rules:
            return
        editor = self.editor(target)
        self.stack.setCurrentWidget(editor)
        self.kind.setCurrentIndex(list(RULE_KINDS).index(editor.kind))

    def _kind_chosen(self, index: int) -> None:
        item = self.fields.currentItem()
        if item is None:
            return
        target, kind = item.text(), str(self.kind.itemData(index))
        old = self.editors.pop(target, None)
        if old is not None and old.kind == kind:
            self.editors[target] = old
            return
        if old is not None:
            self.stack.removeWidget(old)
            old.deleteLater()
        self.rules[target] = starter_rule(kind, target, self.context.metadata)
        self._show(target)
        self.changed.emit()

    def add(self, target: str) -> None:
        if not target or target in self.rules:
            return
        picklist = bool(label_choices(self.context.metadata, target))
        self.rules[target] = starter_rule("constant" if picklist else "copy", target, self.context.metadata)
        self._refill()
        self.select(target)
        self.changed.emit()

    def remove_current(self) -> None:
        item = self.fields.currentItem()
        if item is None:
            return
        target = item.text()
        self.rules.pop(target, None)
        editor = self.editors.pop(target, None)
        if editor is not None:
            self.stack.removeWidget(editor)
            editor.deleteLater()
        self._refill()
        self.changed.emit()

    def data(self) -> dict[str, Any]:
        return {
            target: (self.editors[target].data() if target in self.editors else rule)
            for target, rule in self.rules.items()
        }


class ReturnSection(QWidget):
    """Autotask status and priority labels -> what the incident gets (its own table, never the
    outbound one inverted)."""

    changed = Signal()

    def __init__(self, config: AppConfig, context: RuleContext) -> None:
        super().__init__()
        trip = config.return_trip
        self.context = context
        self.enabled = QCheckBox("Bring ticket status and priority changes back to the incident")
        self.enabled.setChecked(trip.enabled)
        self.close_code = QLineEdit(trip.default_close_code)
        self.close_notes = QLineEdit(trip.default_close_notes)
        self.status = QTableWidget(0, 4)
        self.status.setObjectName("return-status")
        self.status.setHorizontalHeaderLabels(
            ["Autotask status", "Incident state", "Hold reason", "Close code"]
        )
        self.priority = QTableWidget(0, 3)
        self.priority.setObjectName("return-priority")
        self.priority.setHorizontalHeaderLabels(["Autotask priority", "Impact", "Urgency"])
        for table in (self.status, self.priority):
            table.verticalHeader().hide()
            table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            table.setTabKeyNavigation(False)
        statuses = dict(trip.status)
        # Keys this table does not show (close_notes_from_resolution) are kept as configured.
        self._kept = {
            label: rule.model_dump(mode="json", exclude_none=True) for label, rule in statuses.items()
        }
        for label in self._labels("status", statuses):
            self._status_row(label, statuses.get(label))
        priorities = dict(trip.priority)
        for label in self._labels("priority", priorities):
            self._priority_row(label, priorities.get(label))
        form = QFormLayout()
        form.addRow(self.enabled)
        form.addRow("Default close co&de", self.close_code)
        form.addRow("Default close &notes", self.close_notes)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Status (labels the tenant has now; empty state = no rule):"))
        layout.addWidget(self.status, 2)
        layout.addWidget(QLabel("Priority:"))
        layout.addWidget(self.priority, 1)
        for widget in (self.close_code, self.close_notes):
            widget.textChanged.connect(lambda _t: self.changed.emit())
        self.enabled.toggled.connect(lambda _c: self.changed.emit())

    def _labels(self, field: str, configured: dict[str, Any]) -> list[str]:
        live = [label for _shown, label, ok in label_choices(self.context.metadata, field) if ok]
        return live + [label for label in configured if label not in live]

    def _item(self, text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
        return item

    def _status_row(self, label: str, rule: Any) -> None:
        row = self.status.rowCount()
        self.status.insertRow(row)
        self.status.setItem(row, 0, self._item(label))
        state = QComboBox()
        state.addItem(NO_RULE, None)
        for value, name in INCIDENT_STATES.items():
            state.addItem(f"{value} {name}", value)
        state.setCurrentIndex(state.findData(rule.state) if rule is not None else 0)
        hold = QLineEdit(rule.hold_reason or "" if rule is not None else "")
        code = QLineEdit(rule.close_code or "" if rule is not None else "")
        state.currentIndexChanged.connect(lambda _i: self.changed.emit())
        for edit in (hold, code):
            edit.textChanged.connect(lambda _t: self.changed.emit())
        for column, widget in enumerate((state, hold, code), start=1):
            self.status.setCellWidget(row, column, widget)

    def _priority_row(self, label: str, rule: Any) -> None:
        row = self.priority.rowCount()
        self.priority.insertRow(row)
        self.priority.setItem(row, 0, self._item(label))
        for column, current in ((1, rule.impact if rule else None), (2, rule.urgency if rule else None)):
            combo = QComboBox()
            combo.addItem(NO_RULE, None)
            for value, name in ((1, "1 - High"), (2, "2 - Medium"), (3, "3 - Low")):
                combo.addItem(name, value)
            combo.setCurrentIndex(combo.findData(current) if current is not None else 0)
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
            self.priority.setCellWidget(row, column, combo)

    def set_status_state(self, label: str, state: int | None) -> None:
        for row in range(self.status.rowCount()):
            item = self.status.item(row, 0)
            combo = self.status.cellWidget(row, 1)
            if item is not None and item.text() == label and isinstance(combo, QComboBox):
                combo.setCurrentIndex(combo.findData(state) if state is not None else 0)

    def data(self) -> dict[str, Any]:
        status: dict[str, Any] = {}
        for row in range(self.status.rowCount()):
            item = self.status.item(row, 0)
            state, hold, code = (self.status.cellWidget(row, c) for c in (1, 2, 3))
            assert item is not None and isinstance(state, QComboBox)
            assert isinstance(hold, QLineEdit) and isinstance(code, QLineEdit)
            if state.currentData() is None:
                continue
            entry: dict[str, Any] = {
                key: value
                for key, value in self._kept.get(item.text(), {}).items()
                if key not in ("hold_reason", "close_code")
            }
            entry["state"] = state.currentData()
            if hold.text().strip():
                entry["hold_reason"] = hold.text().strip()
            if code.text().strip():
                entry["close_code"] = code.text().strip()
            status[item.text()] = entry
        priority: dict[str, Any] = {}
        for row in range(self.priority.rowCount()):
            item = self.priority.item(row, 0)
            impact, urgency = self.priority.cellWidget(row, 1), self.priority.cellWidget(row, 2)
            assert item is not None and isinstance(impact, QComboBox) and isinstance(urgency, QComboBox)
            if impact.currentData() is None or urgency.currentData() is None:
                continue
            priority[item.text()] = {"impact": impact.currentData(), "urgency": urgency.currentData()}
        return {
            "enabled": self.enabled.isChecked(),
            "default_close_code": self.close_code.text(),
            "default_close_notes": self.close_notes.text(),
            "status": status,
            "priority": priority,
        }
