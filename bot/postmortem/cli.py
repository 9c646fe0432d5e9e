"""`herald export` and `herald report`: post-mortem files and on-call figures from the command line.

    herald export 42 --format md|html|json [--format ...] --out DIR
    herald report [--team T] [--service S] [--days N | --from DATE --to DATE] [--format table|csv|json]

Both read the configured database (`HERALD_DATABASE_URL`) directly; nothing needs to be running. An unknown
incident, team or service, or a bad range, exits with status 2 through `bot.cli`'s HeraldError handling.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session

from bot.clock import SystemClock
from bot.db import make_engine, make_session_factory
from bot.errors import InvalidInput
from bot.postmortem import service, tables
from bot.settings import Settings

Command = Callable[[argparse.Namespace, Settings], int]
EXPORT_FORMATS = ("md", "html", "json")


def add_commands(sub: argparse._SubParsersAction, commands: dict[str, Command]) -> None:
    """Register `export` and `report` on the top-level parser (`bot.cli.build_parser`)."""
    export = sub.add_parser("export", help="write an incident's post-mortem (Markdown + chart, HTML, JSON)")
    export.add_argument("number", type=_number, help="incident number (42 or #42)")
    export.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=EXPORT_FORMATS,
        help="md (with its timeline PNG), html (chart embedded) or json; repeat for several (default: md)",
    )
    export.add_argument("--out", type=Path, default=Path("."), help="directory to write into (created if missing)")
    commands["export"] = _export

    report = sub.add_parser("report", help="MTTA, MTTR, SLA breaches and pages per team and service")
    report.add_argument("--team")
    report.add_argument("--service")
    report.add_argument("--days", type=int, help="the last N days (default 30)")
    report.add_argument("--from", dest="start", help="start date (2025-11-01) or ISO time")
    report.add_argument("--to", dest="end", help="end date (inclusive) or ISO time; default now")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    commands["report"] = _report


def _export(args: argparse.Namespace, settings: Settings) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise InvalidInput(f"--out {args.out} is not a directory")
    now = SystemClock().now()
    with _session(settings) as session:
        facts = service.facts(session, number=args.number, now=now)
    files = {
        f.name: f
        for fmt in dict.fromkeys(args.formats or ["md"])
        for f in service.export(facts, fmt, templates_dir=settings.postmortem_templates_dir)
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for file in files.values():
        path = args.out / file.name
        path.write_bytes(file.content)
        print(path)
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    now = SystemClock().now()
    start, end = service.report_range(now, start=args.start, end=args.end, days=args.days)
    with _session(settings) as session:
        found = service.report(session, start=start, end=end, now=now, team=args.team, service=args.service)
    if args.format == "json":
        print(json.dumps(tables.report_dict(found), indent=2))
    elif args.format == "csv":
        sys.stdout.write(tables.report_csv(found))
    else:
        console = Console()
        if not console.is_terminal:  # piped or redirected: a full-width table, not rich's 80-column default
            console = Console(width=132)
        console.print(tables.rich_table(found))
    return 0


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _number(value: str) -> int:
    text = value.lstrip("#")
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not an incident number")
    return int(text)
