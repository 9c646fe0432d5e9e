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
    print(f"  Console:      {base}/console/  (sign-in: herald user set-password EMAIL)")
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


def _config(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from bot import migrate
    from bot.app import build_runtime
    from bot.config_apply import apply
    from bot.errors import InvalidInput

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    if settings.auto_migrate:
        migrate.upgrade(settings.effective_database_url)
    runtime = build_runtime(settings)
    try:
        with runtime.transaction() as session:
            report = apply(session, clock=runtime.clock, text=text, actor="config")
    finally:
        runtime.engine.dispose()
    for change in report.changes:
        print(f"  {change}")
    print(f"applied {args.file}: {len(report.changes) or 'no'} change(s)")
    return 0


def _drill(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import build_runtime
    from bot.escalation.service import start_drill

    runtime = build_runtime(settings)
    try:
        with runtime.transaction() as session:
            incident = start_drill(
                session, clock=runtime.clock, events=runtime.events, service=args.service, actor="cli", source="cli"
            )
            print(f"drill incident #{incident.number} triggered for {args.service}: it walks the real escalation path")
    finally:
        runtime.engine.dispose()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from bot import demo

    return demo.run(settings, directory=Path(args.dir) if args.dir else settings.data_dir / "demo")


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

    demo = sub.add_parser("demo", help="replay the seed incident through the HTTP endpoints on a fresh SQLite file")
    demo.add_argument("--dir", default=None, help="where the demo database goes (default: DATA_DIR/demo)")
    commands["demo"] = _demo

    config = sub.add_parser("config", help="apply a YAML file of users, teams, services, schedules and policies")
    config.add_argument("action", choices=["apply"])
    config.add_argument("file")
    commands["config"] = _config

    drill = sub.add_parser("drill", help="trigger a labelled drill incident that walks a service's escalation")
    drill.add_argument("service")
    commands["drill"] = _drill

    from bot.voice.tts_cli import add_tts_commands

    add_tts_commands(sub, commands)

    from bot.postmortem.cli import add_commands as add_postmortem_commands

    add_postmortem_commands(sub, commands)

    from bot.web.cli import add_commands as add_web_commands

    add_web_commands(sub, commands)
    return parser, commands


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args, settings or Settings())
    except HeraldError as exc:
        print(f"herald: {exc.reason}", file=sys.stderr)
        return 2
