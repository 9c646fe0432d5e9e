"""The schedules HTTP API over real HTTP: create, who is on call, shifts, overrides, iCal export and import."""

from __future__ import annotations

import icalendar
from sqlalchemy import select

from bot.config_apply import apply
from bot.schedules.ical import feed_token
from tests.support.herald import API_TOKEN, RunningHerald

PEOPLE = """
users:
  - {email: alice@company.com, name: Alice, slack_id: UALICE}
  - {email: bob@company.com, name: Bob}
teams:
  - {name: sre, slack_channel: "#sre"}
"""

FEED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:weekend-1
DTSTART:20251122T000000Z
DTEND:20251124T000000Z
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Weekend cover
ATTENDEE:mailto:bob@company.com
END:VEVENT
END:VCALENDAR
"""


def test_schedule_lifecycle_over_http(herald: RunningHerald) -> None:
    with herald.runtime.transaction() as session:
        apply(session, clock=herald.clock, text=PEOPLE)
    body = {
        "team": "sre",
        "time_zone": "Europe/Berlin",
        "layers": [
            {"name": "daily", "rotation": "daily", "start": "2025-11-17T09:00", "participants": ["alice@company.com"]},
            {"name": "weekend", "ical": FEED},
        ],
    }
    created = herald.client.put("/api/v1/schedules/sre-primary", json=body)
    assert created.status_code == 200 and created.json()["changed"] is True
    assert herald.client.put("/api/v1/schedules/sre-primary", json=body).json()["changed"] is False

    # Tuesday 18 Nov 14:00 UTC: Alice's daily turns merge into one shift until Bob's imported weekend.
    now = herald.client.get("/api/v1/schedules/sre-primary/oncall").json()
    assert now["current"]["user"] == "alice@company.com" and now["current"]["slack_id"] == "UALICE"
    assert now["next"]["user"] == "bob@company.com" and now["next"]["start"] == "2025-11-22T00:00:00Z"
    saturday = herald.client.get("/api/v1/schedules/sre-primary/oncall", params={"at": "2025-11-29T12:00:00Z"})
    assert saturday.json()["current"]["layer"] == "weekend"

    override = herald.client.post(
        "/api/v1/schedules/sre-primary/overrides",
        json={"start": "2025-11-18T15:00:00Z", "end": "2025-11-18T17:00:00Z", "user": "bob@company.com"},
    )
    assert override.status_code == 201
    shifts = herald.client.get(
        "/api/v1/schedules/sre-primary/shifts", params={"start": "2025-11-18T14:00:00Z", "end": "2025-11-18T18:00:00Z"}
    ).json()
    assert [(s["user"], s["start"][11:16], s["end"][11:16]) for s in shifts] == [
        ("alice@company.com", "14:00", "15:00"),
        ("bob@company.com", "15:00", "17:00"),
        ("alice@company.com", "17:00", "18:00"),
    ]

    token = feed_token(API_TOKEN, "schedule", "sre-primary")
    anonymous = httpx_get(herald, f"/api/v1/schedules/sre-primary/calendar.ics?token={token}")
    assert anonymous.status_code == 200 and anonymous.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(anonymous.content).walk("VEVENT")
    assert any("bob@company.com" in str(e["summary"]) for e in events)
    assert httpx_get(herald, "/api/v1/schedules/sre-primary/calendar.ics?token=wrong").status_code == 401
    mine = httpx_get(
        herald, f"/api/v1/users/bob@company.com/calendar.ics?token={feed_token(API_TOKEN, 'user', 'bob@company.com')}"
    )
    assert all(
        "bob@company.com" in str(e["summary"]) for e in icalendar.Calendar.from_ical(mine.content).walk("VEVENT")
    )

    team = herald.client.get("/api/v1/teams/sre/oncall").json()
    assert [entry["schedule"] for entry in team] == ["sre-primary"]


def test_bad_schedules_get_clear_4xx(herald: RunningHerald) -> None:
    with herald.runtime.transaction() as session:
        apply(session, clock=herald.clock, text=PEOPLE)
    cases = [
        ({"time_zone": "Mars/Olympus", "layers": [{"name": "x", "ical": FEED}]}, "unknown IANA time zone"),
        ({"layers": [{"name": "x", "rotation": "daily", "participants": ["alice@company.com"]}]}, "needs `start`"),
        (
            {"layers": [{"name": "x", "rotation": "daily", "start": "2025-01-01T09:00", "participants": ["who@x.io"]}]},
            "unknown participant",
        ),
        ({"layers": [{"name": "x", "ical": "hello"}]}, "not an iCalendar feed"),
    ]
    for body, reason in cases:
        response = herald.client.put("/api/v1/schedules/bad", json=body)
        assert response.status_code == 422 and reason in response.json()["reason"], response.text
    assert herald.client.get("/api/v1/schedules/nope/oncall").status_code == 404


def httpx_get(herald: RunningHerald, path: str):
    import httpx

    return httpx.get(herald.base_url + path, timeout=10)


def test_who_is_on_call_is_exposed_for_other_edges(herald: RunningHerald) -> None:
    from bot.schedules import service
    from bot.schedules.models import Schedule

    with herald.runtime.transaction() as session:
        apply(
            session,
            clock=herald.clock,
            text=PEOPLE
            + """
schedules:
  - name: primary
    team: sre
    layers:
      - {name: l, rotation: 12h, start: 2025-11-18T08:00, participants: [alice@company.com, bob@company.com]}
""",
        )
        row = session.scalars(select(Schedule)).one()
        now = service.who_is_on_call(session, schedule=row, at=herald.clock.now())
    assert now.current is not None and now.current.name == "Alice" and now.current.end.hour == 20
    assert now.next is not None and now.next.name == "Bob"
