"""Shared test set-up: headless Qt, isolated config/data dirs, an in-memory keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator

import keyring
import pytest
from memory_keyring import MemoryKeyring

from app.secrets import ENV_VARS

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """An in-memory keyring for one test (never the user's own), and no credential variables
    inherited from the environment (they would win over the keyring)."""
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
