"""Escalation policies: the YAML people write → a frozen `Policy` the engine walks.

The format people already write loads as it is::

    escalation_policy:
      name: TTS Production On-Call
      rules:
        - {level: 1, user: alice@company.com, wait: 5m}
        - {level: 2, user: bob@company.com, wait: 10m}
        - {level: 3, team: sre-oncall@company.com}

A rule names its targets with `user`, `schedule`, `team` or `slack_channel` (a value or a list), or a `targets` list
of such one-key mappings; `channels` overrides the severity's channels for that level, `hook` runs an automation
hook, `wait` (`30s`, `5m`, `1h30m`, or a number of minutes; default 5m) is the time before the next level. Rules with
the same `level` number are merged. `repeat: K` walks the whole policy K more times when nobody acknowledges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, model_validator

from bot.notify.channels import ChannelName

__all__ = ["Level", "Policy", "PolicyIn", "Target", "parse_duration"]

TARGET_KINDS = ("user", "schedule", "team", "slack_channel")
DEFAULT_WAIT = timedelta(minutes=5)
_ISO = TypeAdapter(timedelta)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> timedelta:
    """`90s`, `5m`, `1h30m`, `2d`, ISO 8601 (`PT5M`), or a bare number of minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is like 30s, 5m, 1h30m or a number of minutes")
    if isinstance(value, int | float):
        minutes = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text.startswith("p"):  # ISO 8601 (PT5M), as stored definitions serialise durations
            return _ISO.validate_python(str(value).strip().upper())
        if re.fullmatch(r"\d+(\.\d+)?", text):
            minutes = float(text)
        else:
            match = _DURATION.match(text)
            if not text or not match:
                raise ValueError(f"a duration is like 30s, 5m, 1h30m or a number of minutes; not {value!r}")
            d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
    if minutes < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(minutes=minutes)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Names = Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetIn(_Strict):
    user: str | None = None
    schedule: str | None = None
    team: str | None = None
    slack_channel: str | None = None

    @model_validator(mode="after")
    def _one(self) -> TargetIn:
        if sum(v is not None for v in (self.user, self.schedule, self.team, self.slack_channel)) != 1:
            raise ValueError("a target names exactly one of user, schedule, team or slack_channel")
        return self


class RuleIn(_Strict):
    level: int | None = Field(default=None, ge=1)
    user: Names | None = None
    schedule: Names | None = None
    team: Names | None = None
    slack_channel: Names | None = None
    targets: list[TargetIn] = Field(default_factory=list)
    wait: Duration | None = None
    channels: list[ChannelName] | None = None
    hook: str | None = None

    @model_validator(mode="after")
    def _has_work(self) -> RuleIn:
        if not self.targets_list() and not self.hook:
            raise ValueError("a rule needs a target (user, schedule, team, slack_channel or targets) or a hook")
        return self

    def targets_list(self) -> list[Target]:
        found = [Target(kind, name) for kind in TARGET_KINDS for name in (getattr(self, kind) or [])]
        for target in self.targets:
            kind = next(k for k in TARGET_KINDS if getattr(target, k) is not None)
            found.append(Target(kind, getattr(target, kind)))
        return found


class PolicyIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    team: str | None = None
    repeat: int = Field(default=0, ge=0, le=20)
    rules: list[RuleIn] = Field(min_length=1)

    def to_policy(self) -> Policy:
        numbered = sorted(enumerate(self.rules), key=lambda pair: (pair[1].level or pair[0] + 1, pair[0]))
        levels: list[Level] = []
        last_number: int | None = None
        for index, rule in numbered:
            number = rule.level or index + 1
            level = Level(
                targets=tuple(rule.targets_list()),
                wait=rule.wait if rule.wait is not None else DEFAULT_WAIT,
                channels=tuple(c.value for c in rule.channels) if rule.channels else None,
                hook=rule.hook,
            )
            if number == last_number:
                levels[-1] = levels[-1].merged(level)
            else:
                levels.append(level)
            last_number = number
        return Policy(name=self.name, levels=tuple(levels), repeat=self.repeat)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> PolicyIn:
        """Accept both `{escalation_policy: {...}}` and the bare policy mapping."""
        inner = document.get("escalation_policy", document) if isinstance(document, Mapping) else document
        return cls.model_validate(inner)


@dataclass(frozen=True)
class Target:
    kind: str  # user | schedule | team | slack_channel
    ref: str

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True)
class Level:
    targets: tuple[Target, ...]
    wait: timedelta
    channels: tuple[str, ...] | None = None
    hook: str | None = None

    def merged(self, other: Level) -> Level:
        return Level(
            targets=self.targets + other.targets,
            wait=max(self.wait, other.wait),
            channels=self.channels or other.channels,
            hook=self.hook or other.hook,
        )


@dataclass(frozen=True)
class Policy:
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0

    def after(self, level: int, round_: int, *, forced: bool) -> tuple[int, int] | None:
        """The position after (level, round): the next level, the next round, or None when the policy is spent.

        A forced response (P1 by default) keeps walking the policy until someone acknowledges.
        """
        if level + 1 < len(self.levels):
            return level + 1, round_
        if round_ < self.repeat or forced:
            return 0, round_ + 1
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repeat": self.repeat,
            "levels": [
                {
                    "targets": [{"kind": t.kind, "ref": t.ref} for t in level.targets],
                    "wait_seconds": level.wait.total_seconds(),
                    "channels": list(level.channels) if level.channels else None,
                    "hook": level.hook,
                }
                for level in self.levels
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        return cls(
            name=data["name"],
            repeat=data.get("repeat", 0),
            levels=tuple(
                Level(
                    targets=tuple(Target(t["kind"], t["ref"]) for t in level["targets"]),
                    wait=timedelta(seconds=level["wait_seconds"]),
                    channels=tuple(level["channels"]) if level.get("channels") else None,
                    hook=level.get("hook"),
                )
                for level in data["levels"]
            ),
        )
