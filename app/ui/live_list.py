"""Live lists that never move under the cursor.

While the user works in a list (a row is selected or the list is scrolled away from the top), new
rows are held back and a "N new" button says so; the rows, the selection and the scroll position stay
where they are. A click on the button (or coming back to an idle list) shows the new rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtWidgets import QAbstractItemView, QPushButton, QWidget

T = TypeVar("T")


class NewRowsButton(QPushButton):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Show new rows")
        self.setToolTip("New rows arrived while you were working in the list; click to show them")
        self.hide()


class HeldRows(Generic[T]):
    """Holds new rows back while ``view`` is in use; ``show`` releases them through ``apply``."""

    def __init__(
        self, view: QAbstractItemView, button: NewRowsButton, apply: Callable[[list[T]], None]
    ) -> None:
        self.view = view
        self.button = button
        self.apply = apply
        self.held: list[T] = []
        button.clicked.connect(self.show)

    def in_use(self) -> bool:
        scrolled = self.view.verticalScrollBar().value() > self.view.verticalScrollBar().minimum()
        selection = self.view.selectionModel()
        selected = selection is not None and selection.hasSelection()
        return scrolled or selected

    def add(self, rows: list[T]) -> None:
        if not rows:
            return
        if not self.in_use() and not self.held:
            self.apply(rows)
            return
        self.held.extend(rows)
        if not self.in_use():
            self.show()
            return
        self.button.setText(f"{len(self.held):,} new — show")
        self.button.show()

    def show(self) -> None:
        rows, self.held = self.held, []
        self.button.hide()
        if rows:
            self.apply(rows)
        self.view.scrollToTop()
