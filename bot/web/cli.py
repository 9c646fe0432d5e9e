"""`herald user set-password EMAIL`: how a person gets a console password (and how the first admin gets in).

    herald user set-password mara@example.com                      # asks twice, without echo
    herald user set-password mara@example.com --name "Mara L" --admin   # creates the user when missing
    printf '%s\\n' "$PW" | herald user set-password mara@example.com --password-stdin

Reads the configured database directly (migrating it first, as `herald serve` does); nothing needs to be running.
A short password, mismatched entries or an unknown user without `--name` exit with status 2.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from bot import migrate
from bot.db import make_engine, make_session_factory, transaction
from bot.errors import InvalidInput
from bot.settings import Settings
from bot.web import auth

Command = Callable[[argparse.Namespace, Settings], int]


def add_commands(sub: argparse._SubParsersAction, commands: dict[str, Command]) -> None:
    """Register `user` on the top-level parser (`bot.cli.build_parser`)."""
    user = sub.add_parser("user", help="console sign-in: set a user's password")
    actions = user.add_subparsers(dest="action", required=True)
    password = actions.add_parser("set-password", help="set (or reset) the console password of a user")
    password.add_argument("email")
    password.add_argument("--name", help="create the user with this name when no user has that e-mail address")
    password.add_argument("--admin", action="store_true", help="also make the user a Herald admin")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    commands["user"] = _set_password


def _set_password(args: argparse.Namespace, settings: Settings) -> int:
    secret = _read_password(args.password_stdin)
    url = settings.effective_database_url
    if settings.auto_migrate:
        migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = auth.set_password(session, email=args.email, password=secret, name=args.name, admin=args.admin)
            print(f"password set for {user.name} <{user.email}> ({user.role}); sign in at /console/login")
    finally:
        engine.dispose()
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise InvalidInput("the two passwords differ; nothing changed")
    return first
