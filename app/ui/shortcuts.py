"""The keyboard map (one table: the Help page and the tests read it) and the Help page itself."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# (keys, what they do) in the order the Help page shows them.
KEYBOARD_MAP: tuple[tuple[str, str], ...] = (
    ("Ctrl+F", "Filter the list of the current tab"),
    ("Enter", "Open the selected incident's preview (focus moves to it)"),
    ("Ctrl+Return", "Approve the selected incident(s)"),
    ("Delete", "Reject the selected incident(s); Undo in the message that follows"),
    ("Ctrl+Z / Alt+U", "Undo that reject while its message shows"),
    ("Ctrl+D", "Reject the selected suspected duplicate(s) as a duplicate of the incident each repeats"),
    ("Ctrl+E", "Edit ticket fields (queue, priority, issue type, title) of the selected incident"),
    ("F5", "Poll ServiceNow and Autotask now"),
    ("Tab / Shift+Tab", "Move between the panes (filter, list, preview), not from cell to cell"),
    ("Up / Down", "Move through the list; the preview follows"),
    ("Escape", "Back from the preview to the list"),
    ("Ctrl+1 / Ctrl+2 / Ctrl+3 / Ctrl+4", "Queue, Activity, Links, Overview"),
    ("Ctrl+I", "“Why not?”: explain any incident number (Escape closes the answer)"),
    ("Menu key / Shift+F10", "Actions for the selected row (open, copy, why not, restore)"),
    ("Ctrl+,", "Settings"),
    ("Ctrl+Shift+R", "Rules: edit the trigger and mappings (Ctrl+S saves there)"),
    ("F1", "This page"),
    ("Ctrl+Q", "Quit"),
)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 480)
        intro = QLabel("Everything on the desk works from the keyboard. Underlined letters work with Alt.")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(KEYBOARD_MAP), 2)
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        for row, (keys, text) in enumerate(KEYBOARD_MAP):
            key_item = QTableWidgetItem(keys)
            font = key_item.font()
            font.setBold(True)
            key_item.setFont(font)
            self.table.setItem(row, 0, key_item)
            self.table.setItem(row, 1, QTableWidgetItem(text))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons, 0, Qt.AlignmentFlag.AlignRight)

    def keys(self) -> list[str]:
        return [keys for keys, _text in KEYBOARD_MAP]
