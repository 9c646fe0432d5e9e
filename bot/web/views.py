"""The console's HTTP surface: pages, live JSON, the forms behind the buttons, sign-in and downloads.

    GET  /console/incidents[?state&service&team]     list (+ /live: JSON for the page's live update)
    GET  /console/incidents/{n}                      detail (+ /live), POST …/acknowledge|resolve|escalate|notes
    GET  /console/incidents/{n}/postmortem.{fmt}     post-mortem exports (md, html, json, png, svg)
    GET  /console/oncall[?view&date&tz&schedule]     now/next and the week or month of shifts
    GET  /console/reports[?from&to&team&service]     MTTA, MTTR, SLA breaches, pages per person (+ reports.csv)
    GET|POST /console/login, POST /console/logout

People sign in with their password (session cookie); automation sends `Authorization: Bearer <HERALD_API_TOKEN>`.
Errors on these routes answer as pages (or JSON for the live endpoints), never with a stack trace: a page that
needs a signed-in person redirects to the sign-in form. Every response forbids framing and inline scripts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from bot.errors import Conflict, HeraldError, InvalidInput, Unauthorized
from bot.escalation import service as escalation
from bot.http import RuntimeDep, api_actor
from bot.incidents import service as incidents
from bot.postmortem import service as postmortems
from bot.postmortem import tables
from bot.runtime import Runtime
from bot.schedules import service as schedules
from bot.schedules.ical import feed_token
from bot.web import auth, calendar, format, pages, permissions, queries
from bot.web.auth import COOKIE, SessionCodec, SessionData, Viewer

SOURCE = "web"
PREFIX = "/console"
TZ_COOKIE = "herald_tz"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
EXPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
TICKING = re.compile(r"(<[^>]* data-(?:since|sla-due|sla-breached)[^>]*>)[^<]*")
DONE = {
    "acknowledge": "You acknowledged this incident.",
    "resolve": "You resolved this incident.",
    "escalate": "Escalated: the next level is being paged now.",
    "note": "Note added.",
}


class ConsoleRoute(APIRoute):
    """Maps typed errors to pages (JSON for live endpoints), sign-in redirects, and adds the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except HeraldError as exc:
                response = _error(request, exc.status, exc.kind, exc.reason)
            except RequestValidationError as exc:
                reason = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
                response = _error(request, 422, "invalid_input", reason)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@dataclass
