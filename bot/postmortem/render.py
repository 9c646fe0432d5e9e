"""Post-mortem documents: Markdown, self-contained HTML and JSON, from the same facts.

The JSON document (`document(facts)`, described by the published `schema.json`) is also the context of the jinja2
templates, so whatever a team's own template shows is a field the schema documents. Templates are looked up in
`HERALD_POSTMORTEM_TEMPLATES_DIR/<team>/`, then `HERALD_POSTMORTEM_TEMPLATES_DIR/`, then the built-in
`templates/`; a team overrides `postmortem.md.j2` or `postmortem.html.j2` by dropping a file of that name there.
Templates render in jinja2's sandbox: a template is configuration, not code.

Markdown escapes outside text (alert titles, notes) with CommonMark backslash escapes, which GitHub, Confluence and
Notion all honour; HTML autoescapes and embeds the timeline chart as a data URI, so the file opens anywhere offline.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from bot.errors import InvalidInput
from bot.postmortem.build import CHANNEL_LABELS, Facts

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("schema.json")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_MD_LINE_START = re.compile(r"^(\s*)(\d+)?([#+=.)-])", re.MULTILINE)
_TEAM_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,199}$")


def document(facts: Facts) -> dict[str, Any]:
    """The post-mortem as JSON-ready data (times ISO 8601 UTC, durations in seconds)."""
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _iso(facts.generated_at),
        "incident": {
            "number": facts.number,
            "title": facts.title,
            "summary": facts.summary,
            "severity": facts.severity,
            "state": facts.state,
            "is_drill": facts.is_drill,
            "source": facts.source,
            "external_id": facts.external_id,
            "service": facts.service,
            "team": facts.team,
            "labels": facts.labels,
            "created_at": _iso(facts.created_at),
            "acknowledged_at": _iso(facts.acknowledged_at),
            "acknowledged_by": facts.acknowledged_by,
            "resolved_at": _iso(facts.resolved_at),
            "resolved_by": facts.resolved_by,
        },
        "durations": {
            "duration_seconds": _seconds(facts.duration),
            "time_to_acknowledge_seconds": _seconds(facts.time_to_acknowledge),
            "time_to_resolve_seconds": _seconds(facts.time_to_resolve),
        },
        "sla": None
        if facts.sla is None
        else {
            "target_seconds": _seconds(facts.sla.target),
            "due_at": _iso(facts.sla.due_at),
            "breached": facts.sla.breached,
            "breached_at": _iso(facts.sla.breached_at),
            "policy": facts.sla.policy,
        },
        "alert_summary": {
            "count": facts.alert_count,
            "first_at": _iso(facts.first_alert_at),
            "last_at": _iso(facts.last_alert_at),
        },
        "alerts": [_jsonable(asdict(a)) for a in facts.alerts],
        "paging": {
            "people": list(facts.people_paged),
            "notifications": [_jsonable(asdict(p)) for p in facts.pages],
            "escalation_levels": [_jsonable(asdict(lv)) for lv in facts.levels],
        },
        "responders": [_jsonable(asdict(r)) for r in facts.responders],
        "notes": [_jsonable(asdict(n)) for n in facts.notes],
        "timeline": [_jsonable({k: v for k, v in asdict(e).items() if k != "data"}) for e in facts.timeline],
        "review": {"root_cause": "", "what_went_well": "", "what_to_improve": "", "action_items": []},
    }


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def to_json(facts: Facts) -> str:
    return json.dumps(document(facts), indent=2, ensure_ascii=False) + "\n"


class Renderer:
    """Renders the templates, team overrides first; one per templates directory (environments cache templates)."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self._templates_dir = templates_dir
        self._envs: dict[str | None, SandboxedEnvironment] = {}

    def markdown(self, facts: Facts, *, chart_file: str | None) -> str:
        return self._render("postmortem.md.j2", facts, chart=chart_file)

    def html(self, facts: Facts, *, chart_svg: bytes | None) -> str:
        chart = "data:image/svg+xml;base64," + base64.b64encode(chart_svg).decode() if chart_svg else None
        return self._render("postmortem.html.j2", facts, chart=chart)

    def _render(self, name: str, facts: Facts, *, chart: str | None) -> str:
        return self._env(facts.team).get_template(name).render(pm=document(facts), chart=chart)

    def _env(self, team: str | None) -> SandboxedEnvironment:
        if team not in self._envs:
            self._envs[team] = _environment(self._search_path(team))
        return self._envs[team]

    def _search_path(self, team: str | None) -> list[Path]:
        root = self._templates_dir
        if root is None:
            return []
        if not root.is_dir():
            raise InvalidInput(f"HERALD_POSTMORTEM_TEMPLATES_DIR {root} is not a directory")
        paths = [root / team] if team and _TEAM_DIR.match(team) and (root / team).is_dir() else []
        return [*paths, root]


def _environment(search_path: list[Path]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=ChoiceLoader(
            [FileSystemLoader([str(p) for p in search_path]), PackageLoader("bot.postmortem", "templates")]
        ),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=markdown_escape,
        cell=markdown_cell,
        when=when,
        clock=clock,
        duration=duration,
        channel=lambda value: CHANNEL_LABELS.get(value, value),
    )
    return env


def markdown_escape(text: Any) -> str:
    """Inline-safe text: emphasis, code, links, HTML and table pipes escaped; a heading or list marker at a line's
    start (`# `, `- `, `1. `); parentheses and a `#` inside a line are harmless in CommonMark and stay readable."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text or ""))
    return _MD_LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}\\{m.group(3)}", escaped)


def markdown_cell(text: Any) -> str:
    """Outside text safe inside a Markdown table cell (escaped, on one line)."""
    return markdown_escape(" ".join(str(text or "").split()))


def when(value: str | None) -> str:
    """`2025-11-18T14:02:47+00:00` → `2025-11-18 14:02:47 UTC`; empty → an em dash."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")


@pass_context
def clock(context: Context, value: str | None) -> str:
    """A time of the incident: `14:03:42`, with the date in front when it is not the day the incident started."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    started = datetime.fromisoformat(context["pm"]["incident"]["created_at"])
    return moment.strftime("%H:%M:%S" if moment.date() == started.date() else "%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """Seconds → `1h 02m 05s`, `4m 12s`, `55s`; None → an em dash."""
    if seconds is None:
        return "—"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
