"""Command-line entry points. Headless commands never import Qt.

``triage-sync`` with no subcommand (or ``--demo``) starts the desktop app; every subcommand is
headless and implemented in :mod:`app.headless`, imported only when needed so ``--help`` is quick
and the GUI's dependencies stay out of server runs. See docs/cli.md for the full reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from app import __version__
from app.config import ConfigError, load_config, masked, resolve_config_path
from app.logging_setup import LEVELS, LOG_FILE, logging_session, safe_terminal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130

QUEUE_STATES = ("pending", "approved", "pushing", "pushed", "rejected", "failed", "dropped")
SIMULATE_LOG_FILE = "simulate.log"
# Long-running commands own (and rotate) a log file; short ones only append to the engine's.
LONG_RUNNING = ("run", "simulate", None)

RAW = argparse.RawDescriptionHelpFormatter

TOP_EPILOG = """\
commands without a subcommand:
  triage-sync                 start the desktop app
  triage-sync --demo          start the desktop app against the built-in simulators

examples:
  triage-sync --config /etc/triage-sync.toml run --once
  triage-sync queue list --state pending
  triage-sync queue approve INC0010001 INC0010002
  triage-sync status --json
  triage-sync store check

exit codes:
  0    success (run --once: every item went through)
  1    something failed: an item, a poll, an unknown ID, the engine already running,
       the database cannot be opened
  2    configuration problem: invalid file, missing settings or credentials, bad usage
  130  interrupted before the command could stop on its own

The configuration file is --config PATH, else $TRIAGE_SYNC_CONFIG, else the user config folder
(`triage-sync config path`). Credentials come from SERVICENOW_PASSWORD, SERVICENOW_CLIENT_SECRET,
AUTOTASK_SECRET and TRIAGE_SYNC_DB_PASSWORD (a server store), else the OS keyring. Logs go to
stderr and to the log folder ($TRIAGE_SYNC_LOG_DIR, else the user log folder).
"""


def _global_options(*, top: bool) -> argparse.ArgumentParser:
    """--config and --log-level, accepted before the subcommand and (for convenience) after it.

    The copy on subcommands uses SUPPRESS defaults so it never overwrites a value given earlier.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default = None if top else argparse.SUPPRESS
    parent.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="configuration file (default: $TRIAGE_SYNC_CONFIG, then the user config folder)",
    )
    parent.add_argument(
        "--log-level",
        choices=LEVELS,
        type=str.lower,
        default="info" if top else argparse.SUPPRESS,
        help="least important log messages shown and written (default: info)",
    )
    return parent


