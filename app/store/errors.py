"""The errors the store raises on purpose (each message is safe to show: never a password)."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Triage Sync than this one."""


class SchemaBehind(StoreError):
    """The schema is older than this app and ``store.auto_migrate`` is off: an administrator migrates."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached, or refused us; the message says which, never a password."""


__all__ = ["SchemaBehind", "SchemaTooNew", "StoreError", "StoreUnavailable"]
