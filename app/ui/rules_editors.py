"""One editor per outbound rule kind (copy, template, value map, constant, due in hours).

Each editor shows the rule as a person reads it and gives it back as TOML-shaped data
(:meth:`RuleEditor.data`); the Rules window validates that data with the config checks. Picklist
fields offer the tenant's active labels from the picklists the engine keeps in the store (children
listed under their parent); value maps put the incident's choices on the left and those labels on
the right; templates complete ``{incident fields}``. Remote values are shown as plain text only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.domain.choices import field_choices
from app.domain.outbound import DEFAULT_QUEUE, PICKLIST_FIELDS
from app.domain.records import TEMPLATE_FIELDS, Incident, TicketMetadata

RULE_KINDS: dict[str, str] = {
    "copy": "Copy an incident field",
    "template": "Template",
    "value_map": "Value map",
    "constant": "Constant",
    "due_in_hours": "Due in hours",
}
NOT_MAPPED = ""  # an empty right-hand cell: this value has no entry in the map


@dataclass
class RuleContext:
    """What editors offer: the tenant's picklists and the incidents held (for their values)."""

    metadata: TicketMetadata | None = None
    incidents: Sequence[Incident] = field(default_factory=tuple)


def label_choices(metadata: TicketMetadata | None, target: str) -> list[tuple[str, str, bool]]:
    """``(shown, label, selectable)`` for a picklist field's active labels. A child field
    (subIssueType) lists its labels under each parent, whose own row is a heading."""
    if metadata is None:
        return []
    info = metadata.field(target)
    if info is None:
        return []
    if not info.parent_field:
        return [(label, label, True) for label in metadata.labels(target)]
    rows: list[tuple[str, str, bool]] = []
    parent = metadata.field(info.parent_field)
    for entry in sorted(parent.picklist if parent else (), key=lambda e: e.sort_order):
        if not entry.is_active:
            continue
        children = metadata.labels(target, parent=entry.value)
        if children:
            rows.append((entry.label, "", False))
            rows += [(f"    {child}", child, True) for child in children]
    return rows


def is_picklist(metadata: TicketMetadata | None, target: str) -> bool:
    info = metadata.field(target) if metadata is not None else None
    return target in PICKLIST_FIELDS or (info is not None and info.is_picklist)


class LabelCombo(QComboBox):
    """An editable combo of a picklist's live labels (free text stays possible: a label the
    picklists do not know is then reported by the preview's pre-flight check)."""

    def __init__(self, metadata: TicketMetadata | None, target: str, extra: Sequence[str] = ()) -> None:
        super().__init__()
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        model = QStandardItemModel(self)
        for text in extra:
            model.appendRow(QStandardItem(text))
        for shown, label, selectable in label_choices(metadata, target):
            item = QStandardItem(shown)
            item.setData(label, Qt.ItemDataRole.UserRole)
            if not selectable:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            model.appendRow(item)
        self.setModel(model)
        self.activated.connect(self._picked)

    def _picked(self, index: int) -> None:
        label = self.itemData(index, Qt.ItemDataRole.UserRole)
        if isinstance(label, str) and label:
            self.setEditText(label)  # the label itself, not the indented display

    def value(self) -> str:
        return self.currentText().strip()

    def set_value(self, text: str) -> None:
        self.setEditText(text)


class TemplateEdit(QPlainTextEdit):
    """A template's text; typing ``{`` offers the incident fields (Enter or Tab picks one)."""

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.setTabChangesFocus(True)
        self.setPlainText(text)
        self.setMaximumHeight(self.fontMetrics().lineSpacing() * 4 + 12)
        # Parented to this editor: an unowned model would be collected and the completer left empty.
        self.fields_model = QStringListModel([f"{{{name}}}" for name in TEMPLATE_FIELDS], self)
        self.completer = QCompleter(self.fields_model, self)
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self.insert_completion)

    def _open_brace(self) -> str | None:
        """The ``{partial`` before the cursor, when the cursor is inside an unclosed placeholder."""
        cursor = self.textCursor()
        before = self.toPlainText()[: cursor.position()]
        start = before.rfind("{")
        if (
            start < 0
            or "}" in before[start:]
            or not all(c.isalnum() or c == "_" for c in before[start + 1 :])
        ):
            return None
        return before[start:]

    def insert_completion(self, completion: str) -> None:
        prefix = self._open_brace() or ""
        cursor = self.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(prefix))
        cursor.insertText(completion)
        self.setTextCursor(cursor)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        popup = self.completer.popup()
        assert popup is not None
        if popup.isVisible() and event.key() in (
            Qt.Key.Key_Enter,
            Qt.Key.Key_Return,
            Qt.Key.Key_Tab,
            Qt.Key.Key_Escape,
        ):
            event.ignore()  # the completer's popup takes these
            return
        super().keyPressEvent(event)
        prefix = self._open_brace()
        if prefix is None:
            popup.hide()
            return
        if prefix != self.completer.completionPrefix() or not popup.isVisible():
            self.completer.setCompletionPrefix(prefix)
            # The first match is highlighted, so Enter or Tab takes it at once.
            popup.setCurrentIndex(self.completer.completionModel().index(0, 0))
        rect = self.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + 24)
        self.completer.complete(rect)


