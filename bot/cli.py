"""The `herald` command line.

Every subcommand is a function taking parsed arguments and settings. A `HeraldError` (bad input, unknown incident,
...) prints one clear line on stderr and exits with status 2, as argparse does for bad usage; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot import __version__
from bot.errors import HeraldError
from bot.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot import migrate
    from bot.app import create_app
    from bot.observability import configure_logging

    settings = settings.model_copy(update={"host": args.host or settings.host, "port": args.port or settings.port})
    configure_logging(settings.log_level)
    migrate.upgrade(settings.effective_database_url)
    app = create_app(settings.model_copy(update={"auto_migrate": False}))
    base = f"http://{settings.host}:{settings.port}"
    print(f"Herald {__version__} on {settings.effective_database_url}")
    print(f"  API docs:     {base}/docs")
    print(f"  Health:       {base}/healthz")
    print(f"  Metrics:      {base}/metrics")
    print(f"  Integrations: {base}/api/v1/integrations/{{victorops|alertmanager}}/<HERALD_INTEGRATION_KEY>/...")
    for name in settings.insecure_defaults():
        print(f"  warning: {name} is at its development default; set it before exposing Herald")
    sys.stdout.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from bot import migrate

    url = settings.effective_database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "heads")
    else:
        migrate.downgrade(url, args.revision or "-1")
    print(f"database {args.action}d to {args.revision or ('heads' if args.action == 'upgrade' else '-1')}")
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(prog="herald", description="Herald incident-management bot")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Command] = {}

    serve = sub.add_parser("serve", help="run the HTTP service (migrates the database first)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    commands["serve"] = _serve

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("revision", nargs="?", default=None, help="target revision (default: heads / one step down)")
    commands["db"] = _db
    return parser, commands


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args, settings or Settings())
    except HeraldError as exc:
        print(f"herald: {exc.reason}", file=sys.stderr)
        return 2
