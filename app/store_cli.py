"""``triage-sync store ...``: the administrator's commands for the database (migrate, check, password).

Kept apart from app.cli/app.headless: they need neither the engine nor API credentials, only the
store URL from the configuration and, for a server database, its password (keyring or
``TRIAGE_SYNC_DB_PASSWORD``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.config import AppConfig, effective_store_url
from app.headless import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, CommandFailed, database_errors, load

#: ``store check`` exit codes (documented in docs/cli.md and the command's help).
EXIT_BEHIND = 3
EXIT_NEWER = 4
CHECK_EXIT = {"current": EXIT_OK, "behind": EXIT_BEHIND, "empty": EXIT_BEHIND, "newer": EXIT_NEWER}

EPILOG = """\
The store is store.url in the configuration (empty: the SQLite file in the user data folder). A
server database's password comes from TRIAGE_SYNC_DB_PASSWORD, else the OS keyring entry that
`triage-sync store password` saves; never from the file.

store check exit codes:
  0  reachable and the schema is current
  1  cannot be opened: server unreachable, login refused, not a Triage Sync database
  2  configuration problem
  3  the schema is behind (or absent): run triage-sync store migrate
  4  the schema is newer than this app: upgrade Triage Sync

examples:
  triage-sync store check
  triage-sync store migrate
  printf '%s' "$PW" | triage-sync store password --stdin
"""


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    store = sub.add_parser(
        "store",
        help="check, migrate or log in to the database (administrators)",
        description="The database behind the queue: check it, bring its schema up to date, "
        "save its password.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[parent],
    )
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="is the database reachable, is its schema current? (exit codes below)", parents=[parent]
    )
    check.add_argument("--json", action="store_true", help="print a JSON object")
    actions.add_parser(
        "migrate",
        help="bring the schema to this app's revision (a SQLite file is backed up first)",
        parents=[parent],
    )
    password = actions.add_parser(
        "password",
        help="save the database password in the OS keyring (asked for, never echoed)",
        parents=[parent],
    )
    password.add_argument("--stdin", action="store_true", help="read the password from standard input")
    password.add_argument("--delete", action="store_true", help="remove the saved password")


@contextmanager
def _engine(config: AppConfig, *, must_exist: bool) -> Iterator[Engine]:
    from app.store import create_store_engine
    from app.store.connect import server_errors
    from app.store.db import sqlite_path

    url = effective_store_url(config)
    path = sqlite_path(url)
    if must_exist and path is not None and not path.exists():
        raise CommandFailed(f"no database file at {path} (the app creates it on its first start)")
    with database_errors(url):
        engine = create_store_engine(url)
        try:
            with server_errors(engine.url):
                yield engine
        finally:
            engine.dispose()


def cmd_check(args: argparse.Namespace) -> int:
    from app.store import schema_status

    config = load(args)
    with _engine(config, must_exist=True) as engine:
        status = schema_status(engine)
        shown = engine.url.render_as_string(hide_password=True)
    if status.state == "foreign":
        raise CommandFailed(status.describe(shown))
    if args.json:
        fields = {"url": shown, "reachable": True, "state": status.state}
        print(json.dumps({**fields, "revision": status.current, "head": status.head}, indent=2))
    else:
        print(status.describe(shown))
    return CHECK_EXIT[status.state]


def cmd_migrate(args: argparse.Namespace) -> int:
    from app.store import migrate, schema_status

    config = load(args)
    with _engine(config, must_exist=False) as engine:
        before = schema_status(engine)
        shown = engine.url.render_as_string(hide_password=True)
        backup = migrate(engine)
        after = schema_status(engine)
    if before.state == "current":
        print(f"{shown}: schema already at revision {after.head}; nothing to do")
        return EXIT_OK
    print(f"{shown}: schema migrated from revision {before.current or '(none)'} to {after.current}")
    if backup is not None:
        print(f"the previous file is kept at {backup}")
    return EXIT_OK


def cmd_password(args: argparse.Namespace) -> int:
    from app.secrets import delete_secret, set_secret
    from app.store.connect import PASSWORD_VARIABLE, password_account

    config = load(args)
    url = make_url(effective_store_url(config))
    account = password_account(url)
    if url.get_backend_name() == "sqlite" or account is None:
        raise CommandFailed(
            "store.url names no database user on a server (e.g. postgresql://triage@db.example/triage): "
            "there is no password to save",
            EXIT_CONFIG,
        )
    try:
        if args.delete:
            delete_secret("store_password", account)
            print(f"removed the saved database password of {account}")
            return EXIT_OK
        if args.stdin:
            value = sys.stdin.readline().rstrip("\r\n")
        else:
            value = getpass.getpass(f"Password for {account}: ")
        if not value:
            raise CommandFailed("no password given; nothing saved", EXIT_CONFIG)
        set_secret("store_password", account, value)
    except CommandFailed:
        raise
    except Exception as exc:  # keyring backends raise many kinds
        raise CommandFailed(
            f"the OS keyring cannot save it ({type(exc).__name__}); set {PASSWORD_VARIABLE} instead",
            EXIT_FAILED,
        ) from None
    print(f"saved the database password of {account} in the OS keyring")
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_check,
    "migrate": cmd_migrate,
    "password": cmd_password,
}


def dispatch(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.store_command](args)
    except CommandFailed as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