class Visit:
    """One request's view of the console: who (if anyone), their session, and the time zone to show."""

    runtime: Runtime
    codec: SessionCodec
    session: SessionData
    viewer: Viewer | None
    zone: ZoneInfo
    fresh: bool  # the session cookie must be (re)issued

    @property
    def person(self) -> Viewer:
        if self.viewer is None:
            raise Unauthorized("sign in to use Herald's console")
        return self.viewer

    def page(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        now = self.runtime.clock.now()
        html = pages.render(template, viewer=self.viewer, csrf=self.session.csrf, now=now, tz=self.zone, **context)
        return self.keep(HTMLResponse(html, status_code=status))

    def keep(self, response: Response) -> Response:
        """Issue the session cookie when it is new (so a first form already carries a matching CSRF token)."""
        if self.fresh:
            _set_session(response, self.codec, self.session)
        return response


def visit(request: Request, runtime: RuntimeDep) -> Visit:
    codec: SessionCodec = request.app.state.console_sessions
    if request.headers.get("authorization"):
        viewer = auth.token_viewer(api_actor(request, runtime))
        return Visit(runtime, codec, codec.new(), viewer, _zone(request, viewer), fresh=False)
    found = codec.loads(request.cookies.get(COOKIE))
    data = found or codec.new()
    with runtime.transaction() as session:
        user = auth.signed_in_user(session, found)
        viewer = auth.viewer_of(user) if user else None
    return Visit(runtime, codec, data, viewer, _zone(request, viewer), fresh=found is None)


VisitDep = Annotated[Visit, Depends(visit)]


def form_visit(visit: VisitDep, csrf: Annotated[str, Form()] = "") -> Visit:
    """A signed-in person posting one of the console's own forms (CSRF-checked; the API token needs no token)."""
    viewer = visit.person
    if viewer.via == "session":
        auth.check_csrf(visit.session, csrf)
    return visit


FormVisitDep = Annotated[Visit, Depends(form_visit)]


def person_visit(visit: VisitDep) -> Visit:
    """A page for signed-in people only (the others are sent to the sign-in form)."""
    visit.person  # noqa: B018 (raises Unauthorized for a visitor)
    return visit


PersonDep = Annotated[Visit, Depends(person_visit)]


def mount(app: FastAPI) -> None:
    """Serve the console on `app`: routes, static files, and `/` leading to it."""
    runtime: Runtime = app.state.runtime
    app.state.console_sessions = SessionCodec(runtime.settings, runtime.clock)
    app.include_router(router)
    app.mount(pages.STATIC_PREFIX, StaticFiles(directory=pages.STATIC_DIR), name="console-static")
    app.add_api_route("/", lambda: RedirectResponse(f"{PREFIX}/incidents"), include_in_schema=False)


# Sign-in ---------------------------------------------------------------------------------------------------------


@router.get("/login")
def login_form(visit: VisitDep, next_: Annotated[str, Query(alias="next")] = "") -> Response:
    if visit.viewer is not None:
        return RedirectResponse(_safe_next(next_), status_code=303)
    return visit.page("login.html", next=_safe_next(next_), error=None, email="")


@router.post("/login")
def login(
    visit: VisitDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = "",
) -> Response:
    auth.check_csrf(None if visit.fresh else visit.session, csrf)
    try:
        with visit.runtime.transaction() as session:
            user = auth.authenticate(session, email=email, password=password)
            data = visit.codec.new(user)
    except Unauthorized as exc:
        return visit.page("login.html", status=401, next=_safe_next(next_), error=exc.reason, email=email)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    _set_session(response, visit.codec, data)
    return response


@router.post("/logout")
def logout(visit: FormVisitDep) -> Response:
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    _set_session(response, visit.codec, visit.codec.new())
    return response


# Incidents -------------------------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/incidents", status_code=303)


@router.get("/incidents")
def incident_list(visit: PersonDep, state: str = "", service: str = "", team: str = "") -> Response:
    filters = _filters(state, service, team)
    with visit.runtime.sessions() as session:
        services, teams = queries.filter_choices(session)
        html = _incident_list_html(visit, session, filters)
    return visit.page(
        "incidents.html",
        filters=filters,
        services=services,
        teams=teams,
        states=queries.STATE_FILTERS,
        live_url=_url(f"{PREFIX}/incidents/live", filters.query()),
        list_html=html,
        version=_version(html),
    )


@router.get("/incidents/live")
def incident_list_live(visit: PersonDep, state: str = "", service: str = "", team: str = "") -> Response:
    with visit.runtime.sessions() as session:
        html = _incident_list_html(visit, session, _filters(state, service, team))
    return _live(visit, html)


@router.get("/incidents/{number}")
def incident_page(visit: PersonDep, number: int, done: str = "") -> Response:
    with visit.runtime.sessions() as session:
        detail = queries.incident_detail(session, number=number)
        html = _incident_html(visit, session, detail)
    return visit.page("incident.html", detail=detail, live_html=html, version=_version(html), done=DONE.get(done))


@router.get("/incidents/{number}/live")
def incident_live(visit: PersonDep, number: int) -> Response:
    with visit.runtime.sessions() as session:
        html = _incident_html(visit, session, queries.incident_detail(session, number=number))
    return _live(visit, html)


@router.post("/incidents/{number}/acknowledge")
def acknowledge(visit: FormVisitDep, number: int) -> Response:
    return _act(visit, number, "acknowledge")


@router.post("/incidents/{number}/resolve")
def resolve(visit: FormVisitDep, number: int, note: Annotated[str, Form()] = "") -> Response:
    return _act(visit, number, "resolve", note=note.strip() or None)


@router.post("/incidents/{number}/escalate")
def escalate(visit: FormVisitDep, number: int) -> Response:
    return _act(visit, number, "escalate")


@router.post("/incidents/{number}/notes")
def add_note(visit: FormVisitDep, number: int, text: Annotated[str, Form()] = "") -> Response:
    if not text.strip():
        raise InvalidInput("a note needs some text")
    runtime = visit.runtime
    with runtime.transaction() as session:
        incident = incidents.get(session, number=number, for_update=True)
        incidents.add_note(
            session,
            clock=runtime.clock,
            events=runtime.events,
            incident=incident,
            actor=visit.person.name,
            source=SOURCE,
            text=text.strip(),
        )
    return RedirectResponse(f"{PREFIX}/incidents/{number}?done=note#timeline", status_code=303)


@router.get("/incidents/{number}/audio/{key}.wav")
def call_audio(visit: PersonDep, number: int, key: str) -> Response:
    """A call's audio for the page's player (the full-quality WAV, not the 8 kHz phone copy)."""
    with visit.runtime.sessions() as session:
        incident = incidents.get(session, number=number)
        body = queries.call_audio(session, incident_id=incident.id, key=key).wav
    return Response(body, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/incidents/{number}/postmortem.{fmt}")
def postmortem(visit: PersonDep, number: int, fmt: str) -> Response:
    runtime = visit.runtime
    with runtime.sessions() as session:
        facts = postmortems.facts(session, number=number, now=runtime.clock.now())
    main = postmortems.export(facts, fmt, templates_dir=runtime.settings.postmortem_templates_dir)[0]
    disposition = "inline" if fmt in ("html", "svg", "png") else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{main.name}"', "Content-Security-Policy": EXPORT_CSP}
    return Response(main.content, media_type=main.media_type, headers=headers)


# On call ---------------------------------------------------------------------------------------------------------


@router.get("/oncall")
def on_call(
    visit: PersonDep,
    view: str = "week",
    day: Annotated[str, Query(alias="date")] = "",
    schedule: str = "",
) -> Response:
    viewer = visit.person
    runtime = visit.runtime
    now = runtime.clock.now()
    span = calendar.window(view, _date(day) if day else now.astimezone(visit.zone).date(), visit.zone)
    secret = runtime.settings.api_token.get_secret_value()
    base = runtime.settings.effective_public_url
    with runtime.sessions() as session:
        every = schedules.list_schedules(session)
        rows = [s for s in every if not schedule or s.name == schedule]
        boards = [
            {
                "row": row,
                "now": schedules.who_is_on_call(session, schedule=row, at=now),
                "days": calendar.days(
                    schedules.render_shifts(session, schedule=row, start=span.start, end=span.end), span
                ),
                "overrides": [o for o in row.overrides if o.ends_at > span.start and o.starts_at < span.end],
                "feed": f"{base}/api/v1/schedules/{quote(row.name)}/calendar.ics?token="
                + feed_token(secret, "schedule", row.name),
            }
            for row in rows
        ]
        return visit.page(
            "oncall.html",
            span=span,
            boards=boards,
            names=[s.name for s in every],
            schedule=schedule,
            hours=range(0, 24, 6),
            my_feed=(
                f"{base}/api/v1/users/{quote(viewer.email)}/calendar.ics?token="
                + feed_token(secret, "user", viewer.email.lower())
                if viewer.email
                else None
            ),
            nav_query=lambda **changes: _url(
                f"{PREFIX}/oncall",
                {"view": span.view, "date": span.first.isoformat(), "schedule": schedule, "tz": visit.zone.key}
                | changes,
            ),
        )


# Reports ---------------------------------------------------------------------------------------------------------


@router.get("/reports")
def reports(
    visit: PersonDep,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    team: str = "",
    service: str = "",
) -> Response:
    now = visit.runtime.clock.now()
    first, last = postmortems.report_range(now, start=start or None, end=end or None)
    with visit.runtime.sessions() as session:
        services, teams = queries.filter_choices(session)
        found = postmortems.report(session, start=first, end=last, now=now, team=team or None, service=service or None)
    query = {"from": start, "to": end, "team": team, "service": service}
    return visit.page(
        "reports.html",
        report=found,
        services=services,
        teams=teams,
        team=team,
        service=service,
        form_from=start or first.astimezone(visit.zone).date().isoformat(),
        form_to=end or last.astimezone(visit.zone).date().isoformat(),
        columns=tables.HUMAN_COLUMNS,
        human_row=tables.human_row,
        longest=max(
            (t.total_seconds() for s in found.services for t in (s.mtta, s.mttr) if t is not None), default=0.0
        ),
        csv_url=_url(f"{PREFIX}/reports.csv", query),
    )


@router.get("/reports.csv")
def reports_csv(
    visit: PersonDep,
    start: Annotated[str, Query(alias="from")] = "",
    end: Annotated[str, Query(alias="to")] = "",
    team: str = "",
    service: str = "",
) -> Response:
    now = visit.runtime.clock.now()
    first, last = postmortems.report_range(now, start=start or None, end=end or None)
    with visit.runtime.sessions() as session:
        found = postmortems.report(session, start=first, end=last, now=now, team=team or None, service=service or None)
    name = f"herald-report-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    return Response(
        tables.report_csv(found),
        media_type=postmortems.MEDIA_TYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# Helpers ---------------------------------------------------------------------------------------------------------


def _act(visit: Visit, number: int, verb: str, note: str | None = None) -> Response:
    """Acknowledge, resolve or escalate as the signed-in person, after Slack's permission rule."""
    runtime = visit.runtime
    viewer = visit.person
    with runtime.transaction() as session:
        incident = incidents.get(session, number=number, for_update=True)
        permissions.check_may_act(session, viewer=viewer, incident=incident, clock=runtime.clock, verb=verb)
        common = {"clock": runtime.clock, "events": runtime.events, "incident": incident}
        if verb == "acknowledge":
            incidents.acknowledge(session, **common, actor=viewer.name, source=SOURCE)
        elif verb == "resolve":
            incidents.resolve(session, **common, actor=viewer.name, source=SOURCE, note=note)
        else:
            lifecycle = runtime.extras.get("lifecycle")
            if lifecycle is None:
                raise Conflict("escalation is not running in this Herald, so there is no next level to page")
            escalation.escalate_now(session, lifecycle=lifecycle, number=number, actor=viewer.name, source=SOURCE)
    return RedirectResponse(f"{PREFIX}/incidents/{number}?done={verb}", status_code=303)


def _incident_list_html(visit: Visit, session: Any, filters: queries.Filters) -> str:
    now = visit.runtime.clock.now()
    rows = queries.incident_rows(session, filters=filters, now=now)
    return pages.render("_incident_list.html", rows=rows, now=now, tz=visit.zone, filters=filters)


def _incident_html(visit: Visit, session: Any, detail: queries.IncidentDetail) -> str:
    runtime = visit.runtime
    incident = incidents.get(session, number=detail.row.number)
    can_act = permissions.may_act(session, viewer=visit.person, incident=incident, clock=runtime.clock)
    return pages.render(
        "_incident_live.html",
        detail=detail,
        can_act=can_act,
        csrf=visit.session.csrf,
        now=runtime.clock.now(),
        tz=visit.zone,
    )


def _live(visit: Visit, html: str) -> Response:
    """The live-update answer: the fragment, its version (the page swaps only on change) and the server's time."""
    body = {"version": _version(html), "html": html, "now": visit.runtime.clock.now().isoformat()}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _version(html: str) -> str:
    """A fingerprint of what changed: the ticking texts (ages, SLA clocks) are left out, the browser ticks them."""
    return hashlib.sha256(TICKING.sub(r"\1", html).encode()).hexdigest()[:16]


def _filters(state: str, service: str, team: str) -> queries.Filters:
    if state not in queries.STATE_FILTERS:
        raise InvalidInput(f"unknown state {state!r}; use open, triggered, acknowledged, resolved or all")
    return queries.Filters(state=state, service=service, team=team)


def _zone(request: Request, viewer: Viewer | None) -> ZoneInfo:
    """The time zone to show: asked for (?tz=), the browser's (cookie set by console.js), the user's, else UTC."""
    for name in (request.query_params.get("tz"), unquote(request.cookies.get(TZ_COOKIE, ""))):
        found = format.zone(name)
        if found is not None:
            return found
    return format.zone(viewer.time_zone if viewer else None) or ZoneInfo("UTC")


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"date must look like 2025-11-18, not {value!r}") from None


def _url(path: str, query: dict[str, str]) -> str:
    kept = {key: value for key, value in query.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


def _safe_next(target: str) -> str:
    """Only the console's own pages are followed after sign-in (no open redirect)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/incidents"


def _set_session(response: Response, codec: SessionCodec, data: SessionData) -> None:
    response.set_cookie(
        COOKIE,
        codec.dumps(data),
        max_age=codec.max_age,
        httponly=True,
        samesite="lax",
        secure=codec.secure,
        path="/",
    )


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.endswith("/live") or ("application/json" in accept and "text/html" not in accept)


def _error(request: Request, status: int, kind: str, reason: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": kind, "reason": reason}, status_code=status)
    if status == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(_url(f"{PREFIX}/login", {"next": target}), status_code=303)
    html = pages.render(
        "error.html",
        viewer=None,
        csrf="",
        now=request.app.state.runtime.clock.now(),
        tz=ZoneInfo("UTC"),
        status=status,
        kind=kind,
        reason=reason,
        back=request.headers.get("referer") if _same_origin(request) else None,
    )
    return HTMLResponse(html, status_code=status)


def _same_origin(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return referer.startswith(str(request.base_url))
