"""How loud a page is and how long people have to answer, per severity, configurable per team.

Defaults (the issue's): P1 phones and sends a Slack DM and forces a response (the policy keeps walking until someone
acknowledges); P2 sends a Slack DM, posts in the channel and e-mails; P3 pages nobody and is summarised in the team
channel's daily digest. SLA: P1 acknowledged within 5 min, P2 within 30 min, P3 none (`HERALD_SLA_ACK_MINUTES_*`).
A team overrides any of it in its settings (`herald config apply`), e.g.
`{loudness: {P2: [slack_dm]}, sla: {P2: 15m}, ack_timeout: 1h, forced: [P1, P2]}`.

The profile is frozen onto the escalation when the incident triggers, with the policy, so a config change never
alters a page already under way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.escalation.policy import Duration
from bot.notify.channels import ChannelName
from bot.settings import Settings

DEFAULT_LOUDNESS: dict[str, tuple[str, ...]] = {
    "P1": (ChannelName.VOICE.value, ChannelName.SLACK_DM.value),
    "P2": (ChannelName.SLACK_DM.value, ChannelName.SLACK_CHANNEL.value, ChannelName.EMAIL.value),
    "P3": (),
}
DEFAULT_FORCED = ("P1",)


class TeamPagingIn(BaseModel):
    """The part of a team's settings that tunes paging (all optional)."""

    model_config = ConfigDict(extra="forbid")

    loudness: dict[str, list[ChannelName]] = {}
    sla: dict[str, Duration] = {}
    ack_timeout: Duration | None = None
    forced: list[str] | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class PagingProfile:
    channels: tuple[str, ...]
    forced: bool
    sla: timedelta | None
    ack_timeout: timedelta | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "forced": self.forced,
            "sla_seconds": self.sla.total_seconds() if self.sla else None,
            "ack_timeout_seconds": self.ack_timeout.total_seconds() if self.ack_timeout else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PagingProfile:
        return cls(
            channels=tuple(data.get("channels", ())),
            forced=bool(data.get("forced")),
            sla=timedelta(seconds=data["sla_seconds"]) if data.get("sla_seconds") else None,
            ack_timeout=timedelta(seconds=data["ack_timeout_seconds"]) if data.get("ack_timeout_seconds") else None,
        )


def profile_for(severity: str, settings: Settings, team_settings: Mapping[str, Any] | None) -> PagingProfile:
    team = TeamPagingIn.model_validate((team_settings or {}).get("paging", {}))
    default_sla = {
        "P1": settings.sla_ack_minutes_p1,
        "P2": settings.sla_ack_minutes_p2,
        "P3": settings.sla_ack_minutes_p3,
    }
    sla = team.sla.get(severity)
    if sla is None and default_sla.get(severity):
        sla = timedelta(minutes=default_sla[severity])
    ack_timeout = team.ack_timeout
    if ack_timeout is None and settings.ack_timeout_minutes:
        ack_timeout = timedelta(minutes=settings.ack_timeout_minutes)
    loud = team.loudness.get(severity)
    return PagingProfile(
        channels=tuple(c.value for c in loud) if loud is not None else DEFAULT_LOUDNESS.get(severity, ()),
        forced=severity in (team.forced if team.forced is not None else DEFAULT_FORCED),
        sla=sla or None,
        ack_timeout=ack_timeout or None,
    )
