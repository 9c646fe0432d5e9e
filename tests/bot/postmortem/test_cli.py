"""`herald export` and `herald report` against the recorded outage's database, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.bot.postmortem.conftest import TITLE, Recorded
from tests.support.herald import make_settings


def test_export_writes_each_format_with_its_chart(
    recorded_sqlite: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = recorded_sqlite.number
    out = tmp_path / "pm"
    settings = make_settings(recorded_sqlite.database_url)
    argv = ["export", f"#{n}", "--format", "md", "--format", "html", "--format", "json", "--out", str(out)]
    assert main(argv, settings) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"incident-{n}-postmortem.{ext}" for ext in ("html", "json", "md")] + [
        f"incident-{n}-timeline.png"
    ]
    assert capsys.readouterr().out.split() == [str(out / name) for name in names[2:3] + names[3:] + names[:2]]
    assert (out / f"incident-{n}-postmortem.md").read_text().startswith(f"# Post-mortem: incident #{n}: {TITLE}")
    assert json.loads((out / f"incident-{n}-postmortem.json").read_text())["incident"]["number"] == n
    assert (out / f"incident-{n}-timeline.png").read_bytes().startswith(b"\x89PNG")


def test_export_of_an_unknown_incident_exits_2(
    recorded_sqlite: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(recorded_sqlite.database_url)
    assert main(["export", "404", "--out", str(tmp_path)], settings) == 2
    assert capsys.readouterr().err == "herald: no incident #404\n"
    with pytest.raises(SystemExit) as bad_format:
        main(["export", "1", "--format", "pdf"], settings)
    assert bad_format.value.code == 2


def test_report_as_table_csv_and_json(recorded_sqlite: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(recorded_sqlite.database_url)
    span = ["--from", "2025-11-18", "--to", "2025-11-18"]
    assert main(["report", "--team", "mlops", *span], settings) == 0
    table = capsys.readouterr().out
    assert "On-call report (team mlops)" in table
    assert "tts-inference" in table and "5m 44s" in table and "28m 50s" in table and "1/1 (100%)" in table

    assert main(["report", "--service", "tts-inference", "--format", "csv", *span], settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("scope,team,service,incidents,open,acknowledged,unacknowledged,resolved,mtta_seconds")
    assert lines[1].startswith("total,,,1,0,1,0,1,344.088,1730.0,1,1,1.0,2,2,1.0")

    assert main(["report", "--format", "json", *span], settings) == 0
    assert json.loads(capsys.readouterr().out)["total"]["sla_breached"] == 1

    assert main(["report", "--team", "nobody", *span], settings) == 2
    assert capsys.readouterr().err == "herald: no team named 'nobody'\n"
