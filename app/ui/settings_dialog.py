"""Settings: connections for both systems (secrets to the OS keyring), poll intervals, auto-push
default, store location; the mapping and trigger rules read-only.

Input is validated by the same pydantic models the config loader uses (``ServiceNowConfig``,
``AutotaskConfig``), and each problem is shown beside its field. "Test connection" makes one real,
cheap API call with the values as typed (unsaved). Save sets only the keys this dialog edits and
keeps everything else in the file, comments and layout included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.config import (
    AppConfig,
    AutotaskConfig,
    ConstantRule,
    CopyRule,
    DeskConfig,
    DueInHoursRule,
    ServiceNowConfig,
    TemplateRule,
    ValueMapRule,
    default_store_url,
    desk_name,
    hide_password,
)
from app.engine.events import SystemName
from app.files import write_private
from app.secrets import (
    ENV_VARS,
    Secret,
    SecretName,
    get_secret,
    keyring_problem,
    remember,
    set_secret,
    set_session_secret,
)
from app.ui.store_url import store_password_account, store_url_problem
from app.ui.tasks import spawn
from app.ui.theme import Tone, css_color, foreground, hint_palette
from app.ui.widgets import message_box, plain_label

log = logging.getLogger(__name__)

STORED_PLACEHOLDER = "•••• stored in keyring"
SYSTEM_TITLES = {"servicenow": "ServiceNow", "autotask": "Autotask"}
# The config keys this dialog edits (everything else in the file is kept as it is).
EDITED_KEYS: dict[str, tuple[str, ...]] = {
    "servicenow": ("url", "username", "auth", "client_id", "poll_seconds"),
    "autotask": ("url", "username", "integration_code", "web_url", "poll_seconds"),
    "outbound": ("auto_push",),
    "store": ("url",),
    "desk": ("name",),
}


class FieldRow(QWidget):
    """An input with its error message directly beneath it."""

    def __init__(self, editor: QWidget, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.error = plain_label()
        self.error.setWordWrap(True)
        self.error.hide()
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.hint.setPalette(hint_palette())  # quieter than text, still >= 4.5:1
        self.hint.setVisible(bool(hint))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if isinstance(editor, QLineEdit):
            layout.addWidget(editor)
        else:  # spin boxes, combos, check boxes keep their natural width, left-aligned
            line = QHBoxLayout()
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(editor)
            line.addStretch(1)
            layout.addLayout(line)
        layout.addWidget(self.error)
        layout.addWidget(self.hint)

    def set_error(self, message: str | None) -> None:
        if message:
            self.error.setText(f"✖ {message}")
            self.error.setStyleSheet(f"color: {css_color(foreground(Tone.ERROR, self.palette()))};")
            self.error.show()
        else:
            self.error.clear()
            self.error.hide()


def _errors_by_field(exc: ValidationError) -> dict[str, str]:
    """pydantic errors -> {field: message}; model-level errors name their field as 'field: ...'."""
    found: dict[str, str] = {}
    for error in exc.errors():
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        location = [str(part) for part in error.get("loc", ())]
        if location:
            field = location[0]
        else:
            field, _, rest = message.partition(":")
            message = rest.strip() if rest else message
        found.setdefault(field, message)
    return found


class SettingsDialog(QDialog):
    saved = Signal(object)  # Path of the written config file
    rulesRequested = Signal()  # "Edit rules…": the main window opens the Rules window
    tested = Signal(str, bool, str)  # system, ok, message

    def __init__(
        self,
        config: AppConfig,
        config_path: Path,
        *,
        demo: bool = False,
        first_run: bool = False,
        engine_test: Callable[[SystemName], Awaitable[str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings" if not first_run else "Connect your systems")
        self.setMinimumSize(720, 560)
        self.config = config
        self.config_path = Path(config_path)
        self.demo = demo
        self.first_run = first_run
        # The running engine's own test: it holds the credentials in use (the demo's, the
        # environment's), so unchanged settings are tested with what actually runs.
        self.engine_test = engine_test
        self.keyring_problem = None if demo else keyring_problem()
        self.rows: dict[str, FieldRow] = {}
        self._tested_ok: dict[str, tuple[Any, ...] | None] = {"servicenow": None, "autotask": None}
        self.test_results: dict[str, QLabel] = {}
        self.test_buttons: dict[str, QPushButton] = {}

        self.tabs = QTabWidget()
        self.tabs.addTab(self._servicenow_tab(), "ServiceNow")
        self.tabs.addTab(self._autotask_tab(), "Autotask")
        self.sync_page = self._sync_tab()
        self.tabs.addTab(self.sync_page, "Sync")
        self.tabs.addTab(self._rules_tab(), "Rules")

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        if demo:
            self.notice.setText(
                "Demo mode: these settings point at the built-in simulators and are not saved."
            )
        elif first_run:
            self.notice.setText(
                "Fill in both systems and run <b>Test connection</b> for each; Save starts Triage Sync. "
                "Passwords and secrets go to the operating system's keyring, never to the file."
            )
        self.notice.setVisible(bool(self.notice.text()))
        self.session_only = QCheckBox("Keep the secrets for this session only (type them again next start)")
        self.keyring_notice = QLabel()
        self.keyring_notice.setWordWrap(True)
        self.keyring_notice.setTextFormat(Qt.TextFormat.PlainText)
        if self.keyring_problem:
            self.keyring_notice.setText(
                f"{self.keyring_problem} You can keep them for this session only (in memory, gone "
                f"when Triage Sync quits), or set the environment variables "
                f"{ENV_VARS['servicenow_password']} and {ENV_VARS['autotask_secret']} before starting "
                "Triage Sync."
            )
            self.keyring_notice.setStyleSheet(
                f"color: {css_color(foreground(Tone.WARNING, self.palette()))};"
            )
            self.session_only.setChecked(True)
        self.keyring_notice.setVisible(bool(self.keyring_problem))
        self.session_only.setVisible(bool(self.keyring_problem))

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(not demo)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.notice)
        layout.addWidget(self.keyring_notice)
        layout.addWidget(self.session_only)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)

    # ---- tabs ---------------------------------------------------------------------------------
    def _line(self, key: str, value: str, placeholder: str = "", hint: str = "") -> QLineEdit:
        edit = QLineEdit(value)
        edit.setPlaceholderText(placeholder)
        edit.setObjectName(key)
        self.rows[key] = FieldRow(edit, hint)
        edit.textChanged.connect(lambda _text, k=key: self._edited(k))
        return edit

    def _secret(self, key: str, name: SecretName, username: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setObjectName(key)
        edit.setPlaceholderText(
            "•••• built into the demo" if self.demo else self._secret_placeholder(name, username)
        )
        self.rows[key] = FieldRow(edit)
        edit.textChanged.connect(lambda _text, k=key: self._edited(k))
        return edit

    @staticmethod
    def _secret_placeholder(name: SecretName, username: str) -> str:
        if os.environ.get(ENV_VARS[name]):
            return f"•••• set by {ENV_VARS[name]}"
        if username and get_secret(name, username) is not None:
            return STORED_PLACEHOLDER
        return "not stored yet"

    def _refresh_secret_placeholders(self, *_args: object) -> None:
        """Secrets are keyed by user name: show whether the typed user has one stored."""
        if self.demo:
            return  # the demo's secrets are built in, whatever user is typed
        sn_user = self.sn_user.text().strip()
        at_user = self.at_user.text().strip() if hasattr(self, "at_user") else ""
        self.sn_password.setPlaceholderText(self._secret_placeholder("servicenow_password", sn_user))
        self.sn_client_secret.setPlaceholderText(
            self._secret_placeholder("servicenow_client_secret", sn_user)
        )
        if hasattr(self, "at_secret"):
            self.at_secret.setPlaceholderText(self._secret_placeholder("autotask_secret", at_user))

    def _spin(self, key: str, value: int, minimum: int, hint: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(minimum, 86400)
        spin.setSuffix(" s")
        spin.setValue(value)
        spin.setObjectName(key)
        self.rows[key] = FieldRow(spin, hint)
        return spin

    def _test_row(self, system: str) -> QWidget:
        button = QPushButton("Test connection")
        button.setToolTip("One real, cheap API call with the values above (not saved yet)")
        button.clicked.connect(lambda: self.test_connection(system))
        result = plain_label()
        result.setWordWrap(True)
        result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_buttons[system] = button
        self.test_results[system] = result
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(result, 1)
        return box

    @staticmethod
    def _form() -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setVerticalSpacing(8)
        return form

    def _servicenow_tab(self) -> QWidget:
        sn = self.config.servicenow
        self.sn_url = self._line("servicenow.url", sn.url, "https://yourcompany.service-now.com")
        self.sn_user = self._line(
            "servicenow.username",
            sn.username,
            "integration user",
            "A web-service-only user whose time zone is GMT.",
        )
        self.sn_auth = QComboBox()
        self.sn_auth.addItem("Basic (user + password)", "basic")
        self.sn_auth.addItem("OAuth (password grant)", "oauth")
        self.sn_auth.setCurrentIndex(0 if sn.auth == "basic" else 1)
        self.sn_auth.setObjectName("servicenow.auth")
        self.rows["servicenow.auth"] = FieldRow(self.sn_auth)
        self.sn_client = self._line("servicenow.client_id", sn.client_id, "OAuth client id")
        self.sn_password = self._secret("servicenow.password", "servicenow_password", sn.username)
        self.sn_client_secret = self._secret(
            "servicenow.client_secret", "servicenow_client_secret", sn.username
        )
        self.sn_poll = self._spin(
            "servicenow.poll_seconds", sn.poll_seconds, 5, "How often to look for changed incidents."
        )
        self.sn_auth.currentIndexChanged.connect(self._auth_changed)
        self.sn_user.textChanged.connect(self._refresh_secret_placeholders)
        form = self._form()
        form.addRow("Instance URL", self.rows["servicenow.url"])
        form.addRow("User", self.rows["servicenow.username"])
        form.addRow("Authentication", self.rows["servicenow.auth"])
        form.addRow("Password", self.rows["servicenow.password"])
        self._client_label = QLabel("OAuth client id")
        form.addRow(self._client_label, self.rows["servicenow.client_id"])
        self._client_secret_label = QLabel("OAuth client secret")
        form.addRow(self._client_secret_label, self.rows["servicenow.client_secret"])
        form.addRow("Poll every", self.rows["servicenow.poll_seconds"])
        form.addRow("", self._test_row("servicenow"))
        self._auth_changed()
        page = QWidget()
        page.setLayout(form)
        return page

    def _autotask_tab(self) -> QWidget:
        at = self.config.autotask
        self.at_url = self._line(
            "autotask.url",
            at.url,
            "discovered from the user name",
            "Zone REST base, e.g. https://webservices5.autotask.net/atservicesrest; leave empty to discover.",
        )
        self.at_user = self._line("autotask.username", at.username, "api-user@yourcompany.com")
        self.at_code = self._line("autotask.integration_code", at.integration_code, "API tracking identifier")
        self.at_secret = self._secret("autotask.secret", "autotask_secret", at.username)
        self.at_web = self._line(
            "autotask.web_url", at.web_url, "https://ww5.autotask.net", "Used to open tickets in the browser."
        )
        self.at_poll = self._spin(
            "autotask.poll_seconds", at.poll_seconds, 10, "How often to look for changed tickets."
        )
        self.at_user.textChanged.connect(self._refresh_secret_placeholders)
        form = self._form()
        form.addRow("Zone URL", self.rows["autotask.url"])
        form.addRow("API user", self.rows["autotask.username"])
        form.addRow("Secret", self.rows["autotask.secret"])
        form.addRow("Integration code", self.rows["autotask.integration_code"])
        form.addRow("Web URL", self.rows["autotask.web_url"])
        form.addRow("Poll every", self.rows["autotask.poll_seconds"])
        form.addRow("", self._test_row("autotask"))
        page = QWidget()
        page.setLayout(form)
        return page

    def _sync_tab(self) -> QWidget:
        self.auto_push = QCheckBox("Start with auto-push on (send triggered incidents without approval)")
        self.auto_push.setChecked(self.config.outbound.auto_push)
        self.rows["outbound.auto_push"] = FieldRow(self.auto_push)
        # A team database URL may hold a password: shown masked, kept when the field is left alone.
        self.store_url = self._line(
            "store.url",
            hide_password(self.config.store.url),
            default_store_url(),
            "Empty: a SQLite file in your user data folder. A SQLAlchemy URL lets a team share a database.",
        )
        self.desk_name_edit = self._line(
            "desk.name",
            self.config.desk.name,
            desk_name(None),
            "Your name on claims (“anna is reviewing”), decisions and the activity log. "
            "Empty: your user name on this computer.",
        )
        # A read-only line shows the whole path (a wrapping label broke it after "/tmp/").
        self.store_url.setAccessibleName("Store URL")
        self.store_url.textChanged.connect(self._store_url_changed)  # after _edited: it sets the error
        # A team server's password: to the keyring (store_password, user@host), never to the file.
        self.store_password = self._secret("store.password", "store_password", "")
        self.store_password.setAccessibleName("Database password")
        self.store_password_label = QLabel("Database &password")
        self.store_password_label.setBuddy(self.store_password)
        path = QLineEdit(str(self.config_path))
        path.setReadOnly(True)
        path.setObjectName("config-path")
        path.setAccessibleName("Configuration file path")
        path.setToolTip(str(self.config_path))
        path.setCursorPosition(0)
        self.path_field = path
        form = self._form()
        form.addRow("Auto-push", self.rows["outbound.auto_push"])
        form.addRow("Store", self.rows["store.url"])
        form.addRow(self.store_password_label, self.rows["store.password"])
        form.addRow("Your name", self.rows["desk.name"])
        form.addRow("Config file", path)
        self._store_url_changed()
        page = QWidget()
        page.setLayout(form)
        return page

    def _store_url_changed(self, *_args: object) -> None:
        """Say at once what is wrong with the typed URL; offer the password field for a server."""
        text = self.store_url_value()
        self.rows["store.url"].set_error(store_url_problem(text))
        # Also beside a URL refused for holding a password: the field the message points to.
        account = store_password_account(text)
        self.store_password_label.setVisible(account is not None)
        self.rows["store.password"].setVisible(account is not None)
        if account is None:
            return
        self.store_password.setPlaceholderText(self._secret_placeholder("store_password", account))
        where = (
            "kept for this session only while the box at the top is ticked"
            if self.keyring_problem
            else "saved in the OS keyring"
        )
        hint = self.rows["store.password"].hint
        hint.setText(
            f"The password of {account}: {where}, never in the file. "
            f"Or set {ENV_VARS['store_password']} before starting Triage Sync."
        )
        hint.show()

    def _rules_tab(self) -> QWidget:
        from app.domain.triggers import describe

        trigger = QLabel(
            "<b>Trigger</b>: an incident is queued when<ul>"
            + "".join(f"<li>{line}</li>" for line in describe(self.config.trigger))
            + "</ul>"
        )
        trigger.setWordWrap(True)
        trigger.setTextFormat(Qt.TextFormat.RichText)
        rules = self.config.outbound.fields
        self.rules_table = QTableWidget(len(rules) + 2, 3)
        self.rules_table.setHorizontalHeaderLabels(["Autotask field", "Rule", "Details"])
        self.rules_table.verticalHeader().hide()
        self.rules_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rules_table.horizontalHeader().setStretchLastSection(True)
        self.rules_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.rules_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        entries: list[tuple[str, str, str]] = [
            (target, rule.rule, rule_details(rule)) for target, rule in rules.items()
        ]
        entries.append(("companyID", "app", f"outbound.company_id = {self.config.outbound.company_id}"))
        entries.append(("externalID", "app", "the incident sys_id (prevents duplicate tickets)"))
        for row, (target, kind, details) in enumerate(entries):
            for column, text in enumerate((target, kind, details)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if kind == "app":
                    item.setForeground(QBrush(self.palette().placeholderText()))
                self.rules_table.setItem(row, column, item)
        statuses = ", ".join(
            f"{label} → state {target.state}" for label, target in self.config.return_trip.status.items()
        )
        priorities = ", ".join(
            f"{label} → impact {target.impact}/urgency {target.urgency}"
            for label, target in self.config.return_trip.priority.items()
        )
        back = QLabel(
            f"<b>Return trip</b> ({'on' if self.config.return_trip.enabled else 'off'}): "
            f"status {statuses or '(none)'}; priority {priorities or '(none)'}."
        )
        back.setWordWrap(True)
        where = plain_label(f"Read-only here. Edit them in the Rules window, or in {self.config_path}.")
        where.setWordWrap(True)
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.edit_rules = QPushButton("&Edit rules…")
        self.edit_rules.setToolTip("Open the Rules window: live preview and impact before saving")
        self.edit_rules.clicked.connect(self.rulesRequested.emit)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setSpacing(8)
        layout.addWidget(trigger)
        layout.addWidget(QLabel("<b>Outbound mapping</b> (ServiceNow incident → new Autotask ticket)"))
        layout.addWidget(self.rules_table, 1)
        layout.addWidget(back)
        layout.addWidget(where)
        layout.addWidget(self.edit_rules, 0, Qt.AlignmentFlag.AlignLeft)
        return page

    # ---- validation ---------------------------------------------------------------------------
    def _auth_changed(self, *_args: object) -> None:
        oauth = self.sn_auth.currentData() == "oauth"
        for widget in (self._client_label, self.rows["servicenow.client_id"]):
            widget.setVisible(oauth)
        for widget in (self._client_secret_label, self.rows["servicenow.client_secret"]):
            widget.setVisible(oauth)
        self._edited("servicenow.auth")

    def _edited(self, key: str) -> None:
        system = key.split(".", 1)[0]
        if system in self._tested_ok:
            self._tested_ok[system] = None
            if system in self.test_results:
                self.test_results[system].clear()
        row = self.rows.get(key)
        if row is not None:
            row.set_error(None)

    def servicenow_values(self) -> dict[str, Any]:
        return {
            "url": self.sn_url.text().strip(),
            "username": self.sn_user.text().strip(),
            "auth": self.sn_auth.currentData(),
            "client_id": self.sn_client.text().strip(),
            "poll_seconds": self.sn_poll.value(),
        }

    def autotask_values(self) -> dict[str, Any]:
        return {
            "url": self.at_url.text().strip(),
            "username": self.at_user.text().strip(),
            "integration_code": self.at_code.text().strip(),
            "web_url": self.at_web.text().strip(),
            "poll_seconds": self.at_poll.value(),
        }

    def _build(self, system: str) -> BaseModel | None:
        """Validate one section with the config's own model; show errors beside the fields."""
        if system == "servicenow":
            base: BaseModel = self.config.servicenow
            values = self.servicenow_values()
            model: type[BaseModel] = ServiceNowConfig
        else:
            base = self.config.autotask
            values = self.autotask_values()
            model = AutotaskConfig
        for key in values:
            if f"{system}.{key}" in self.rows:
                self.rows[f"{system}.{key}"].set_error(None)
        try:
            return model.model_validate({**base.model_dump(), **values})
        except ValidationError as exc:
            for field, message in _errors_by_field(exc).items():
                row = self.rows.get(f"{system}.{field}")
                if row is not None:
                    row.set_error(message)
                else:
                    self.rows[f"{system}.url"].set_error(f"{field}: {message}")
            return None

    def validate(self) -> tuple[ServiceNowConfig | None, AutotaskConfig | None]:
        sn = self._build("servicenow")
        at = self._build("autotask")
        return (
            sn if isinstance(sn, ServiceNowConfig) else None,
            at if isinstance(at, AutotaskConfig) else None,
        )

    def error_for(self, key: str) -> str:
        row = self.rows.get(key)
        return row.error.text() if row is not None and not row.error.isHidden() else ""

    # ---- test connection ----------------------------------------------------------------------
    def _typed_secret(self, edit: QLineEdit, name: SecretName, username: str) -> Secret | None:
        typed = edit.text()
        if typed:
            remember(typed)  # masked in any log line from here on, even before it is saved
            return Secret(typed)
        return get_secret(name, username) if username else None

    def test_connection(self, system: str) -> None:
        cfg = self._build(system)
        label = self.test_results[system]
        if cfg is None:
            self._show_test(system, False, "Fix the fields marked in red first.")
            return
        self.test_buttons[system].setEnabled(False)
        label.setStyleSheet("")
        label.setText("Testing…")
        spawn(
            self._test(system, cfg),
            name=f"test-{system}",
            on_error=lambda e: self._show_test(system, False, str(e)),
        )

    async def _test(self, system: str, cfg: BaseModel) -> None:
        from app.engine import connections

        signature = self._signature(system)
        if self.engine_test is not None and self._unchanged(system, cfg):
            message = await self.engine_test(system)  # type: ignore[arg-type]
        elif isinstance(cfg, ServiceNowConfig):
            password = self._typed_secret(self.sn_password, "servicenow_password", cfg.username)
            client_secret = (
                self._typed_secret(self.sn_client_secret, "servicenow_client_secret", cfg.username)
                if cfg.auth == "oauth"
                else None
            )
            message = await connections.test_servicenow(
                cfg, password, client_secret, return_trip=self.config.return_trip
            )
        else:
            assert isinstance(cfg, AutotaskConfig)
            secret = self._typed_secret(self.at_secret, "autotask_secret", cfg.username)
            message = await connections.test_autotask(cfg, secret)
        self._show_test(system, True, message)
        if signature == self._signature(system):
            self._tested_ok[system] = signature

    def _unchanged(self, system: str, cfg: BaseModel) -> bool:
        """The values as typed are the running configuration and no new secret was typed."""
        if system == "servicenow":
            running: BaseModel = self.config.servicenow
            typed = self.sn_password.text() or self.sn_client_secret.text()
        else:
            running = self.config.autotask
            typed = self.at_secret.text()
        return not typed and cfg.model_dump() == running.model_dump()

    def _signature(self, system: str) -> tuple[Any, ...]:
        if system == "servicenow":
            return (*self.servicenow_values().values(), self.sn_password.text(), self.sn_client_secret.text())
        return (*self.autotask_values().values(), self.at_secret.text())

    def _show_test(self, system: str, ok: bool, message: str) -> None:
        self.test_buttons[system].setEnabled(True)
        label = self.test_results[system]
        tone = Tone.OK if ok else Tone.ERROR
        label.setText(("✔ " if ok else "✖ ") + message)
        label.setStyleSheet(f"color: {css_color(foreground(tone, self.palette()))};")
        self.tested.emit(system, ok, message)

    def tested_ok(self, system: str) -> bool:
        signature = self._tested_ok.get(system)
        return signature is not None and signature == self._signature(system)

    # ---- save ---------------------------------------------------------------------------------
    def save(self) -> None:
        if self.demo:
            return
        sn, at = self.validate()
        if sn is None or at is None:
            self.tabs.setCurrentIndex(0 if sn is None else 1)
            return
        store_url = self.store_url_value()
        problem = store_url_problem(store_url)
        if problem:
            self.rows["store.url"].set_error(problem)
            self.tabs.setCurrentIndex(self.tabs.indexOf(self.sync_page))
            self.store_url.setFocus()
            return
        desk = self.desk_value()
        if desk is None:
            self.tabs.setCurrentIndex(self.tabs.indexOf(self.sync_page))
            return
        if self.first_run:
            untested = [SYSTEM_TITLES[s] for s in ("servicenow", "autotask") if not self.tested_ok(s)]
            if untested:
                QMessageBox.information(
                    self,
                    "Test the connections first",
                    f"Run “Test connection” successfully for {' and '.join(untested)} before saving.",
                )
                return
        try:
            self._store_secrets(sn, at)
            self.write_config(sn, at, self.auto_push.isChecked(), store_url, desk.name)
        except Exception as exc:  # keyring or file errors: say so, keep the dialog open
            log.exception("saving settings failed")
            message_box(self, QMessageBox.Icon.Critical, "Settings not saved", save_failure_text(exc))
            return
        self.saved.emit(self.config_path)
        self.accept()

    def _store_secrets(self, sn: ServiceNowConfig, at: AutotaskConfig) -> None:
        session = bool(self.keyring_problem) and self.session_only.isChecked()
        store = set_session_secret if session else set_secret
        if self.sn_password.text():
            store("servicenow_password", sn.username, self.sn_password.text())
        if self.sn_client_secret.text() and sn.auth == "oauth":
            store("servicenow_client_secret", sn.username, self.sn_client_secret.text())
        if self.at_secret.text():
            store("autotask_secret", at.username, self.at_secret.text())
        account = store_password_account(self.store_url_value())
        if self.store_password.text() and account is not None:
            store("store_password", account, self.store_password.text())
        for edit in (self.sn_password, self.sn_client_secret, self.at_secret, self.store_password):
            if edit.text():
                edit.clear()
                edit.setPlaceholderText("•••• kept for this session" if session else STORED_PLACEHOLDER)

    def store_url_value(self) -> str:
        """The store URL to save: the configured one (with its password) unless the user edited it."""
        text = self.store_url.text().strip()
        return self.config.store.url if text == hide_password(self.config.store.url) else text

    def desk_value(self) -> DeskConfig | None:
        """The typed desk name, checked (None, with the error shown under the field, when invalid)."""
        try:
            return DeskConfig(name=self.desk_name_edit.text())
        except ValidationError as exc:
            self.rows["desk.name"].set_error("; ".join(_errors_by_field(exc).values()))
            return None

    def write_config(
        self,
        sn: ServiceNowConfig,
        at: AutotaskConfig,
        auto_push: bool,
        store_url: str,
        desk: str | None = None,
    ) -> None:
        """Set the keys this dialog edits in the file, keeping everything else in it as it is:
        other keys, comments, blank lines and order (tomlkit edits the document in place)."""
        text = self.config_path.read_text(encoding="utf-8") if self.config_path.exists() else ""
        document = tomlkit.parse(text)
        defaults = AppConfig()
        new_values = {
            "servicenow": sn.model_dump(),
            "autotask": at.model_dump(),
            "outbound": {"auto_push": auto_push},
            "store": {"url": store_url},
            "desk": {"name": self.config.desk.name if desk is None else desk},
        }
        default_values = {
            "servicenow": defaults.servicenow.model_dump(),
            "autotask": defaults.autotask.model_dump(),
            "outbound": {"auto_push": defaults.outbound.auto_push},
            "store": {"url": defaults.store.url},
            "desk": {"name": defaults.desk.name},
        }
        for section, keys in EDITED_KEYS.items():
            table = document.get(section)
            wanted = [
                key
                for key in keys
                if (table is not None and key in table)
                or new_values[section][key] != default_values[section][key]
            ]
            if not wanted:
                continue
            if table is None:
                table = document[section] = tomlkit.table()
            for key in wanted:
                value = new_values[section][key]
                if key not in table or table[key] != value:
                    table[key] = value
        write_private(self.config_path, tomlkit.dumps(document).encode("utf-8"))


