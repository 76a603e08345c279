"""packaging/install-desktop.sh, from a checkout and from inside a bundle, into a scratch HOME."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "install-desktop.sh"
APP_ID = "com.example.TriageSync"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop integration")


def run(script: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def installed(home: Path) -> list[Path]:
    share = home / ".local" / "share"
    return [
        share / "applications" / f"{APP_ID}.desktop",
        share / "metainfo" / f"{APP_ID}.metainfo.xml",
        share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        *(share / "icons" / "hicolor" / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in SIZES),
    ]


def desktop_entry(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def fake_bundle(parent: Path) -> Path:
    """The layout the spec produces: executable, install-desktop.sh and _internal/ side by side."""
    bundle = parent / "triage-sync"
    internal = bundle / "_internal"
    (internal / "share" / "applications").mkdir(parents=True)
    (internal / "share" / "metainfo").mkdir(parents=True)
    shutil.copy2(ROOT / "packaging" / f"{APP_ID}.desktop", internal / "share" / "applications")
    shutil.copy2(ROOT / "packaging" / f"{APP_ID}.metainfo.xml", internal / "share" / "metainfo")
    shutil.copytree(ROOT / "resources" / "icons", internal / "resources" / "icons")
    shutil.copy2(SCRIPT, bundle / "install-desktop.sh")
    exe = bundle / "triage-sync"
    exe.write_text("#!/bin/sh\necho triage-sync 0.0.0\n", encoding="utf-8")
    exe.chmod(0o755)
    return bundle


def test_checkout_install_and_uninstall(tmp_path: Path) -> None:
    result = run(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    files = installed(tmp_path)
    assert all(path.is_file() for path in files), [str(p) for p in files if not p.is_file()]
    # From a checkout the entry is the shipped one: it runs `triage-sync` from PATH.
    assert files[0].read_bytes() == (ROOT / "packaging" / f"{APP_ID}.desktop").read_bytes()
    assert not (tmp_path / ".local" / "bin" / "triage-sync").exists()

    result = run(SCRIPT, tmp_path, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not any(path.exists() for path in files)


def test_bundle_install_runs_the_bundle_by_absolute_path(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path / "My Apps")  # a space in the path must survive quoting
    home = tmp_path / "home"
    result = run(bundle / "install-desktop.sh", home)
    assert result.returncode == 0, result.stderr
    exe = str(bundle / "triage-sync")
    files = installed(home)
    assert all(path.is_file() for path in files)

    entry = desktop_entry(files[0])
    assert entry["Desktop Entry"]["Exec"] == f'"{exe}"'
    assert entry["Desktop Entry"]["TryExec"] == exe
    assert entry["Desktop Action Demo"]["Exec"] == f'"{exe}" --demo'
    link = home / ".local" / "bin" / "triage-sync"
    assert link.is_symlink() and os.readlink(link) == exe
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(files[0])], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    result = run(bundle / "install-desktop.sh", home, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not link.exists() and not any(path.exists() for path in files)


def test_bundle_uninstall_keeps_a_foreign_link(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path)
    home = tmp_path / "home"
    link = home / ".local" / "bin" / "triage-sync"
    link.parent.mkdir(parents=True)
    link.symlink_to("/usr/local/bin/triage-sync")  # installed some other way: not ours to remove
    assert run(bundle / "install-desktop.sh", home, "--uninstall").returncode == 0
    assert link.is_symlink()


def test_bundle_path_that_needs_escaping_is_refused(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path / "price$list")
    result = run(bundle / "install-desktop.sh", tmp_path / "home")
    assert result.returncode == 2
    assert "move the bundle" in result.stderr
    assert not (tmp_path / "home" / ".local" / "share" / "applications").exists()


def test_bundle_path_with_a_percent_sign_is_refused(tmp_path: Path) -> None:
    """``%`` starts a field code in a desktop entry's Exec (``%f``, ``%u``): never in the path."""
    bundle = fake_bundle(tmp_path / "100%u")
    result = run(bundle / "install-desktop.sh", tmp_path / "home")
    assert result.returncode == 2
    assert "move the bundle" in result.stderr and "%" in result.stderr
    assert not (tmp_path / "home" / ".local" / "share" / "applications").exists()


@pytest.mark.parametrize("kind", ["file", "foreign-link"])
def test_bundle_install_keeps_a_foreign_triage_sync(tmp_path: Path, kind: str) -> None:
    bundle = fake_bundle(tmp_path)
    home = tmp_path / "home"
    link = home / ".local" / "bin" / "triage-sync"
    link.parent.mkdir(parents=True)
    if kind == "file":
        link.write_text("#!/bin/sh\necho pip-installed\n", encoding="utf-8")
    else:
        link.symlink_to("/usr/local/bin/triage-sync")
    result = run(bundle / "install-desktop.sh", home)
    assert result.returncode == 0, result.stderr
    assert "not replaced" in result.stderr  # said, not silent
    if kind == "file":
        assert not link.is_symlink() and "pip-installed" in link.read_text(encoding="utf-8")
    else:
        assert os.readlink(link) == "/usr/local/bin/triage-sync"
    assert (home / ".local" / "share" / "applications" / f"{APP_ID}.desktop").exists()


def test_bundle_reinstall_replaces_its_own_link(tmp_path: Path) -> None:
    bundle = fake_bundle(tmp_path)
    home = tmp_path / "home"
    assert run(bundle / "install-desktop.sh", home).returncode == 0
    result = run(bundle / "install-desktop.sh", home)
    assert result.returncode == 0 and "not replaced" not in result.stderr
    assert os.readlink(home / ".local" / "bin" / "triage-sync") == str(bundle / "triage-sync")
