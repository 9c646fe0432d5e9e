"""HTTP: an incident's post-mortem in any export format, and on-call reports as JSON or CSV.

    GET /api/v1/incidents/{number}/postmortem?format=md|html|json|png|svg
    GET /api/v1/reports?from=2025-11-01&to=2025-11-30&team=mlops&service=tts-inference&format=json|csv

Markdown links to its chart by file name (`incident-N-timeline.png`, the `png` format of the same route), HTML
embeds it. Downloads carry a `Content-Disposition` file name, so `curl -OJ` saves them under the CLI's names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from bot.http import ApiActor, RuntimeDep
from bot.postmortem import service, tables

router = APIRouter(tags=["post-mortems"])


@router.get("/api/v1/incidents/{number}/postmortem")
def postmortem(
    number: int,
    runtime: RuntimeDep,
    _actor: ApiActor,
    fmt: Annotated[Literal["md", "html", "json", "png", "svg"], Query(alias="format")] = "md",
) -> Response:
    with runtime.sessions() as session:
        facts = service.facts(session, number=number, now=runtime.clock.now())
    main = service.export(facts, fmt, templates_dir=runtime.settings.postmortem_templates_dir)[0]
    disposition = "inline" if fmt in ("html", "svg", "png") else "attachment"
    return Response(
        main.content,
        media_type=main.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{main.name}"'},
    )


@router.get("/api/v1/reports")
def reports(
    runtime: RuntimeDep,
    _actor: ApiActor,
    start: Annotated[str | None, Query(alias="from", description="date (2025-11-01) or ISO time")] = None,
    end: Annotated[str | None, Query(alias="to", description="date (inclusive) or ISO time; default now")] = None,
    days: Annotated[int | None, Query(description="without 'from': this many days before 'to' (default 30)")] = None,
    team: str | None = None,
    service_name: Annotated[str | None, Query(alias="service")] = None,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response:
    now = runtime.clock.now()
    first, last = service.report_range(now, start=start, end=end, days=days)
    with runtime.sessions() as session:
        found = service.report(session, start=first, end=last, now=now, team=team, service=service_name)
    if fmt == "csv":
        name = f"herald-report-{first:%Y%m%d}-{last:%Y%m%d}.csv"
        return Response(
            tables.report_csv(found),
            media_type=service.MEDIA_TYPES["csv"],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(tables.report_dict(found))
