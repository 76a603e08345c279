"""Alembic migration scripts for the store (shipped as package data, run from code)."""
