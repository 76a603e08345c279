"""Health of both systems and the Autotask request budget, for the status bar."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QStyle, QWidget

from app.engine.views import BudgetState, HealthState
from app.ui.format import SYSTEM_LABELS, humanize_until, local_time, tooltip_text
from app.ui.theme import Tone, std_icon, tone_icon
from app.ui.widgets import plain_label

BUDGET_TIP = (
    "Autotask's hourly request threshold is shared by every integration of the tenant: Triage Sync "
    "slows down as the tenant nears it and waits whenever a system asks it to (Retry-After)"
)
LEVEL_TEXT = {
    "unknown": "starting",
    "ok": "OK",
    "degraded": "degraded",
    "auth_failed": "credentials refused",
    "offline": "offline",
    "paused": "paused",
}
LEVEL_TONE = {
    "unknown": Tone.INFO,
    "ok": Tone.OK,
    "degraded": Tone.WARNING,
    "auth_failed": Tone.ERROR,
    "offline": Tone.ERROR,
    "paused": Tone.WARNING,
}


def health_text(system: str, health: HealthState) -> str:
    """One line: "ServiceNow: OK · last poll 09:14:05 · next in 4 s"; when something is wrong, what
    is wrong instead of the last poll time (the banner and the tooltip say since when), without
    naming the system twice ("ServiceNow: degraded · next in 4 s · Service Unavailable (HTTP 503)")."""
    name = SYSTEM_LABELS.get(system, system)
    parts = [f"{name}: {LEVEL_TEXT.get(health.level, health.level)}"]
    troubled = bool(health.message) and health.level != "ok"
    if health.last_success is not None and not troubled:
        parts.append(f"last poll {local_time(health.last_success)}")
    if health.next_poll is not None and health.level not in ("auth_failed", "paused"):
        parts.append(f"next {humanize_until(health.next_poll)}")
    if troubled:
        message = health.message.removeprefix(f"{name}: ")
        parts.append(message if len(message) <= 48 else message[:47] + "…")
    return " · ".join(parts)


def reconcile_text(health: HealthState) -> str:
    """The last reconciliation pass, for the tooltip ("" before the first one)."""
    if health.last_reconciled is None:
        return ""
    when = local_time(health.last_reconciled, with_date=True)
    found = health.reconcile_found
    if not found:
        return f"reconciliation {when}: nothing missed"
    return f"reconciliation {when}: found {len(found)} missed by the poll ({', '.join(found[:5])}" + (
        ", …)" if len(found) > 5 else ")"
    )


def budget_text(budget: BudgetState) -> str:
    """Plain words: the tenant's reading, ours, any pacing delay, and every Retry-After hold."""
    return budget.describe(datetime.now(UTC))


class ElidedLabel(QLabel):
    """A one-line label that gives way first when the status bar is narrow: it ends in "…" instead
    of being cut mid-word (or squeezing the health lines until they are cut)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setAccessibleDescription(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 4, super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, self.width()))


class HealthLabel(QWidget):
    """Icon + one line for one system; the full message in the tooltip."""

    def __init__(self, system: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system = system
        self.health = HealthState()
        self.setAccessibleName(f"{SYSTEM_LABELS.get(system, system)} connection")
        self.icon = QLabel()
        self.text = plain_label()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.icon)
        layout.addWidget(self.text)
        self.set_health(self.health)

    def set_health(self, health: HealthState) -> None:
        self.health = health
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self.icon.setPixmap(tone_icon(LEVEL_TONE.get(health.level, Tone.INFO), self).pixmap(size, size))
        self.refresh()

    def refresh(self) -> None:
        """Re-render relative times ("next in 40 s")."""
        self.text.setText(health_text(self.system, self.health))
        tip = [health_text(self.system, self.health)]
        if self.health.last_success is not None:
            tip.append(f"last successful poll {local_time(self.health.last_success, with_date=True)}")
        if self.health.message:
            tip.append(self.health.message)
        if self.health.last_failure is not None:
            tip.append(f"last failure {local_time(self.health.last_failure, with_date=True)}")
        reconciled = reconcile_text(self.health)
        if reconciled:
            tip.append(reconciled)
        self.setToolTip(tooltip_text("\n".join(tip)))
        self.setAccessibleDescription(health_text(self.system, self.health))


class StatusStrip(QWidget):
    """ServiceNow health | Autotask health | budget | Poll now."""

    pollRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Connection status")
        self.labels = {system: HealthLabel(system) for system in ("servicenow", "autotask")}
        self.budget = ElidedLabel("budget: —")
        self.budget.setToolTip(BUDGET_TIP)
        self.budget.setAccessibleName("Autotask request budget")
        self._budget: BudgetState | None = None
        self.poll_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_BrowserReload), "Poll now")
        self.poll_button.setToolTip("Poll ServiceNow and Autotask now")
        self.poll_button.clicked.connect(self.pollRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(12)
        layout.addWidget(self.labels["servicenow"])
        layout.addWidget(_separator())
        layout.addWidget(self.labels["autotask"])
        layout.addWidget(_separator())
        layout.addWidget(self.budget, 1)
        layout.addWidget(self.poll_button, 0, Qt.AlignmentFlag.AlignRight)

    def set_health(self, system: str, health: HealthState) -> None:
        label = self.labels.get(system)
        if label is not None:
            label.set_health(health)

    def set_budget(self, budget: BudgetState) -> None:
        self._budget = budget
        self.budget.set_full_text(budget_text(budget))
        tip = [
            BUDGET_TIP,
            f"Triage Sync: {budget.remaining:,} of its {budget.limit:,} requests left this hour",
        ]
        if budget.reading_at is not None:
            tip.append(f"tenant usage read at {local_time(budget.reading_at, with_date=True)}")
        self.budget.setToolTip("\n".join(tip))

    def refresh(self) -> None:
        """Re-render relative times ("next in 40 s", holds that have ended)."""
        for label in self.labels.values():
            label.refresh()
        if self._budget is not None:
            self.budget.set_full_text(budget_text(self._budget))


def _separator() -> QLabel:
    label = QLabel("|")
    label.setEnabled(False)
    return label
