"""packaging/bundle_selftest.py: the source side of the bundle check works, and the comparison
fails exactly when the bundle lacks something the source has."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SELFTEST = ROOT / "packaging" / "bundle_selftest.py"


@pytest.fixture(scope="module")
def selftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_selftest", SELFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(frozen: bool, modules: dict[str, str], checks: dict[str, str]) -> dict[str, object]:
    return {"frozen": str(frozen), "modules": modules, "checks": checks}


def compare(selftest: ModuleType, tmp_path: Path, reference: object, frozen: object) -> int:
    ref, got = tmp_path / "reference.json", tmp_path / "frozen.json"
    ref.write_text(json.dumps(reference), encoding="utf-8")
    got.write_text(json.dumps(frozen), encoding="utf-8")
    return int(selftest.main(["--compare", str(ref), str(got)]))


def test_identical_reports_pass(selftest: ModuleType, tmp_path: Path) -> None:
    source = report(False, {"app.ui.app": "ok"}, {"qt-icons": "platform=offscreen svg=ok"})
    bundle = report(True, {"app.ui.app": "ok"}, {"qt-icons": "platform=offscreen svg=ok"})
    assert compare(selftest, tmp_path, source, bundle) == 0


def test_missing_module_or_failed_check_fails(
    selftest: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = report(False, {"app.ui.app": "ok", "app.cli": "ok"}, {"qt-icons": "platform=offscreen svg=ok"})
    bundle = report(True, {"app.cli": "ok"}, {"qt-icons": "FAIL RuntimeError: no svg image format plugin"})
    assert compare(selftest, tmp_path, source, bundle) == 1
    err = capsys.readouterr().err
    assert "app.ui.app: missing from the bundle" in err
    assert "qt-icons: RuntimeError: no svg image format plugin" in err


def test_different_value_fails(selftest: ModuleType, tmp_path: Path) -> None:
    source = report(False, {}, {"keyring-entry-points": "SecretService,chainer"})
    bundle = report(True, {}, {"keyring-entry-points": "chainer"})
    assert compare(selftest, tmp_path, source, bundle) == 1


def test_breakage_in_the_source_is_reported_not_failed(
    selftest: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = report(False, {"app.engine.engine": "FAIL ImportError: half-written"}, {})
    bundle = report(True, {"app.engine.engine": "FAIL ImportError: half-written"}, {})
    assert compare(selftest, tmp_path, source, bundle) == 0
    assert "fails from source too" in capsys.readouterr().out


def test_second_report_must_come_from_a_bundle(selftest: ModuleType, tmp_path: Path) -> None:
    source = report(False, {"app": "ok"}, {})
    assert compare(selftest, tmp_path, source, source) == 1


def test_source_report_passes_every_check(tmp_path: Path) -> None:
    """What build-linux.sh takes as the reference: every app module imports and every check passes."""
    out = tmp_path / "reference.json"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(SELFTEST), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["frozen"] == "False"
    assert {"app.cli", "app.ui.main_window", "app.httpserver"} <= set(data["modules"])
    assert not any(name.startswith("app.store.migrations") for name in data["modules"])
    failed = {name: value for section in ("modules", "checks") for name, value in data[section].items()}
    failed = {name: value for name, value in failed.items() if value.startswith("FAIL")}
    assert not failed, failed
    assert set(data["checks"]) == {
        "qt-icons",
        "keyring-entry-points",
        "uvicorn-strings",
        "loopback-http",
        "store-migrations",
        "tls",
    }
