"""The written shape of a schedule: what the HTTP API and `herald config apply` accept, validated once here.

Layers are listed lowest first; a later layer wins wherever it has someone. A rotation layer's `start` is a
wall-clock time in the schedule's zone (the first hand-off); `rotation` is `daily`, `weekly` or a length such as
`12h`, `3d`, `2w`. An `ical` layer holds an iCalendar feed instead.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.schedules.ical import parse_calendar
from bot.schedules.rotation import Restriction, ShiftLength, parse_weekdays


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestrictionIn(_Strict):
    days: list[str | int] = Field(default_factory=lambda: ["mon-sun"])
    start: time
    end: time

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str | int]) -> list[str | int]:
        try:
            parse_weekdays(value)
        except ValueError:
            raise ValueError(f"days must be names like mon, tue, mon-fri, weekdays or weekend; not {value}") from None
        return value

    def to_restriction(self) -> Restriction:
        return Restriction(parse_weekdays(self.days), self.start, self.end)


class LayerIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    rotation: str | None = None
    start: datetime | None = None
    participants: list[str] = Field(default_factory=list)
    restrictions: list[RestrictionIn] = Field(default_factory=list)
    ical: str | None = None

    @field_validator("rotation")
    @classmethod
    def _rotation(cls, value: str | None) -> str | None:
        return None if value is None else str(ShiftLength.parse(value))

    @field_validator("start")
    @classmethod
    def _wall_clock(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("start is a wall-clock time in the schedule's time_zone; drop the offset")
        return value

    @field_validator("ical")
    @classmethod
    def _ical(cls, value: str | None) -> str | None:
        if value is not None:
            parse_calendar(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> LayerIn:
        if (self.rotation is None) == (self.ical is None):
            raise ValueError(f"layer {self.name!r} needs either `rotation` (with start and participants) or `ical`")
        if self.rotation is not None:
            if self.start is None:
                raise ValueError(f"layer {self.name!r} needs `start`, the wall-clock time of its first hand-off")
            if not self.participants:
                raise ValueError(f"layer {self.name!r} needs at least one participant")
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"name": self.name}


class OverrideIn(_Strict):
    start: datetime
    end: datetime
    user: str
    replaces: str | None = None
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _window(self) -> OverrideIn:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("override start and end need a UTC offset (e.g. 2025-11-18T09:00:00+01:00)")
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")
        return self


class ScheduleIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    time_zone: str = "UTC"
    team: str | None = None
    reminder_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    layers: list[LayerIn] = Field(min_length=1)
    overrides: list[OverrideIn] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/Berlin, America/New_York)") from None
        return value

    @model_validator(mode="after")
    def _unique_layers(self) -> ScheduleIn:
        names = [layer.name for layer in self.layers]
        if len(names) != len(set(names)):
            raise ValueError("layer names must be unique within a schedule")
        return self
