"""Who may act on an incident: its responders, the on-call of its team (a lookup), admins; nobody else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.directory.models import Service, User
from bot.errors import Forbidden
from bot.escalation.permissions import check_may_act, may_act
from bot.incidents.models import Incident
from tests.scenarios.escalation_harness import TEAM_CONFIG, Scenario


@dataclass(frozen=True)
class Who:
    user_id: int | None
    is_admin: bool = False


@pytest.fixture
def scenario(database_url: str) -> Iterator[Scenario]:
    scenario = Scenario(database_url, TEAM_CONFIG)
    yield scenario
    scenario.close()


def _incident(session: Session, number: int) -> Incident:
    return session.scalars(
        select(Incident)
        .where(Incident.number == number)
        .options(selectinload(Incident.service).selectinload(Service.team))
    ).one()


def _ids(session: Session) -> dict[str, int]:
    return {user.name: user.id for user in session.scalars(select(User))}


def test_responders_the_on_call_of_the_team_and_admins_may_act(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference")  # level 1 pages Alice
    with scenario.runtime.sessions() as session:
        incident, ids = _incident(session, number), _ids(session)

        def allowed(who: Who, on_call: set[int] | None = None) -> bool:
            lookup = None if on_call is None else (lambda _session, _team_id: on_call)
            return may_act(session, actor=who, incident=incident, on_call=lookup)

        assert allowed(Who(ids["Alice"]))  # notified: a responder
        assert not allowed(Who(ids["Bob"]))  # level 2, not paged yet
        assert not allowed(Who(ids["Carol"]), on_call=set())  # in the team, not on call
        assert allowed(Who(ids["Dave"]), on_call={ids["Dave"]})  # on call for the team now
        assert allowed(Who(ids["Dave"], is_admin=True))
        assert allowed(Who(None, is_admin=True))  # automation with the API token
        assert not allowed(Who(None))


def test_refusal_says_who_may(scenario: Scenario) -> None:
    number = scenario.trigger("tts-inference")
    with scenario.runtime.sessions() as session:
        incident, ids = _incident(session, number), _ids(session)
        with pytest.raises(Forbidden) as refused:
            check_may_act(session, actor=Who(ids["Bob"]), incident=incident, verb="resolve", on_call=None)
        check_may_act(session, actor=Who(ids["Alice"]), incident=incident, verb="resolve", on_call=None)
    assert refused.value.reason == (
        f"you may not resolve incident #{number}: only its responders, the on-call of team sre, or Herald admins may"
    )