def save_failure_text(exc: BaseException) -> str:
    """Plain words for a failed save; the keyring library's own text only as the detail."""
    module = type(exc).__module__
    if module.startswith("keyring") or "keyring" in str(exc).lower() or "secret" in str(exc).lower():
        return (
            "The secrets could not be stored in this computer's password store (keyring). "
            "Nothing was saved. Tick “Keep the secrets for this session only”, or set the "
            f"environment variables {ENV_VARS['servicenow_password']} and {ENV_VARS['autotask_secret']} "
            f"and start Triage Sync again.\n\nDetail: {type(exc).__name__}"
        )
    return f"Could not save the settings:\n{exc}"


def rule_details(rule: CopyRule | TemplateRule | ValueMapRule | ConstantRule | DueInHoursRule) -> str:
    if isinstance(rule, CopyRule):
        text = f"copy {rule.source}"
    elif isinstance(rule, TemplateRule):
        text = "template " + repr(rule.template)
    elif isinstance(rule, ValueMapRule):
        pairs = ", ".join(f"{k} → {v}" for k, v in rule.map.items()) or "(empty map)"
        text = f"{rule.source}: {pairs}; otherwise {rule.default if rule.default is not None else 'not sent'}"
    elif isinstance(rule, ConstantRule):
        text = f"always {rule.value!r}"
    else:
        hours = ", ".join(f"{k} {v:g} h" for k, v in rule.hours.items())
        text = f"now + hours by {rule.by}: {hours}; otherwise {rule.default_hours:g} h"
    max_length = getattr(rule, "max_length", None)
    return text + (f" (max {max_length} characters)" if max_length else "")