def _sub(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    epilog: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=epilog,
        formatter_class=RAW,
        parents=[_global_options(top=False)],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage-sync",
        description="Move triggered ServiceNow incidents into Autotask tickets, with preview and approval.",
        epilog=TOP_EPILOG,
        formatter_class=RAW,
        parents=[_global_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"triage-sync {__version__}")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the desktop app against the built-in simulators (no accounts needed)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = _sub(
        sub,
        "config",
        "check or locate the configuration",
        "examples:\n  triage-sync config check\n  triage-sync --config ./test.toml config path\n"
        "  triage-sync config diff proposed.toml\n",
    )
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = _sub(
        config_sub,
        "check",
        "validate the configuration and print it with secrets masked",
        "exit code 2 when the file is invalid; every problem names the file and the key.\n"
        "--online also signs in to both systems (credentials needed) and checks the configured\n"
        "close codes against the instance's own resolution codes (sys_choice); exit code 1 when\n"
        "either system cannot be reached or a close code is not offered.\n",
    )
    check.add_argument(
        "--online", action="store_true", help="also reach both systems and check the close codes"
    )
    _sub(config_sub, "path", "print the configuration file path in use", "")
    init = _sub(
        config_sub,
        "init",
        "write the default configuration file to edit",
        "Copies the shipped default (every key, with comments) to the configuration path in use.\n\n"
        "examples:\n  triage-sync config init\n  triage-sync --config ./triage-sync.toml config init\n",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    from app.rules_cli import add_parser as add_diff_parser

    add_diff_parser(config_sub, _global_options(top=False))

    run = _sub(
        sub,
        "run",
        "run the sync engine headless (no display needed)",
        """\
Without --once the engine polls both systems until SIGINT (Ctrl+C) or SIGTERM, then stops
cleanly: in-flight pushes get a few seconds, an interrupted one is checked in Autotask on the
next start, so nothing is created twice. Only one engine may run per database.

examples:
  SERVICENOW_PASSWORD=... AUTOTASK_SECRET=... triage-sync run
  triage-sync --config /etc/triage-sync.toml run --once --auto-push   # from cron
  triage-sync run --standby   # team mode: a second host waits and takes over (docs/team.md)

exit codes (--once): 0 every item the run was responsible for went through; 1 something failed
or is left undone (a push waiting for its retry, an unresolved create, a pending write-back: one
FAILED or UNDONE line each on stderr) or the engine already runs elsewhere; 2 configuration or
credentials missing. WARNING lines (a field the instance kept) do not change the exit code.
""",
    )
    run.add_argument(
        "--auto-push",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="push every triggered incident without approval (default: outbound.auto_push)",
    )
    run.add_argument("--once", action="store_true", help="one full cycle, then exit with its result")
    run.add_argument(
        "--standby",
        action="store_true",
        help="when another engine runs, wait and take over once it stops or its heartbeat lapses",
    )

    queue = _sub(
        sub,
        "queue",
        "list the approval queue or approve/reject items",
        """\
Works beside a running engine (GUI or `triage-sync run`): it uses the database directly and
needs no credentials. The engine pushes approved items on its next tick.

examples:
  triage-sync queue list
  triage-sync queue list --state pending --state failed --json
  triage-sync queue approve INC0010001
  triage-sync queue reject INC0010002 --by alice
""",
    )
    queue_sub = queue.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    listing = _sub(
        queue_sub,
        "list",
        "list queue items, newest first",
        "examples:\n"
        "  triage-sync queue list --state pending\n"
        "  triage-sync queue list --search printer --json\n",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON array (see docs/cli.md)")
    listing.add_argument(
        "--state",
        action="append",
        choices=QUEUE_STATES,
        metavar="STATE",
        help=f"only this state (repeatable): {', '.join(QUEUE_STATES)}",
    )
    listing.add_argument(
        "--search", metavar="TEXT", help="match number, sys_id, description, category, caller"
    )
    listing.add_argument("--limit", type=int, metavar="N", help="at most N items")
    actions = {
        "approve": "approve pending or failed items for pushing",
        "reject": "reject items (they stay rejected until restored)",
        "restore": "put rejected or dropped items back to pending",
        "retry": "push failed items again",
    }
    for name, help_text in actions.items():
        action = _sub(
            queue_sub,
            name,
            help_text,
            f"ID is an incident number (INC0010001) or sys_id. Exit code 1 when any ID is unknown\n"
            f"or not in a state that allows it.\n\n"
            f"example:\n  triage-sync queue {name} INC0010001 INC0010002\n",
        )
        action.add_argument("ids", nargs="+", metavar="ID", help="incident number or sys_id")
        action.add_argument(
            "--by", metavar="NAME", help="who decided, for the audit trail (default: cli:<login>)"
        )

    links = _sub(
        sub,
        "links",
        "list incident <-> ticket links, newest first",
        "examples:\n  triage-sync links\n  triage-sync links --search INC0010001 --json\n",
    )
    links.add_argument("--json", action="store_true", help="print a JSON array (see docs/cli.md)")
    links.add_argument("--search", metavar="TEXT", help="match incident/ticket number, sys_id or ticket id")
    links.add_argument("--limit", type=int, metavar="N", help="at most N links")

    status = _sub(
        sub,
        "status",
        "queue counts, poll health and who runs the engine",
        "Works beside a running engine and needs no credentials.\n\n"
        "examples:\n  triage-sync status\n  triage-sync status --json | jq .engine\n",
    )
    status.add_argument("--json", action="store_true", help="print a JSON object (see docs/cli.md)")

    explain = _sub(
        sub,
        "explain",
        "say why an incident is or is not in the queue",
        "Reads ServiceNow when the incident is not in the local database (needs credentials).\n"
        "Exit code 1 when ServiceNow has no such incident.\n\n"
        "examples:\n"
        "  triage-sync explain INC0010001\n"
        "  triage-sync explain 9d385017c611228701d22104cc95c371 --json\n",
    )
    explain.add_argument("id", metavar="ID", help="incident number or sys_id")
    explain.add_argument("--json", action="store_true", help="print a JSON object (see docs/cli.md)")

    dry_run = _sub(
        sub,
        "dry-run",
        "show what auto-push would create now, sending nothing",
        "Reads Autotask picklists to resolve labels (needs credentials); writes nothing anywhere.\n\n"
        "examples:\n  triage-sync dry-run\n  triage-sync dry-run --json\n",
    )
    dry_run.add_argument("--json", action="store_true", help="print a JSON object (see docs/cli.md)")

    simulate = _sub(
        sub,
        "simulate",
        "serve fake ServiceNow and Autotask on loopback until Ctrl+C",
        """\
Prints the URLs, the demo credentials and a configuration snippet for a separately started
engine. Port 0 picks a free port; pass fixed ports to keep a config file valid across runs.

examples:
  triage-sync simulate
  triage-sync simulate --scenario busy --seed 7 --servicenow-port 8701 --autotask-port 8702
  triage-sync simulate --fault servicenow=outage --fault autotask=slow

Outage drills (--fault SYSTEM=DRILL, repeatable): SYSTEM is servicenow or autotask; DRILL is
outage (503), storm (429 with Retry-After), auth (401), slow (answers 3 s late) or normal.
Change them while it runs through the fault endpoint, POST/DELETE <url>/_sim/faults
(docs/simulators.md).
""",
    )
    simulate.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    simulate.add_argument(
        "--scenario", default="lively", metavar="NAME", help="quiet, lively or busy (default: lively)"
    )
    simulate.add_argument(
        "--servicenow-port", type=int, default=0, metavar="P", help="default: any free port"
    )
    simulate.add_argument("--autotask-port", type=int, default=0, metavar="P", help="default: any free port")
    simulate.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SYSTEM=DRILL",
        help="start with an outage drill, e.g. servicenow=outage or autotask=storm (repeatable)",
    )

    from app.store_cli import add_parser as add_store_parser

    add_store_parser(sub, _global_options(top=False))
    return parser


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration invalid:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"# {resolve_config_path(args.config)}: valid")
    print(json.dumps(masked(config), indent=2))
    if getattr(args, "online", False):
        from app import headless

        try:
            return headless.check_online(config)
        except headless.CommandFailed as exc:  # e.g. a credential is missing
            print(str(exc), file=sys.stderr)
            return exc.code
    return EXIT_OK


def cmd_config_init(args: argparse.Namespace) -> int:
    """The file the "file not found" message points to, ready to edit (secrets never go in it)."""
    from app.config import DEFAULT_CONFIG_RESOURCE
    from app.files import write_private
    from app.resources import resource_path

    path = resolve_config_path(args.config)
    if path.exists() and not args.force:
        print(f"{path} already exists; edit it, or pass --force to overwrite it", file=sys.stderr)
        return EXIT_FAILED
    try:
        write_private(path, resource_path(DEFAULT_CONFIG_RESOURCE).read_bytes())
    except OSError as exc:
        print(f"cannot write {path}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"wrote {path}; set servicenow.*, autotask.* and outbound.company_id, then: triage-sync config check"
    )
    return EXIT_OK


def run_gui_command(args: argparse.Namespace) -> int:
    """The desktop app. Imported here only: headless commands must never load Qt."""
    try:
        from app.ui.app import run_gui
    except ImportError as exc:
        print(
            f"the desktop app cannot start ({exc}); headless commands still work: triage-sync --help",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run_gui(args.config, demo=args.demo)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command is None:
        return run_gui_command(args)
    if args.command == "config":
        if args.config_command == "check":
            return cmd_config_check(args)
        if args.config_command == "init":
            return cmd_config_init(args)
        if args.config_command == "diff":
            from app.rules_cli import cmd_config_diff

            return cmd_config_diff(args)
        print(resolve_config_path(args.config))
        return EXIT_OK
    if args.command == "store":
        from app import store_cli

        return store_cli.dispatch(args)
    if args.command == "run" and args.once and args.standby:
        parser.error("--standby waits to run the engine for good; it cannot be combined with --once")
    from app import headless

    return headless.dispatch(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.demo and args.command is not None:
        parser.error("--demo starts the desktop app; use it without a subcommand")
    long_running = args.command in LONG_RUNNING
    file_name = SIMULATE_LOG_FILE if args.command == "simulate" else LOG_FILE
    try:
        with logging_session(args.log_level, file_name=file_name, rotate=long_running), safe_terminal():
            return _dispatch(parser, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
