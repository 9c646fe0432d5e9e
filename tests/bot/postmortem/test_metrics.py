"""Report arithmetic on cases small enough to compute by hand (the figures in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.postmortem.metrics import NO_SERVICE, NO_TEAM, IncidentRecord, report, stats

T0 = datetime(2025, 11, 1, tzinfo=UTC)


def rec(
    number: int,
    *,
    ack: float | None = None,
    resolve: float | None = None,
    due: float | None = None,
    breached: float | None = None,
    paged: tuple[str, ...] = (),
    team: str | None = "sre",
    service: str | None = "api",
) -> IncidentRecord:
    """An incident created at T0 + number hours; ack/resolve/due/breached in minutes after its creation."""
    created = T0 + timedelta(hours=number)

    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else created + timedelta(minutes=minutes)

    return IncidentRecord(
        number=number,
        team=team,
        service=service,
        severity="P1",
        created_at=created,
        acknowledged_at=at(ack),
        resolved_at=at(resolve),
        sla_due_at=at(due),
        sla_breached_at=at(breached),
        paged=paged,
    )


NOW = T0 + timedelta(days=2)


def test_mtta_and_mttr_skip_what_never_happened() -> None:
    records = [
        rec(1, ack=2, resolve=30),  # acked in 2, resolved in 30
        rec(2, ack=10, resolve=90),  # acked in 10, resolved in 90
        rec(3, resolve=15),  # resolved without an ack: no MTTA sample
        rec(4, ack=6),  # still open: no MTTR sample
        rec(5),  # open, never acknowledged
    ]
    got = stats(records, NOW)
    assert (got.incidents, got.open, got.resolved) == (5, 2, 3)
    assert (got.acknowledged, got.unacknowledged) == (3, 2)
    assert got.mtta == timedelta(minutes=6)  # (2 + 10 + 6) / 3
    assert got.mttr == timedelta(minutes=45)  # (30 + 90 + 15) / 3


def test_sla_breach_rate_is_over_incidents_that_had_a_deadline() -> None:
    records = [
        rec(1, ack=3, due=5),  # met
        rec(2, ack=7, due=5),  # late acknowledgement: breached (engine had not recorded it yet)
        rec(3, resolve=4, due=5),  # resolved in time without an ack: met
        rec(4, due=5, breached=5),  # recorded breach, still open
        rec(5, due=5),  # open, nobody answered, deadline passed by NOW: breached
        rec(6, ack=1),  # no SLA (P3 or a quiet service): not in the rate
    ]
    got = stats(records, NOW)
    assert (got.sla_tracked, got.sla_breached) == (5, 3)
    assert got.sla_breach_rate == 0.6


def test_an_open_incident_before_its_deadline_is_not_yet_breached() -> None:
    created = T0 + timedelta(hours=1)
    got = stats([rec(1, due=30)], created + timedelta(minutes=29))
    assert (got.sla_tracked, got.sla_breached, got.sla_breach_rate) == (1, 0, 0.0)


def test_pages_per_person() -> None:
    records = [
        rec(1, paged=("ann", "bob", "ann")),  # ann paged at level 1 and again at level 3
        rec(2, paged=("ann",)),
        rec(3, paged=("cy",)),
        rec(4),
    ]
    got = stats(records, NOW)
    assert (got.pages, got.people_paged) == (5, 3)
    assert got.pages_per_person == 5 / 3
    people = report(records, start=T0, end=NOW, now=NOW).people
    assert [(p.name, p.pages, p.incidents) for p in people] == [("ann", 3, 2), ("bob", 1, 1), ("cy", 1, 1)]


def test_an_empty_range_has_counts_of_zero_and_no_means() -> None:
    got = stats([], NOW)
    assert (got.incidents, got.pages, got.sla_tracked) == (0, 0, 0)
    assert (got.mtta, got.mttr, got.sla_breach_rate, got.pages_per_person) == (None, None, None, None)


def test_report_groups_by_team_and_by_service() -> None:
    records = [
        rec(1, ack=4, resolve=10, team="sre", service="api"),
        rec(2, ack=8, resolve=20, team="sre", service="db"),
        rec(3, ack=2, resolve=60, team="ml", service="tts"),
        rec(4, ack=1, resolve=2, team=None, service=None),
    ]
    got = report(records, start=T0, end=NOW, now=NOW, team=None)
    assert [(s.team, s.incidents, s.mtta) for s in got.teams] == [
        (NO_TEAM, 1, timedelta(minutes=1)),
        ("ml", 1, timedelta(minutes=2)),
        ("sre", 2, timedelta(minutes=6)),  # (4 + 8) / 2
    ]
    assert [(s.team, s.service, s.mttr) for s in got.services] == [
        (NO_TEAM, NO_SERVICE, timedelta(minutes=2)),
        ("ml", "tts", timedelta(minutes=60)),
        ("sre", "api", timedelta(minutes=10)),
        ("sre", "db", timedelta(minutes=20)),
    ]
    assert got.total.incidents == 4 and got.total.mttr == timedelta(minutes=23)  # (10 + 20 + 60 + 2) / 4
