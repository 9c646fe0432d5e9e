"""`herald demo` replays the seed incident through the HTTP endpoints and prints it with its timeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from bot.cli import main
from bot.incidents.models import Incident
from bot.settings import Settings


def test_demo_replays_the_seed_incident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert main(["demo", "--dir", str(tmp_path / "demo")], settings) == 0
    out = capsys.readouterr().out
    assert "Alertmanager retries the same group" in out and "outcomes={'duplicate': 3}" in out
    assert "Severity raised from P2 to P1" in out
    assert "all 9 alert(s) resolved" in out

    engine = create_engine(f"sqlite:///{tmp_path / 'demo' / 'herald-demo.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            select(Incident.number, Incident.state, Incident.severity, Incident.paging_suppressed, Incident.alert_count)
        ).all()
    engine.dispose()
    # The canary inside its maintenance window, the outage (one incident for VictorOps + Alertmanager alerts), and
    # the callout scenario: a P1 nobody acks in Slack, acknowledged by pressing 1 on the phone.
    assert rows == [
        (1, "resolved", "P2", True, 1),
        (2, "resolved", "P1", False, 9),
        (3, "acknowledged", "P1", False, 1),
    ]
    # A second run starts from a fresh database again.
    assert main(["demo", "--dir", str(tmp_path / "demo")], settings) == 0
