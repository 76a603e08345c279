"""A small TOML writer for the config file (tomllib reads; nothing in the stdlib writes).

It covers what the config uses: tables, arrays of tables, strings, integers, floats, booleans,
arrays of scalars and inline tables. Comments of the original file are not preserved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would accept a final newline
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(value: str) -> str:
    out: list[str] = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _inline(value: Any, depth: int) -> bool:
    """Values written on one line: scalars, arrays of non-tables, small scalar-only nested tables."""
    if _is_scalar(value):
        return True
    if isinstance(value, list | tuple):
        return not (value and all(isinstance(item, Mapping) for item in value))
    if isinstance(value, Mapping):
        if not value:
            return True
        if "rule" in value:  # outbound field rules read better as their own tables
            return False
        return depth >= 2 and len(value) <= 6 and all(_is_scalar(v) for v in value.values())
    return True


def dumps(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(lines, data, ())
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], table: Mapping[str, Any], path: tuple[str, ...]) -> None:
    depth = len(path)
    inline = [(k, v) for k, v in table.items() if _inline(v, depth + 1)]
    nested = [(k, v) for k, v in table.items() if not _inline(v, depth + 1)]
    for key, value in inline:
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        sub_path = (*path, key)
        header = ".".join(_key(part) for part in sub_path)
        if isinstance(value, Mapping):
            lines.append("")
            lines.append(f"[{header}]")
            _table(lines, value, sub_path)
        else:  # array of tables
            for item in value:
                lines.append("")
                lines.append(f"[[{header}]]")
                _table(lines, item, sub_path)
