"""Bundle self-test: does the frozen app carry everything the source tree can import and use?

PyInstaller only bundles what it can see. Modules imported lazily (UI pages, the engine, the
simulators), keyring backends found through entry points, uvicorn's loop/protocol modules named by
strings, Alembic's migration scripts and Qt's plugins all fail only at run time, in the bundle.

The same checks run twice, and only the difference counts:

    python packaging/bundle_selftest.py --out reference.json                   # source (build venv)
    TRIAGE_SYNC_SELF_TEST=frozen.json dist/triage-sync/triage-sync             # the bundle (launcher.py)
    python packaging/bundle_selftest.py --compare reference.json frozen.json

``--compare`` fails for every check that passes from source but not in the bundle. A module that
cannot import from source either (another change is still in progress) is reported, not failed:
that is the source's problem, and the unit tests catch it.

Run it with no display and an empty HOME (build-linux.sh does). Apart from the report it writes only
to a temp folder. The spec ships this file as data, not as an analysed script, so its own imports
cannot add anything to the bundle that the app would not bring.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Imported by name at run time, never by an import statement PyInstaller can follow.
LAZY_MODULES = (
    "keyring.backends.SecretService",
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "alembic.ddl.sqlite",
)


def app_modules() -> list[str]:
    """Every module of the app package, except the migrations (data files Alembic runs) and
    ``app.__main__`` (importing it would run the app)."""
    import app

    names = ["app"]
    for info in pkgutil.walk_packages(app.__path__, "app.", onerror=lambda _name: None):
        if ".migrations" in info.name or info.name == "app.__main__":
            continue
        names.append(info.name)
    return sorted(names)


def check_qt_icons() -> str:
    """Qt starts headless and the app icon renders from SVG (the svg image-format/icon plugins)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtGui import QGuiApplication, QIcon, QImageReader
    from PySide6.QtWidgets import QApplication

    from app.resources import resource_path
    from app.ui.theme import app_icon

    _qt_app = QApplication.instance() or QApplication([sys.argv[0]])
    formats = {bytes(fmt.data()).decode() for fmt in QImageReader.supportedImageFormats()}
    if "svg" not in formats:
        raise RuntimeError(f"no svg image format plugin (have {sorted(formats)})")
    svg = QIcon(str(resource_path("icons/triage-sync.svg")))
    if svg.pixmap(64, 64).isNull():
        raise RuntimeError("the SVG app icon does not render")
    if app_icon().pixmap(256, 256).isNull():
        raise RuntimeError("app.ui.theme.app_icon() is empty")
    return f"platform={QGuiApplication.platformName()} svg=ok"


def check_keyring_entry_points() -> str:
    """keyring discovers its backends through entry points: the bundle needs keyring's metadata."""
    from importlib.metadata import entry_points

    names = sorted({ep.name for ep in entry_points(group="keyring.backends")})
    if not names:
        raise RuntimeError("no keyring.backends entry points (keyring's metadata is missing)")
    return ",".join(names)


def check_uvicorn_strings() -> str:
    """uvicorn resolves loops, HTTP/WebSocket protocols and lifespans from "module:attr" strings.

    Returns the names that resolve, per table; optional extras the project does not install
    (uvloop, httptools, websockets) are missing from source too, so only a difference counts."""
    import uvicorn.config
    from uvicorn.importer import import_from_string

    tables = []
    for table in ("LOOP_FACTORIES", "LOOP_SETUPS", "HTTP_PROTOCOLS", "WS_PROTOCOLS", "LIFESPAN"):
        resolved = []
        for name, target in (getattr(uvicorn.config, table, None) or {}).items():
            try:
                if target:
                    import_from_string(target)
            except Exception:
                continue
            resolved.append(name)
        if resolved:
            tables.append(f"{table}={','.join(resolved)}")
    return " ".join(tables)


def check_loopback_http() -> str:
    """The simulators' uvicorn server answers httpx on loopback (what --demo and `simulate` need)."""
    import httpx

    from app.httpserver import ServerThread

    async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with ServerThread(hello, name="selftest") as server, httpx.Client(trust_env=False, timeout=10) as client:
        response = client.get(server.url)
    if response.text != "ok":
        raise RuntimeError(f"unexpected answer {response.status_code} {response.text[:80]!r}")
    return "ok"


def check_store_migrations() -> str:
    """A new SQLite database migrates to head from the bundled Alembic scripts."""
    from app.store import Store, head_revision

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'selftest.sqlite3'}")
        store.close()
    return f"head={head_revision()}"


def check_tls() -> str:
    """HTTPS works: Python's ssl module and certifi's CA bundle (what httpx uses) are present."""
    import ssl

    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    return f"{len(context.get_ca_certs())} CA certificates"


CHECKS: dict[str, Callable[[], str]] = {
    "qt-icons": check_qt_icons,
    "keyring-entry-points": check_keyring_entry_points,
    "uvicorn-strings": check_uvicorn_strings,
    "loopback-http": check_loopback_http,
    "store-migrations": check_store_migrations,
    "tls": check_tls,
}


def _error(exc: BaseException) -> str:
    return f"FAIL {type(exc).__name__}: {exc}"


# {"frozen": "True"|"False", "modules": {name: "ok"|"FAIL ..."}, "checks": {name: value|"FAIL ..."}}
Report = dict[str, Any]


def run_all() -> Report:
    modules: dict[str, str] = {}
    try:
        names = app_modules()
    except Exception as exc:
        names = []
        modules["app"] = _error(exc)
    for name in [*names, *LAZY_MODULES]:
        try:
            importlib.import_module(name)
            modules[name] = "ok"
        except BaseException as exc:  # SystemExit from a module is a failure too
            modules[name] = _error(exc)
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except BaseException as exc:
            checks[name] = _error(exc)
    return {"frozen": str(bool(getattr(sys, "frozen", False))), "modules": modules, "checks": checks}


def compare(reference: Report, frozen: Report) -> int:
    """Print a verdict per check; exit status 1 when the bundle lacks what the source has."""
    regressions: list[str] = []
    notes: list[str] = []
    for section in ("modules", "checks"):
        ref, got = reference.get(section, {}), frozen.get(section, {})
        for name, expected in sorted(ref.items()):
            actual = got.get(name, "FAIL missing from the bundle")
            if expected.startswith("FAIL"):
                notes.append(f"  {name}: fails from source too ({expected[5:]}); not a bundle problem")
            elif actual.startswith("FAIL"):
                regressions.append(f"  {name}: {actual[5:]}")
            elif actual != expected:
                regressions.append(f"  {name}: the bundle has {actual!r}, the source has {expected!r}")
    ok_modules = sum(1 for v in frozen.get("modules", {}).values() if v == "ok")
    print(f"bundle self-test: {ok_modules} modules import; checks:")
    for name, value in frozen.get("checks", {}).items():
        print(f"  {name}: {value}")
    if notes:
        print("skipped (broken in the source tree, not in the bundle):", *notes, sep="\n")
    if frozen.get("frozen") != "True":
        regressions.append("  the second report is not from a frozen bundle (TRIAGE_SYNC_SELF_TEST ignored?)")
    if regressions:
        print("the bundle lacks what the source has:", *regressions, sep="\n", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that the bundle carries what the app needs.")
    parser.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    parser.add_argument("--compare", nargs=2, metavar=("REFERENCE", "FROZEN"), type=Path)
    args = parser.parse_args(argv)
    if args.compare:
        reference, frozen = (json.loads(path.read_text(encoding="utf-8")) for path in args.compare)
        return compare(reference, frozen)
    report = json.dumps(run_all(), indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    else:
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
