"""First start without a config file: try the demo, or connect the real systems."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import APP_DISPLAY_NAME
from app.ui.theme import app_icon


class FirstRunDialog(QDialog):
    DEMO = 10
    CONNECT = 11

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Welcome to {APP_DISPLAY_NAME}")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(560)
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        title = QLabel(f"Welcome to {APP_DISPLAY_NAME}")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        body = QLabel(
            "Triage Sync moves the ServiceNow incidents your team's trigger selects into Autotask "
            "tickets, after you have seen exactly what each ticket will contain, and brings the "
            "ticket's status and priority back to the incident.<br><br>"
            "<b>Try the demo</b> runs against built-in simulators: nothing leaves this computer.<br>"
            "<b>Connect my systems</b> asks for your ServiceNow instance and Autotask API user, tests "
            "both connections and saves the settings (secrets go to the operating system's keyring)."
        )
        body.setWordWrap(True)
        body.setTextFormat(Qt.TextFormat.RichText)
        self.demo_button = QPushButton("Try the demo")
        self.connect_button = QPushButton("Connect my systems")
        self.connect_button.setDefault(True)
        quit_button = QPushButton("Quit")
        self.demo_button.clicked.connect(lambda: self.done(self.DEMO))
        self.connect_button.clicked.connect(lambda: self.done(self.CONNECT))
        quit_button.clicked.connect(self.reject)
        header = QHBoxLayout()
        header.setSpacing(16)
        header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(title, 1, Qt.AlignmentFlag.AlignVCenter)
        buttons = QHBoxLayout()
        buttons.addWidget(quit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(14)
        layout.addLayout(header)
        layout.addWidget(body)
        layout.addLayout(buttons)
