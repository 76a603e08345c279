"""Command-line entry points. Headless commands never import Qt."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from app import __version__
from app.config import ConfigError, load_config, masked, resolve_config_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triage-sync",
        description="Move triggered ServiceNow incidents into Autotask tickets, with preview and approval.",
    )
    parser.add_argument("--version", action="version", version=f"triage-sync {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="configuration file (default: $TRIAGE_SYNC_CONFIG, then the user config folder)",
    )
    sub = parser.add_subparsers(dest="command")

    config = sub.add_parser("config", help="check or locate the configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("check", help="validate the configuration and print it with secrets masked")
    config_sub.add_parser("path", help="print the configuration file path in use")
    return parser


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration invalid:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"# {resolve_config_path(args.config)}: valid")
    print(json.dumps(masked(config), indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "config":
        if args.config_command == "check":
            return cmd_config_check(args)
        print(resolve_config_path(args.config))
        return EXIT_OK
    parser.print_help()
    return EXIT_OK
