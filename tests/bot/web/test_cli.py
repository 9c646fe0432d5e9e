"""`herald user set-password`: the first admin gets in from the command line."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.db import make_engine, make_session_factory
from bot.directory.models import User
from bot.web import auth
from tests.support.herald import make_settings


def run(monkeypatch: pytest.MonkeyPatch, url: str, argv: list[str], stdin: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["user", "set-password", *argv, "--password-stdin"], make_settings(url))


def test_creates_the_first_admin_who_can_then_sign_in(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, sqlite_url, ["mara@example.com", "--name", "Mara", "--admin"], "s3cret-enough\n") == 0
    assert "password set for Mara <mara@example.com> (admin)" in capsys.readouterr().out
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        user = auth.authenticate(session, email="mara@example.com", password="s3cret-enough")
        assert user.role == "admin"
    engine.dispose()


def test_bad_input_exits_2_and_changes_nothing(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, sqlite_url, ["nobody@example.com"], "s3cret-enough\n") == 2
    assert "pass --name to create one" in capsys.readouterr().err
    assert run(monkeypatch, sqlite_url, ["mara@example.com", "--name", "Mara"], "short\n") == 2
    assert "at least 8 characters" in capsys.readouterr().err
    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(User)).all() == []
    engine.dispose()


def test_asks_twice_without_echo_when_interactive(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["first-try-1", "second-try"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))
    assert main(["user", "set-password", "x@example.com", "--name", "X"], make_settings(sqlite_url)) == 2
