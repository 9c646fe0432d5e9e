"""Pre-synthesis: the audio of each expected call is rendered when the incident triggers, found by the call, and a
call due before it is ready goes out at once with the fallback voice, which the timeline says. Alerts joining re-render
only when the spoken count moves, debounced to one job per window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.notify.outbox import OutboxMessage
from bot.voice.models import Callout, VoiceClip
from bot.voice.presynth import ALERT_DEBOUNCE, KIND
from tests.bot.voice.harness import CONFIG, LI, MARA, VoiceHerald, voice_herald
from tests.support.alerts import post_pod_alerts


def test_trigger_renders_each_expected_call_and_the_call_uses_it(database_url: str, tmp_path: Path) -> None:
    with voice_herald(database_url, tmp_path, telephony_simulated_script=f"{MARA}=press:1") as herald:
        number = herald.trigger()
        assert herald.voice.presynth_worker.run_once() == 1
        with herald.runtime.sessions() as session:
            texts = [clip.text for clip in session.query(VoiceClip).order_by(VoiceClip.id)]
        assert texts[0].startswith(f"Herald here. Priority 1 incident {number} on tts-inference.")
        assert "You are the first to be paged" in texts[0]
        assert any("Already paged: Mara Lindqvist" in t for t in texts)  # Bob's call, level 2
        assert any(t.startswith(f"Incident {number} acknowledged, thank you") for t in texts)
        clips_before = len(texts)
        herald.settle()
        with herald.runtime.sessions() as session:
            call = session.query(Callout).one()
            assert session.query(VoiceClip).count() == clips_before  # nothing rendered at call time
            assert session.query(VoiceClip).filter(VoiceClip.key == call.clip_key).one().text == texts[0]
        calling = [m for kind, m in herald.timeline(number) if kind == "voice_call"]
        assert calling and "not ready" not in calling[0] and "no model folder configured" in calling[0]


def test_a_call_due_before_the_audio_is_ready_goes_out_now_with_the_fallback_voice(
    database_url: str, tmp_path: Path
) -> None:
    with voice_herald(database_url, tmp_path, telephony_simulated_script=f"{MARA}=press:1") as herald:
        number = herald.trigger()
        herald.runtime.extras["escalation"].engine.tick(herald.clock.now())
        herald.runtime.outbox.run_once()  # the page, before any pre-synthesis ran
        herald.phone.wait()
        assert herald.phone.calls[0].audio and "pressed:1" in herald.phone.calls[0].events
        calling = [m for kind, m in herald.timeline(number) if kind == "voice_call"]
        assert calling == [
            f"Calling Mara Lindqvist ({MARA}) (level 1): fallback voice: the natural voice was not ready"
        ]


def test_a_chinese_speaking_callee_hears_chinese(database_url: str, tmp_path: Path) -> None:
    config = CONFIG.replace("user: mara@example.com, wait: 5m", "user: li@example.com, wait: 5m")
    with voice_herald(database_url, tmp_path, config=config, telephony_simulated_script=f"{LI}=press:1") as herald:
        number = herald.trigger()
        calls = herald.settle()
        assert calls[0].to == LI and "pressed:1" in calls[0].events
        with herald.runtime.sessions() as session:
            call = session.query(Callout).one()
            assert call.language == "zh" and call.text.startswith("Herald值班提醒。1级故障")
            assert "从22:00开始" in call.text  # since when, in Li's time zone (Asia/Shanghai)
        assert ("acknowledged", "Acknowledged by li@example.com via phone") in herald.timeline(number)


def _presynth_jobs(herald: VoiceHerald) -> list[tuple[str, str, datetime]]:
    with herald.runtime.sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND).order_by(OutboxMessage.id))
        return [(m.payload["event"], m.status, m.next_attempt_at) for m in rows]


def test_alerts_re_render_once_per_window_and_only_when_the_spoken_count_moves(
    database_url: str, tmp_path: Path, fixtures_dir: Path
) -> None:
    with voice_herald(database_url, tmp_path) as herald:
        window = ALERT_DEBOUNCE.total_seconds()
        herald.clock.set(datetime.fromtimestamp((herald.clock.now().timestamp() // window + 1) * window, UTC))
        start = herald.clock.now()
        post_pod_alerts(herald.client, fixtures_dir, range(1))
        assert _presynth_jobs(herald) == [("triggered", "pending", start)]  # "1 alert": the trigger renders it
        # 2, 3 … 10 alerts: moves of one window, one job at its end
        post_pod_alerts(herald.client, fixtures_dir, range(1, 10))
        due = start + ALERT_DEBOUNCE
        assert _presynth_jobs(herald)[1:] == [("alert_added", "pending", due)]
        herald.clock.set(due)
        post_pod_alerts(herald.client, fixtures_dir, range(10, 15))  # 11 … 15: "more than 10 alerts" once, then no move
        jobs = _presynth_jobs(herald)
        assert [(event, at) for event, _status, at in jobs] == [
            ("triggered", start),
            ("alert_added", due),
            ("alert_added", due + ALERT_DEBOUNCE),
        ]
        herald.clock.set(due + ALERT_DEBOUNCE)
        herald.settle()
        with herald.runtime.sessions() as session:
            pages = [c.text for c in session.query(VoiceClip) if c.text.startswith("Herald here.")]
        assert any("Since" in text and "more than 10 alerts" in text for text in pages)
        assert all(status == "sent" for _event, status, _at in _presynth_jobs(herald))


def test_a_severity_change_renders_now_despite_a_debounced_job_behind_it(
    database_url: str, tmp_path: Path, fixtures_dir: Path
) -> None:
    with voice_herald(database_url, tmp_path) as herald:
        post_pod_alerts(herald.client, fixtures_dir, range(1), severity="warning")
        assert herald.voice.presynth_worker.run_once() == 1  # the P2 page
        # critical: severity raised, and "2 alerts" (debounced)
        post_pod_alerts(herald.client, fixtures_dir, range(1, 2))
        assert [event for event, _status, _at in _presynth_jobs(herald)] == [
            "triggered",
            "severity_raised",
            "alert_added",
        ]
        assert herald.voice.presynth_worker.run_once() == 1  # only the severity job is due, and it is not skipped
        with herald.runtime.sessions() as session:
            texts = [c.text for c in session.query(VoiceClip)]
        assert any(t.startswith("Herald here. Priority 1 incident") and "2 alerts" in t for t in texts)
