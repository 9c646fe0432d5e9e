"""The three documents of the recorded outage: Markdown and JSON checked field by field, JSON against the
published schema, the HTML opened in headless Chromium, and a team's own template taking over."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from PIL import Image

from bot.postmortem import render, service
from bot.postmortem.build import Facts
from tests.bot.postmortem.conftest import RESOLVED, TITLE, Recorded

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def facts_of(recorded: Recorded) -> Facts:
    with recorded.scenario.runtime.sessions() as session:
        return service.facts(session, number=recorded.number, now=RESOLVED + timedelta(hours=1))


def exported(facts: Facts, fmt: str, templates_dir: Path | None = None) -> dict[str, bytes]:
    return {f.name: f.content for f in service.export(facts, fmt, templates_dir=templates_dir)}


def test_markdown_has_every_section_and_links_its_chart(recorded: Recorded) -> None:
    files = exported(facts_of(recorded), "md")
    n = recorded.number
    assert set(files) == {f"incident-{n}-postmortem.md", f"incident-{n}-timeline.png"}
    text = files[f"incident-{n}-postmortem.md"].decode()
    assert text.startswith(f"# Post-mortem: incident #{n}: {TITLE} (service=tts-inference)\n")
    rows = dict(re.findall(r"^\| ([A-Z][a-zA-Z ]+) \| (.*) \|$", text, re.MULTILINE))
    assert rows["Severity"] == "P1"
    assert rows["Service"] == "tts-inference (team mlops)"
    assert rows["Started"] == "2025-11-18 14:02:15 UTC"
    assert rows["Acknowledged"] == "2025-11-18 14:08:00 UTC by Bob Okafor"
    assert rows["Resolved"] == "2025-11-18 14:31:05 UTC by alertmanager"
    assert rows["Duration"] == rows["Time to resolve"] == "28m 50s"
    assert rows["Time to acknowledge"] == "5m 44s"
    assert rows["SLA"] == "respond within 5m 00s: **breached** at 2025-11-18 14:07:15 UTC"
    assert rows["Alerts"] == "3 (first 2025-11-18 14:02:15 UTC, last 2025-11-18 14:31:05 UTC)"
    assert rows["People paged"] == "Mara Lindqvist, Bob Okafor"
    assert f"![Timeline of incident #{n}](incident-{n}-timeline.png)" in text
    assert "| 14:02:15 | Mara Lindqvist | phone call | 1 | page | failed: no-answer |" in text
    assert "| 14:07:15 | Bob Okafor | Slack DM | 2 | page | delivered, acknowledged, 14:07:15 |" in text
    assert "- **Bob Okafor**: acknowledged at 14:08:00 via slack, added a note at 14:10:00 via slack" in text
    assert "- 14:10:00 **Bob Okafor** (slack): Rolling back tts-inference to v1.0.3" in text
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings == [
        "Summary",
        "Who was paged",
        "Who acted",
        "Alerts",
        "Notes from Slack",
        "Timeline",
        "Root cause",
        "What went well",
        "What to improve",
        "Action items",
    ]


def _date_time(value: object) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def test_json_is_valid_against_the_published_schema(recorded: Recorded) -> None:
    facts = facts_of(recorded)
    doc = json.loads(exported(facts, "json")[f"incident-{recorded.number}-postmortem.json"])
    checker = jsonschema.FormatChecker()
    checker.checks("date-time", raises=ValueError)(_date_time)
    jsonschema.Draft202012Validator.check_schema(render.schema())
    jsonschema.Draft202012Validator(render.schema(), format_checker=checker).validate(doc)

    assert doc["incident"]["number"] == recorded.number and doc["incident"]["acknowledged_by"] == "Bob Okafor"
    assert doc["incident"]["created_at"] == "2025-11-18T14:02:15.912000+00:00"
    assert doc["durations"] == {
        "duration_seconds": 1730.0,
        "time_to_acknowledge_seconds": 344.088,
        "time_to_resolve_seconds": 1730.0,
    }
    assert doc["sla"] == {
        "target_seconds": 300.0,
        "due_at": "2025-11-18T14:07:15.912000+00:00",
        "breached": True,
        "breached_at": "2025-11-18T14:07:15.912000+00:00",
        "policy": "TTS Production On-Call",
    }
    assert doc["alert_summary"]["count"] == 3 and len(doc["alerts"]) == 3
    assert doc["paging"]["people"] == ["Mara Lindqvist", "Bob Okafor"]
    assert [(p["channel"], p["status"]) for p in doc["paging"]["notifications"]] == [
        ("voice", "failed"),
        ("slack_dm", "sent"),
        ("slack_channel", "sent"),
        ("slack_dm", "acknowledged"),
    ]
    assert [n["text"] for n in doc["notes"]] == [
        "Rolling back tts-inference to v1.0.3",
        "p95 back to 0.61 s after the rollback",
    ]
    assert doc["review"] == {"root_cause": "", "what_went_well": "", "what_to_improve": "", "action_items": []}

    doc["incident"]["severity"] = "P9"  # the schema is strict enough to catch a wrong value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, render.schema())


def _browser_prerequisite() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test-prerequisites.sh installs it)")
        pytest.skip("chromium not installed (scripts/test-prerequisites.sh installs it)")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_html_is_self_contained_and_renders_in_chromium(recorded_sqlite: Recorded, tmp_path: Path) -> None:
    _browser_prerequisite()
    facts = facts_of(recorded_sqlite)
    (name, content), *rest = exported(facts, "html").items()
    assert rest == [] and name == f"incident-{recorded_sqlite.number}-postmortem.html"
    html = content.decode()
    assert re.search(r"""(src|href)=["']?(https?:)?//""", html) is None  # nothing fetched from anywhere
    assert '<img src="data:image/svg+xml;base64,' in html
    page = tmp_path / name
    page.write_bytes(content)

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert f'<h1 id="title">Incident #{recorded_sqlite.number}: {TITLE} (service=tts-inference)</h1>' in dom
    assert "<title>Post-mortem: incident" in dom and "Bob Okafor" in dom

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
    assert image.size == (1200, 1600)
    low, high = image.getextrema()
    assert high - low > 128  # text and chart on a page, not a blank
    dark = sum(image.histogram()[:128])
    assert dark > 5000  # title, tables and chart put thousands of dark pixels on the page


