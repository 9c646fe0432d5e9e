"""Console sign-in through the real server: passwords, session cookies, CSRF, the API token, and session ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.directory.models import User
from bot.errors import InvalidInput, NotFound, Unauthorized
from bot.web import auth
from bot.web.auth import SessionCodec
from tests.bot.web.conftest import MARA, PASSWORD, Console, csrf_of
from tests.support.herald import API_TOKEN, make_settings


def test_pages_send_visitors_to_sign_in_and_back(console: Console) -> None:
    browser = console.browser()
    answer = browser.get("/console/oncall?view=month")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=%2Fconsole%2Foncall%3Fview%3Dmonth"
    form = browser.get(answer.headers["location"])
    assert form.status_code == 200 and 'name="next" value="/console/oncall?view=month"' in form.text
    signed_in = browser.post(
        "/console/login",
        data={"email": MARA.upper(), "password": PASSWORD, "csrf": csrf_of(form), "next": "/console/oncall?view=month"},
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/oncall?view=month"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=604800" in cookie
    page = browser.get("/console/incidents")
    assert page.status_code == 200 and "Mara Lindqvist" in page.text


def test_a_wrong_password_or_unknown_address_gets_the_same_answer(console: Console) -> None:
    browser = console.browser()
    token = csrf_of(browser.get("/console/login"))
    wrong = browser.post("/console/login", data={"email": MARA, "password": "nope nope", "csrf": token})
    unknown = browser.post("/console/login", data={"email": "who@example.com", "password": PASSWORD, "csrf": token})
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "wrong e-mail address or password" in answer.text
    assert browser.get("/console/incidents").status_code == 303  # still signed out


def test_sign_in_without_the_form_token_is_refused(console: Console) -> None:
    browser = console.browser()
    csrf_of(browser.get("/console/login"))
    forged = browser.post("/console/login", data={"email": MARA, "password": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    cold = console.browser().post("/console/login", data={"email": MARA, "password": PASSWORD, "csrf": "x"})
    assert cold.status_code == 403  # no session cookie at all: a cross-site post


def test_after_sign_in_goes_only_to_console_pages(console: Console) -> None:
    browser = console.browser()
    token = csrf_of(browser.get("/console/login"))
    for target in ("https://evil.example/", "//evil.example/console/", "/docs"):
        answer = browser.post(
            "/console/login", data={"email": MARA, "password": PASSWORD, "csrf": token, "next": target}
        )
        assert answer.headers["location"] == "/console/incidents"
        browser.cookies.clear()
        token = csrf_of(browser.get("/console/login"))


def test_signing_out_ends_the_session(console: Console) -> None:
    browser = console.sign_in(MARA)
    page = browser.get("/console/incidents")
    assert browser.post("/console/logout", data={"csrf": "stale"}).status_code == 403
    assert browser.post("/console/logout", data={"csrf": csrf_of(page)}).status_code == 303
    assert browser.get("/console/incidents").status_code == 303


def test_sessions_expire_and_a_new_password_signs_other_browsers_out(console: Console) -> None:
    phone = console.sign_in(MARA)
    laptop = console.sign_in(MARA)
    with console.herald.runtime.transaction() as session:
        auth.set_password(session, email=MARA, password="a brand new one")
    assert phone.get("/console/incidents").status_code == 303
    fresh = console.sign_in(MARA, "a brand new one")
    console.herald.clock.advance(timedelta(hours=167))
    assert fresh.get("/console/incidents").status_code == 200
    console.herald.clock.advance(timedelta(hours=2))
    assert fresh.get("/console/incidents").status_code == 303
    assert laptop.get("/console/incidents").status_code == 303


def test_automation_uses_the_api_token_without_cookies_or_csrf(console: Console) -> None:
    number = console.alert()
    bot = console.browser()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "X-Herald-Actor": "runbook-bot"}
    assert bot.get("/console/incidents/live", headers=headers).json()["html"].count(f"#{number}") == 1
    assert bot.post(f"/console/incidents/{number}/acknowledge", headers=headers).status_code == 303
    timeline = console.herald.client.get(f"/api/v1/incidents/{number}").json()["timeline"]
    assert timeline[-1]["actor"] == "runbook-bot" and timeline[-1]["source"] == "web"
    wrong = bot.get("/console/incidents/live", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"


def test_set_password_creates_the_first_user_and_refuses_short_ones(sqlite_url: str) -> None:
    from bot.db import make_engine, make_session_factory, transaction

    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    with pytest.raises(NotFound, match="pass --name"), transaction(sessions) as session:
        auth.set_password(session, email="first@example.com", password=PASSWORD)
    with pytest.raises(InvalidInput, match="at least 8"), transaction(sessions) as session:
        auth.set_password(session, email="first@example.com", password="short", name="First")
    with transaction(sessions) as session:
        auth.set_password(session, email="first@example.com", password=PASSWORD, name="First", admin=True)
    with transaction(sessions) as session:
        user = session.scalars(select(User)).one()
        assert user.role == "admin" and user.password_hash.startswith("$argon2id$")
        assert auth.authenticate(session, email="FIRST@example.com", password=PASSWORD).id == user.id
        with pytest.raises(Unauthorized):
            auth.authenticate(session, email="first@example.com", password=PASSWORD + "x")
    engine.dispose()


def test_a_weaker_hash_is_upgraded_at_sign_in(sqlite_url: str) -> None:
    from argon2 import PasswordHasher

    from bot.db import make_engine, make_session_factory, transaction

    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with transaction(sessions) as session:
        session.add(User(name="Old", email="old@example.com", password_hash=weak))
    with transaction(sessions) as session:
        auth.authenticate(session, email="old@example.com", password=PASSWORD)
    with transaction(sessions) as session:
        stored = session.scalars(select(User.password_hash)).one()
        assert stored != weak and not auth.HASHER.check_needs_rehash(stored)
    engine.dispose()


def test_session_cookies_cannot_be_forged_or_reused_under_another_secret(sqlite_url: str) -> None:
    clock = FakeClock()
    codec = SessionCodec(make_settings(sqlite_url), clock)
    cookie = codec.dumps(auth.SessionData(csrf="abc", user_id=7, password_tag="t"))
    assert codec.loads(cookie) == auth.SessionData(csrf="abc", user_id=7, password_tag="t")
    payload, stamp, signature = cookie.split(".")
    assert codec.loads(f"{payload}x.{stamp}.{signature}") is None
    other = SessionCodec(make_settings(sqlite_url, session_secret="another secret"), clock)
    assert other.loads(cookie) is None
    assert codec.loads("") is None and codec.loads("garbage") is None
    with pytest.raises(Exception, match="CSRF"):
        auth.check_csrf(codec.loads(cookie), "abd")
    auth.check_csrf(codec.loads(cookie), "abc")
