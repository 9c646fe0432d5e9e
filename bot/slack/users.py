"""Slack user ↔ Herald user.

The explicit link is `users.slack_id`. When it is empty, Herald matches by e-mail address: a Slack user's address
comes from `users.info` (scope `users:read.email`), a Herald user's Slack id from `users.lookupByEmail`; a match is
written back to `users.slack_id`, so each person costs one Web API call, once. Web API calls never happen inside a
database transaction (on SQLite a transaction holds the write lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.directory.models import User
from bot.errors import Forbidden
from bot.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The Herald user behind a Slack user id, as handlers need it (no live ORM object across transactions)."""

    user_id: int
    name: str
    slack_id: str
    role: str
    time_zone: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SlackDirectory:
    def __init__(self, runtime: Runtime, client: WebClient) -> None:
        self._runtime = runtime
        self._client = client

    def actor(self, slack_id: str) -> Actor:
        """The Herald user of a Slack user, or Forbidden saying how to get linked."""
        found = self._by_slack_id(slack_id)
        if found:
            return found
        email = self._slack_email(slack_id)
        if email:
            with self._runtime.transaction() as session:
                user = session.scalars(select(User).where(func.lower(User.email) == email.lower())).one_or_none()
                if user is not None and user.slack_id in (None, slack_id):
                    user.slack_id = slack_id
                    return _actor(user)
        raise Forbidden(
            "your Slack account is not linked to a Herald user: ask an admin to add your e-mail address "
            "to Herald's directory (or to set your Slack id on your user)"
        )

    def slack_id_of(self, user_id: int) -> str | None:
        """The Slack id of a Herald user (for mentions and direct messages), looked up by e-mail once."""
        with self._runtime.sessions() as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            if user.slack_id:
                return user.slack_id
            email = user.email
        try:
            found = self._client.users_lookupByEmail(email=email)["user"]["id"]
        except SlackApiError as exc:
            log.info("no Slack user for %s: %s", email, exc.response.get("error"))
            return None
        with self._runtime.transaction() as session:
            user = session.get(User, user_id)
            if user is not None and not user.slack_id:
                user.slack_id = found
        return found

    def _by_slack_id(self, slack_id: str) -> Actor | None:
        with self._runtime.sessions() as session:
            user = session.scalars(select(User).where(User.slack_id == slack_id)).one_or_none()
            return _actor(user) if user else None

    def _slack_email(self, slack_id: str) -> str | None:
        try:
            profile = self._client.users_info(user=slack_id)["user"].get("profile", {})
        except SlackApiError as exc:
            log.info("users.info %s failed: %s", slack_id, exc.response.get("error"))
            return None
        return profile.get("email")


def _actor(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        name=user.name,
        slack_id=user.slack_id or "",
        role=user.role,
        time_zone=user.time_zone,
    )
