"""``triage-sync config diff NEW.toml``: what a rules file would change, before it replaces the one
in use. For people who keep the file in git: run it in review or CI.

It reads the store only (queued snapshots, links, the picklists the engine keeps), so it needs no
credentials and works beside a running engine. Exit codes: 0 nothing held in the store would
change, 1 something would (a queued ticket, a trigger verdict, a pre-flight result, or how a
linked ticket's values come back), 2 the new file (or the one in use) is invalid.
"""

from __future__ import annotations

import argparse
import sys

from app.config import ConfigError, effective_store_url, load_config, resolve_config_path
from app.headless import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    CommandFailed,
    database_errors,
    load,
    open_store,
    print_json,
    to_jsonable,
)

EPILOG = """\
Compares the rules (trigger, outbound mapping, return trip) of NEW.toml with the configuration in
use (--config), against what the database holds: the queued incidents' snapshots, the incidents
dropped for not matching, the linked tickets' current status and priority, and the Autotask
picklists the engine keeps. Sends nothing; needs no credentials.

exit codes:
  0  nothing queued or linked would change
  1  something would (listed)
  2  NEW.toml or the configuration in use is invalid (the same checks as `config check`)

examples:
  triage-sync config diff proposed.toml
  git show main:config.toml > /tmp/live.toml && triage-sync --config /tmp/live.toml config diff config.toml
"""


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    diff = sub.add_parser(
        "diff",
        help="what a new rules file would change in the queue and the return trip (sends nothing)",
        description="Print the impact of NEW.toml's rules against the configuration in use and the store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[parent],
    )
    diff.add_argument("new", metavar="NEW.toml", help="the rules file to compare with the one in use")
    diff.add_argument("--json", action="store_true", help="print a JSON object (see docs/cli.md)")


def cmd_config_diff(args: argparse.Namespace) -> int:
    from app.engine.rules import impact_inputs
    from app.store import utcnow

    try:
        new = load_config(args.new, must_exist=True)
    except ConfigError as exc:
        print(f"{args.new}: invalid, so it cannot replace the rules in use:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        current = load(args)
        store = open_store(current)
    except CommandFailed as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    try:
        with database_errors(effective_store_url(current)):
            inputs = impact_inputs(store)
    except CommandFailed as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    finally:
        store.close()
    from app.domain.impact import compute_impact

    report = compute_impact(current, new, inputs.held, inputs.links, inputs.metadata, now=utcnow())
    changed = report.changes_anything
    if args.json:
        print_json(
            {
                "current": str(resolve_config_path(args.config)),
                "new": args.new,
                "changes": changed,
                "summary": report.summary(),
                "report": to_jsonable(report),
            }
        )
    else:
        print(f"# {resolve_config_path(args.config)} -> {args.new}")
        if report.rules_changed:
            print(f"rules changed: {', '.join(report.rules_changed)}")
        for line in report.summary():
            print(line)
        details = report.details()
        if details:
            print()
            for line in details:
                print(line)
    return EXIT_FAILED if changed else EXIT_OK
