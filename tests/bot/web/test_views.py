"""The console's pages through the real server: content, live updates, actions on the timeline, refusals, downloads."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.web import auth
from tests.bot.voice.harness import MARA as VOICE_MARA
from tests.bot.voice.harness import voice_herald
from tests.bot.web.conftest import ADA, MARA, OLLE, PASSWORD, Console, csrf_of


def test_the_incident_list_shows_what_a_responder_needs(console: Console) -> None:
    number = console.alert()
    console.herald.clock.advance(timedelta(minutes=2))
    page = console.sign_in(MARA).get("/console/incidents")
    assert page.status_code == 200
    row = re.search(rf'<tr class="row-triggered">.*?#{number}.*?</tr>', page.text, re.S)
    assert row, page.text
    cells = _text(row.group(0))
    for expected in ("TTSInferenceP95LatencyHigh", "P1", "triggered", "tts-inference", "mlops", "2m", "3", "left"):
        assert expected in cells, (expected, cells)
    assert "3m 00s left" in cells  # SLA: 5 minutes to acknowledge a P1, 2 gone
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-content-type-options"] == "nosniff"


def test_filters_by_state_service_and_team(console: Console) -> None:
    console.alert()
    billing = console.herald.client.post("/api/v1/incidents", json={"title": "Invoices late", "service": "billing"})
    assert billing.is_success
    browser = console.sign_in(MARA)
    assert "Invoices late" in browser.get("/console/incidents").text
    by_team = browser.get("/console/incidents", params={"team": "mlops"}).text
    assert "TTSInferenceP95LatencyHigh" in by_team and "Invoices late" not in by_team
    by_service = browser.get("/console/incidents", params={"service": "billing"}).text
    assert "Invoices late" in by_service and "TTSInferenceP95LatencyHigh" not in by_service
    assert "No incidents match." in browser.get("/console/incidents", params={"state": "resolved"}).text
    bad = browser.get("/console/incidents", params={"state": "sleeping"})
    assert bad.status_code == 422 and "unknown state" in bad.text


def test_the_list_updates_live_with_a_version_that_ignores_the_ticking_clock(console: Console) -> None:
    browser = console.sign_in(MARA)
    first = browser.get("/console/incidents/live").json()
    assert "No incidents match" in first["html"] and first["now"].startswith("2025-11-18T14:00:00")
    number = console.alert()
    second = browser.get("/console/incidents/live").json()
    assert second["version"] != first["version"] and f"#{number}" in second["html"]
    console.herald.clock.advance(timedelta(seconds=40))
    third = browser.get("/console/incidents/live").json()
    assert third["html"] != second["html"] and third["version"] == second["version"]  # only ages and SLA moved
    page = browser.get("/console/incidents")
    assert f'data-version="{third["version"]}"' in page.text


def test_acknowledging_in_the_console_lands_on_the_timeline_as_the_user(console: Console) -> None:
    number = console.alert()
    browser = console.sign_in(MARA)
    page = browser.get(f"/console/incidents/{number}")
    assert page.status_code == 200 and ">Acknowledge</button>" in page.text
    done = browser.post(f"/console/incidents/{number}/acknowledge", data={"csrf": csrf_of(page)})
    assert done.status_code == 303 and done.headers["location"] == f"/console/incidents/{number}?done=acknowledge"
    after = browser.get(done.headers["location"])
    assert "You acknowledged this incident." in after.text and "Acknowledged by Mara Lindqvist via web" in after.text
    assert ">Acknowledge</button>" not in after.text and ">Resolve</button>" in after.text
    api = console.herald.client.get(f"/api/v1/incidents/{number}").json()
    assert api["state"] == "acknowledged"
    entry = [e for e in api["timeline"] if e["kind"] == "acknowledged"][-1]
    assert (entry["actor"], entry["source"]) == ("Mara Lindqvist", "web")


def test_resolve_with_a_note_and_add_notes(console: Console) -> None:
    number = console.alert()
    browser = console.sign_in(MARA)
    token = csrf_of(browser.get(f"/console/incidents/{number}"))
    noted = browser.post(f"/console/incidents/{number}/notes", data={"csrf": token, "text": "Rolling back to 1.0.3"})
    assert noted.status_code == 303
    empty = browser.post(f"/console/incidents/{number}/notes", data={"csrf": token, "text": "  "})
    assert empty.status_code == 422 and "needs some text" in empty.text
    resolved = browser.post(f"/console/incidents/{number}/resolve", data={"csrf": token, "note": "rollback done"})
    assert resolved.status_code == 303
    page = browser.get(f"/console/incidents/{number}").text
    assert "Rolling back to 1.0.3" in page and "Resolved by Mara Lindqvist via web: rollback done" in page
    assert ">Resolve</button>" not in page
    again = browser.post(f"/console/incidents/{number}/resolve", data={"csrf": token})
    assert again.status_code == 409 and "cannot resolve it" in again.text


def test_actions_need_the_form_token(console: Console) -> None:
    number = console.alert()
    browser = console.sign_in(MARA)
    for path in ("acknowledge", "resolve", "escalate", "notes"):
        refused = browser.post(f"/console/incidents/{number}/{path}", data={"csrf": "forged", "text": "x"})
        assert refused.status_code == 403 and "CSRF" in refused.text
    missing = browser.post(f"/console/incidents/{number}/acknowledge")
    assert missing.status_code == 403
    assert console.herald.client.get(f"/api/v1/incidents/{number}").json()["state"] == "triggered"


def test_only_responders_on_call_or_admins_may_act(console: Console) -> None:
    number = console.alert()
    outsider = console.sign_in(OLLE)
    page = outsider.get(f"/console/incidents/{number}")
    assert ">Acknowledge</button>" not in page.text and "Only this incident's responders" in page.text
    refused = outsider.post(f"/console/incidents/{number}/acknowledge", data={"csrf": csrf_of(page)})
    assert refused.status_code == 403
    assert "you may not acknowledge incident" in refused.text and "the on-call of team mlops" in refused.text
    noted = outsider.post(f"/console/incidents/{number}/notes", data={"csrf": csrf_of(page), "text": "seen it"})
    assert noted.status_code == 303  # anyone signed in may add a note, as in Slack
    admin = console.sign_in(ADA)
    token = csrf_of(admin.get(f"/console/incidents/{number}"))
    assert admin.post(f"/console/incidents/{number}/acknowledge", data={"csrf": token}).status_code == 303


def test_escalate_now_pages_the_next_level(console: Console) -> None:
    number = console.alert()
    console.herald.runtime.extras["escalation"].tick()
    browser = console.sign_in(MARA)
    page = browser.get(f"/console/incidents/{number}")
    assert "TTS Production On-Call, level 1" in page.text and ">Escalate now</button>" in page.text
    done = browser.post(f"/console/incidents/{number}/escalate", data={"csrf": csrf_of(page)})
    assert done.status_code == 303
    after = browser.get(done.headers["location"]).text
    assert "Escalated now to level 2 by Mara Lindqvist via web" in after


def test_unknown_incidents_and_bad_numbers_answer_as_pages(console: Console) -> None:
    browser = console.sign_in(MARA)
    missing = browser.get("/console/incidents/999")
    assert missing.status_code == 404 and "no incident #999" in missing.text and "<html" in missing.text
    live = browser.get("/console/incidents/999/live")
    assert live.status_code == 404 and live.json() == {"error": "not_found", "reason": "no incident #999"}
    assert browser.get("/console/incidents/abc").status_code == 422


def test_the_incident_page_links_post_mortem_exports(console: Console) -> None:
    number = console.alert()
    assert console.alert("02-resolved-p95-latency-group.json") == number
    browser = console.sign_in(MARA)
    page = browser.get(f"/console/incidents/{number}").text
    for fmt in ("html", "md", "json", "png"):
        assert f"/console/incidents/{number}/postmortem.{fmt}" in page
    html = browser.get(f"/console/incidents/{number}/postmortem.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert f"#{number}" in html.text
    md = browser.get(f"/console/incidents/{number}/postmortem.md")
    assert md.headers["content-disposition"] == f'attachment; filename="incident-{number}-postmortem.md"'
    assert browser.get(f"/console/incidents/{number}/postmortem.json").json()["incident"]["state"] == "resolved"
    assert browser.get(f"/console/incidents/{number}/postmortem.png").content.startswith(b"\x89PNG")
    assert browser.get(f"/console/incidents/{number}/postmortem.exe").status_code == 422
    assert console.browser().get(f"/console/incidents/{number}/postmortem.md").status_code == 303


def test_on_call_shows_now_next_the_week_and_feeds(console: Console) -> None:
    browser = console.sign_in(MARA)
    week = browser.get("/console/oncall", params={"tz": "Europe/Stockholm"})
    assert week.status_code == 200
    text = _text(week.text)
    assert "Now Mara Lindqvist until Mon 24 Nov 09:00" in text
    assert re.search(r"Next \w+ \w+ from \w{3} \d\d \w{3} 09:00", text)
    assert "Mon 17 Nov" in text and "Sun 23 Nov" in text and "Tue 25 Nov" not in text
    assert "09:00–00:00 Mara Lindqvist" in text  # the first day of the rotation, in the viewer's zone
    assert "/api/v1/schedules/mlops-primary/calendar.ics?token=" in week.text
    feed = re.search(r'href="(http[^"]+/users/[^"]+calendar\.ics\?token=[^"]+)"', week.text).group(1)
    ical = console.browser().get(feed.replace(console.herald.runtime.settings.effective_public_url, ""))
    assert ical.status_code == 200 and "BEGIN:VCALENDAR" in ical.text
    month = browser.get("/console/oncall", params={"view": "month", "date": "2025-11-03", "tz": "UTC"}).text
    assert month.count('<th scope="row">') == 30 and "Sat 01 Nov" in month and "Sun 30 Nov" in month
    assert browser.get("/console/oncall", params={"view": "year"}).status_code == 422


def test_on_call_shows_overrides(console: Console) -> None:
    override = {"user": "olle.outsider@example.com", "start": "2025-11-19T08:00:00Z", "end": "2025-11-19T16:00:00Z"}
    added = console.herald.client.post("/api/v1/schedules/mlops-primary/overrides", json=override | {"reason": "swap"})
    assert added.status_code == 201
    page = console.sign_in(MARA).get("/console/oncall", params={"tz": "UTC", "date": "2025-11-19"}).text
    text = _text(page)
    assert "08:00–16:00 Olle Outsider (override)" in text and "Olle Outsider · swap" in text
    assert 'class="layer-override"' in page


def test_reports_show_the_figures_and_download_csv(console: Console) -> None:
    number = console.alert()
    console.herald.clock.advance(timedelta(minutes=3))
    browser = console.sign_in(MARA)
    token = csrf_of(browser.get(f"/console/incidents/{number}"))
    browser.post(f"/console/incidents/{number}/acknowledge", data={"csrf": token})
    console.herald.clock.advance(timedelta(minutes=10))
    browser.post(f"/console/incidents/{number}/resolve", data={"csrf": token})
    page = browser.get("/console/reports", params={"team": "mlops"})
    assert page.status_code == 200
    text = _text(page.text)
    assert "3m 00s MTTA" in text and "13m 00s MTTR" in text and "0% SLA breach rate" in text
    assert "tts-inference" in text
    csv = browser.get("/console/reports.csv", params={"team": "mlops"})
    assert csv.headers["content-type"].startswith("text/csv") and "mtta_seconds" in csv.text and ",180.0," in csv.text
    assert browser.get("/console/reports", params={"team": "nobody"}).status_code == 404
    assert browser.get("/console/reports", params={"from": "yesterday"}).status_code == 422


def test_the_root_and_static_files(console: Console) -> None:
    browser = console.browser()
    assert browser.get("/").headers["location"] == "/console/incidents"
    page = console.sign_in(MARA).get("/console/incidents").text
    css = re.search(r'href="(/console/static/console\.css\?v=[0-9a-f]{10})"', page).group(1)
    js = re.search(r'src="(/console/static/console\.js\?v=[0-9a-f]{10})"', page).group(1)
    assert "prefers-color-scheme: dark" in browser.get(css).text
    assert "data-live" in browser.get(js).text


def _text(html: str) -> str:
    """The page's words, one space apart (tags dropped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_phone_calls_show_their_outcome_keys_and_audio(database_url: str, tmp_path) -> None:
    script = f"listen;{VOICE_MARA}=press:1"
    with voice_herald(database_url, tmp_path, telephony_simulated_script=script) as herald:
        with herald.runtime.transaction() as session:
            auth.set_password(session, email="mara@example.com", password=PASSWORD)
        number = herald.trigger()
        herald.settle()
        browser = Console(herald, tmp_path).sign_in("mara@example.com")
        page = browser.get(f"/console/incidents/{number}").text
        text = _text(page)
        assert "Phone calls" in text and "Mara Lindqvist · acknowledged · pressed 1" in text
        assert re.search(r"Notifications .* Mara Lindqvist voice 1 acknowledged", text), text
        audio = re.search(
            rf'<audio controls preload="none" src="(/console/incidents/{number}/audio/[0-9a-f]+\.wav)"', page
        )
        assert audio, page
        wav = browser.get(audio.group(1))
        assert wav.status_code == 200 and wav.content[:4] == b"RIFF" and wav.headers["content-type"] == "audio/wav"
        other = herald.trigger(title="another incident")
        assert browser.get(audio.group(1).replace(f"/{number}/", f"/{other}/")).status_code == 404
        assert Console(herald, tmp_path).browser().get(audio.group(1)).status_code == 303  # signed out
