"""The README and docs/configuration.md stay true to the code: keys, commands, exit codes, examples."""

from __future__ import annotations

import argparse
import re
import tomllib
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from app import cli
from app.config import AppConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
RUN_APP = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/triage-sync --demo"
RUN_TESTS = (
    "python3 -m venv .venv && .venv/bin/pip install -q --require-hashes -r requirements.lock && "
    ".venv/bin/pip install -q --no-deps --no-build-isolation -e . && "
    "QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest"
)
SCREENSHOT = "![Triage Sync queue with preview](docs/screenshot-queue.png)"
# Written by other work items; a link to them is right even before they land.
PENDING_TARGETS = {"docs/cli.md", "docs/screenshot-queue.png"}


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    """Every pydantic model inside a field annotation (Optional, list, dict values, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models(typing.get_args(annotation)[0])
        return
    if origin in (list, dict, typing.Union, types.UnionType) or origin is not None:
        for arg in typing.get_args(annotation):
            yield from _models(arg)


def config_keys(model: type[BaseModel] = AppConfig, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) for every key of every section and nested table of the configuration."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, name
        for nested in _models(info.annotation):
            yield from config_keys(nested, f"{path}.")


def test_every_config_key_is_documented_in_its_section() -> None:
    doc = CONFIG_DOC.read_text(encoding="utf-8")
    sections = {}
    for section in AppConfig.model_fields:
        heading = f"## `[{section}]`"
        assert heading in doc, f"no heading for [{section}]"
        sections[section] = doc.split(heading, 1)[1].split("\n## ", 1)[0]
    missing = sorted(
        path for path, key in config_keys() if "." in path and f"`{key}`" not in sections[path.split(".")[0]]
    )
    assert not missing, f"docs/configuration.md does not document {missing} in their sections"


def test_every_rule_type_is_documented() -> None:
    doc = CONFIG_DOC.read_text(encoding="utf-8")
    fields = AppConfig.model_fields["outbound"].annotation.model_fields["fields"]  # type: ignore[union-attr]
    rules = {
        literal
        for model in _models(fields.annotation)
        if "rule" in model.model_fields
        for literal in typing.get_args(model.model_fields["rule"].annotation)
    }
    assert rules == {"copy", "template", "value_map", "constant", "due_in_hours"}
    assert all(f"| `{rule}` |" in doc for rule in rules)


def toml_blocks(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("path", [README, CONFIG_DOC], ids=lambda p: p.name)
def test_toml_examples_are_valid_configurations(path: Path) -> None:
    blocks = toml_blocks(path)
    assert blocks, f"{path.name} has no TOML example"
    for index, block in enumerate(blocks):
        parse_config(tomllib.loads(block), f"{path.name} example {index + 1}")  # raises when invalid


def test_readme_keeps_the_set_up_commands_at_the_top() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert f"```bash\n{RUN_APP}\n```" in section
    assert f"```bash\n{RUN_TESTS}\n```" in section
    first_heading = re.search(r"^## .*$", text, flags=re.M)
    assert first_heading is not None and first_heading.group() == "## Set-up on a fresh machine"
    assert RUN_TESTS in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), (
        ".ci/run must run the README's tests"
    )


def test_readme_has_screenshot_and_demo_credentials() -> None:
    from app.simulators import demo

    text = README.read_text(encoding="utf-8")
    assert SCREENSHOT in text
    for value in (
        demo.SERVICENOW_USER,
        demo.SERVICENOW_PASSWORD,
        demo.AUTOTASK_USER,
        demo.AUTOTASK_INTEGRATION_CODE,
        demo.AUTOTASK_SECRET,
    ):
        assert f"`{value}`" in text


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}"
                yield from _subcommands(sub, f"{prefix}{name} ")


def test_readme_lists_every_subcommand() -> None:
    text = README.read_text(encoding="utf-8")
    commands = list(_subcommands(cli.build_parser()))
    assert "run" in commands and "queue approve" in commands
    missing = []
    for command in commands:
        *group, name = command.split()
        # "queue approve|reject|..." and "config check|path|init" name several actions at once.
        pattern = rf"triage-sync {' '.join(group)}{' ' if group else ''}(?:[\w-]+\\?\|)*{re.escape(name)}\b"
        if not re.search(pattern, text):
            missing.append(command)
    assert not missing, f"README does not show {missing}"


def test_readme_documents_every_exit_code() -> None:
    text = README.read_text(encoding="utf-8")
    codes = {
        value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert {0, 1, 2} <= codes
    for code in codes:
        assert re.search(rf"^\| {code} \| ", text, flags=re.M), f"exit code {code} is not in the README"


@pytest.mark.parametrize(
    "path", [README, CONFIG_DOC, ROOT / "packaging" / "README.md"], ids=lambda p: p.parent.name + "/" + p.name
)
def test_relative_links_point_at_files(path: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (path.parent / target).resolve()
        relative = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else str(resolved)
        if not resolved.exists() and relative not in PENDING_TARGETS:
            broken.append(target)
    assert not broken, f"{path.name} links to missing files: {broken}"
