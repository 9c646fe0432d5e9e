"""What the Slack edge gets: the post-mortem files and summary for the incident's thread, and the report text;
and `/incident report` answered through signed Slack requests (B3's fake Slack and signing client)."""

from __future__ import annotations

from datetime import timedelta

from bot.postmortem import service, tables
from tests.bot.postmortem.conftest import RESOLVED, Recorded
from tests.bot.slack.conftest import fake, herald, open_incident, slack  # noqa: F401 - fixtures of the Slack edge


def test_slack_postmortem_files_and_summary(recorded_sqlite: Recorded) -> None:
    n = recorded_sqlite.number
    with recorded_sqlite.scenario.runtime.sessions() as session:
        found = service.slack_postmortem(session, number=n, now=RESOLVED + timedelta(hours=1))
    assert [(f.name, f.media_type) for f in found.files] == [
        (f"incident-{n}-postmortem.md", "text/markdown; charset=utf-8"),
        (f"incident-{n}-timeline.png", "image/png"),
        (f"incident-{n}-postmortem.html", "text/html; charset=utf-8"),
        (f"incident-{n}-postmortem.json", "application/json"),
    ]
    assert found.text == (
        f"Post-mortem facts for incident #{n} (P1, resolved), acknowledged after 5m 44s, resolved after 28m 50s, "
        "SLA breached, 4 notification(s) to 2 person(s), 3 alert(s)."
    )


def test_slack_report_text(recorded_sqlite: Recorded) -> None:
    with recorded_sqlite.scenario.runtime.sessions() as session:
        text = service.slack_report(session, now=RESOLVED + timedelta(days=1), team="mlops", days=7)
    heading, fence, header, row, total, end, people = text.split("\n")
    assert heading == "*On-call report (team mlops), 2025-11-12 14:31 to 2025-11-19 14:31 UTC, drills excluded*"
    assert (fence, end) == ("```", "```")
    assert header.split() == [word for column in tables.HUMAN_COLUMNS for word in column.split()]
    assert row.split() == ["mlops", "tts-inference", "1", "0", "5m", "44s", "28m", "50s", "1/1", "(100%)", "2", "1.0"]
    assert total.split()[:3] == ["All", "1", "0"]
    assert people == "Pages per person: Bob Okafor 1, Mara Lindqvist 1"


def test_incident_report_in_slack(herald, slack) -> None:  # noqa: F811
    number = open_incident(herald)
    herald.clock.advance(90)
    assert "acknowledged" in slack.command("/ack", str(number)).json()["text"]
    herald.clock.advance(600)
    slack.command("/resolve", str(number))
    answer = slack.command("/incident", "report mlops 7").json()
    assert answer["response_type"] == "ephemeral"
    row = next(line for line in answer["text"].splitlines() if line.startswith("mlops"))
    assert row.split()[:8] == [
        "mlops",
        "tts-inference",
        "1",
        "0",
        "1m",
        "30s",
        "11m",
        "30s",
    ]  # acked after 90 s, resolved after 690 s

    unknown = slack.command("/incident", "report nobody").json()["text"]
    assert unknown == ":no_entry_sign: no team named 'nobody'"
