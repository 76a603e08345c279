"""The mapping table behind "How was this mapped?": each field, its sources and its rule."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from app.domain.outbound import Preview
from app.ui.format import tooltip_text
from app.ui.theme import Tone, foreground, tint, tone_icon

COL_TARGET = 0
COL_VALUE = 1
COL_FROM = 2
COL_RULE = 3
HEADERS = ("Autotask field", "Value", "From (ServiceNow)", "Rule")


def fill_mapping_table(table: QTableWidget, preview: Preview) -> None:
    warn_brush = QBrush(tint(Tone.WARNING))
    error_brush = QBrush(tint(Tone.ERROR))
    warn_icon = tone_icon(Tone.WARNING, table)
    error_icon = tone_icon(Tone.ERROR, table)
    error_text = QBrush(foreground(Tone.ERROR))
    table.setRowCount(len(preview.fields))
    for row_number, item in enumerate(preview.fields):
        sources = "\n".join(f"{name} = {value}" for name, value in item.sources) or "—"
        rule_lines = [item.rule]
        rule_lines += [f"⚠ {text}" for text in item.warnings]
        if item.error:
            rule_lines.append(f"✖ {item.error}")
        cells = [
            QTableWidgetItem(item.target),
            QTableWidgetItem(item.display),
            QTableWidgetItem(sources),
            QTableWidgetItem("\n".join(rule_lines)),
        ]
        tooltip = "\n".join([*item.warnings, *([item.error] if item.error else [])])
        for column, cell in enumerate(cells):
            cell.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            if tooltip:
                cell.setToolTip(tooltip_text(tooltip))
            elif column == COL_VALUE:
                cell.setToolTip(tooltip_text(item.display))
            if item.error:
                cell.setBackground(error_brush)
            elif item.warnings:
                cell.setBackground(warn_brush)
            if not item.sent and column == COL_VALUE:
                cell.setForeground(QBrush(table.palette().placeholderText()))
        if item.error:
            cells[COL_TARGET].setIcon(error_icon)
            cells[COL_RULE].setForeground(error_text)
        elif item.warnings:
            cells[COL_TARGET].setIcon(warn_icon)
        for column, cell in enumerate(cells):
            table.setItem(row_number, column, cell)
