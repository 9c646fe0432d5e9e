"""`herald config apply`: idempotent, refused whole with line numbers, the issue's policy format as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.directory.models import Team, User
from bot.escalation.models import EscalationPolicy
from bot.schedules.models import Schedule
from tests.scenarios.escalation_harness import TEAM_CONFIG

SCHEDULE = """
schedules:
  - name: sre-primary
    team: sre
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: weekly
        start: 2025-11-17T09:00
        participants: [alice@company.com, bob@company.com]
"""


def _settings(database_url: str):
    from tests.support.herald import make_settings

    return make_settings(database_url)


def test_applying_the_same_file_twice_changes_nothing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "herald.yaml"
    path.write_text(TEAM_CONFIG + SCHEDULE)
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    first = capsys.readouterr().out
    assert "user alice@company.com created" in first and "escalation policy TTS Production On-Call created" in first
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    assert "no change(s)" in capsys.readouterr().out

    path.write_text((TEAM_CONFIG + SCHEDULE).replace("wait: 10m", "wait: 15m"))
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    out = capsys.readouterr().out
    assert "escalation policy TTS Production On-Call updated" in out and "1 change(s)" in out


def test_a_bad_file_is_refused_whole_with_line_numbers(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = (
        (TEAM_CONFIG + SCHEDULE)
        .replace("start: 2025-11-17T09:00", "start: next monday")
        .replace("{level: 2, user: bob@company.com, wait: 10m}", "{level: 2, user: bob@company.com, wait: soon}")
    )
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    assert main(["config", "apply", str(path)], _settings(database_url)) == 2
    err = capsys.readouterr().err
    lines = bad.splitlines()
    wait_line = next(i for i, text in enumerate(lines, 1) if "wait: soon" in text)
    start_line = next(i for i, text in enumerate(lines, 1) if "next monday" in text)
    assert f"line {wait_line}: escalation_policy.rules[1].wait" in err
    assert f"line {start_line}: schedules[0].layers[0].start" in err
    from bot.db import make_engine

    engine = make_engine(database_url)
    with engine.connect() as connection:
        counts = [
            connection.scalar(select(func.count()).select_from(t)) for t in (User, Team, EscalationPolicy, Schedule)
        ]
    engine.dispose()
    assert counts == [0, 0, 0, 0]


def test_unknown_reference_names_its_line(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = TEAM_CONFIG.replace("members: [carol@company.com]", "members: [zed@company.com]")
    path = tmp_path / "ref.yaml"
    path.write_text(text)
    assert main(["config", "apply", str(path)], _settings(sqlite_url)) == 2
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "zed@" in t)
    team_line = next(i for i, t in enumerate(text.splitlines(), 1) if "- name: sre" in t)
    err = capsys.readouterr().err
    assert "unknown member 'zed@company.com'" in err and f"line {team_line}" in err and line > team_line


TEAM_VOICE = """
    voice:
      voice: mara-calm
      max_seconds: 15
      glossary: {k8s: kubernetes, 蚌埠: beng4 bu4}
"""


def _with_team_voice(voice: str) -> str:
    anchor = "    members: [carol@company.com]\n"
    assert anchor in TEAM_CONFIG
    return TEAM_CONFIG.replace(anchor, anchor + voice.lstrip("\n"))


def test_team_voice_settings_are_applied_and_read_by_calls(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.db import make_engine
    from bot.voice.summary import VoiceStyle

    def style() -> VoiceStyle:
        engine = make_engine(database_url)
        with engine.connect() as connection:
            settings = connection.scalar(select(Team.settings).where(Team.name == "sre"))
        engine.dispose()
        return VoiceStyle.of(settings, 20)

    path = tmp_path / "herald.yaml"
    path.write_text(_with_team_voice(TEAM_VOICE))
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    assert style() == VoiceStyle("mara-calm", {"k8s": "kubernetes", "蚌埠": "beng4 bu4"}, 15.0)
    capsys.readouterr()
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    assert "no change(s)" in capsys.readouterr().out

    path.write_text(TEAM_CONFIG)  # a team listed without `voice:` goes back to the defaults
    assert main(["config", "apply", str(path)], _settings(database_url)) == 0
    assert "team sre updated" in capsys.readouterr().out
    assert style() == VoiceStyle(None, {}, 20.0)


def test_bad_team_voice_settings_are_refused_with_line_numbers(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _with_team_voice(
        """
    voice:
      voice: Mara Calm
      max_seconds: 600
      glossary: {k8s: ""}
      language: zh
"""
    )
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["config", "apply", str(path)], _settings(sqlite_url)) == 2
    err = capsys.readouterr().err
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, t in enumerate(lines, 1) if fragment in t)

    assert f"line {line_of('voice: Mara Calm')}: teams[0].voice.voice: voice 'Mara Calm': a registered voice" in err
    assert f"line {line_of('max_seconds: 600')}: teams[0].voice.max_seconds: Input should be less than or equal" in err
    assert f"line {line_of('glossary:')}: teams[0].voice.glossary.k8s: String should have at least 1 character" in err
    assert f"line {line_of('language: zh')}: teams[0].voice.language: Extra inputs are not permitted" in err
