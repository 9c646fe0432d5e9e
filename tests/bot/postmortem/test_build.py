"""The facts of the recorded outage, field by field, and the rules `build` applies to harder timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bot.postmortem import service
from bot.postmortem.build import PageRecord, SlaRecord, Sources, build
from tests.bot.postmortem.conftest import ACKED, FIRED, RESOLVED, TITLE, Recorded

LEVEL_2 = FIRED + timedelta(minutes=5)
POD = "p95 latency of POST /tts/synthesize above 1.2s on tts-inference-6d8f7c9b54-"


def test_the_recorded_outage_field_by_field(recorded: Recorded) -> None:
    with recorded.scenario.runtime.sessions() as session:
        facts = service.facts(session, number=recorded.number, now=RESOLVED + timedelta(hours=1))

    assert (facts.number, facts.severity, facts.state, facts.is_drill) == (recorded.number, "P1", "resolved", False)
    assert facts.title == f"{TITLE} (service=tts-inference)"
    assert facts.summary.startswith("p95 latency of POST /tts/synthesize on tts-inference-6d8f7c9b54-4xk2p is 1.84s")
    assert (facts.service, facts.team, facts.source) == ("tts-inference", "mlops", "alertmanager")
    assert facts.labels["alertname"] == TITLE
    assert (facts.created_at, facts.acknowledged_at, facts.resolved_at) == (FIRED, ACKED, RESOLVED)
    assert (facts.acknowledged_by, facts.resolved_by) == ("Bob Okafor", "alertmanager")
    assert facts.time_to_acknowledge == timedelta(minutes=5, seconds=44, microseconds=88000)
    assert facts.time_to_resolve == facts.duration == timedelta(minutes=28, seconds=50)

    assert facts.sla is not None
    assert (facts.sla.target, facts.sla.due_at) == (timedelta(minutes=5), LEVEL_2)
    assert (facts.sla.breached, facts.sla.breached_at, facts.sla.policy) == (True, LEVEL_2, "TTS Production On-Call")

    assert facts.alert_count == 3
    assert (facts.first_alert_at, facts.last_alert_at) == (FIRED, RESOLVED)
    assert sorted(a.title for a in facts.alerts) == [POD + "4xk2p", POD + "9qw7z", POD + "hm2sd"]
    assert {(a.source, a.severity, a.status, a.resolved_at) for a in facts.alerts} == {
        ("alertmanager", "P1", "resolved", RESOLVED)
    }

    pages = [(p.at, p.target, p.channel, p.kind, p.level, p.status, p.outcome, p.is_fallback) for p in facts.pages]
    assert pages == [
        (FIRED, "Mara Lindqvist", "voice", "page", 1, "failed", "failed: no-answer", False),
        (FIRED, "Mara Lindqvist", "slack_dm", "page", 1, "sent", "delivered", False),
        (FIRED, "#inc-tts-prod", "slack_channel", "warning", 1, "sent", "delivered", True),
        (LEVEL_2, "Bob Okafor", "slack_dm", "page", 2, "acknowledged", "delivered, acknowledged", False),
    ]
    assert facts.people_paged == ("Mara Lindqvist", "Bob Okafor")
    assert [(lv.at, lv.level, lv.round, lv.reached) for lv in facts.levels] == [
        (FIRED, 1, 0, ("Mara Lindqvist",)),
        (LEVEL_2, 2, 0, ("Bob Okafor",)),
    ]

    assert [(r.name, [(a.what, a.at, a.source) for a in r.actions]) for r in facts.responders] == [
        (
            "Bob Okafor",
            [
                ("acknowledged", ACKED, "slack"),
                ("added a note", ACKED + timedelta(minutes=2), "slack"),
                ("added a note", ACKED + timedelta(minutes=12), "slack"),
            ],
        )
    ]
    assert [(n.at, n.author, n.source, n.text) for n in facts.notes] == [
        (ACKED + timedelta(minutes=2), "Bob Okafor", "slack", "Rolling back tts-inference to v1.0.3"),
        (ACKED + timedelta(minutes=12), "Bob Okafor", "slack", "p95 back to 0.61 s after the rollback"),
    ]
    kinds = [e.kind for e in facts.timeline]
    assert kinds[0] == "triggered" and kinds[-1] == "resolved"
    assert kinds.count("alert") == 3 and kinds.count("alert_resolved") == 3 and kinds.count("sla_breached") == 1
    assert [e.at for e in facts.timeline] == sorted(e.at for e in facts.timeline)


T0 = datetime(2025, 11, 18, 9, 0, tzinfo=UTC)


def _incident(**fields: object) -> SimpleNamespace:
    values = {
        "number": 7,
        "title": "disk full",
        "summary": "",
        "severity": "P2",
        "state": "triggered",
        "is_drill": False,
        "source": "manual",
        "external_id": None,
        "labels": {},
        "created_at": T0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "alert_count": 0,
    }
    return SimpleNamespace(**(values | fields))


def _entry(index: int, minutes: float, kind: str, actor: str = "ann", source: str = "slack", **data: object):
    return SimpleNamespace(
        id=index, at=T0 + timedelta(minutes=minutes), kind=kind, actor=actor, source=source, message=kind, data=data
    )


def test_time_to_acknowledge_counts_from_the_first_acknowledgement() -> None:
    incident = _incident(state="acknowledged", acknowledged_at=T0 + timedelta(minutes=40), acknowledged_by="cy")
    timeline = [
        _entry(1, 0, "triggered", "herald", "manual"),
        _entry(2, 3, "acknowledged", "ann"),
        _entry(3, 33, "unacknowledged", "herald", "engine"),
        _entry(4, 40, "acknowledged", "cy", "api"),
    ]
    facts = build(Sources(incident=incident, service=None, team=None, alerts=[], timeline=timeline), T0)
    assert facts.time_to_acknowledge == timedelta(minutes=3)
    assert facts.acknowledged_by == "ann"
    assert (facts.time_to_resolve, facts.duration) == (None, None)
    assert [r.name for r in facts.responders] == ["ann", "cy"]  # the engine handing it back is not a person


def test_an_open_unanswered_incident_breaches_its_sla_once_the_deadline_passes() -> None:
    due = T0 + timedelta(minutes=30)
    sources = Sources(
        incident=_incident(),
        service="db",
        team=None,
        alerts=[],
        timeline=[_entry(1, 0, "triggered", "herald", "manual")],
        sla=SlaRecord(due_at=due, breached_at=None, policy="p"),
    )
    assert build(sources, due).sla.breached is False
    late = build(sources, due + timedelta(seconds=1)).sla
    assert (late.breached, late.breached_at, late.target) == (True, due, timedelta(minutes=30))


def test_resolving_within_the_deadline_without_an_acknowledgement_meets_the_sla() -> None:
    incident = _incident(state="resolved", resolved_at=T0 + timedelta(minutes=10), resolved_by="ann")
    sources = Sources(
        incident=incident,
        service=None,
        team=None,
        alerts=[],
        timeline=[_entry(1, 10, "resolved")],
        sla=SlaRecord(due_at=T0 + timedelta(minutes=30), breached_at=None, policy=None),
    )
    facts = build(sources, T0 + timedelta(days=1))
    assert facts.sla.breached is False and facts.time_to_acknowledge is None
    assert facts.duration == timedelta(minutes=10)


def test_pages_are_in_time_order_with_levels_counted_from_one() -> None:
    def page(pid: int, minutes: int, status: str, error: str | None = None) -> PageRecord:
        return PageRecord(
            id=pid,
            at=T0 + timedelta(minutes=minutes),
            kind="page",
            channel="voice",
            target="ann",
            person=True,
            level=0,
            round=1,
            status=status,
            error=error,
            tries=1,
            sent_at=None,
            fallback_of=None,
        )

    sources = Sources(
        incident=_incident(),
        service=None,
        team=None,
        alerts=[],
        timeline=[],
        pages=[page(2, 5, "cancelled", "acknowledged before delivery"), page(1, 0, "pending")],
    )
    facts = build(sources, T0)
    assert [(p.level, p.round, p.outcome) for p in facts.pages] == [
        (1, 1, "not delivered yet"),
        (1, 1, "cancelled: acknowledged before delivery"),
    ]
    assert facts.sla is None
