"""Spoken summaries: both languages, team templates, emotion by severity, and the length cap (no word is cut)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.voice.presynth import render
from bot.voice.summary import IncidentFacts, Templates, VoiceStyle, alert_figure, emotion_for, estimate_seconds
from bot.voice.tts import build_speech

FACTS = IncidentFacts(
    number=42,
    severity="P1",
    state="triggered",
    what="p95 latency of POST /tts/synthesize above 1.2 s",
    since="15:02",
    alert_count=3,
    service="tts-inference",
    others=("Mara Lindqvist",),
)


def test_english_page_says_what_when_how_many_who_and_the_keys() -> None:
    message = Templates(None).page([FACTS], "en", 20.0)
    assert message.text == (
        "Herald here. Priority 1 incident 42 on tts-inference. p95 latency of POST /tts/synthesize above 1.2 s. "
        "Since 15:02, 3 alerts. Already paged: Mara Lindqvist. Press 1 to acknowledge, 2 to escalate, 3 to hear again."
    )
    assert (message.emotion, message.detail) == ("urgent", 3)


def test_chinese_page() -> None:
    message = Templates(None).page([FACTS], "zh", 20.0)
    assert message.text.startswith("Herald值班提醒。1级故障，编号42，服务tts-inference。")
    assert "共3条告警" in message.text and "已通知：Mara Lindqvist" in message.text
    assert message.text.endswith("确认请按1，升级请按2，重听请按3。") and message.language == "zh"


@pytest.mark.parametrize(
    ("count", "english", "chinese"),
    [
        (1, "Since 15:02, 1 alert.", "共1条告警"),
        (10, "Since 15:02, 10 alerts.", "共10条告警"),
        (11, "Since 15:02, more than 10 alerts.", "已超过10条告警"),
        (437, "Since 15:02, more than 200 alerts.", "已超过200条告警"),
    ],
)
def test_a_call_says_the_alert_count_up_to_ten_then_its_order_of_magnitude(
    count: int, english: str, chinese: str
) -> None:
    facts = replace(FACTS, alert_count=count)
    assert english in Templates(None).page([facts], "en", 20.0).text
    assert chinese in Templates(None).page([facts], "zh", 20.0).text


def test_the_spoken_alert_figure_moves_only_at_its_steps() -> None:
    """Pre-synthesis re-renders at these moves only: the words of a 1,200-alert storm change 16 times, not 1,199."""
    moves = [n for n in range(2, 1200) if alert_figure(n) != alert_figure(n - 1)]
    assert moves == [*range(2, 12), 21, 51, 101, 201, 501, 1001]


def test_several_incidents_one_message_and_one_choice_for_all() -> None:
    other = IncidentFacts(
        number=43, severity="P2", state="triggered", what="GPU memory at 100 %", since="15:03", alert_count=1
    )
    message = Templates(None).page([FACTS, other], "en", 20.0)
    assert "2 incidents for you" in message.text and "Press 1 to acknowledge all" in message.text
    assert message.emotion == "urgent"  # the worst severity sets the tone


@pytest.mark.parametrize(
    ("severity", "state", "emotion"),
    [("P1", "triggered", "urgent"), ("P2", "triggered", "concerned"), ("P1", "resolved", "reassuring")],
)
def test_severity_picks_the_emotion(severity: str, state: str, emotion: str) -> None:
    assert emotion_for(severity, state) == emotion


def test_a_team_template_overrides_the_default(tmp_path: Path) -> None:
    (tmp_path / "mlops" / "en").mkdir(parents=True)
    (tmp_path / "mlops" / "en" / "page.j2").write_text("Team mlops: incident {{ i.number }}, {{ i.what }}.")
    assert Templates(tmp_path, "mlops").page([FACTS], "en", 20).text.startswith("Team mlops: incident 42")
    assert Templates(tmp_path, "other").page([FACTS], "en", 20).text.startswith("Herald here.")


def test_team_voice_settings() -> None:
    style = VoiceStyle.of({"voice": {"voice": "mara", "glossary": {"k8s": "kubernetes"}, "max_seconds": 15}}, 20)
    assert (style.voice, dict(style.glossary), style.max_seconds) == ("mara", {"k8s": "kubernetes"}, 15.0)
    invalid = {"voice": {"voice": "Mara!", "max_seconds": 15}}  # only a hand-edited database holds this
    assert VoiceStyle.of(invalid, 20) == VoiceStyle(max_seconds=20.0)  # the defaults: a page never fails over it


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_cap_holds_by_dropping_sentences_and_duration_control(tmp_path: Path, language: str) -> None:
    long = IncidentFacts(
        number=4217,
        severity="P1",
        state="triggered",
        what=" ".join(["GPU framebuffer exhausted on every node of the tts inference pool"] * 3),
        since="15:02",
        alert_count=27,
        service="tts-inference",
        others=("Mara Lindqvist", "Bob Berg", "Li Wei", "Ada Admin"),
    )
    cap = 12.0
    message = Templates(None).page([long], language, cap)
    assert message.detail < 3  # sentences were dropped, whole
    assert estimate_seconds(message.text, language) > cap  # and the rest is brought under the cap by the engine
    speech = build_speech(Settings(_env_file=None, data_dir=tmp_path))
    rendered = render(speech, message, VoiceStyle(max_seconds=cap))
    assert rendered.seconds <= cap + 0.05
    assert "GPU framebuffer exhausted" in message.text  # the words were not cut
