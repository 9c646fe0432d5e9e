"""Who is looking at the console: password sign-in, signed session cookies and CSRF tokens.

- Passwords are argon2id hashes (argon2-cffi's `PasswordHasher`, OWASP's first choice) in `users.password_hash`;
  a hash made with weaker parameters is upgraded at the next successful sign-in. An unknown e-mail address costs
  the same argon2 work as a wrong password, so sign-in timing does not tell which addresses exist.
- The session is a cookie signed with itsdangerous (`URLSafeTimedSerializer`, with its age checked on every read),
  holding the user id, a per-session CSRF token and a fingerprint of the password hash: setting a new password signs
  out every other browser. Nothing is stored server-side, so every replica accepts every session.
- Every state-changing form carries the session's CSRF token; a visitor who has not signed in yet still gets a
  session (without a user) so that the sign-in form is protected too. A new token is issued at sign-in.
- Automation uses `Authorization: Bearer <HERALD_API_TOKEN>` instead: no cookie, hence no CSRF to guard against.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.directory.models import User
from bot.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from bot.settings import Settings

COOKIE = "herald_session"
MIN_PASSWORD = 8
HASHER = PasswordHasher()
_DUMMY_HASH = HASHER.hash("herald: no such user")


@dataclass(frozen=True)
class Viewer:
    """The person (or automation) behind a console request."""

    user_id: int | None  # None: the API token
    name: str
    email: str
    role: str
    time_zone: str
    via: str  # "session" | "token"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class SessionData:
    """What the cookie says: the CSRF token always, the user once signed in."""

    csrf: str
    user_id: int | None = None
    password_tag: str = ""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters")
    return HASHER.hash(password)


def set_password(session: Session, *, email: str, password: str, name: str | None = None, admin: bool = False) -> User:
    """Give a user a password, creating the user when `name` is given (how the first person gets in)."""
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).one_or_none()
    if user is None:
        if not name:
            raise NotFound(f"no user with e-mail {email!r}; pass --name to create one")
        user = User(name=name, email=email.strip())
        session.add(user)
    user.password_hash = hash_password(password)
    if admin:
        user.role = "admin"
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """The user with this e-mail address and password, or Unauthorized (the same answer for either mistake)."""
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        stored = None
    if user is None or stored is None:
        raise Unauthorized("wrong e-mail address or password")
    if HASHER.check_needs_rehash(stored):
        user.password_hash = HASHER.hash(password)
    return user


def viewer_of(user: User) -> Viewer:
    return Viewer(
        user_id=user.id, name=user.name, email=user.email, role=user.role, time_zone=user.time_zone, via="session"
    )


def token_viewer(actor: str) -> Viewer:
    """Automation signed in with the API token: it may do what an admin may, under the name it gives."""
    return Viewer(user_id=None, name=actor, email="", role="admin", time_zone="UTC", via="token")


def password_tag(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


class SessionCodec:
    """Signs and reads the session cookie; `clock` decides its age, so tests can age a session."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        secret = (
            settings.session_secret.get_secret_value()
            or hmac.digest(settings.api_token.get_secret_value().encode(), b"herald web session", "sha256").hex()
        )
        self._serializer = URLSafeTimedSerializer(
            secret, salt="herald.web.session", signer=_ClockedSigner, signer_kwargs={"clock": clock}
        )
        self.max_age = settings.session_hours * 3600
        self.secure = settings.effective_public_url.startswith("https://")

    def new(self, user: User | None = None) -> SessionData:
        return SessionData(
            csrf=secrets.token_urlsafe(24),
            user_id=user.id if user else None,
            password_tag=password_tag(user) if user else "",
        )

    def dumps(self, data: SessionData) -> str:
        return self._serializer.dumps({"c": data.csrf, "u": data.user_id, "p": data.password_tag})

    def loads(self, cookie: str | None) -> SessionData | None:
        """The session, or None when there is none, or it is forged, malformed or older than `session_hours`."""
        if not cookie:
            return None
        try:
            raw: Any = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("c"), str):
            return None
        user_id = raw.get("u")
        return SessionData(
            csrf=raw["c"], user_id=user_id if isinstance(user_id, int) else None, password_tag=str(raw.get("p", ""))
        )


def signed_in_user(session: Session, data: SessionData | None) -> User | None:
    """The session's user, unless the user is gone or has a new password since."""
    if data is None or data.user_id is None:
        return None
    user = session.get(User, data.user_id)
    if user is None or not user.password_hash or not hmac.compare_digest(password_tag(user), data.password_tag):
        return None
    return user


def check_csrf(data: SessionData | None, submitted: str) -> None:
    if data is None or not submitted or not hmac.compare_digest(data.csrf.encode(), submitted.encode()):
        raise Forbidden("this form has expired or did not come from Herald (CSRF check failed); reload and retry")


class _ClockedSigner(TimestampSigner):
    """itsdangerous stamps and ages signatures with `time.time()`; Herald's time comes from its injected clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())
