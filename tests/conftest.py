"""Shared test set-up: headless Qt, isolated config/data dirs, an in-memory keyring."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import keyring
import pytest
from memory_keyring import MemoryKeyring

from app.secrets import ENV_VARS

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Never the user's own folders: a test that reaches the default config, data or log location (a
# demo start, a default store URL) would migrate or write the real database of whoever runs the
# suite. Set before anything reads them; subprocesses the tests start inherit them.
_ISOLATED_HOME = tempfile.mkdtemp(prefix="triage-sync-tests-")
atexit.register(shutil.rmtree, _ISOLATED_HOME, True)
for _variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_variable] = os.path.join(_ISOLATED_HOME, _variable.lower())


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
