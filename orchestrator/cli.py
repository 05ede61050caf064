"""The ``orchestrator`` console script.

Each subcommand is a function taking the parsed arguments and returning an exit
code. Errors the engine raises are printed as they are (they name the fix),
without a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.config import Config, find_project_root, load_config
from orchestrator.errors import OrchestratorError

DESCRIPTION = (
    "Start and inspect the containers (the servers of the project's roles: RabbitMQ or "
    "Redis, Redis, PostgreSQL; a Celery worker, a browser) that the integration tests of a "
    "Django + Channels + Celery project run against."
)


def _log(message: str) -> None:
    print(f"orchestrator: {message}", file=sys.stderr, flush=True)


def images_build(args: argparse.Namespace) -> int:
    from orchestrator.engine import connect
    from orchestrator.images import ImageBuilder, stack_services

    config = _config(args)
    client = connect()
    reports = ImageBuilder(client, config, log=_log).ensure(args.services or stack_services(config))
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


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_project_root(Path(args.project)))


def stack_up(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    config = _config(args)
    started = time.monotonic()
    attachment = kept.up(connect(), config, args.workers, _log, headed=args.headed)
    how = "started" if attachment.mode == "started" else "already running"
    _log(f"kept stack {attachment.stack.id} {how} ({time.monotonic() - started:.1f}s)")
    _print_status(kept.status(attachment), kept.viewer(attachment))
    return 0


def stack_status(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    attachment = kept.attach_kept(connect(), _config(args))
    print(f"kept stack {attachment.stack.id}")
    _print_status(kept.status(attachment), kept.viewer(attachment))
    return 0


def _print_status(rows: list[Any], viewer: str | None) -> None:
    print(f"{'SERVICE':<14} {'IMAGE':<34} {'ENDPOINT':<22} {'UPTIME':>7}  HEALTH")
    for row in rows:
        print(f"{row.service:<14} {row.image:<34} {row.endpoint:<22} {row.uptime:>7}  {row.health}")
    if viewer:
        print(viewer)


def stack_logs(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    client = connect()
    attachment = kept.attach_kept(client, _config(args))
    try:
        for chunk in kept.follow_logs(client, attachment, args.service, args.follow, args.tail):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


def stack_env(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    config = _config(args)
    attachment = kept.attach_kept(connect(), config)
    for name, value in kept.environment(attachment, args.slice).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def stack_down(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    removed = kept.down(connect(), _config(args))
    _log(f"removed {removed} containers and networks" if removed else "no kept stack to remove")
    return 0


def stack_prune(args: argparse.Namespace) -> int:
    from orchestrator import kept
    from orchestrator.engine import connect

    gone = kept.prune(connect(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for leftover in gone:
        print(
            f"{verb} stack {leftover.stack_id} of {leftover.owner} (gone): "
            f"{leftover.containers} containers, {leftover.networks} networks"
        )
    if not gone:
        print("nothing to prune")
    return 0


def init_project(args: argparse.Namespace) -> int:
    from orchestrator.init import InitError, run_init

    try:
        return run_init(Path(args.project), dry_run=args.dry_run)
    except InitError as error:
        print(f"orchestrator: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the console script."""
    parser = argparse.ArgumentParser(prog="orchestrator", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--project", default=".", help="the project directory (holding pyproject.toml)"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    init = commands.add_parser(
        "init", help="infer the project's configuration and write it to pyproject.toml"
    )
    # SUPPRESS: `orchestrator --project DIR init` keeps working.
    init.add_argument("--project", default=argparse.SUPPRESS, help="the Django project's root")
    init.add_argument("--dry-run", action="store_true", help="print the diffs, write nothing")
    init.set_defaults(handler=init_project)
    images = commands.add_parser("images", help="build or list the service images")
    image_commands = images.add_subparsers(title="image commands", metavar="ACTION", required=True)
    build = image_commands.add_parser(
        "build", help="make every service image available (a no-op when nothing changed)"
    )
    build.add_argument("services", nargs="*", help="only these services (default: all)")
    build.set_defaults(handler=images_build)
    listing = image_commands.add_parser("list", help="list the images the orchestrator built")
    listing.set_defaults(handler=images_list)

    up = commands.add_parser("up", help="start a kept-alive stack that test runs attach to")
    up.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker containers to start ahead, one per xdist worker (default: one per core)",
    )
    up.add_argument(
        "--headed",
        action="store_true",
        help="draw the browser on a virtual display to watch over VNC/noVNC (headless if absent)",
    )
    up.set_defaults(handler=stack_up)
    commands.add_parser("status", help="services of the kept stack").set_defaults(
        handler=stack_status
    )
    logs = commands.add_parser("logs", help="a service's log (redis, rabbitmq, browser, ...)")
    logs.add_argument("service")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--tail", type=int, default=200, help="lines of history (default 200)")
    logs.set_defaults(handler=stack_logs)
    env = commands.add_parser("env", help="shell export lines for the kept stack's endpoints")
    env.add_argument("--slice", default="main", help="the slice (main, gw0, gw1...)")
    env.set_defaults(handler=stack_env)
    commands.add_parser("down", help="remove the kept stack").set_defaults(handler=stack_down)
    prune = commands.add_parser(
        "prune",
        help="remove stacks left by runs that died, and kept stacks no state directory records",
    )
    prune.add_argument("--dry-run", action="store_true", help="only say what would go")
    prune.set_defaults(handler=stack_prune)
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
