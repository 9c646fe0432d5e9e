"""On-call numbers over a date range: MTTA, MTTR, incident count, SLA breach rate and pages per person.

Pure arithmetic on `IncidentRecord`s (loaded by `load.py`), small enough to check by hand. Definitions, as
PagerDuty and Grafana OnCall use them:

- MTTA: mean of (first acknowledgement − trigger) over the incidents that were acknowledged. An incident resolved
  without an acknowledgement, or still unacknowledged, does not count towards MTTA; it is counted in
  `unacknowledged` instead, so a team cannot improve MTTA by never acknowledging.
- MTTR: mean of (resolve − trigger) over resolved incidents; open incidents count in `open`, not in MTTR.
- SLA breach rate: breached ÷ incidents that had an SLA deadline. Breached means the engine recorded a breach, or
  the first response (acknowledge or resolve) came after the deadline, or none came and the deadline has passed.
- Pages: deliveries to people, one per person per escalation step (several channels of one step disturb a person
  once); pages per person is pages ÷ distinct people paged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bot.postmortem.build import first_response, sla_breached

K = TypeVar("K")
NO_TEAM = "(no team)"
NO_SERVICE = "(no service)"


@dataclass(frozen=True)
class IncidentRecord:
    number: int
    team: str | None
    service: str | None
    severity: str
    created_at: datetime
    acknowledged_at: datetime | None  # the first acknowledgement
    resolved_at: datetime | None
    sla_due_at: datetime | None = None
    sla_breached_at: datetime | None = None
    paged: tuple[str, ...] = ()  # one name per page


@dataclass(frozen=True)
class Stats:
    team: str | None
    service: str | None
    incidents: int
    open: int
    acknowledged: int
    unacknowledged: int
    resolved: int
    mtta: timedelta | None
    mttr: timedelta | None
    sla_tracked: int
    sla_breached: int
    sla_breach_rate: float | None
    pages: int
    people_paged: int
    pages_per_person: float | None


@dataclass(frozen=True)
class PersonStats:
    name: str
    pages: int
    incidents: int


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    generated_at: datetime
    team: str | None
    service: str | None
    total: Stats
    teams: tuple[Stats, ...]
    services: tuple[Stats, ...]
    people: tuple[PersonStats, ...]


def stats(
    records: Sequence[IncidentRecord], now: datetime, *, team: str | None = None, service: str | None = None
) -> Stats:
    acked = [r.acknowledged_at - r.created_at for r in records if r.acknowledged_at is not None]
    resolved = [r.resolved_at - r.created_at for r in records if r.resolved_at is not None]
    tracked = [r for r in records if r.sla_due_at is not None or r.sla_breached_at is not None]
    breached = sum(1 for r in tracked if _breached(r, now))
    paged = [name for r in records for name in r.paged]
    people = len(set(paged))
    return Stats(
        team=team,
        service=service,
        incidents=len(records),
        open=sum(1 for r in records if r.resolved_at is None),
        acknowledged=len(acked),
        unacknowledged=len(records) - len(acked),
        resolved=len(resolved),
        mtta=_mean(acked),
        mttr=_mean(resolved),
        sla_tracked=len(tracked),
        sla_breached=breached,
        sla_breach_rate=breached / len(tracked) if tracked else None,
        pages=len(paged),
        people_paged=people,
        pages_per_person=len(paged) / people if people else None,
    )


def report(
    records: Sequence[IncidentRecord],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    team: str | None = None,
    service: str | None = None,
) -> Report:
    by_team = _groups(records, lambda r: r.team or NO_TEAM)
    by_service = _groups(records, lambda r: (r.team or NO_TEAM, r.service or NO_SERVICE))
    pages = Counter(name for r in records for name in r.paged)
    incidents_of = Counter(name for r in records for name in set(r.paged))
    return Report(
        start=start,
        end=end,
        generated_at=now,
        team=team,
        service=service,
        total=stats(records, now),
        teams=tuple(stats(group, now, team=name) for name, group in by_team),
        services=tuple(stats(group, now, team=key[0], service=key[1]) for key, group in by_service),
        people=tuple(
            PersonStats(name=name, pages=count, incidents=incidents_of[name])
            for name, count in sorted(pages.items(), key=lambda item: (-item[1], item[0]))
        ),
    )


def _breached(record: IncidentRecord, now: datetime) -> bool:
    if record.sla_breached_at is not None:
        return True
    return sla_breached(record.sla_due_at, first_response(record.acknowledged_at, record.resolved_at), now)


def _mean(values: Sequence[timedelta]) -> timedelta | None:
    return sum(values, timedelta()) / len(values) if values else None


def _groups(
    records: Iterable[IncidentRecord], key: Callable[[IncidentRecord], K]
) -> list[tuple[K, list[IncidentRecord]]]:
    grouped: dict[K, list[IncidentRecord]] = {}
    for record in records:
        grouped.setdefault(key(record), []).append(record)
    return sorted(grouped.items(), key=lambda item: str(item[0]))