def test_a_team_template_overrides_the_built_in_one(recorded_sqlite: Recorded, tmp_path: Path) -> None:
    (tmp_path / "mlops").mkdir()
    (tmp_path / "mlops" / "postmortem.md.j2").write_text(
        "# {{ pm.incident.title | md }}\nTTA {{ pm.durations.time_to_acknowledge_seconds | duration }}; "
        "pages {{ pm.paging.notifications | length }}\n"
    )
    (tmp_path / "postmortem.md.j2").write_text("every other team\n")
    facts = facts_of(recorded_sqlite)
    text = exported(facts, "md", tmp_path)[f"incident-{recorded_sqlite.number}-postmortem.md"].decode()
    assert text == f"# {TITLE} (service=tts-inference)\nTTA 5m 44s; pages 4\n"
    html = exported(facts, "html", tmp_path)[f"incident-{recorded_sqlite.number}-postmortem.html"].decode()
    assert html.startswith("<!DOCTYPE html>")  # no team HTML template: the built-in one


def test_template_sandbox_refuses_unsafe_attribute_access(recorded_sqlite: Recorded, tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text("{{ pm.__class__.__mro__ }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        exported(facts_of(recorded_sqlite), "md", tmp_path)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("<!channel> *bold* [x](http://e) `code`", r"\<!channel\> \*bold\* \[x\](http://e) \`code\`"),
        ("a | b", r"a \| b"),
        ("# not a heading", r"\# not a heading"),
        ("1. not a list", r"1\. not a list"),
        ("load (p95) #2 ok", "load (p95) #2 ok"),
    ],
)
def test_markdown_escaping_keeps_outside_text_inert(text: str, escaped: str) -> None:
    assert render.markdown_escape(text) == escaped


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (0, "0s"), (55.4, "55s"), (344.088, "5m 44s"), (3725, "1h 02m 05s"), (90000, "1d 01h 00m")],
)
def test_durations_read_like_people_write_them(seconds: float | None, shown: str) -> None:
    assert render.duration(seconds) == shown
