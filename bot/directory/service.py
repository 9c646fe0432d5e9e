"""Services and their routing keys, as plain functions shared by ingestion, the HTTP API and the config tools.

A routing key picks the service of an incoming alert. An unknown routing key is not an error: the first alert for
it creates a service named after it (or joins an existing service of that name), the way a first user expects;
routing keys can be moved to the right service later. Creation is race-safe on both backends (insert-or-ignore,
then read back), so two replicas receiving the first alert of a new key at once still make one service.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from bot.clock import Clock
from bot.db import insert_or_ignore
from bot.directory.models import RoutingKey, Service, Team
from bot.errors import Conflict, InvalidInput, NotFound

MAX_KEY = 200


def check_routing_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or any(ch in key for ch in "/\r\n\t") or not key.isprintable():
        raise InvalidInput(f"routing key must be 1-{MAX_KEY} printable characters without '/', got {key[:40]!r}")
    return key


def resolve_routing_keys(session: Session, *, clock: Clock, keys: Iterable[str]) -> dict[str, Service]:
    """The service of every key, creating a service named after each key nobody owns yet."""
    wanted = set(keys)
    found = _owners(session, wanted)
    missing = wanted - found.keys()
    if missing:
        now = clock.now()
        for key in sorted(missing):
            insert_or_ignore(session, Service, {"name": key, "description": "", "created_at": now})
        ids = dict(session.execute(select(Service.name, Service.id).where(Service.name.in_(missing))).all())
        for key in sorted(missing):
            insert_or_ignore(session, RoutingKey, {"key": key, "service_id": ids[key]})
        found.update(_owners(session, missing))
    return found


def _owners(session: Session, keys: set[str]) -> dict[str, Service]:
    if not keys:
        return {}
    rows = session.execute(select(RoutingKey.key, Service).join(Service).where(RoutingKey.key.in_(keys)))
    return {key: service for key, service in rows}


def list_services(session: Session) -> list[Service]:
    query = select(Service).options(selectinload(Service.routing_keys), selectinload(Service.team))
    return list(session.scalars(query.order_by(Service.name)))


def get_service(session: Session, *, name: str) -> Service:
    service = session.scalars(
        select(Service)
        .where(Service.name == name)
        .options(selectinload(Service.routing_keys), selectinload(Service.team))
    ).one_or_none()
    if service is None:
        raise NotFound(f"no service named {name!r}")
    return service


def find_service(session: Session, *, name_or_key: str) -> Service:
    """A service by its name, else by one of its routing keys (what a CI/CD pipeline usually knows)."""
    service = session.scalars(select(Service).where(Service.name == name_or_key)).one_or_none()
    if service is None:
        service = session.scalars(select(Service).join(RoutingKey).where(RoutingKey.key == name_or_key)).one_or_none()
    if service is None:
        raise NotFound(f"no service or routing key named {name_or_key!r}; create it with POST /api/v1/services")
    return service


def create_service(
    session: Session,
    *,
    clock: Clock,
    name: str,
    routing_keys: Iterable[str] = (),
    description: str = "",
    slack_channel: str | None = None,
    team: str | None = None,
) -> Service:
    if session.scalars(select(Service.id).where(Service.name == name)).first() is not None:
        raise Conflict(f"a service named {name!r} exists already")
    keys = sorted({check_routing_key(k) for k in routing_keys})
    owned = _owners(session, set(keys))
    if owned:
        taken = ", ".join(f"{key!r} (service {svc.name!r})" for key, svc in sorted(owned.items()))
        raise Conflict(
            f"routing key(s) already in use: {taken}; move one with POST /api/v1/services/{name}/routing-keys"
        )
    service = Service(
        name=name,
        description=description,
        slack_channel=slack_channel,
        team=_team(session, team),
        created_at=clock.now(),
        routing_keys=[RoutingKey(key=key) for key in keys],
    )
    session.add(service)
    session.flush()
    return service


def add_routing_key(session: Session, *, service: Service, key: str) -> str | None:
    """Give `key` to `service`, moving it from its current owner; returns that owner's name (None if new)."""
    key = check_routing_key(key)
    existing = session.get(RoutingKey, key, with_for_update=True)
    if existing is None:
        session.add(RoutingKey(key=key, service_id=service.id))
        session.flush()
        return None
    if existing.service_id == service.id:
        return None
    previous = existing.service.name
    existing.service_id = service.id
    session.flush()
    return previous


def remove_routing_key(session: Session, *, service: Service, key: str) -> None:
    removed = session.execute(
        delete(RoutingKey).where(RoutingKey.key == key, RoutingKey.service_id == service.id)
    ).rowcount
    if not removed:
        raise NotFound(f"service {service.name!r} has no routing key {key!r}")


def delete_service(session: Session, *, name: str) -> None:
    """Delete a service; its incidents stay (without a service) and its routing keys go with it."""
    session.delete(get_service(session, name=name))


def _team(session: Session, name: str | None) -> Team | None:
    if name is None:
        return None
    team = session.scalars(select(Team).where(Team.name == name)).one_or_none()
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team
