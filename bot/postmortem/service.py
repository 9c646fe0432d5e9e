"""Post-mortem and report use cases for the edges: HTTP (`views.py`), the CLI (`cli.py`) and Slack.

Each function takes the caller's session and the time, so the same export comes out of every edge. Slack callers
get `slack_postmortem` (the files to upload into the incident's thread and a one-paragraph summary) and
`slack_report` (a monospace table); they do the uploading themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from bot.errors import InvalidInput, NotFound
from bot.postmortem import chart, load, metrics, render, tables
from bot.postmortem.build import Facts, build

FORMATS = ("md", "html", "json", "png", "svg")
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "png": "image/png",
    "svg": "image/svg+xml",
    "csv": "text/csv; charset=utf-8",
}
MAX_REPORT_DAYS = 366
DEFAULT_REPORT_DAYS = 30


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class SlackPostmortem:
    text: str
    files: tuple[ExportFile, ...]


def facts(session: Session, *, number: int, now: datetime) -> Facts:
    return build(load.sources(session, number=number), now)


def export(facts: Facts, fmt: str, *, templates_dir: Path | None = None) -> list[ExportFile]:
    """The files of one format: Markdown comes with its chart PNG (it links to it), HTML embeds its chart."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    stem = f"incident-{facts.number}"
    chart_name = f"{stem}-timeline.png"
    renderer = renderer_for(templates_dir)
    if fmt == "md":
        text = renderer.markdown(facts, chart_file=chart_name)
        return [_file(f"{stem}-postmortem.md", text.encode(), "md"), _file(chart_name, chart.png(facts), "png")]
    if fmt == "html":
        return [_file(f"{stem}-postmortem.html", renderer.html(facts, chart_svg=chart.svg(facts)).encode(), "html")]
    if fmt == "json":
        return [_file(f"{stem}-postmortem.json", render.to_json(facts).encode(), "json")]
    if fmt == "png":
        return [_file(chart_name, chart.png(facts), "png")]
    return [_file(f"{stem}-timeline.svg", chart.svg(facts), "svg")]


@lru_cache(maxsize=8)
def renderer_for(templates_dir: Path | None) -> render.Renderer:
    return render.Renderer(templates_dir)


def slack_postmortem(
    session: Session, *, number: int, now: datetime, templates_dir: Path | None = None
) -> SlackPostmortem:
    """What `/incident postmortem N` posts into the incident's thread: Markdown + chart, HTML and JSON."""
    found = facts(session, number=number, now=now)
    files = [f for fmt in ("md", "html", "json") for f in export(found, fmt, templates_dir=templates_dir)]
    return SlackPostmortem(text=summary_line(found), files=tuple(files))


def summary_line(found: Facts) -> str:
    """One paragraph of the numbers, for a chat message above the files."""
    parts = [f"Post-mortem facts for incident #{found.number} ({found.severity}, {found.state})"]
    if found.time_to_acknowledge is not None:
        parts.append(f"acknowledged after {render.duration(found.time_to_acknowledge.total_seconds())}")
    else:
        parts.append("never acknowledged")
    if found.duration is not None:
        parts.append(f"resolved after {render.duration(found.duration.total_seconds())}")
    if found.sla is not None:
        parts.append("SLA breached" if found.sla.breached else "SLA met")
    people = found.people_paged
    parts.append(f"{len(found.pages)} notification(s) to {len(people)} person(s)" if people else "nobody paged")
    parts.append(f"{found.alert_count} alert(s)")
    return ", ".join(parts) + "."


def report(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    team: str | None = None,
    service: str | None = None,
) -> metrics.Report:
    if end <= start:
        raise InvalidInput("the report range is empty: 'from' must be before 'to'")
    if end - start > timedelta(days=MAX_REPORT_DAYS):
        raise InvalidInput(f"a report covers at most {MAX_REPORT_DAYS} days")
    if team and not load.known_team(session, team):
        raise NotFound(f"no team named {team!r}")
    if service and not load.known_service(session, service):
        raise NotFound(f"no service named {service!r}")
    found = load.records(session, start=start, end=end, team=team, service=service)
    return metrics.report(found, start=start, end=end, now=now, team=team, service=service)


def report_range(
    now: datetime, *, start: str | None = None, end: str | None = None, days: int | None = None
) -> tuple[datetime, datetime]:
    """The range asked for: `from`/`to` as dates (`to` inclusive) or ISO times; else the last `days` days to now."""
    if days is not None and not 1 <= days <= MAX_REPORT_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_REPORT_DAYS}, not {days}")
    stop = _instant(end, "to", end_of_day=True) if end else now
    first = _instant(start, "from", end_of_day=False) if start else stop - timedelta(days=days or DEFAULT_REPORT_DAYS)
    return first, stop


def slack_report(session: Session, *, now: datetime, team: str | None = None, days: int = 30) -> str:
    """What `/incident report [team] [days]` answers: the totals and a monospace table per service."""
    start, end = report_range(now, days=days)
    found = report(session, start=start, end=end, now=now, team=team)
    return tables.slack_text(found)


def _instant(value: str, name: str, *, end_of_day: bool) -> datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name!r} must be a date (2025-11-18) or an ISO 8601 time, not {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _file(name: str, content: bytes, fmt: str) -> ExportFile:
    return ExportFile(name=name, content=content, media_type=MEDIA_TYPES[fmt])
