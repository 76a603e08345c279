"""Slow, opt-in: build the PyInstaller bundle for real and smoke-test it (packaging/build-linux.sh).

TRIAGE_SYNC_BUILD_BUNDLE=1 .venv/bin/python -m pytest -m bundle tests/packaging -s

About 40 s on two cores with a warm pip cache; .ci/run runs it after the unit tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.bundle,
    pytest.mark.skipif(
        os.environ.get("TRIAGE_SYNC_BUILD_BUNDLE") != "1", reason="set TRIAGE_SYNC_BUILD_BUNDLE=1 to build"
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="build-linux.sh is Linux only"),
]


def test_linux_bundle_builds_and_passes_smoke_tests() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build-linux.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    print(result.stdout[-4000:])
    assert result.returncode == 0, f"build-linux.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "triage-sync 0." in result.stdout
    assert "bundle self-test:" in result.stdout
    bundle = ROOT / "dist" / "triage-sync"
    assert (bundle / "triage-sync").is_file()
    assert (bundle / "install-desktop.sh").is_file()
    assert (bundle / "_internal" / "share" / "applications" / "com.example.TriageSync.desktop").is_file()
