"""Slack user ↔ Herald user: by e-mail once, then by the stored id; no match is a clear refusal."""

from __future__ import annotations

import pytest

from bot.directory.models import User
from bot.errors import Forbidden
from tests.bot.slack.conftest import MARA, STRANGER


def _slack_id(herald, email: str) -> str | None:
    with herald.runtime.sessions() as session:
        return session.query(User).filter_by(email=email).one().slack_id


def test_a_slack_user_is_matched_by_email_once_and_remembered(herald, fake) -> None:
    directory = herald.runtime.extras["slack"].directory
    actor = directory.actor(MARA)
    assert (actor.name, actor.slack_id) == ("Mara Lindqvist", MARA)
    assert _slack_id(herald, "mara.lindqvist@example.com") == MARA
    directory.actor(MARA)
    assert len(fake.named("users.info")) == 1  # the second time comes from the database
    with pytest.raises(Forbidden, match="not linked"):
        directory.actor(STRANGER)


def test_a_herald_users_slack_id_is_looked_up_by_email(herald, fake) -> None:
    directory = herald.runtime.extras["slack"].directory
    with herald.runtime.sessions() as session:
        ada = session.query(User).filter_by(email="ada.admin@example.com").one().id
    assert directory.slack_id_of(ada) == "U0ADMIN001"
    assert fake.named("users.lookupByEmail")[0].params["email"] == "ada.admin@example.com"
    assert _slack_id(herald, "ada.admin@example.com") == "U0ADMIN001"
