"""Fast checks of the packaging files: they parse, carry the required keys and point at real files."""

from __future__ import annotations

import configparser
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"
APP_ID = "com.example.TriageSync"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
SERVICE = PACKAGING / "triage-sync.service"
SPEC = PACKAGING / "triage-sync.spec"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SVG_NS = "{http://www.w3.org/2000/svg}"
# install-desktop.sh installs resources/icons/triage-sync.* under the app id in the hicolor theme.
ICON_SOURCES = {APP_ID: ICONS / "triage-sync.svg", "triage-sync": ICONS / "triage-sync.svg"}


def read_ini(path: Path, *, strict: bool = True) -> configparser.ConfigParser:
    """Desktop entries forbid repeated keys (strict); systemd units allow them (Environment=)."""
    parser = configparser.ConfigParser(interpolation=None, strict=strict)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- desktop entry ---------------------------------------------------------------------------------


def test_desktop_entry_has_required_keys() -> None:
    entry = read_ini(DESKTOP)["Desktop Entry"]
    for key in ("Type", "Name", "Comment", "Exec", "Icon", "Categories", "Terminal"):
        assert entry.get(key), f"{DESKTOP.name} lacks {key}"
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Triage Sync"
    assert entry["Exec"].split()[0] == "triage-sync"  # the console script / bundle executable
    assert entry["Terminal"] == "false"
    categories = entry["Categories"]
    assert categories.endswith(";")
    # Exactly one main category, or menus list the app once per category (desktop-file-validate).
    main = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network"}
    main |= {"Office", "Science", "Settings", "System", "Utility"}
    assert set(filter(None, categories.split(";"))) & main == {"Office"}


def test_desktop_entry_icon_exists() -> None:
    icon = read_ini(DESKTOP)["Desktop Entry"]["Icon"]
    assert icon in ICON_SOURCES, f"Icon={icon} has no source file mapping"
    assert ICON_SOURCES[icon].is_file()


def test_desktop_actions_are_declared() -> None:
    parser = read_ini(DESKTOP)
    for action in filter(None, parser["Desktop Entry"].get("Actions", "").split(";")):
        section = parser[f"Desktop Action {action}"]
        assert section.get("Name") and section["Exec"].startswith("triage-sync")


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed"
)
def test_desktop_entry_passes_desktop_file_validate() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout, result.stdout


# --- AppStream metainfo ----------------------------------------------------------------------------


def test_metainfo_is_well_formed_with_required_elements() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == "Triage Sync"
    assert (root.findtext("summary") or "").strip()
    assert root.findtext("metadata_license")
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == DESKTOP.name
    assert root.find("content_rating") is not None
    release = root.find("releases/release")
    assert release is not None and release.get("version") == "0.1.0"


def test_metainfo_release_matches_package_version() -> None:
    from app import __version__

    versions = [r.get("version") for r in ET.parse(METAINFO).getroot().iterfind("releases/release")]
    assert versions[0] == __version__, "add a <release> for the new version (newest first)"


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli is not installed")
def test_metainfo_passes_appstreamcli() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- icons -----------------------------------------------------------------------------------------


SVGS = ("triage-sync.svg", "status-ok.svg", "status-warning.svg", "status-error.svg")


@pytest.mark.parametrize("name", SVGS)
def test_svg_parses(name: str) -> None:
    root = ET.parse(ICONS / name).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox"), f"{name} needs a viewBox to scale cleanly"


def test_app_icon_is_square() -> None:
    view_box = ET.parse(ICONS / "triage-sync.svg").getroot().get("viewBox", "")
    _, _, width, height = (float(v) for v in view_box.split())
    assert width == height


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_exists_with_right_size(size: int) -> None:
    path = ICONS / f"triage-sync-{size}.png"
    assert path.is_file(), f"{path.name} missing: run packaging/render_icons.py"
    assert png_size(path) == (size, size)


