"""Supply chain: every third-party package the app imports is declared (with floors past known
CVEs), and the hashed lock file that CI and the bundle install from covers every declared
dependency and pins each to a version with hashes."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"PySide6": "pyside6-essentials", "sqlalchemy": "sqlalchemy", "yaml": "pyyaml"}
# Floors past known advisories (the receiver parses HTTP with h11; see docs/security.md).
FLOORS = {
    "h11": "0.16.0",  # CVE-2025-43859: chunked-encoding request smuggling
    "starlette": "0.47.2",  # CVE-2024-47874, CVE-2025-54121: multipart DoS
    "certifi": "2024.7.4",  # CVE-2024-39689: GLOBALTRUST roots
    "idna": "3.7",  # CVE-2024-3651: quadratic-time encode
    "httpx": "0.27",
}


def declared() -> dict[str, Requirement]:
    requirements = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    return {req.name.lower().replace("_", "-"): req for req in requirements}


def imported_packages() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != "app"}


def test_every_imported_package_is_declared() -> None:
    deps = declared()
    missing = sorted(
        name
        for name in imported_packages()
        if DISTRIBUTIONS.get(name, name).lower().replace("_", "-") not in deps
    )
    assert missing == []


def test_floors_are_past_known_advisories() -> None:
    deps = declared()
    for name, floor in FLOORS.items():
        assert name in deps, f"{name} must be declared (floor {floor})"
        lowest = min(Version(spec.version) for spec in deps[name].specifier if spec.operator == ">=")
        assert lowest >= Version(floor), f"{name}: floor {lowest} < {floor}"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock (pip-compile / uv format)."""
    text = LOCK.read_text(encoding="utf-8")
    locked: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", block)
        if match:
            name = match[1].lower().replace("_", "-")
            locked[name] = (match[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return locked


def test_lock_file_pins_every_dependency_with_hashes() -> None:
    locked = _locked()
    extras = PYPROJECT["project"]["optional-dependencies"]
    build = ["setuptools", "wheel"]
    wanted = [*PYPROJECT["project"]["dependencies"], *extras["test"], *extras["bundle"], *build]
    for text in wanted:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        assert name in locked, f"{name} is not in requirements.lock"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version)
        assert hashes, f"{name} has no hashes"
    for name, (_version, hashes) in locked.items():
        assert hashes, f"{name} has no hashes"
    for name, floor in FLOORS.items():
        assert Version(locked[name][0]) >= Version(floor), name


def test_ci_and_bundle_install_from_the_lock_file() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    build = (ROOT / "packaging" / "build-linux.sh").read_text(encoding="utf-8")
    for script in (ci, build):
        assert "--require-hashes -r requirements.lock" in script
        assert "--no-deps" in script
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "uv pip compile" in readme and "--generate-hashes" in readme
