"""`herald config apply FILE`: users, teams (members, paging and voice settings), services (routing keys, policy),
schedules, escalation policies and automation hooks from one YAML file, in one transaction.

Idempotent: every object is matched by its natural key (e-mail, name, routing key) and only written when it differs,
so applying the same file twice reports no changes. Refused whole: every problem in the file is collected with its
line number and nothing is written if there is any. The file says what exists for what it lists; objects it does not
mention are left alone (it never deletes).

Line numbers come from PyYAML's composed node tree (each node keeps its start mark), looked up by the path of the
failing value (pydantic's `loc`), so an error points at the line that holds the bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.clock import Clock
from bot.directory.models import RoutingKey, Service, Team, User
from bot.errors import HeraldError, InvalidInput
from bot.escalation import service as escalation
from bot.escalation.policy import PolicyIn
from bot.escalation.profile import TeamPagingIn
from bot.escalation.service import HookIn
from bot.schedules import service as schedules
from bot.schedules.models import Schedule
from bot.schedules.schemas import ScheduleIn
from bot.voice.summary import TeamVoiceIn

Path = tuple[str | int, ...]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    name: str = Field(min_length=1, max_length=200)
    slack_id: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{5,31}$")
    time_zone: str = "UTC"
    language: str = Field(default="en", pattern="^(en|zh)$")


class TeamIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    slack_channel: str | None = None
    members: list[str] = Field(default_factory=list)
    paging: TeamPagingIn | None = None
    voice: TeamVoiceIn | None = None


class ServiceIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    team: str | None = None
    slack_channel: str | None = None
    routing_keys: list[str] = Field(default_factory=list)
    escalation_policy: str | None = None


class ConfigFile(_Strict):
    users: list[dict[str, Any]] = Field(default_factory=list)
    teams: list[dict[str, Any]] = Field(default_factory=list)
    schedules: list[dict[str, Any]] = Field(default_factory=list)
    escalation_policies: list[dict[str, Any]] = Field(default_factory=list)
    escalation_policy: dict[str, Any] | None = None
    services: list[dict[str, Any]] = Field(default_factory=list)
    hooks: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class ApplyReport:
    changes: list[str] = field(default_factory=list)


@dataclass
class _Problems:
    lines: dict[Path, int]
    found: list[tuple[int, str]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def add(self, path: Path, message: str) -> None:
        self.found.append((self.line(path), f"{_dotted(path)}: {message}" if path else message))

    def validation(self, base: Path, exc: ValidationError) -> None:
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            self.add(base + loc, error["msg"].removeprefix("Value error, "))


def load(text: str) -> tuple[Any, dict[Path, int]]:
    """The document and the line (1-based) of every path in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise InvalidInput(f"{where}not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: dict[Path, int] = {}
    if node is not None:
        _index(node, (), lines)
    return data, lines


def _index(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            _index(value, child, lines)
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*path, index), lines)


def apply(session: Session, *, clock: Clock, text: str, actor: str = "config") -> ApplyReport:
    """Apply a config document in the caller's transaction; raises InvalidInput (all problems, with lines)."""
    data, lines = load(text)
    problems = _Problems(lines)
    if not isinstance(data, dict):
        raise InvalidInput("line 1: the file must be a mapping with users, teams, schedules, services, ...")
    try:
        document = ConfigFile.model_validate(data)
    except ValidationError as exc:
        problems.validation((), exc)
        raise InvalidInput(_report(problems)) from None
    report = ApplyReport()
    policies = list(enumerate(document.escalation_policies))
    policy_section = "escalation_policies"
    if document.escalation_policy is not None:
        policies.append((-1, document.escalation_policy))
    sections: list[tuple[str, Sequence[tuple[int, dict[str, Any]]], type[BaseModel], Callable[..., str | None]]] = [
        ("users", list(enumerate(document.users)), UserIn, _user),
        ("teams", list(enumerate(document.teams)), TeamIn, _team),
        ("schedules", list(enumerate(document.schedules)), ScheduleIn, _schedule),
        (policy_section, policies, PolicyIn, _policy),
        ("services", list(enumerate(document.services)), ServiceIn, _service),
        ("hooks", list(enumerate(document.hooks)), HookIn, _hook),
    ]
    for section, items, model, write in sections:
        for index, raw in items:
            base: Path = ("escalation_policy",) if index < 0 else (section, index)
            try:
                body = model.model_validate(raw)
            except ValidationError as exc:
                problems.validation(base, exc)
                continue
            try:
                with session.begin_nested():
                    change = write(session, clock, body, actor)
            except HeraldError as exc:
                problems.add(base, exc.reason)
                continue
            if change:
                report.changes.append(change)
    if problems.found:
        raise InvalidInput(_report(problems))
    return report


