"""The demo's Simulator menu: cause an outage, a 429 storm, refused credentials or a slow instance
on either side, and go back to normal, to see how the app behaves before it happens for real.

Only the demo has it. This module knows nothing of the simulators (production never imports them):
the demo hands in a :class:`DrillTarget` (``app.simulators.drills.DrillBoard``). While a drill runs,
a warning banner says so; every choice also answers with a toast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from app.ui.theme import Tone
from app.ui.widgets import Banner

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

NORMAL = "normal"


class DrillTarget(Protocol):
    @property
    def systems(self) -> dict[str, str]:
        """System key -> display name."""

    @property
    def drills(self) -> dict[str, str]:
        """Drill key -> menu label ("normal" is "Back to normal")."""

    def apply(self, system: str, drill: str) -> str:
        """Start a drill on a system; returns the sentence to show."""

    def running(self) -> dict[str, str]:
        """System key -> label of the drill running on it."""


class SimulatorMenu(QMenu):
    def __init__(self, window: MainWindow, target: DrillTarget) -> None:
        super().__init__("Si&mulator", window)
        self.window_ = window
        self.target = target
        self.actions_by_key: dict[tuple[str, str], QAction] = {}
        self.banner = Banner(Tone.WARNING, action="&Back to normal")
        self.banner.setAccessibleName("Drill")
        self.banner.actionTriggered.connect(self.all_normal)
        self.banner.hide()
        window.banner_area.add_banner(self.banner)
        for system, name in target.systems.items():
            submenu = self.addMenu(name)
            for drill, label in target.drills.items():
                if drill == NORMAL:
                    submenu.addSeparator()
                action = submenu.addAction(label)
                action.triggered.connect(lambda _checked=False, s=system, d=drill: self.run(s, d))
                self.actions_by_key[(system, drill)] = action
        self.addSeparator()
        self.normal_action = self.addAction("Everything back to &normal")
        self.normal_action.triggered.connect(self.all_normal)

    def run(self, system: str, drill: str) -> None:
        message = self.target.apply(system, drill)
        self._show_running()
        self.window_.poll_now()  # shows the effect at once (and lifts an auth pause after one)
        self.window_.show_message(message, Tone.INFO if drill == NORMAL else Tone.WARNING)

    def all_normal(self) -> None:
        for system in self.target.systems:
            self.target.apply(system, NORMAL)
        self._show_running()
        self.window_.poll_now()
        self.window_.show_message("Drill over: both simulators answer normally again")

    def _show_running(self) -> None:
        running = self.target.running()
        if running:
            names = self.target.systems
            text = " · ".join(f"{names.get(system, system)}: {label}" for system, label in running.items())
            self.banner.set_text(f"Drill running — {text}")
            self.banner.show()
        else:
            self.banner.hide()


def install_simulator_menu(window: MainWindow, target: DrillTarget) -> SimulatorMenu:
    """Add the Simulator menu before Help (demo only)."""
    menu = SimulatorMenu(window, target)
    bar = window.menuBar()
    help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_action is not None:
        bar.insertMenu(help_action, menu)
    else:
        bar.addMenu(menu)
    return menu
