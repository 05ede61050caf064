"""The ``orchestrator`` console script.

Each subcommand is a function taking the parsed arguments and returning an exit
code. Errors the engine raises are printed as they are (they name the fix),
without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator import __version__
from orchestrator.config import find_project_root, load_config
from orchestrator.errors import OrchestratorError

DESCRIPTION = (
    "Start and inspect the containers (Redis, RabbitMQ, a Celery worker, a browser) "
    "that the integration tests of a Django + Channels + Celery project run against."
)


def _log(message: str) -> None:
    print(f"orchestrator: {message}", file=sys.stderr, flush=True)


def images_build(args: argparse.Namespace) -> int:
    from orchestrator.engine import connect
    from orchestrator.images import SERVICES, ImageBuilder

    config = load_config(find_project_root(Path(args.project)))
    client = connect()
    reports = ImageBuilder(client, config, log=_log).ensure(args.services or SERVICES)
    for report in reports.values():
        print(
            f"{report.service:<10} {report.reference:<40} {report.action:<8} {report.seconds:6.1f}s"
        )
    return 0


def images_list(args: argparse.Namespace) -> int:
    from orchestrator.engine import connect
    from orchestrator.images import list_images

    rows = list_images(connect())
    print(f"{'IMAGE':<40} {'SERVICE':<10} {'SIZE':>9}  CREATED")
    for reference, service, size, created in rows:
        print(f"{reference:<40} {service:<10} {size / 1e6:7.0f}MB  {created[:19]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the console script."""
    parser = argparse.ArgumentParser(prog="orchestrator", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--project", default=".", help="the project directory (holding pyproject.toml)"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    images = commands.add_parser("images", help="build or list the service images")
    image_commands = images.add_subparsers(title="image commands", metavar="ACTION", required=True)
    build = image_commands.add_parser(
        "build", help="make every service image available (a no-op when nothing changed)"
    )
    build.add_argument("services", nargs="*", help="only these services (default: all)")
    build.set_defaults(handler=images_build)
    listing = image_commands.add_parser("list", help="list the images the orchestrator built")
    listing.set_defaults(handler=images_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console script and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stdout)
        return 0
    try:
        result: int = handler(args)
    except OrchestratorError as error:
        print(f"orchestrator: {error}", file=sys.stderr)
        return 1
    return result
