"""The headless commands behind :mod:`app.cli`: run, queue, links, status, explain, dry-run, simulate.

Why a separate module: ``cli.py`` stays a small parser, and this module imports the store, the
engine and httpx only when a command needs them. Nothing here imports Qt (a test proves it), so
``triage-sync run`` works on a server without a display.

Two kinds of commands:

* **Short commands** (queue list/approve/reject/restore/retry, links, status) open the Store
  directly: no credentials, no engine lease, so they work beside a running engine (GUI or
  ``run``), exactly like the GUI's own approve button.
* **Engine commands** (run, explain, dry-run) build the engine from the configuration and the
  credentials (environment first, then the OS keyring). Only ``run`` takes the lease.

Every command returns an exit code: 0 ok, 1 something failed, 2 configuration problem.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from app.config import (
    AppConfig,
    ConfigError,
    desk_name,
    effective_store_url,
    load_config,
    require_live_settings,
    resolve_config_path,
)
from app.logging_setup import one_line, register_secret, scrub

if TYPE_CHECKING:
    from app.engine.engine import SyncEngine
    from app.engine.events import EngineEvent, PollFinished
    from app.engine.reconcile import ReconcileResult
    from app.engine.views import BudgetState, HealthState, LinkRow
    from app.store import Store

log = logging.getLogger("app.headless")
T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
SYSTEMS = ("servicenow", "autotask")
SYSTEM_LABELS = {"servicenow": "ServiceNow", "autotask": "Autotask"}


class CommandFailed(Exception):
    """A message for the user and the exit code; raised by helpers, printed once by :func:`dispatch`."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# ---- JSON output ---------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``: the one datetime format of every JSON output."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # the store returns aware datetimes; be safe with naive ones
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_jsonable(value: Any) -> Any:
    """Dataclasses -> objects whose keys are the field names, in field order; tuples -> arrays."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False), file=out or sys.stdout)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )


# ---- configuration and store ---------------------------------------------------------------------


def load(args: argparse.Namespace) -> AppConfig:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise CommandFailed(f"configuration invalid:\n{exc}", EXIT_CONFIG) from None


def _hidden_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise CommandFailed(
            f"configuration invalid:\nstore.url: not a database URL (e.g. sqlite:///path/file.sqlite3), "
            f"got {scrub(url)!r}",
            EXIT_CONFIG,
        ) from None


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Opening the database: its problems become one clear line (password hidden), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.store import StoreError

    shown = _hidden_url(url)
    try:
        yield
    except StoreError as exc:  # EngineAlreadyRunning is handled by the caller before this
        raise CommandFailed(scrub(str(exc))) from None
    except ImportError as exc:
        raise CommandFailed(
            f"configuration invalid:\nstore.url: no database driver installed for {shown} ({exc}); "
            "install it or use a sqlite:/// URL",
            EXIT_CONFIG,
        ) from None
    except SQLAlchemyError as exc:
        detail = scrub(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise CommandFailed(f"cannot open the database {shown}: {detail}") from None


def open_store(config: AppConfig) -> Store:
    """The Store alone (short commands): no lease, no credentials, fine beside a running engine."""
    from app.store import Store

    url = effective_store_url(config)
    with database_errors(url):
        store = Store.open(url, migrate_schema=config.store.auto_migrate)
    if store.backup_path is not None:
        log.info("database schema upgraded; the previous file is kept at %s", store.backup_path)
    return store


@contextlib.contextmanager
def store_for(args: argparse.Namespace) -> Iterator[Store]:
    """The Store for one short command; a database error while using it is one line, too."""
    config = load(args)
    store = open_store(config)
    try:
        with database_errors(effective_store_url(config)):
            yield store
    finally:
        store.close()


def build(config: AppConfig, holder: str) -> SyncEngine:
    """Engine commands: credentials from the environment/keyring, named in the error when missing."""
    from app.connectors.errors import AuthFailed
    from app.engine.factory import EngineSecrets, build_engine

    secrets = EngineSecrets.lookup(config)
    for secret in (secrets.servicenow_password, secrets.servicenow_client_secret, secrets.autotask_secret):
        register_secret(secret.reveal() if secret is not None else None)
    register_secret(config.autotask.integration_code)  # a request header, like the secret
    try:
        with database_errors(effective_store_url(config)):
            return build_engine(config, secrets=secrets, holder=holder)
    except AuthFailed as exc:
        hint = (
            "Headless runs read SERVICENOW_PASSWORD (SERVICENOW_CLIENT_SECRET for OAuth) and AUTOTASK_SECRET "
            "from the environment, else the OS keyring entries the app's Settings dialog saves."
        )
        raise CommandFailed(f"{exc}\n{hint}", EXIT_CONFIG) from None


def _cli_user(config: AppConfig) -> str:
    """Who decided, for the audit trail and the GUI's "rejected by": the desk name ([desk] name, else
    the login name), marked as a command-line decision (the column holds 40 chars)."""
    return f"cli:{desk_name(config)}"[:40]


# ---- short commands ------------------------------------------------------------------------------


def cmd_queue_list(args: argparse.Namespace) -> int:
    from app.engine.claims import with_reviewers
    from app.engine.convert import queue_row

    with store_for(args) as store:
        items = store.list_items(args.state or None, args.search, args.limit)
        rows = with_reviewers(store, [queue_row(item) for item in items])
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("The queue is empty" + (" for these filters." if args.state or args.search else "."))
        return EXIT_OK
    table = [
        [
            row.number,
            row.state,
            str(row.priority),
            row.category,
            str(row.attempts),
            _when(row.queued_at),
            _clip(row.short_description, 50),
        ]
        for row in rows
    ]
    _table(table, ["NUMBER", "STATE", "PRI", "CATEGORY", "TRIES", "QUEUED (UTC)", "DESCRIPTION"], sys.stdout)
    for row in rows:
        if row.state == "failed" and row.last_error:
            print(f"{row.number}: {row.last_error}")
    return EXIT_OK


def cmd_queue_action(args: argparse.Namespace) -> int:
    """approve/reject/restore/retry: one store transaction, beside a running engine (its change
    feed wakes it at once: an approval is pushed without waiting for the next tick)."""
    by = args.by or _cli_user(load(args))
    with store_for(args) as store:
        action = {
            "approve": store.approve,
            "reject": store.reject,
            "restore": store.restore,
            "retry": store.retry,
        }[args.queue_command]
        results = action(list(args.ids), by)
    failed = 0
    for result in results:
        if result.ok:
            print(result.message)
        else:
            failed += 1
            print(result.message, file=sys.stderr)
    if failed:
        done = {"approve": "approved", "reject": "rejected", "restore": "restored", "retry": "retried"}
        print(f"{failed} of {len(results)} not {done[args.queue_command]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_links(args: argparse.Namespace) -> int:
    from app.engine.convert import link_row

    with store_for(args) as store:
        rows = [link_row(link) for link in store.list_links(args.search, args.limit)]
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("No links" + (" match." if args.search else " yet."))
        return EXIT_OK
    table = [
        [
            row.incident_number,
            row.ticket_number or "?",
            str(row.ticket_id),
            _when(row.linked_at),
            row.writeback_state,
            _when(row.last_return_at),
            "adopted" if row.adopted else "created",
            row.note or "",
        ]
        for row in rows
    ]
    _table(
        table,
        ["INCIDENT", "TICKET", "TICKET ID", "LINKED (UTC)", "WRITE-BACK", "LAST RETURN (UTC)", "HOW", "NOTE"],
        sys.stdout,
    )
    return EXIT_OK


@dataclass(frozen=True)
class CursorStatus:
    """One system's poll position (the store's cursor, without its de-duplication set)."""

    system: str
    watermark: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    reconciled_at: datetime | None = None  # the last reconciliation pass, and what it found
    reconcile_found: int | None = None
    reconcile_summary: str | None = None
    reconcile_due_at: datetime | None = None


@dataclass(frozen=True)
class LeaseStatus:
    """Who holds the engine lease. ``running`` False: the lease is stale and the next engine takes it."""

    holder: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    running: bool
    stale_reason: str | None


@dataclass(frozen=True)
class StatusReport:
    config_path: str
    store_url: str
    queue: dict[str, int]
    links: int
    cursors: dict[str, CursorStatus]
    engine: LeaseStatus | None
    pacing: BudgetState | None = None  # the tenant's last reading and every running hold


def status_report(store: Store, config_path: Path) -> StatusReport:
    from app.store import DEFAULT_LEASE_TIMEOUT, utcnow
    from app.store.lease import stale_reason

    cursors: dict[str, CursorStatus] = {}
    for system in SYSTEMS:
        cursor = store.get_cursor(system)
        cursors[system] = CursorStatus(
            system,
            cursor.watermark,
            cursor.last_success_at,
            cursor.last_failure_at,
            cursor.last_error,
            cursor.reconciled_at,
            cursor.reconcile_found,
            cursor.reconcile_summary,
            cursor.reconcile_due_at,
        )
    lease = store.lease_info()
    engine: LeaseStatus | None = None
    if lease is not None:
        reason = stale_reason(lease, utcnow(), DEFAULT_LEASE_TIMEOUT, socket.gethostname())
        engine = LeaseStatus(
            lease.holder,
            lease.hostname,
            lease.pid,
            lease.started_at,
            lease.heartbeat_at,
            reason is None,
            reason,
        )
    from app.engine.pacing import stored_state

    return StatusReport(
        config_path=str(config_path),
        store_url=store.url,
        queue={str(state): count for state, count in store.counts_by_state().items()},
        links=store.count_links(),
        cursors=cursors,
        engine=engine,
        pacing=stored_state(store, utcnow()),
    )


def cmd_status(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        report = status_report(store, resolve_config_path(args.config))
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"Config      {report.config_path}")
    print(f"Store       {report.store_url}")
    lease = report.engine
    if lease is None:
        print("Engine      not running")
    else:
        state = "running" if lease.running else f"not running (stale lease: {lease.stale_reason})"
        print(
            f"Engine      {state}: {lease.holder or 'unnamed'} on {lease.hostname}, pid {lease.pid}, "
            f"since {_when(lease.started_at)} UTC, last heartbeat {_when(lease.heartbeat_at)} UTC"
        )
    print("Queue       " + ", ".join(f"{state} {count}" for state, count in report.queue.items()))
    print(f"Links       {report.links}")
    for system, cursor in report.cursors.items():
        label = SYSTEM_LABELS[system].ljust(11)
        print(
            f"{label} last success {_when(cursor.last_success_at)}, last failure "
            f"{_when(cursor.last_failure_at)}, watermark {_when(cursor.watermark)} (UTC)"
        )
        if cursor.last_error:
            print(f"{'':11} last error: {cursor.last_error}")
        print(f"{'':11} {reconcile_line(cursor)}")
    pacing = report.pacing
    if pacing is not None:
        print(f"Pacing      {pacing.describe(datetime.now(UTC))}")
        if pacing.reading_at is not None:
            print(f"{'':11} tenant usage read {_when(pacing.reading_at)} UTC")
    return EXIT_OK


def reconcile_line(cursor: CursorStatus) -> str:
    """When the reconciliation pass last ran, what it found, and when it runs next."""
    if cursor.reconciled_at is None:
        text = "reconciliation not run yet"
    elif cursor.reconcile_found:
        text = (
            f"reconciliation {_when(cursor.reconciled_at)} UTC found {cursor.reconcile_found} "
            f"missed by the incremental poll: {cursor.reconcile_summary or '?'}"
        )
    else:
        text = f"reconciliation {_when(cursor.reconciled_at)} UTC found nothing missed"
    if cursor.reconcile_due_at is not None:
        text += f"; next {_when(cursor.reconcile_due_at)} UTC"
    return text


def reconcile_report_lines(results: Sequence[ReconcileResult]) -> list[str]:
    """The ``run --once`` report's lines for the reconciliation passes that ran in the cycle."""
    lines: list[str] = []
    for result in results:
        label = SYSTEM_LABELS[result.system]
        found = (
            f"found {len(result.found)} missed: {', '.join(result.found)}"
            if result.found
            else "found nothing"
        )
        lines.append(f"reconciliation ({label}): checked {result.checked}, {found}")
    return lines


