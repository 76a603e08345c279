"""Remote text on the terminal and in the log: no control characters (an incident title with
``ESC ] 0 ; ... BEL`` would retitle the terminal, ``ESC [ 2 J`` clear it, C1 ``CSI`` does the same on
some terminals), and no credential in any line the CLI prints."""

from __future__ import annotations

import io
import json
import logging

from test_cli import World, simulators, world  # noqa: F401 - the CLI tests' fixtures (simulators feeds world)

from app.domain.text import terminal_safe
from app.logging_setup import LineFormatter, SafeTerminal, register_secret

HOSTILE = "Printer\x1b]0;owned\x07 jam\x1b[2J on\x9b31m floor\r2\x00"
CONTROLS = ("\x1b", "\x07", "\x9b", "\x00", "\r")


def test_terminal_safe() -> None:
    assert terminal_safe(HOSTILE) == "Printer]0;owned jam[2J on31m floor2"
    assert terminal_safe("line one\n\tline two") == "line one\n\tline two"


def test_safe_terminal_strips_and_scrubs() -> None:
    register_secret("a-registered-secret-value")
    inner = io.StringIO()
    out = SafeTerminal(inner)
    print(f"FAILED: {HOSTILE} (password a-registered-secret-value)", file=out)
    text = inner.getvalue()
    assert not any(control in text for control in CONTROLS)
    assert "a-registered-secret-value" not in text
    assert text.endswith("\n")


def test_remote_text_reaches_terminal_and_log_without_controls(world: World) -> None:  # noqa: F811
    world.incident(short_description=HOSTILE, caller_id=HOSTILE)
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    for command in (["queue", "list"], ["explain", "INC0010001"], ["dry-run"]):
        code, out, err = world.cli(*command)
        assert not any(control in out + err for control in CONTROLS), (command, out)
    assert "Printer]0;owned jam" in world.cli("queue", "list")[1]
    code, out, _err = world.cli("queue", "list", "--json")
    assert code == 0
    assert "\x1b" not in out and "\x9b" not in out
    assert json.loads(out)  # still valid JSON
    assert not any(control in world.log_text() for control in CONTROLS)


def test_log_lines_have_no_controls() -> None:
    record = logging.LogRecord("app.test", logging.WARNING, __file__, 1, "remote said %s", (HOSTILE,), None)
    for tracebacks in (True, False):
        line = LineFormatter(tracebacks=tracebacks).format(record)
        assert not any(control in line for control in CONTROLS)
        assert "Printer]0;owned jam" in line