class RuleEditor(QWidget):
    """Base: a form for one rule of one Autotask field."""

    changed = Signal()
    kind = ""

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__()
        self.target = target
        self.context = context
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)

    def data(self) -> dict[str, Any]:
        raise NotImplementedError

    def _source_combo(self, current: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(TEMPLATE_FIELDS))
        combo.setCurrentText(current or "short_description")
        combo.currentTextChanged.connect(lambda _text: self.changed.emit())
        return combo

    def _max_length(self, value: int | None) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(0, 32000)
        spin.setSpecialValueText("no limit")
        spin.setValue(value or 0)
        spin.valueChanged.connect(lambda _value: self.changed.emit())
        return spin


class CopyEditor(RuleEditor):
    kind = "copy"

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__(target, rule, context)
        self.source = self._source_combo(str(rule.get("source", "")))
        self.max_length = self._max_length(rule.get("max_length"))
        self.form.addRow("Incident fiel&d", self.source)
        self.form.addRow("&Max length", self.max_length)

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": "copy", "source": self.source.currentText()}
        if self.max_length.value():
            data["max_length"] = self.max_length.value()
        return data


class TemplateEditor(RuleEditor):
    kind = "template"

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__(target, rule, context)
        self.template = TemplateEdit(str(rule.get("template", "")))
        self.template.textChanged.connect(self.changed.emit)
        self.max_length = self._max_length(rule.get("max_length"))
        self.form.addRow("Tem&plate", self.template)
        self.form.addRow("&Max length", self.max_length)

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": "template", "template": self.template.toPlainText()}
        if self.max_length.value():
            data["max_length"] = self.max_length.value()
        return data


