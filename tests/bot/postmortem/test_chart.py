"""The timeline picture: a real PNG with something drawn on it, and a reproducible, well-formed SVG."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta

from PIL import Image

from bot.postmortem import chart, service
from tests.bot.postmortem.conftest import RESOLVED, Recorded


def test_png_and_svg_of_the_recorded_outage(recorded_sqlite: Recorded) -> None:
    with recorded_sqlite.scenario.runtime.sessions() as session:
        facts = service.facts(session, number=recorded_sqlite.number, now=RESOLVED + timedelta(hours=1))

    image = Image.open(io.BytesIO(chart.png(facts)))
    assert image.format == "PNG" and image.size == (1100, 396)  # 10 x 3.6 inches at 110 dpi
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert len(colours) > 50  # lanes, marks, lines and labels, not a blank canvas
    red = sum(count for count, (r, g, b) in colours if r > 180 and g < 110 and b < 110)
    assert red > 200  # the firing alerts' bar and the failed call are drawn in red

    svg = chart.svg(facts)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg == chart.svg(facts)  # same incident, same bytes (no date, fixed ids)


def test_an_open_incident_is_drawn_up_to_now(recorded_sqlite: Recorded) -> None:
    with recorded_sqlite.scenario.runtime.sessions() as session:
        facts = service.facts(session, number=recorded_sqlite.number, now=RESOLVED)
    still_open = replace(facts, resolved_at=None, state="acknowledged", generated_at=RESOLVED + timedelta(hours=1))
    assert chart._span(still_open)[1] > RESOLVED + timedelta(hours=1)  # drawn up to `now`, with a margin
    assert Image.open(io.BytesIO(chart.png(still_open))).format == "PNG"
