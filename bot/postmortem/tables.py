"""A report as data for people and programs: JSON, CSV, a rich table (CLI) and a monospace Slack message.

One list of columns feeds CSV and JSON (machine figures: seconds and ratios), another the human forms (`4m 12s`,
`25%`), so every surface shows the same numbers.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from bot.postmortem.metrics import Report, Stats
from bot.postmortem.render import duration

CSV_COLUMNS = (
    "scope",
    "team",
    "service",
    "incidents",
    "open",
    "acknowledged",
    "unacknowledged",
    "resolved",
    "mtta_seconds",
    "mttr_seconds",
    "sla_tracked",
    "sla_breached",
    "sla_breach_rate",
    "pages",
    "people_paged",
    "pages_per_person",
)


def stats_dict(stats: Stats) -> dict[str, Any]:
    return {
        "team": stats.team,
        "service": stats.service,
        "incidents": stats.incidents,
        "open": stats.open,
        "acknowledged": stats.acknowledged,
        "unacknowledged": stats.unacknowledged,
        "resolved": stats.resolved,
        "mtta_seconds": stats.mtta.total_seconds() if stats.mtta is not None else None,
        "mttr_seconds": stats.mttr.total_seconds() if stats.mttr is not None else None,
        "sla_tracked": stats.sla_tracked,
        "sla_breached": stats.sla_breached,
        "sla_breach_rate": stats.sla_breach_rate,
        "pages": stats.pages,
        "people_paged": stats.people_paged,
        "pages_per_person": stats.pages_per_person,
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "filters": {"team": report.team, "service": report.service},
        "drills_excluded": True,
        "total": stats_dict(report.total),
        "teams": [stats_dict(s) for s in report.teams],
        "services": [stats_dict(s) for s in report.services],
        "people": [{"name": p.name, "pages": p.pages, "incidents": p.incidents} for p in report.people],
    }


def report_csv(report: Report) -> str:
    """One row per scope: the total, each team, each service (figures in seconds and ratios)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    scoped = [("total", report.total)] + [("team", s) for s in report.teams] + [("service", s) for s in report.services]
    for scope, stats in scoped:
        row = {k: ("" if v is None else v) for k, v in stats_dict(stats).items()}
        writer.writerow({"scope": scope, **row})
    return buffer.getvalue()


HUMAN_COLUMNS = ("Team", "Service", "Incidents", "Open", "MTTA", "MTTR", "SLA breaches", "Pages", "Pages/person")


def human_row(stats: Stats, *, team: str, service: str) -> tuple[str, ...]:
    breaches = f"{stats.sla_breached}/{stats.sla_tracked}"
    if stats.sla_breach_rate is not None:
        breaches += f" ({stats.sla_breach_rate:.0%})"
    return (
        team,
        service,
        str(stats.incidents),
        str(stats.open),
        duration(stats.mtta.total_seconds()) if stats.mtta is not None else "—",
        duration(stats.mttr.total_seconds()) if stats.mttr is not None else "—",
        breaches,
        str(stats.pages),
        f"{stats.pages_per_person:.1f}" if stats.pages_per_person is not None else "—",
    )


def human_rows(report: Report) -> list[tuple[str, ...]]:
    rows = [human_row(s, team=s.team or "", service=s.service or "") for s in report.services]
    rows.append(human_row(report.total, team="All", service=""))
    return rows


def rich_table(report: Report) -> Table:
    table = Table(title=_heading(report), caption=_people(report) or None)
    rows = human_rows(report)
    for index, name in enumerate(HUMAN_COLUMNS):
        if index < 2:  # names keep a readable width on a narrow console
            widest = max(len(name), *(len(row[index]) for row in rows))
            table.add_column(name, min_width=min(widest, 24), overflow="fold")
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for index, row in enumerate(rows):
        table.add_row(*row, end_section=index == len(rows) - 2, style="bold" if index == len(rows) - 1 else None)
    return table


def slack_text(report: Report) -> str:
    """A code block aligns columns in Slack; the heading and the busiest people go above and below it."""
    rows = [HUMAN_COLUMNS, *human_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HUMAN_COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    text = f"*{_heading(report)}*\n```\n" + "\n".join(lines) + "\n```"
    people = _people(report)
    return text + (f"\n{people}" if people else "")


def _heading(report: Report) -> str:
    scope = " · ".join(f"{k} {v}" for k, v in (("team", report.team), ("service", report.service)) if v)
    span = f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC"
    return f"On-call report{f' ({scope})' if scope else ''}, {span}, drills excluded"


def _people(report: Report) -> str:
    busiest = ", ".join(f"{p.name} {p.pages}" for p in report.people[:5])
    return f"Pages per person: {busiest}" if busiest else ""