class ValueMapEditor(RuleEditor):
    """ServiceNow choices on the left, the Autotask label each one becomes on the right."""

    kind = "value_map"

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__(target, rule, context)
        self.mapping: dict[str, str] = {str(k): str(v) for k, v in dict(rule.get("map", {})).items()}
        self.source = self._source_combo(str(rule.get("source", "category")))
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("value-map")
        self.table.setHorizontalHeaderLabels(["ServiceNow value", f"Autotask {target}"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move inside it
        extras = ["@default_queue"] if target == "queueID" else []
        self.default = LabelCombo(context.metadata, target, ["(not sent)", *extras])
        default = rule.get("default")
        self.default.set_value("(not sent)" if default is None else str(default))
        self.default.editTextChanged.connect(lambda _text: self.changed.emit())
        self.form.addRow("Incident fiel&d", self.source)
        self.form.addRow(self.table)
        self.form.addRow("Other&wise", self.default)
        self.source.currentTextChanged.connect(self._fill)
        self._fill()

    def _fill(self, *_args: object) -> None:
        source = self.source.currentText()
        self.table.setRowCount(0)
        for value, label in field_choices(source, self.context.incidents, self.mapping):
            row = self.table.rowCount()
            self.table.insertRow(row)
            shown = value if label == value else f"{value}  ({label})"
            item = QTableWidgetItem(shown)
            item.setData(Qt.ItemDataRole.UserRole, value)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, item)
            if is_picklist(self.context.metadata, self.target):
                combo = LabelCombo(self.context.metadata, self.target, [NOT_MAPPED])
                combo.set_value(self.mapping.get(value, NOT_MAPPED))
                combo.editTextChanged.connect(lambda text, key=value: self.set_label(key, text))
                self.table.setCellWidget(row, 1, combo)
            else:
                edit = QLineEdit(self.mapping.get(value, NOT_MAPPED))
                edit.textChanged.connect(lambda text, key=value: self.set_label(key, text))
                self.table.setCellWidget(row, 1, edit)
        self.changed.emit()

    def set_label(self, value: str, label: str) -> None:
        """Map ``value`` to ``label`` (empty: no entry). Also what the tests drive."""
        label = label.strip()
        if label:
            self.mapping[value] = label
        else:
            self.mapping.pop(value, None)
        widget = self.cell(value)
        if isinstance(widget, LabelCombo) and widget.value() != label:
            widget.set_value(label)
        elif isinstance(widget, QLineEdit) and widget.text().strip() != label:
            widget.setText(label)
        self.changed.emit()

    def cell(self, value: str) -> QWidget | None:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == value:
                return self.table.cellWidget(row, 1)
        return None

    def data(self) -> dict[str, Any]:
        default = self.default.value()
        data: dict[str, Any] = {
            "rule": "value_map",
            "source": self.source.currentText(),
            "map": dict(self.mapping),
        }
        if default and default != "(not sent)":
            data["default"] = default
        return data


class ConstantEditor(RuleEditor):
    kind = "constant"

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__(target, rule, context)
        value = rule.get("value", "")
        self.number = isinstance(value, int)
        self.picklist = is_picklist(context.metadata, target) and not self.number
        if self.picklist:
            self.label = LabelCombo(context.metadata, target)
            self.label.set_value(str(value))
            self.label.editTextChanged.connect(lambda _text: self.changed.emit())
            self.form.addRow("Val&ue", self.label)
        else:
            self.text = QLineEdit(str(value))
            self.text.textChanged.connect(lambda _text: self.changed.emit())
            self.form.addRow("Val&ue", self.text)

    def data(self) -> dict[str, Any]:
        text = self.label.value() if self.picklist else self.text.text()
        value: str | int = int(text) if self.number and text.strip().lstrip("-").isdigit() else text
        return {"rule": "constant", "value": value}


class DueEditor(RuleEditor):
    """Hours from now, picked by another field's label (e.g. priority)."""

    kind = "due_in_hours"

    def __init__(self, target: str, rule: dict[str, Any], context: RuleContext) -> None:
        super().__init__(target, rule, context)
        self.hours: dict[str, float] = {str(k): float(v) for k, v in dict(rule.get("hours", {})).items()}
        self.by = QComboBox()
        self.by.setEditable(True)
        self.by.addItems(["priority", "queueID", "status", "issueType"])
        self.by.setCurrentText(str(rule.get("by", "priority")))
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Label", "Hours"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setTabKeyNavigation(False)
        self.default_hours = QDoubleSpinBox()
        self.default_hours.setDecimals(1)
        self.default_hours.setRange(0.5, 24 * 365)
        self.default_hours.setValue(float(rule.get("default_hours", 24)))
        self.default_hours.valueChanged.connect(lambda _v: self.changed.emit())
        self.form.addRow("Picked &by", self.by)
        self.form.addRow(self.table)
        self.form.addRow("Other&wise (hours)", self.default_hours)
        self.by.currentTextChanged.connect(self._fill)
        self._fill()

    def _fill(self, *_args: object) -> None:
        labels = [
            label for _shown, label, ok in label_choices(self.context.metadata, self.by.currentText()) if ok
        ]
        labels += [label for label in self.hours if label not in labels]
        self.table.setRowCount(0)
        for label in labels:
            row = self.table.rowCount()
            self.table.insertRow(row)
            item = QTableWidgetItem(label)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, item)
            spin = QDoubleSpinBox()
            spin.setDecimals(1)
            spin.setRange(0, 24 * 365)
            spin.setSpecialValueText("(default)")
            spin.setValue(self.hours.get(label, 0.0))
            spin.valueChanged.connect(lambda hours, key=label: self._set(key, hours))
            self.table.setCellWidget(row, 1, spin)
        self.changed.emit()

    def _set(self, label: str, hours: float) -> None:
        if hours:
            self.hours[label] = hours
        else:
            self.hours.pop(label, None)
        self.changed.emit()

    def data(self) -> dict[str, Any]:
        return {
            "rule": "due_in_hours",
            "by": self.by.currentText().strip(),
            "hours": dict(self.hours),
            "default_hours": self.default_hours.value(),
        }


EDITORS: dict[str, type[RuleEditor]] = {
    "copy": CopyEditor,
    "template": TemplateEditor,
    "value_map": ValueMapEditor,
    "constant": ConstantEditor,
    "due_in_hours": DueEditor,
}


def starter_rule(kind: str, target: str, metadata: TicketMetadata | None) -> dict[str, Any]:
    """A sensible new rule of ``kind`` for ``target`` (what the kind switch starts from)."""
    if kind == "copy":
        return {"rule": "copy", "source": "short_description"}
    if kind == "template":
        return {"rule": "template", "template": "{short_description}"}
    if kind == "value_map":
        default = DEFAULT_QUEUE if target == "queueID" else None
        return {
            "rule": "value_map",
            "source": "category",
            "map": {},
            **({"default": default} if default else {}),
        }
    if kind == "constant":
        labels = [label for _shown, label, ok in label_choices(metadata, target) if ok]
        return {"rule": "constant", "value": labels[0] if labels else ""}
    return {"rule": "due_in_hours", "by": "priority", "hours": {}, "default_hours": 24}


def make_editor(target: str, rule: dict[str, Any], context: RuleContext) -> RuleEditor:
    return EDITORS[str(rule.get("rule", "constant"))](target, rule, context)
