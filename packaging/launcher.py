"""PyInstaller entry point: behaves exactly like ``python -m app`` and the ``triage-sync`` script.

One packaging-only switch: in the bundle, ``TRIAGE_SYNC_SELF_TEST=report.json`` runs
packaging/bundle_selftest.py instead of the app (build-linux.sh does; see that module's docstring).
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys

# qasync picks its Qt binding by trying PyQt5, PyQt6, PySide2, PySide6 in turn; say which one we ship.
os.environ.setdefault("QT_API", "pyside6")

if __name__ == "__main__":
    multiprocessing.freeze_support()  # harmless unless a child process is ever spawned from the bundle
    self_test_report = os.environ.pop("TRIAGE_SYNC_SELF_TEST", "")
    if self_test_report and getattr(sys, "frozen", False):
        # Shipped as a plain data file, not analysed: its imports must not add to the bundle what the
        # app itself would not bring, or the test would pass where the app fails.
        script = os.path.join(getattr(sys, "_MEIPASS", ""), "bundle_selftest.py")
        sys.argv = [script, "--out", self_test_report]
        runpy.run_path(script, run_name="__main__")

    from app.cli import main

    raise SystemExit(main())