# ---- engine commands -----------------------------------------------------------------------------


async def _with_engine(config: AppConfig, holder: str, work: Callable[[SyncEngine], Awaitable[T]]) -> T:
    """Build the engine without starting it (no lease: fine beside a running engine), then close."""
    engine = build(config, holder)
    try:
        return await work(engine)
    finally:
        await engine.close()


def check_online(config: AppConfig) -> int:
    """``config check --online``: sign in to both systems and check the configured close codes
    against the instance's sys_choice. One line per check; exit 1 when any fails."""
    from app.connectors.errors import ConnectorError

    async def work(engine: SyncEngine) -> list[tuple[bool, str]]:
        results: list[tuple[bool, str]] = []
        for name, test in (
            ("ServiceNow", engine.servicenow.test_connection),
            ("Autotask", engine.autotask.test_connection),
        ):
            try:
                results.append((True, f"{name}: {await test()}"))
            except ConnectorError as exc:
                results.append((False, f"{name}: {exc}"))
        if results[0][0]:
            try:
                problems = await engine.returns.close_code_problems(refresh=True)
            except ConnectorError as exc:
                problems = [f"cannot read the instance's close codes (sys_choice): {exc}"]
            results += [(False, f"ServiceNow: {problem}") for problem in problems]
            if not problems:
                results.append((True, "ServiceNow: the configured close codes are offered by the instance"))
        return results

    results = asyncio.run(_with_engine(config, "triage-sync config check --online", work))
    for ok, line in results:
        print(f"{'OK' if ok else 'FAILED'}: {one_line(line)}", file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if all(ok for ok, _line in results) else EXIT_FAILED


def cmd_explain(args: argparse.Namespace) -> int:
    from app.connectors.errors import ConnectorError
    from app.engine.views import Explanation

    config = load(args)

    async def work(engine: SyncEngine) -> Explanation:
        return await engine.explain(args.id)

    try:
        explanation = asyncio.run(_with_engine(config, "triage-sync explain", work))
    except ConnectorError as exc:
        raise CommandFailed(f"cannot explain {args.id}: {exc}") from None
    if args.json:
        print_json(explanation)
    else:
        print(explanation.summary)
        for reason in explanation.reasons:
            print(f"  - {reason}")
    return EXIT_OK if explanation.found else EXIT_FAILED


def cmd_dry_run(args: argparse.Namespace) -> int:
    from app.connectors.errors import ConnectorError
    from app.engine.views import DryRunReport

    config = load(args)

    async def work(engine: SyncEngine) -> DryRunReport:
        return await engine.dry_run()

    try:
        report = asyncio.run(_with_engine(config, "triage-sync dry-run", work))
    except ConnectorError as exc:
        raise CommandFailed(f"dry run failed: {exc}") from None
    if args.json:
        print_json(report)
        return EXIT_OK
    sections = (
        ("Would create", report.would_create),
        ("Would fail", report.would_fail),
        ("No longer match the trigger", report.not_matching),
    )
    for title, entries in sections:
        print(f"{title}: {len(entries)}")
        for entry in entries:
            print(f"  {entry.number}  {_clip(entry.short_description, 70)}")
            for problem in entry.problems:
                print(f"      - {problem}")
    print("Nothing was sent to either system.")
    return EXIT_OK


# ---- run -----------------------------------------------------------------------------------------


class EventLog:
    """Engine events -> one log line each, in the words a service-desk admin reads.

    Stateful for two events the engine repeats: health is logged when its level (or problem)
    changes, not after every successful call; a link's write-back is logged when it completes
    for a push this process made (the ticket number is often known only then).
    """

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger
        self._health: dict[str, tuple[str, str]] = {}
        self._writebacks: set[str] = set()

    def __call__(self, event: EngineEvent) -> None:
        level, message = self.describe(event)
        self.logger.log(level, "%s", message)

    def describe(self, event: EngineEvent) -> tuple[int, str]:
        """(level, message) for one event."""
        from app.engine import events as ev

        match event:
            case ev.PollStarted(system=system):
                return logging.DEBUG, f"polling {SYSTEM_LABELS[system]}"
            case ev.PollFinished(system="servicenow") as done:
                busy = done.queued or done.removed or done.refreshed
                return (
                    logging.INFO if busy else logging.DEBUG,
                    f"ServiceNow poll: {done.fetched} incident(s) read, {done.queued} queued, "
                    f"{done.refreshed} refreshed, {done.removed} removed{_took(done)}",
                )
            case ev.PollFinished() as done:
                return (
                    logging.INFO if done.applied else logging.DEBUG,
                    f"Autotask poll: {done.fetched} ticket(s) read, "
                    f"{done.applied} update(s) applied{_took(done)}",
                )
            case ev.PollFailed(system=system, error=error):
                return logging.WARNING, f"{SYSTEM_LABELS[system]} poll failed: {error}"
            case ev.ItemQueued(row=row):
                return (
                    logging.INFO,
                    f"queued {row.number} ({row.category}, priority {row.priority}): "
                    f"{_clip(row.short_description, 80)}",
                )
            case ev.ItemUpdated(row=row):
                return logging.DEBUG, f"{row.number} is now {row.state}"
            case ev.ItemRemoved(number=number, reason=reason):
                return logging.INFO, f"removed {number} from the queue: {reason}"
            case ev.PushStarted(number=number, attempt=attempt):
                return logging.DEBUG, f"pushing {number} (attempt {attempt})"
            case ev.PushSucceeded() as pushed:
                self._writebacks.add(pushed.sys_id)
                ticket = pushed.ticket_number or f"id {pushed.ticket_id}"
                if pushed.recovered:  # a lost create answer, a lost database, a ticket the incident named
                    return (
                        logging.INFO,
                        f"linked {pushed.number} -> ticket {ticket} (already in Autotask; nothing created)",
                    )
                return logging.INFO, f"pushed {pushed.number} -> ticket {ticket}"
            case ev.PushFailed() as failed:
                if failed.permanent:
                    return (
                        logging.ERROR,
                        f"push of {failed.number} refused: {failed.error} (fix it, then retry)",
                    )
                return (
                    logging.WARNING,
                    f"push of {failed.number} failed: {failed.error}{_next_try(failed.retry_at)}",
                )
            case ev.ReturnApplied() as applied:
                changes = ", ".join(f"{c.field} {c.old or '-'} -> {c.new}" for c in applied.changes)
                return (
                    logging.INFO,
                    f"ticket {applied.ticket_number} -> {applied.number}: {changes or 'nothing to change'}",
                )
            case ev.ReturnFailed() as failed:
                return (
                    logging.WARNING,
                    f"update of {failed.number} from ticket {failed.ticket_number} failed: "
                    f"{failed.error}{_next_try(failed.retry_at)}",
                )
            case ev.LinkChanged(row=row):
                return self._link(row)
            case ev.AuditRecorded(row=row):
                return logging.DEBUG, f"audit {row.direction}/{row.kind} {row.outcome}: {row.summary}"
            case ev.HealthChanged(system=system, health=health):
                return self._health_line(system, health)
            case ev.BudgetChanged() as budget:
                return (
                    logging.DEBUG,
                    f"Autotask budget: {budget.used} of {budget.limit} requests used this hour",
                )
            case ev.AutoPushChanged(enabled=enabled):
                return logging.INFO, f"auto-push switched {'on' if enabled else 'off'}"
        return logging.DEBUG, f"engine event {event!r}"

    def _link(self, row: LinkRow) -> tuple[int, str]:
        if row.writeback_state == "done" and row.sys_id in self._writebacks:
            self._writebacks.discard(row.sys_id)
            return (
                logging.INFO,
                f"{row.incident_number} now names ticket {row.ticket_number} (work note added)",
            )
        if row.writeback_state == "failed":
            self._writebacks.discard(row.sys_id)
            return logging.ERROR, f"write-back to {row.incident_number} refused: {row.writeback_error}"
        if row.writeback_state == "pending" and row.writeback_error:
            self._writebacks.add(row.sys_id)
            return (
                logging.WARNING,
                f"write-back to {row.incident_number} will be retried: {row.writeback_error}",
            )
        return (
            logging.DEBUG,
            f"link {row.incident_number} <-> {row.ticket_number}: write-back {row.writeback_state}",
        )

    def _health_line(self, system: str, health: HealthState) -> tuple[int, str]:
        label = SYSTEM_LABELS[system]
        key = (health.level, health.message)
        changed = self._health.get(system) != key
        self._health[system] = key
        detail = f": {health.message}" if health.message else ""
        if not changed or health.level == "unknown":
            return logging.DEBUG, f"{label} is {health.level}{detail}"
        levels = {"ok": logging.INFO, "auth_failed": logging.ERROR}
        return levels.get(health.level, logging.WARNING), f"{label} is {health.level}{detail}"


def _took(done: PollFinished) -> str:
    requests = f"{done.requests} request(s), " if done.requests else ""
    return f" ({requests}{done.duration_seconds:.1f} s)"


def _next_try(moment: datetime | None) -> str:
    return f"; next try at {_when(moment)} UTC" if moment is not None else ""


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set ``stop``. Loop signal handlers on POSIX; ``signal.signal`` where the loop
    has none (Windows), plus a short tick so a Python-level handler gets to run. Returns the undo."""
    loop = asyncio.get_running_loop()
    wanted = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    via_loop: list[signal.Signals] = []
    previous: dict[signal.Signals, Any] = {}
    ticker: asyncio.Task[None] | None = None

    def request(name: str) -> None:
        if stop.is_set():
            log.warning("%s again: still stopping (in-flight pushes get a few seconds)", name)
            return
        log.info("%s received: stopping the engine", name)
        stop.set()

    for sig in wanted:
        try:
            loop.add_signal_handler(sig, request, sig.name)
            via_loop.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            with contextlib.suppress(ValueError):  # ValueError: not the main thread; nothing to do
                previous[sig] = signal.signal(
                    sig,
                    lambda signum, _frame: loop.call_soon_threadsafe(request, signal.Signals(signum).name),
                )
    if previous:

        async def tick() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.5)

        ticker = loop.create_task(tick())

    def restore() -> None:
        for sig in via_loop:
            loop.remove_signal_handler(sig)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if ticker is not None:
            ticker.cancel()

    return restore


async def _run(config: AppConfig, args: argparse.Namespace) -> int:
    from app.store import EngineAlreadyRunning

    holder = "triage-sync run --once" if args.once else "triage-sync run"
    engine = build(config, holder)
    engine.rule_changes.watch(resolve_config_path(args.config))  # rules edited on this host apply live
    unsubscribe = engine.bus.subscribe(EventLog())
    try:
        try:
            await engine.acquire_lease()
        except EngineAlreadyRunning as exc:
            if not getattr(args, "standby", False):
                print(str(exc), file=sys.stderr)
                return EXIT_FAILED
            if not await standby(engine):
                return EXIT_OK  # stopped while waiting: nothing to hand back
        auto_push = config.outbound.auto_push if args.auto_push is None else args.auto_push
        log.info(
            "engine %s: store %s, ServiceNow %s, Autotask %s, auto-push %s",
            "cycle" if args.once else "started",
            engine.store.url,
            config.servicenow.url,
            config.autotask.url or "(zone from the user name)",
            "on" if auto_push else "off",
        )
        if args.once:
            report = await engine.run_once(auto_push=args.auto_push)
            print(
                f"cycle done: {report.queued} queued, {report.removed} removed, {report.pushed} pushed, "
                f"{report.applied} applied, {len(report.failures)} failed, {len(report.undone)} left undone"
            )
            for line in reconcile_report_lines(report.reconciled):
                print(line)
            for failure in report.failures:
                print(f"FAILED: {one_line(failure)}", file=sys.stderr)
            for undone in report.undone:
                print(f"UNDONE: {one_line(undone)}", file=sys.stderr)
            for warning in report.warnings:
                print(f"WARNING: {one_line(warning)}", file=sys.stderr)
            return EXIT_OK if report.ok else EXIT_FAILED
        if args.auto_push is not None:
            engine.set_auto_push(args.auto_push)  # audited, like the GUI's switch
        stop = asyncio.Event()
        restore = install_stop_signals(stop)
        try:
            await engine.run_forever(stop)
        finally:
            restore()
        if not stop.is_set():
            log.error("the engine stopped on its own (see the messages above); exiting")
            return EXIT_FAILED
        log.info("engine stopped cleanly")
        return EXIT_OK
    finally:
        unsubscribe()
        await engine.close()


async def standby(engine: SyncEngine) -> bool:
    """``run --standby``: wait (stoppable by SIGINT/SIGTERM) until this process holds the lease."""
    from app.standby import wait_for_lease

    stop = asyncio.Event()
    restore = install_stop_signals(stop)
    try:
        return await wait_for_lease(engine, stop)
    finally:
        restore()


def cmd_run(args: argparse.Namespace) -> int:
    config = load(args)
    missing = require_live_settings(config)
    if missing:
        source = resolve_config_path(args.config)
        lines = "\n".join(f"{source}: {problem}" for problem in missing)
        raise CommandFailed(f"configuration incomplete for a live run:\n{lines}", EXIT_CONFIG)
    try:
        return asyncio.run(_run(config, args))
    except CommandFailed:
        raise
    except Exception as exc:  # a bug: the log file gets the traceback, the user one line
        log.exception("the engine stopped with an internal error")
        raise CommandFailed(f"the engine stopped with an internal error: {exc}") from None


# ---- simulate ------------------------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from app.simulators.demo import run_simulate

    return run_simulate(args.seed, args.scenario, args.servicenow_port, args.autotask_port, faults=args.fault)


# ---- dispatch ------------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "queue list": cmd_queue_list,
    "queue approve": cmd_queue_action,
    "queue reject": cmd_queue_action,
    "queue restore": cmd_queue_action,
    "queue retry": cmd_queue_action,
    "links": cmd_links,
    "status": cmd_status,
    "explain": cmd_explain,
    "dry-run": cmd_dry_run,
    "simulate": cmd_simulate,
}


def command_name(args: argparse.Namespace) -> str:
    if args.command == "queue":
        return f"queue {args.queue_command}"
    return str(args.command)


def dispatch(args: argparse.Namespace) -> int:
    """Run one headless command; a CommandFailed becomes its message on stderr and its exit code."""
    try:
        return COMMANDS[command_name(args)](args)
    except CommandFailed as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
