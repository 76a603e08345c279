"""One Autotask simulator for the connector tests that need a plain tenant (credentials below)."""

from __future__ import annotations

USER = "api@example.com"
CODE = "CODE-1"
SECRET = "secret-1"
