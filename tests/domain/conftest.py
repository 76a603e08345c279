"""Fixtures for the domain tests; the builders live in domain_helpers (importable by name: a test
module importing ``conftest`` would get whichever conftest another folder loaded first)."""

from domain_helpers import config, make_incident, metadata, outbound

__all__ = ["config", "make_incident", "metadata", "outbound"]
