"""`/tts` and "Play voice summary": acked at once, then synthesized (the offline fallback voice here) and uploaded
with files_upload_v2 into the channel or the incident's thread; a summary pre-synthesis already rendered is served
from its stored clip."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from sqlalchemy import select

from bot.incidents import service
from bot.voice.models import VoiceClip
from tests.bot.slack.conftest import message_of, open_incident


def test_tts_acks_then_uploads_the_spoken_audio_to_the_channel(herald, slack, fake, fixtures_dir) -> None:
    raw = (fixtures_dir / "slack" / "slash-command-tts.txt").read_text()
    text = dict(pair.split("=", 1) for pair in raw.split("&"))["text"]  # still URL-encoded, quotes included
    answer = slack.command("/tts", unquote_plus(text) + " emotion=urgent intensity=0.6 duration=1.1x")
    assert answer.status_code == 200 and "Synthesizing" in answer.json()["text"]
    completed = fake.wait_for(lambda f: f.named("files.completeUploadExternal"))[0].params
    assert completed["channel_id"] == "C07Q4M8ZK1P"
    assert "Rollback to v1.0.3 in progress" in completed["initial_comment"]
    (audio,) = fake.uploads.values()
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE" and len(audio) > 10_000


def test_tts_errors_from_the_engine_reach_the_user(herald, slack, fake) -> None:
    slack.command("/tts", "hello voice=nobody")
    refusal = fake.wait_for(lambda f: f.responses)[0]
    assert refusal["response_type"] == "ephemeral" and "unknown voice 'nobody'" in refusal["text"]
    assert fake.named("files.getUploadURLExternal") == []


def test_voice_summary_button_uploads_into_the_incident_thread(herald, slack, fake, fixtures_dir) -> None:
    number = open_incident(herald, title="p95 latency of POST /tts/synthesize is 1.84s")
    herald.run_outbox()
    row = message_of(herald, number)
    assert slack.click("herald_voice_summary", str(number), fixtures=fixtures_dir).status_code == 200
    completed = fake.wait_for(lambda f: f.named("files.completeUploadExternal"))[0].params
    assert (completed["channel_id"], completed["thread_ts"]) == (row.channel, row.ts)
    assert fake.uploads and next(iter(fake.uploads.values()))[:4] == b"RIFF"


def test_voice_summary_button_serves_the_pre_synthesized_audio(herald, slack, fake, fixtures_dir) -> None:
    number = open_incident(herald, title="p95 latency of POST /tts/synthesize is 1.84s")
    herald.run_outbox()
    presynth = herald.runtime.extras["voice"].presynth
    with herald.runtime.sessions() as session:
        incident = service.get(session, number=number)
        assert presynth.stored_summary(session, incident) is None  # not rendered yet: the button speaks live
        job = presynth.summary(session, incident)
    key = presynth.ensure(job, incident.id)  # what the pre-synthesis worker does when the incident triggers
    with herald.runtime.sessions() as session:
        stored = session.scalars(select(VoiceClip).where(VoiceClip.key == key)).one()
        assert presynth.stored_summary(session, service.get(session, number=number)).key == key
    row = message_of(herald, number)
    assert slack.click("herald_voice_summary", str(number), fixtures=fixtures_dir).status_code == 200
    completed = fake.wait_for(lambda f: f.named("files.completeUploadExternal"))[0].params
    assert (completed["channel_id"], completed["thread_ts"]) == (row.channel, row.ts)
    assert list(fake.uploads.values()) == [stored.wav]  # the stored clip, byte for byte: nothing synthesized
    assert stored.text.startswith(f"Herald here. Priority 1 incident {number} on tts-inference.")
    assert stored.text[:80] in completed["initial_comment"]


def test_postmortem_command_uploads_the_exports_into_the_incident_thread(herald, slack, fake) -> None:
    number = open_incident(herald, title="GPU memory at 100% on tts-inference")
    herald.client.post(f"/api/v1/incidents/{number}/resolve", json={"note": "rolled back"})
    herald.run_outbox()
    row = message_of(herald, number)
    answer = slack.command("/incident", f"postmortem {number}")
    assert answer.status_code == 200 and "Preparing the post-mortem" in answer.json()["text"]
    completed = fake.wait_for(lambda f: f.named("files.completeUploadExternal"))[0].params
    assert (completed["channel_id"], completed["thread_ts"]) == (row.channel, row.ts)
    assert f"incident #{number}" in completed["initial_comment"]
    files = json.loads(completed["files"]) if isinstance(completed["files"], str) else completed["files"]
    titles = sorted(f["title"] for f in files)
    assert [t.rsplit(".", 1)[-1] for t in titles] == ["html", "json", "md", "png"]  # Markdown, its chart, HTML, JSON
    uploaded = list(fake.uploads.values())
    assert any(content.startswith(b"\x89PNG") for content in uploaded)
    assert any(b"GPU memory at 100% on tts-inference" in content for content in uploaded)


def test_postmortem_of_an_unknown_incident_is_refused_once(herald, slack, fake) -> None:
    answer = slack.command("/incident", "postmortem 999")
    assert "999" in answer.json()["text"]
    assert fake.named("files.getUploadURLExternal") == []
