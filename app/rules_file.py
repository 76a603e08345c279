"""Saving edited rules into the configuration file, keeping the user's comments and layout.

The file is edited, not rewritten: tomlkit parses it with its comments, only the keys whose value
changed are set (inside the table the user already has, when there is one), and everything else
stays byte for byte. Before anything is written the result is validated with the checks of
``triage-sync config check`` and read back: what the file would give (layered over the shipped
default) must be exactly the rules asked for, else nothing is written and the message says why.
The previous file is kept beside it as ``<name>.bak``.

The file is the one the engine on this machine reads. In team mode each engine host reads its own
file: save the rules on the machine that runs the engine.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Comment, InlineTable, Table, Whitespace

from app.config import AppConfig, ConfigError, parse_config
from app.domain.impact import RULE_SECTIONS, changed_rules
from app.files import write_private

BACKUP_SUFFIX = ".bak"


class RulesRefused(Exception):
    """The edited rules were not saved; ``problems`` says why, one line each. The file is untouched."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SavedRules:
    config: AppConfig  # the configuration the file now gives
    changed: tuple[str, ...]  # rule keys that changed, e.g. outbound.fields.priority
    backup: Path | None  # the previous file (None: there was none)


def _dump(config: AppConfig, section: str) -> dict[str, Any]:
    dumped: dict[str, Any] = getattr(config, section).model_dump(mode="json", exclude_none=True)
    return dumped


def _toml(value: Any, *, rule_table: bool = False) -> Any:
    """A tomlkit item for a new value: rule tables as [tables], other mappings inline, lists of
    tables as [[arrays of tables]]."""
    if isinstance(value, Mapping):
        table: Table | InlineTable = tomlkit.table() if rule_table else tomlkit.inline_table()
        for key, item in value.items():
            table[key] = _toml(item)
        if rule_table:
            table.add(tomlkit.nl())  # a blank line before whatever header follows
        return table
    if isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
        array = tomlkit.aot()
        for item in value:
            entry = tomlkit.table()
            for key, inner in item.items():
                entry[key] = _toml(inner)
            array.append(entry)
        return array
    return value


def _is_container(value: Any) -> bool:
    """A mapping of mappings (a section, ``fields``, ``status``): new ones get a header of their own."""
    return (
        isinstance(value, Mapping)
        and "rule" not in value
        and any(isinstance(item, Mapping) for item in value.values())
    )


def _apply(table: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Set in ``table`` (part of the user's document) only what differs between the effective old
    and new values; keep every other key, comment and blank line where it is."""
    for key in dict.fromkeys([*old, *new]):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if now is None:
            if key in table:
                del table[key]
            continue
        current = table[key] if key in table else None
        same_rule = not isinstance(now, Mapping) or (
            isinstance(was, Mapping) and was.get("rule") == now.get("rule")
        )
        if isinstance(now, Mapping) and isinstance(was, Mapping):
            if isinstance(current, Table | InlineTable) and same_rule:
                _apply(current, was, now)  # edit inside the user's own table
                continue
            if current is None and _is_container(now):
                # Layered over the default: a new section holds only what changed.
                section = tomlkit.table(is_super_table=True)
                table[key] = section
                _apply(section, was, now)
                continue
        is_rule = isinstance(now, Mapping) and "rule" in now  # a rule table replaces the default's whole
        item = _toml(now, rule_table=is_rule)
        trivia = _trailing_trivia(table) if isinstance(item, Table) and current is None else []
        table[key] = item
        for comment in trivia:  # the comment above the next header stays above it
            item.value.body.append(comment)


def _trailing_trivia(table: Any) -> list[tuple[Any, Any]]:
    """Take the comments and blank lines ending the last table inside ``table``: tomlkit keeps the
    comment above a header at the end of the table before it, so a table added after that one
    would otherwise come between the comment and the header it describes."""
    last = None
    for value in table.values():
        if isinstance(value, Table):
            last = value
    while last is not None:
        nested = [value for value in last.values() if isinstance(value, Table)]
        if not nested:
            break
        last = nested[-1]
    if last is None:
        return []
    body = last.value.body
    taken: list[tuple[Any, Any]] = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Comment | Whitespace):
        taken.insert(0, body.pop())
    # Keep one blank line after the table itself.
    while taken and isinstance(taken[0][1], Whitespace):
        taken.pop(0)
    if taken:
        body.append((None, tomlkit.nl()))
    return taken


def render(original: str, old: AppConfig, new: AppConfig) -> str:
    """The file text with ``new``'s rule sections, everything else as it was."""
    document = tomlkit.parse(original)
    for section in RULE_SECTIONS:
        before, after = _dump(old, section), _dump(new, section)
        if before == after:
            continue
        if section not in document:
            document[section] = tomlkit.table(is_super_table=True)
        _apply(document[section], before, after)
    text = tomlkit.dumps(document)
    return text if text.endswith("\n") or not text else text + "\n"


def rules_onto(file_config: AppConfig, baseline: AppConfig, edited: AppConfig) -> AppConfig:
    """What to save: the file as it is now, with only the parts the user edited since ``baseline``
    (the trigger, the outbound field rules, the return trip). A hand edit of the file made while the
    Rules window was open (another part, or ``company_id``) is kept, not overwritten by the window's
    older copy."""
    update: dict[str, Any] = {}
    if edited.trigger != baseline.trigger:
        update["trigger"] = edited.trigger
    if edited.outbound.fields != baseline.outbound.fields:
        update["outbound"] = file_config.outbound.model_copy(update={"fields": edited.outbound.fields})
    if edited.return_trip != baseline.return_trip:
        update["return_trip"] = edited.return_trip
    return file_config.model_copy(update=update)


def save_rules(path: Path, current: AppConfig, new: AppConfig) -> SavedRules:
    """Write ``new``'s rules into ``path`` (validated first; the old file kept as ``.bak``).

    ``current`` is what the file gives now. Raises :class:`RulesRefused` (file untouched) when the
    rules are invalid or cannot be written as asked."""
    label = str(path)
    original = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        text = render(original, current, new)
        saved = parse_config(tomllib.loads(text), label)
    except ConfigError as exc:
        raise RulesRefused(["the rules are not valid, nothing was saved:", *exc.problems]) from None
    except (tomllib.TOMLDecodeError, tomlkit.exceptions.TOMLKitError) as exc:
        raise RulesRefused([f"{label}: cannot be edited as TOML ({exc}); nothing was saved"]) from None
    lost = changed_rules(new, saved)
    if lost:
        raise RulesRefused(
            [
                "these rules cannot be saved as asked, because the shipped default puts its own value "
                f"back (a rule the default sets can be changed but not removed): {', '.join(lost)}; "
                "nothing was saved"
            ]
        )
    changed = changed_rules(current, saved)
    backup: Path | None = None
    if path.exists():
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        write_private(backup, path.read_bytes())
    write_private(path, text.encode("utf-8"))
    return SavedRules(saved, changed, backup)