def _user(session: Session, _clock: Clock, body: UserIn, _actor: str) -> str | None:
    row = session.scalars(select(User).where(func.lower(User.email) == body.email.lower())).one_or_none()
    values = body.model_dump(exclude={"email"})
    if row is None:
        session.add(User(email=body.email, **values))
        session.flush()
        return f"user {body.email} created"
    if all(getattr(row, k) == v for k, v in values.items()):
        return None
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return f"user {body.email} updated"


def _team(session: Session, _clock: Clock, body: TeamIn, _actor: str) -> str | None:
    row = session.scalars(select(Team).where(Team.name == body.name).options(selectinload(Team.members))).one_or_none()
    members = []
    for email in body.members:
        user = session.scalars(select(User).where(func.lower(User.email) == email.lower())).one_or_none()
        if user is None:
            raise InvalidInput(f"unknown member {email!r} (list them under users)")
        members.append(user)
    created = row is None
    if row is None:
        row = Team(name=body.name, settings={})
        session.add(row)
    settings = dict(row.settings or {})
    for key, section in (("paging", body.paging), ("voice", body.voice)):
        written = section.model_dump(mode="json", exclude_none=True, exclude_defaults=True) if section else {}
        settings.pop(key, None)
        if written:
            settings[key] = written
    before = (row.email, row.slack_channel, row.settings, sorted(u.id for u in row.members) if not created else None)
    row.email, row.slack_channel, row.settings = body.email, body.slack_channel, settings
    row.members = members
    session.flush()
    after = (row.email, row.slack_channel, row.settings, sorted(u.id for u in members))
    if created:
        return f"team {body.name} created"
    return f"team {body.name} updated" if before != after else None


def _schedule(session: Session, clock: Clock, body: ScheduleIn, actor: str) -> str | None:
    existed = session.scalars(select(Schedule.id).where(Schedule.name == body.name)).first() is not None
    _, changed = schedules.upsert_schedule(session, clock=clock, body=body, actor=actor)
    if not changed:
        return None
    return f"schedule {body.name} {'updated' if existed else 'created'}"


def _policy(session: Session, clock: Clock, body: PolicyIn, _actor: str) -> str | None:
    row, changed = escalation.upsert_policy(session, clock=clock, body=body)
    if not changed:
        return None
    return f"escalation policy {body.name} {'created' if row.created_at == row.updated_at else 'updated'}"


def _service(session: Session, clock: Clock, body: ServiceIn, _actor: str) -> str | None:
    team = session.scalars(select(Team).where(Team.name == body.team)).one_or_none() if body.team else None
    if body.team and team is None:
        raise InvalidInput(f"unknown team {body.team!r}")
    row = session.scalars(
        select(Service).where(Service.name == body.name).options(selectinload(Service.routing_keys))
    ).one_or_none()
    changes: list[str] = []
    if row is None:
        row = Service(name=body.name, created_at=clock.now(), description="")
        session.add(row)
        changes.append("created")
    values = {
        "description": body.description,
        "team_id": team.id if team else None,
        "slack_channel": body.slack_channel,
    }
    if any(getattr(row, k) != v for k, v in values.items()):
        for key, value in values.items():
            setattr(row, key, value)
        changes.append("updated")
    session.flush()
    for key in body.routing_keys:
        existing = session.get(RoutingKey, key)
        if existing is None:
            session.add(RoutingKey(key=key, service_id=row.id))
            changes.append(f"routing key {key} added")
        elif existing.service_id != row.id:
            owner = session.get(Service, existing.service_id)
            raise InvalidInput(f"routing key {key!r} already belongs to service {owner.name if owner else '?'!r}")
    if escalation.assign_policy(session, service=row, policy=body.escalation_policy):
        changes.append(f"policy {body.escalation_policy or 'removed'}")
    session.flush()
    return f"service {body.name}: {', '.join(dict.fromkeys(changes))}" if changes else None


def _hook(session: Session, clock: Clock, body: HookIn, _actor: str) -> str | None:
    _, changed = escalation.upsert_hook(session, clock=clock, body=body)
    return f"hook {body.name} applied" if changed else None


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _report(problems: _Problems) -> str:
    lines = [f"line {line}: {message}" for line, message in sorted(problems.found)]
    return "the file was not applied:\n" + "\n".join(lines)
