"""The Rules window: edit the trigger and both mappings, see what they do before saving.

Left, the three parts (trigger, outbound mapping, return trip). Right, a live preview: an incident
from the queue (its stored snapshot) or any incident by number (read fresh from ServiceNow), with
the ticket the saved rules create beside the one the edited rules would create, differences
highlighted, and the trigger's verdict. Below it the impact of the edit on everything the store
holds (:mod:`app.domain.impact`), computed by the engine. Save validates with the checks of
``config check``, writes the file keeping the user's comments (:mod:`app.rules_file`), keeps the
previous file as ``.bak``, and hands the new rules to the running engine: no restart.

Everything read from either system is shown as plain text.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import AppConfig, ConfigError, load_config, parse_config, resolve_config_path, validate_config
from app.domain.impact import ImpactReport
from app.domain.outbound import NOT_SENT, Preview, preview
from app.domain.records import Incident, TicketMetadata
from app.domain.triggers import evaluate
from app.engine.api import EngineAPI
from app.rules_file import RulesRefused, rules_onto, save_rules
from app.ui.format import desk_user, incident_key, now_utc
from app.ui.rules_editors import RuleContext
from app.ui.rules_sections import OutboundSection, ReturnSection, TriggerSection
from app.ui.tasks import TaskSlot
from app.ui.theme import Tone, css_color, foreground, tint
from app.ui.widgets import plain_label

log = logging.getLogger(__name__)

SAMPLE_LIMIT = 200  # queued incidents offered as samples (and whose values the editors offer)
QUEUED = ("pending", "approved", "failed")
COL_FIELD, COL_SAVED, COL_EDITED = 0, 1, 2


def _cell_text(item: Any) -> str:
    if item is None:
        return NOT_SENT
    text = item.display if item.sent else NOT_SENT
    return f"{text}  ⚠ {item.error}" if item.error else text


class RulesWindow(QDialog):
    saved = Signal(object)  # tuple[str, ...]: the rule keys that changed
    message = Signal(str)  # what the status line says (tests, the main window)

    def __init__(
        self,
        engine: EngineAPI,
        config_path: Path | None = None,
        *,
        demo: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rules — Triage Sync")
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.resize(1240, 760)
        screen = self.screen()
        if screen is not None:  # never larger than the desktop (its title bar must stay reachable)
            room = screen.availableGeometry()
            self.resize(min(1240, room.width() - 40), min(760, room.height() - 60))
        self.engine = engine
        self.config_path = config_path or resolve_config_path(None)
        self.demo = demo
        self.baseline: AppConfig = engine.config
        self.context = RuleContext()
        self.incident: Incident | None = None
        self.edited: AppConfig | None = self.baseline
        self.report: ImpactReport | None = None
        self._load_task = TaskSlot("rules-load", on_error=self._failed)
        self._sample_task = TaskSlot("rules-sample", on_error=self._failed)
        self._impact_task = TaskSlot("rules-impact", on_error=self._failed)
        self._save_task = TaskSlot("rules-save", on_error=self._failed)
        self._recompute = QTimer(self, singleShot=True, interval=250)  # typing settles first
        self._recompute.timeout.connect(self.recompute)

        self.tabs = QTabWidget()
        self.tabs.addTab(plain_label("Reading the tenant's picklists and the queue…"), "Rules")

        # ---- preview ----------------------------------------------------------------------------
        self.sample = QComboBox()
        self.sample.setObjectName("rules-sample")
        self.sample.setMinimumContentsLength(28)
        self.sample.activated.connect(self._sample_chosen)
        self.number = QLineEdit()
        self.number.setPlaceholderText("or an incident number, read fresh")
        self.number.returnPressed.connect(self._read_number)
        read = QPushButton("R&ead")
        read.clicked.connect(self._read_number)
        picker = QHBoxLayout()
        sample_label = QLabel("&Incident")
        sample_label.setBuddy(self.sample)
        picker.addWidget(sample_label)
        picker.addWidget(self.sample, 2)
        picker.addWidget(self.number, 1)
        picker.addWidget(read)
        self.verdict = plain_label()
        self.verdict.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("rules-preview")
        self.table.setHorizontalHeaderLabels(["Autotask field", "Saved rules", "Edited rules"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_FIELD, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_SAVED, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_EDITED, QHeaderView.ResizeMode.Stretch)
        preview_box = QGroupBox("Live preview")
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addLayout(picker)
        preview_layout.addWidget(self.verdict)
        preview_layout.addWidget(self.table, 1)

        # ---- impact -----------------------------------------------------------------------------
        self.impact = QPlainTextEdit()
        self.impact.setObjectName("rules-impact")
        self.impact.setReadOnly(True)
        self.impact.setTabChangesFocus(True)
        self.impact.setPlaceholderText("No change yet.")
        impact_box = QGroupBox("Impact of this change")
        impact_layout = QVBoxLayout(impact_box)
        impact_layout.addWidget(self.impact)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(preview_box)
        right.addWidget(impact_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        body = QSplitter()
        body.addWidget(self.tabs)
        body.addWidget(right)
        body.setStretchFactor(0, 5)
        body.setStretchFactor(1, 4)
        body.setSizes([640, 600])

        # ---- status and buttons -----------------------------------------------------------------
        self.status = plain_label()
        self.status.setWordWrap(True)
        self.problems = plain_label()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {css_color(foreground(Tone.ERROR, self.palette()))};")
        self.problems.hide()
        self.save_button = QPushButton("&Save" if not demo else "Apply to this &session")
        self.save_button.setToolTip(
            "Validate, save (the previous file is kept as .bak) and use the new rules now"
        )
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Re&vert")
        self.revert_button.setEnabled(False)
        self.revert_button.clicked.connect(self.revert)
        close = QPushButton("&Close")
        close.clicked.connect(self.reject)
        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        self.read_only = engine.rules_read_only()  # an attached desk previews, the engine host saves
        where = plain_label(
            self.read_only
            or (
                "Demo: the rules apply to this session only."
                if demo
                else f"Rules file: {self.config_path} (the engine on this machine reads it; in a team, "
                "edit the rules on the machine that runs the engine)."
            )
        )
        where.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(body, 1)
        layout.addWidget(self.problems)
        layout.addLayout(buttons)

    # ---- loading ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._load_task.start(self.load())

    async def load(self) -> None:
        metadata: TicketMetadata | None = await self.engine.picklists()
        rows = await self.engine.list_queue(list(QUEUED))
        incidents: list[Incident] = []
        self.sample.clear()
        for row in rows[:SAMPLE_LIMIT]:
            found = await self.engine.sample_incident(row.number, fresh=False)
            if found is not None:
                incidents.append(found)
                self.sample.addItem(f"{row.number} — {row.short_description}"[:90], row.number)
        self.context = RuleContext(metadata, tuple(incidents))
        self._build()
        if metadata is None:
            self._say(
                "The Autotask picklists could not be read: labels are not offered or checked.", Tone.WARNING
            )
        if incidents:
            self.incident = incidents[0]
        self.recompute()

    def _build(self) -> None:
        while self.tabs.count():
            page = self.tabs.widget(0)
            self.tabs.removeTab(0)
            if page is not None:
                page.deleteLater()
        self.trigger = TriggerSection(self.baseline, self.context)
        self.trigger.description.setCursorPosition(0)
        self.outbound = OutboundSection(self.baseline, self.context)
        self.returns = ReturnSection(self.baseline, self.context)
        self.tabs.addTab(self.trigger, "&Trigger")
        self.tabs.addTab(self.outbound, "&Outbound mapping")
        self.tabs.addTab(self.returns, "Return t&rip")
        for section in (self.trigger, self.outbound, self.returns):
            section.changed.connect(self._recompute.start)

    # ---- samples ----------------------------------------------------------------------------------
    def _sample_chosen(self, index: int) -> None:
        number = self.sample.itemData(index)
        if isinstance(number, str):
            self._sample_task.start(self._show_sample(number, fresh=False))

    def _read_number(self) -> None:
        key = incident_key(self.number.text())
        if key:
            self._say(f"Reading {key} from ServiceNow…", Tone.INFO)
            self._sample_task.start(self._show_sample(key, fresh=True))

    async def _show_sample(self, key: str, *, fresh: bool) -> None:
        try:
            found = await self.engine.sample_incident(key, fresh=fresh)
        except (ValueError, RuntimeError) as exc:  # not an incident key; ServiceNow not reachable
            self._say(f"{exc}. The preview keeps the incident it shows.", Tone.WARNING)
            return
        if found is None:
            self._say(f"ServiceNow has no incident {key} (or the API user cannot see it).", Tone.WARNING)
            return
        self.incident = found
        if fresh:
            self._say(f"{found.number} read from ServiceNow just now.", Tone.INFO)
        self.refresh_preview()

    # ---- the edited rules -------------------------------------------------------------------------
    def rules_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.baseline.model_dump(mode="json", exclude_none=True)
        data["trigger"] = self.trigger.data()
        data["outbound"]["fields"] = self.outbound.data()
        data["return_trip"] = {**data["return_trip"], **self.returns.data()}
        return data

    def build_edited(self) -> AppConfig | list[str]:
        try:
            return validate_config(self.rules_data(), "rules")
        except ConfigError as exc:
            return exc.problems

    def recompute(self) -> None:
        """Validate the edit, then refresh the preview at once and the impact in the background."""
        if not hasattr(self, "trigger"):
            return
        built = self.build_edited()
        if isinstance(built, list):
            self.edited = None
            self.problems.setText("Not valid yet:\n" + "\n".join(built))
            self.problems.show()
            self.save_button.setEnabled(False)
            self.revert_button.setEnabled(True)
            self.refresh_preview()
            return
        self.edited = built
        self.problems.hide()
        from app.domain.impact import changed_rules

        changed = changed_rules(self.baseline, built)
        self.save_button.setEnabled(bool(changed) and self.read_only is None)
        self.revert_button.setEnabled(bool(changed))
        self.refresh_preview()
        self._impact_task.start(self._impact(built))

    async def _impact(self, edited: AppConfig) -> None:
        report = await self.engine.rules_impact(edited)
        self.report = report
        lines = report.summary()
        if report.rules_changed:
            lines = [f"Rules changed: {', '.join(report.rules_changed)}", *lines]
        details = report.details()
        self.impact.setPlainText("\n".join(lines + ([""] + details if details else [])))

    def refresh_preview(self) -> None:
        incident = self.incident
        self.table.setRowCount(0)
        if incident is None:
            self.verdict.setText(
                "No incident to preview: pick one from the queue, or type a number and Read."
            )
            return
        now = now_utc()
        saved = preview(incident, self.baseline.outbound, self.context.metadata, now=now)
        edited = (
            preview(incident, self.edited.outbound, self.context.metadata, now=now) if self.edited else None
        )
        self._fill(saved, edited)
        rules = self.edited or self.baseline
        verdict = evaluate(rules.trigger, incident)
        before = evaluate(self.baseline.trigger, incident).matched
        text = f"{incident.number}: " + (
            "would be queued by the edited trigger"
            if verdict.matched
            else "would not be queued by the edited trigger, because " + "; ".join(verdict.reasons())
        )
        if verdict.matched != before:
            text += f" (the saved trigger {'queues' if before else 'does not queue'} it)"
        self.verdict.setText(text)

    def _fill(self, saved: Preview, edited: Preview | None) -> None:
        targets = [f.target for f in saved.fields] + [f.target for f in (edited.fields if edited else ())]
        names = list(dict.fromkeys(targets))
        bold = QFont(self.table.font())
        bold.setBold(True)
        changed = QBrush(tint(Tone.WARNING, self.palette()))
        for row, name in enumerate(names):
            self.table.insertRow(row)
            old = _cell_text(saved.field(name))
            new = _cell_text(edited.field(name)) if edited is not None else "(rules not valid yet)"
            cells = (name, old, new)
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
            if edited is not None and old != new:  # one `now` for both: a due time differs only by rule
                for column in range(3):
                    item = self.table.item(row, column)
                    assert item is not None
                    item.setBackground(changed)
                    item.setFont(bold)
                    item.setToolTip("Differs from what the saved rules create")

    def differences(self) -> list[str]:
        """The Autotask fields highlighted as different (tests, accessibility)."""
        rows: list[str] = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, COL_FIELD)
            if item is not None and item.font().bold():
                rows.append(item.text())
        return rows

    def edited_cell(self, target: str) -> str:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, COL_FIELD)
            value = self.table.item(row, COL_EDITED)
            if item is not None and item.text() == target and value is not None:
                return value.text()
        return ""

    # ---- save -------------------------------------------------------------------------------------
    def revert(self) -> None:
        self._build()
        self.recompute()
        self._say("Edits discarded: the saved rules are shown again.", Tone.INFO)

    def save(self) -> None:
        if self.read_only is not None:
            self._say(self.read_only, Tone.WARNING)
            return
        if self.edited is None or not self.save_button.isEnabled():
            self._say("Nothing to save: the rules are unchanged or not valid yet.", Tone.WARNING)
            return
        self.save_button.setEnabled(False)
        self._save_task.start(self._save(self.edited))

    def _file_config(self) -> AppConfig:
        if self.config_path.exists():
            return load_config(self.config_path)
        return parse_config({}, str(self.config_path))

    async def _save(self, edited: AppConfig) -> None:
        if self.demo:
            changed = await self.engine.apply_rules(edited, desk_user(self.engine.config))
            self._saved(edited, changed, "Applied to this demo session (not saved to a file)")
            return
        try:
            on_file = self._file_config()
            result = save_rules(self.config_path, on_file, rules_onto(on_file, self.baseline, edited))
        except (RulesRefused, ConfigError) as exc:
            problems = exc.problems if isinstance(exc, RulesRefused) else [str(exc)]
            self.problems.setText("\n".join(problems))
            self.problems.show()
            self._say("Not saved; the file is unchanged.", Tone.ERROR)
            self.save_button.setEnabled(True)
            return
        except OSError as exc:
            self._say(f"Not saved: cannot write {self.config_path} ({exc.strerror or exc}).", Tone.ERROR)
            self.save_button.setEnabled(True)
            return
        changed = await self.engine.apply_rules(result.config, desk_user(self.engine.config))
        kept = f"; the previous file is {result.backup.name}" if result.backup else ""
        self._saved(result.config, changed or result.changed, f"Saved to {self.config_path}{kept}")

    def _saved(self, config: AppConfig, changed: tuple[str, ...], where: str) -> None:
        self.baseline = config
        self.recompute()
        self._say(
            f"{where}. The engine uses the new rules now ({', '.join(changed) or 'no change'}).", Tone.OK
        )
        self.saved.emit(changed)

    # ---- feedback ---------------------------------------------------------------------------------
    def _say(self, text: str, tone: Tone) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {css_color(foreground(tone, self.palette()))};")
        self.message.emit(text)

    def _failed(self, error: BaseException) -> None:
        log.error("rules window: %s", error, exc_info=error)
        self._say(f"Something went wrong: {error}", Tone.ERROR)
        if self.edited is not None:
            self.save_button.setEnabled(True)
