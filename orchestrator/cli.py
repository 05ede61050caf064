"""The ``orchestrator`` console script.

Subcommands are added here as the engine grows; each one is a function that
takes the parsed arguments and returns a process exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from orchestrator import __version__

DESCRIPTION = (
    "Start and inspect the containers (Redis, RabbitMQ, a Celery worker, a browser) "
    "that the integration tests of a Django + Channels + Celery project run against."
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the console script."""
    parser = argparse.ArgumentParser(prog="orchestrator", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stdout)
        return 0
    handler = args.handler
    result: int = handler(args)
    return result
