"""Shared test set-up: headless Qt, isolated config/data dirs, an in-memory keyring."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
