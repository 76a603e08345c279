"""Logging for every entry point: one line per event, to stderr and a log file, never a secret.

Why a module of its own: the GUI, ``triage-sync run`` and the short commands all log the same way,
and tests call :func:`app.cli.main` many times in one process, so set-up must be undone cleanly
(:func:`logging_session`) instead of piling handlers onto the root logger.

Files live in ``$TRIAGE_SYNC_LOG_DIR`` or else the platformdirs user log dir. Long-running
processes (GUI, ``run``, ``simulate``) rotate their file (~1 MB x 5). Short commands (status, queue,
...) often run beside an engine that owns the file; ``RotatingFileHandler`` is not safe across
processes, so they only append (the file is opened at the first record, if any) and never rotate.

Secrets: the app never formats one into a message (``Secret.__repr__`` is masked), and as a
second line of defence every line is scrubbed of URL user-info passwords and of the credential
values the process knows (environment variables, secrets handed to the engine).
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from app.config import default_log_dir
from app.domain.text import terminal_safe
from app.files import DIR_MODE, private_dir, private_opener, tighten
from app.secrets import ENV_VARS, known_values, remember

LOG_DIR_ENV = "TRIAGE_SYNC_LOG_DIR"
LOG_FILE = "triage-sync.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 5
LEVELS = ("debug", "info", "warning", "error")
# Noisy or URL-printing libraries: never below WARNING, whatever --log-level says.
QUIET_LOGGERS = ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "asyncio")
MASK = "********"

# ``scheme://user:password@``; a password that is already a mask (``***``) is left alone.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?!\*+@)[^@/\s]+@")


def register_secret(value: str | None) -> None:
    """Remember a credential so any log line that contains it is masked (see app.secrets.remember:
    every secret read from the keyring or the environment is registered there already)."""
    remember(value)


def scrub(text: str) -> str:
    """Mask URL passwords (``scheme://user:pw@``) and every registered credential value."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    for secret in sorted(known_values(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def one_line(text: str) -> str:
    """Multi-line messages (e.g. a ConfigError) become one line so each event is one line."""
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())


class LineFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.123Z LEVEL logger: message``; UTC; scrubbed.

    With ``tracebacks`` a record's traceback follows on indented lines (the log file, for whoever
    debugs); without, it is reduced to ``[ExcType: message]`` on the same line (the terminal).
    """

    def __init__(self, *, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {one_line(record.getMessage())}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            if self.tracebacks:
                trace = self.formatException(record.exc_info)
                line += "\n" + "\n".join(f"    {part}" for part in trace.splitlines())
            else:
                line += f" [{type(error).__name__}: {one_line(str(error))}]"
        return terminal_safe(scrub(line))


class SafeTerminal(io.TextIOBase):
    """Wraps stdout/stderr for the CLI: every write is scrubbed of registered credentials and URL
    passwords and stripped of terminal control characters (remote text is hostile)."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(terminal_safe(scrub(text)))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"


@contextmanager
def safe_terminal() -> Iterator[None]:
    """stdout and stderr through :class:`SafeTerminal` for the length of one command."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = SafeTerminal(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = SafeTerminal(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is *now* (pytest's capsys swaps it between tests)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def log_dir() -> Path:
    """``$TRIAGE_SYNC_LOG_DIR`` (tests, service accounts) or the platformdirs user log dir."""
    override = os.environ.get(LOG_DIR_ENV, "").strip()
    return Path(override).expanduser() if override else default_log_dir()


def parse_level(name: str) -> int:
    if name.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {name!r}")
    return int(getattr(logging, name.upper()))


class _PrivateFileHandler(logging.FileHandler):
    """A log file only its owner can read (it holds incident text and caller names)."""

    def _open(self) -> io.TextIOWrapper:
        stream = open(
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=private_opener
        )
        assert isinstance(stream, io.TextIOWrapper)  # text mode ("a")
        return stream


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler, _PrivateFileHandler):
    """Rotating; every new file after a rotation is opened by ``_PrivateFileHandler._open``."""


def _file_handler(path: Path, *, rotate: bool) -> logging.Handler | None:
    try:
        private_dir(path.parent)
        if path.parent == default_log_dir():
            tighten(path.parent, DIR_MODE)  # our own folder, 0755 from an older version
        tighten(path)
        if rotate:
            return _PrivateRotatingFileHandler(
                path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
            )
        return _PrivateFileHandler(path, encoding="utf-8", delay=True)
    except OSError as exc:
        print(
            f"triage-sync: cannot write the log file {path}: {exc}; logging to stderr only", file=sys.stderr
        )
        return None


@contextmanager
def logging_session(
    level: str = "info", *, file_name: str | None = LOG_FILE, rotate: bool = True
) -> Iterator[Path | None]:
    """Install stderr + file handlers on the root logger for one command; undo everything after.

    ``file_name`` None logs to stderr only. Yields the log file path (or None).
    """
    numeric = parse_level(level)
    for name in ENV_VARS.values():
        register_secret(os.environ.get(name))
    root = logging.getLogger()
    saved_level = root.level
    saved_quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    handlers: list[logging.Handler] = []
    if sys.stderr is not None:  # None in a windowed (no console) bundle of the desktop app
        stderr = StderrHandler()
        stderr.setFormatter(LineFormatter(tracebacks=False))
        handlers.append(stderr)
    path = log_dir() / file_name if file_name else None
    if path is not None:
        handler = _file_handler(path, rotate=rotate)
        if handler is None:
            path = None
        else:
            handler.setFormatter(LineFormatter(tracebacks=True))
            handlers.append(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    try:
        yield path
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_level)
        for name, saved in saved_quiet.items():
            logging.getLogger(name).setLevel(saved)
