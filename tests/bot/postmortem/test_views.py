"""Over real HTTP: the post-mortem in each format and the reports route, including the 4xx answers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from tests.bot.postmortem.conftest import RESOLVED, TITLE, Recorded
from tests.support.herald import RunningHerald, make_settings, running_herald

NOW = RESOLVED + timedelta(hours=1)


@pytest.fixture
def api(recorded: Recorded, tmp_path: Path) -> Iterator[RunningHerald]:
    with running_herald(make_settings(recorded.database_url, data_dir=tmp_path), FakeClock(NOW)) as running:
        yield running


def test_postmortem_in_every_format(api: RunningHerald, recorded: Recorded) -> None:
    n = recorded.number
    url = f"/api/v1/incidents/{n}/postmortem"
    md = api.client.get(url)
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.headers["content-disposition"] == f'attachment; filename="incident-{n}-postmortem.md"'
    assert md.text.startswith(f"# Post-mortem: incident #{n}: {TITLE}")

    html = api.client.get(url, params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and f"Incident #{n}: {TITLE}" in html.text

    doc = api.client.get(url, params={"format": "json"}).json()
    assert doc["incident"]["number"] == n and doc["generated_at"] == NOW.isoformat()

    png = api.client.get(url, params={"format": "png"})
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svg = api.client.get(url, params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content


def test_postmortem_errors_are_clear_4xx(api: RunningHerald) -> None:
    missing = api.client.get("/api/v1/incidents/999/postmortem")
    assert (missing.status_code, missing.json()) == (404, {"error": "not_found", "reason": "no incident #999"})
    bad = api.client.get("/api/v1/incidents/1/postmortem", params={"format": "docx"})
    assert bad.status_code == 422 and "format" in bad.json()["reason"]
    anonymous = api.client.get("/api/v1/incidents/1/postmortem", headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_reports_as_json_and_csv(api: RunningHerald) -> None:
    params = {"from": "2025-11-18", "to": "2025-11-18", "team": "mlops"}
    body = api.client.get("/api/v1/reports", params=params).json()
    assert (body["from"], body["to"]) == ("2025-11-18T00:00:00+00:00", "2025-11-19T00:00:00+00:00")
    total = body["total"]
    assert (total["incidents"], total["open"], total["acknowledged"], total["resolved"]) == (1, 0, 1, 1)
    assert (total["mtta_seconds"], total["mttr_seconds"]) == (344.088, 1730.0)
    assert (total["sla_tracked"], total["sla_breached"], total["sla_breach_rate"]) == (1, 1, 1.0)
    assert (total["pages"], total["people_paged"], total["pages_per_person"]) == (2, 2, 1.0)
    assert [(s["team"], s["service"], s["incidents"]) for s in body["services"]] == [("mlops", "tts-inference", 1)]
    assert body["people"] == [
        {"name": "Bob Okafor", "pages": 1, "incidents": 1},
        {"name": "Mara Lindqvist", "pages": 1, "incidents": 1},
    ]

    response = api.client.get("/api/v1/reports", params=params | {"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["scope"], r["team"], r["service"], r["incidents"], r["mtta_seconds"]) for r in rows] == [
        ("total", "", "", "1", "344.088"),
        ("team", "mlops", "", "1", "344.088"),
        ("service", "mlops", "tts-inference", "1", "344.088"),
    ]

    later = api.client.get("/api/v1/reports", params={"from": "2025-11-19", "to": "2025-11-20"}).json()
    assert later["total"]["incidents"] == 0 and later["total"]["mtta_seconds"] is None


def test_a_drill_is_left_out_of_reports(api: RunningHerald, recorded: Recorded) -> None:
    from sqlalchemy import update

    from bot.incidents.models import Incident

    with recorded.scenario.runtime.transaction() as session:
        session.execute(update(Incident).where(Incident.number == recorded.number).values(is_drill=True))
    body = api.client.get("/api/v1/reports", params={"days": 7}).json()
    assert body["total"]["incidents"] == 0 and body["drills_excluded"] is True


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"from": "2025-11-20", "to": "2025-11-18"}, 422, "'from' must be before 'to'"),
        ({"from": "yesterday"}, 422, "'from' must be a date"),
        ({"from": "2024-01-01", "to": "2025-11-18"}, 422, "at most 366 days"),
        ({"days": 0}, 422, "days must be between 1 and 366"),
        ({"team": "nobody"}, 404, "no team named 'nobody'"),
        ({"service": "nothing"}, 404, "no service named 'nothing'"),
        ({"format": "xlsx"}, 422, "format"),
    ],
)
def test_report_errors_are_clear_4xx(api: RunningHerald, params: dict[str, object], status: int, reason: str) -> None:
    response = api.client.get("/api/v1/reports", params=params)
    assert response.status_code == status
    assert reason in json.loads(response.text)["reason"]
