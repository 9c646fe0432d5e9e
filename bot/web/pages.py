"""The console's jinja2 environment: templates, filters and cache-busted static asset URLs.

Templates autoescape everything (alert titles and notes come from outside). Static files are served from
`static/` under `/console/static/`; each URL carries a hash of the file's content, so a browser never runs an old
script against a new page after an upgrade, and the files can be cached for a long time.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bot.web import format
from bot.web.calendar import layer_classes

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PREFIX = "/console/static"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(local=format.local, ago=format.ago, duration=format.duration)
    env.globals.update(static=static_url, sla_text=format.sla_text, layer_classes=layer_classes)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


@cache
def static_url(name: str) -> str:
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"{STATIC_PREFIX}/{name}?v={digest}"
