"""Text hygiene shared by the outbound preview, the return trip and the trigger explanations.

User text travels between two systems that both store it in SQL Server-like columns: control characters
(NUL, ESC, ...) are refused or corrupt the record, lone surrogates cannot even be encoded as UTF-8, and
lengths are counted in UTF-16 code units (an emoji counts twice). Everything else (emoji, RTL marks,
HTML, braces, ``^OR``) is ordinary text and must arrive unchanged.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

# C0 and C1 controls except tab, newline and carriage return; DEL; lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Anything that breaks a line or is a control character at all (stricter: used for query values).
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Bidirectional overrides/isolates: kept in data, but escaped in explanations so a value cannot
# visually reorder the sentence around it.
_SHOW_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
ELLIPSIS = "…"

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be rendered; the message is shown to the user as is."""


def strip_control(text: str) -> tuple[str, int]:
    """Remove control characters (keeping \\t, \\n, \\r); return the clean text and how many were removed."""
    clean, removed = _CONTROL.subn("", text)
    return clean, removed


_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def terminal_safe(text: str) -> str:
    """Text for a terminal or a log line: every control character removed but newline and tab
    (ESC sequences, BEL, C1 CSI and carriage return could retitle, clear or overwrite the screen)."""
    return _TERMINAL_CONTROL.sub("", text)


def has_control(text: str) -> bool:
    """True when the text holds any control character or line break (tab and newline included)."""
    return _ANY_CONTROL.search(text) is not None


def utf16_len(text: str) -> int:
    """Length as Autotask/ServiceNow columns count it: UTF-16 code units (astral characters count 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate(text: str, limit: int) -> str:
    """Cut to at most ``limit`` UTF-16 units, ending with an ellipsis so the reader sees the cut.

    Never splits a surrogate pair (we cut between code points)."""
    if utf16_len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    budget = limit - 1  # room for the ellipsis (one unit)
    used = 0
    end = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            break
        used += width
        end = index + 1
    return text[:end].rstrip() + ELLIPSIS


def show(value: str, limit: int = 60) -> str:
    """A value quoted for a one-line explanation: control characters escaped, long values shortened."""
    visible = "".join(
        ch if not _SHOW_ESCAPE.match(ch) else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        for ch in value
    )
    if len(visible) > limit:
        visible = visible[: limit - 1] + ELLIPSIS
    return f"'{visible}'"


def template_fields(template: str) -> list[str]:
    """The field names a template uses, in order. Only plain names are allowed (no ``{a.b}``, ``{0}``,
    ``{a[0]}`` or nested ``{a:{b}}``), so a template can never reach attributes of the values."""
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"not a valid template ({exc}); write a literal brace as '{{{{' or '}}}}'"
        ) from exc
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise TemplateError(
                f"placeholder {{{name}}} must be a plain field name, e.g. {{short_description}}"
            )
        if spec and ("{" in spec or "}" in spec):
            raise TemplateError(
                f"placeholder {{{name}}} has a nested placeholder in its format, not supported"
            )
        names.append(name)
    return names


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Render ``{name}`` placeholders from ``values``; values are inserted verbatim, never re-parsed."""
    template_fields(template)  # validates the shape first
    parts: list[str] = []
    for literal, name, spec, conversion in _FORMATTER.parse(template):
        parts.append(literal)
        if name is None:
            continue
        if name not in values:
            known = ", ".join(sorted(values))
            raise TemplateError(f"unknown field {{{name}}}; known fields: {known}")
        value: object = values[name]
        try:
            if conversion:
                value = _FORMATTER.convert_field(value, conversion)
            parts.append(format(value, spec or ""))
        except ValueError as exc:
            raise TemplateError(f"placeholder {{{name}}}: {exc}") from exc
    return "".join(parts)
