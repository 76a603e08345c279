"""Locate files shipped in the top-level ``resources/`` folder (checkout, editable install or bundle)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    bundle_root = getattr(sys, "_MEIPASS", None)  # PyInstaller one-folder bundle
    if bundle_root:
        return Path(bundle_root) / "resources"
    checkout = Path(__file__).resolve().parent.parent / "resources"  # checkout or editable install
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "_resources"  # wheel: resources/ packaged as app/_resources


def resource_path(name: str) -> Path:
    path = resources_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"resource {name!r} is missing from {resources_dir()}")
    return path
