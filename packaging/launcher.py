"""PyInstaller entry point: behaves exactly like ``python -m app`` and the ``triage-sync`` script."""

from __future__ import annotations

import multiprocessing
import os

# qasync picks its Qt binding by trying PyQt5, PyQt6, PySide2, PySide6 in turn; say which one we ship.
os.environ.setdefault("QT_API", "pyside6")

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless unless a child process is ever spawned from the bundle
    from app.cli import main

    raise SystemExit(main())