def test_pngs_are_not_older_than_the_svg() -> None:
    svg_mtime = (ICONS / "triage-sync.svg").stat().st_mtime
    stale = [s for s in PNG_SIZES if (ICONS / f"triage-sync-{s}.png").stat().st_mtime + 1 < svg_mtime]
    assert not stale, f"PNGs {stale} predate the SVG: run packaging/render_icons.py"


def test_ico_and_icns_headers() -> None:
    ico = (ICONS / "triage-sync.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 5
    icns = (ICONS / "triage-sync.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)


# --- systemd user unit -----------------------------------------------------------------------------


def test_service_unit_runs_headless_and_restarts() -> None:
    unit = read_ini(SERVICE, strict=False)
    service = unit["Service"]
    exec_start = service["ExecStart"].split()
    assert exec_start[0].endswith("/triage-sync") and "run" in exec_start
    assert service["Restart"] == "on-failure"
    assert service["EnvironmentFile"].endswith("/triage-sync/secrets.env")
    assert service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "default.target"  # a user unit, not multi-user.target


# --- PyInstaller spec and build script -------------------------------------------------------------


def test_spec_ships_resources_and_migrations() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    assert '"resources"' in spec
    assert re.search(r'"app"\s*/\s*"store"\s*/\s*"migrations"', spec)
    assert "launcher.py" in spec and (PACKAGING / "launcher.py").is_file()
    compile(spec, str(SPEC), "exec")  # at least valid Python


def test_build_script_is_executable_and_smoke_tests() -> None:
    script = PACKAGING / "build-linux.sh"
    assert script.stat().st_mode & 0o111
    text = script.read_text(encoding="utf-8")
    assert "set -euo pipefail" in text
    assert "--version" in text and "--config resources/default-config.toml config check" in text
    assert "TRIAGE_SYNC_SELF_TEST=" in text and "bundle_selftest.py --compare" in text
    assert (PACKAGING / "install-desktop.sh").stat().st_mode & 0o111


def test_spec_ships_the_self_test_as_data_and_the_installer() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    # As data (not an analysed script), so its imports cannot add modules the app does not bring.
    assert (
        '"bundle_selftest.py"), "."' in spec and "runpy.run_path" in (PACKAGING / "launcher.py").read_text()
    )
    assert '"install-desktop.sh"' in spec
    assert "com.example.TriageSync.desktop" in spec and "com.example.TriageSync.metainfo.xml" in spec


def test_ci_builds_the_bundle_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    tests = ci.index("QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest\n")
    bundle = ci.index("TRIAGE_SYNC_BUILD_BUNDLE=1")
    assert tests < bundle and "-m bundle tests/packaging" in ci[bundle:]


def test_service_unit_is_hardened() -> None:
    """Sandboxing that a user manager supports; no core dumps (they would hold the secrets)."""
    service = read_ini(SERVICE, strict=False)["Service"]
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "read-only"
    assert service["PrivateTmp"] == "yes"
    assert service["NoNewPrivileges"] == "yes"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert service["SystemCallFilter"] == "@system-service"
    assert service["LimitCORE"] == "0"
    # The app's own folders stay writable (optional: "-" when they do not exist yet).
    writable = service["ReadWritePaths"].split()
    assert "-%h/.local/share/triage-sync" in writable and "-%h/.local/state/triage-sync" in writable
    # Secrets: systemd credentials where supported (documented), the env file as the fallback.
    text = SERVICE.read_text(encoding="utf-8")
    assert "LoadCredential=SERVICENOW_PASSWORD:" in text
    assert service["EnvironmentFile"].startswith("-")


def test_service_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    fake = tmp_path / "triage-sync"
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    unit = tmp_path / "triage-sync.service"  # ExecStart must exist: point it at a stand-in
    unit.write_text(SERVICE.read_text(encoding="utf-8").replace("%h/.local/bin/triage-sync", str(fake)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unknown key" not in result.stderr and "Unknown lvalue" not in result.stderr, result.stderr
