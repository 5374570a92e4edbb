# The web: the wallboard, the operators' console, and the API under both (FastAPI, with its
# OpenAPI document at /openapi.json), on the controller's HTTP listener. Rules:
# - Handlers are `async def`: they run on the controller's event loop, between two AMI
#   events, so reading the read model and feeding the core is safe there (http.py).
# - Every handler decides through the controller's parts (the operators' desk, the callback
#   desk, the monitor) and only formats: no routing rule lives here.
# - Who may do what (auth.py): viewer reads the wallboard; operator reads and acts on
#   themselves; supervisor everything. No token: 401; wrong role or another operator: 403.
# - Bad input is a 4xx with a sentence (`{"detail": ...}`), never a 500: an unknown id 404,
#   a value the config does not have 422, a request the state does not allow 409.
# - Live pages are pushed over Server-Sent Events: a stream sends the page's JSON whenever
#   the centre changed (at most SSE_MAX_RATE a second) and at least every SSE_REFRESH_S;
#   streams end when the listener stops.
# - Pages are Jinja2 templates with the language's strings (ca, es, en: ?lang=, then the
#   login's choice, then Accept-Language); the JavaScript is our own, served from /static.
# (No `from __future__ import annotations`: FastAPI reads the handlers' annotations, some of
# them local aliases, when the routes are made.)

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from contactcenter import __name__ as _package
from contactcenter.config import Config
from contactcenter.core.readmodel import CallView, OperatorView, Snapshot
from contactcenter.live.operators import Actor, OperatorDesk, Refused
from contactcenter.web import models as m
from contactcenter.web.auth import COOKIE, SESSION_S, AuthError, Keys, Principal
from contactcenter.web.views import Views, codes

log = logging.getLogger("contactcenter.web")

SSE_MAX_RATE = 4.0  # messages a second per stream, at most
SSE_REFRESH_S = 5.0  # a message at least this often (clocks, and proof the stream lives)
_STATUS = {"unknown": 404, "invalid": 422, "conflict": 409}
_LANGS = ("ca", "es", "en")


class Hub:
    """Tells live streams that the centre changed (an observer of the core)."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()
        self.closed = False

    def observe(self, now: float, changes: Sequence[object], completed: Sequence[object]) -> None:
        if changes or completed:
            self.touch()

    def touch(self) -> None:
        self.version += 1
        self._changed.set()

    async def wait(self, seen: int, timeout: float) -> None:
        """Return when the version moved past `seen`, the hub closed, or after `timeout`."""
        if self.version != seen or self.closed:
            return
        self._changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass

    def close(self) -> None:
        self.closed = True
        self._changed.set()


@dataclass
class Backend:
    """The controller's parts the web reads and asks (injected: tests give their own)."""

    cfg: Config
    now: Callable[[], float]
    snapshot: Callable[[], Snapshot]
    call_view: Callable[[str], CallView | None]
    waiting_calls: Callable[[], list[CallView]]
    desk: OperatorDesk
    views: Views
    hub: Hub
    # (actor, operator id, mode) -> None; Refused when it cannot be done. None: not offered.
    monitor: Callable[[Actor, str, str], Awaitable[None]] | None = None
    # (number, skill, language, wall time) -> callback id; raises the callback desk's errors.
    book: Callable[[str, str, str, float], Awaitable[str]] | None = None
    # (skill, day) -> [(start, end, free)] wall times
    slots: Callable[[str, dt.date], Awaitable[list[tuple[float, float, int]]]] | None = None
    audit: Callable[[float, Actor, str, str, Mapping[str, Any]], None] | None = None
    # operator id -> the screen pop of the call they just finished (kept through wrap-up)
    last_pop: Callable[[str], dict[str, Any] | None] | None = None
    wall: Callable[[float], float] = lambda t: t


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def build_app(backend: Backend, extra_routes: Sequence[BaseRoute] = ()) -> FastAPI:
    cfg = backend.cfg
    keys = Keys(cfg.web.tokens)
    templates = Jinja2Templates(directory=str(_here("templates")))
    app = FastAPI(
        title=f"{cfg.name}: contact centre API",
        version=_version(),
        description="Operators' states, waiting calls, callbacks and supervisors' actions. "
        "Authenticate with `Authorization: Bearer <token>` (tokens by role in the centre's config).",
        docs_url=None,
        redoc_url=None,
    )
    app.router.routes.extend(extra_routes)
    _document_the_centre(app, cfg)
    app.mount("/static", StaticFiles(directory=str(_here("static"))), name="static")
    responses: dict[int | str, dict[str, Any]] = {
        401: {"model": m.Problem},
        403: {"model": m.Problem},
        404: {"model": m.Problem},
        409: {"model": m.Problem},
        422: {"model": m.Problem, "description": "a value the API or the centre's config does not take"},
    }

    # --- errors: a sentence, never a traceback --------------------------------------------

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        if request.url.path.startswith("/api/"):
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> Response:
        return _problem(_STATUS[exc.kind], exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _problem(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        words = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in errors[:5]
        )
        return _problem(422, words or "invalid request")

    # --- who is asking --------------------------------------------------------------------

    own = (f"http://{cfg.http.host}:{cfg.http.port}", f"http://localhost:{cfg.http.port}")

    def principal(request: Request) -> Principal:
        origins = (*own, f"{request.url.scheme}://{request.url.netloc}")
        return keys.identify(
            method=request.method,
            authorization=request.headers.get("authorization"),
            cookie=request.cookies.get(COOKIE),
            csrf_header=request.headers.get("x-csrf-token"),
            origin=request.headers.get("origin"),
            own_origins=origins,
        )

    Who = Annotated[Principal, Depends(principal)]

    def supervisor(who: Who) -> Principal:
        if who.role != "supervisor":
            raise AuthError(403, "for supervisors only")
        return who

    Supervisor = Annotated[Principal, Depends(supervisor)]

    def acting_on(who: Principal, operator_id: str) -> Actor:
        if operator_id not in backend.desk.skills:
            raise Refused("unknown", f"no operator {operator_id!r}")
        if not who.may_act_on(operator_id):
            raise AuthError(
                403, "an operator acts on themselves only" if who.role == "operator" else "not allowed"
            )
        return Actor(who.id, who.role)

    def operator_out(view: OperatorView) -> dict[str, Any]:
        return backend.views.operator(view, backend.now())

    # --- pages ----------------------------------------------------------------------------

    def lang_of(request: Request) -> str:
        asked = request.query_params.get("lang") or request.cookies.get("cc_lang")
        if asked in _LANGS:
            return str(asked)
        for part in request.headers.get("accept-language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in _LANGS:
                return code
        return cfg.ivr.default_language if cfg.ivr.default_language in _LANGS else "ca"

    def page(request: Request, name: str, who: Principal | None, **extra: Any) -> Response:
        from contactcenter.web.strings import strings_for

        lang = lang_of(request)
        context = {
            "t": strings_for(lang),
            "lang": lang,
            "centre": cfg.name,
            "csrf": who.csrf if who is not None and who.csrf else "",
            "role": who.role if who is not None else None,
            "operator_id": who.id if who is not None and who.role == "operator" else None,
            "static": "/static",
            "languages": list(_LANGS),
            **extra,
        }
        response = templates.TemplateResponse(request, name, context)
        if request.query_params.get("lang") in _LANGS:
            response.set_cookie("cc_lang", lang, max_age=400 * 86400, samesite="strict", httponly=True)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def page_principal(request: Request) -> Principal:
        sid = request.cookies.get(COOKIE)
        who = keys.session(sid)
        if who is None:
            raise AuthError(401, "log in")
        return who

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/wallboard", status_code=303)

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/wallboard") -> Response:
        return page(request, "login.html", None, error=None, next=_safe_next(next))

    @app.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        token: Annotated[str, Form(max_length=512)] = "",
        lang: Annotated[str, Form(max_length=8)] = "",
        next: Annotated[str, Form(max_length=512)] = "/wallboard",
    ) -> Response:
        who = keys.by_token(token.strip()) if token else None
        target = _safe_next(next)
        if who is None:
            log.info("web login refused (unknown token)")
            response = page(request, "login.html", None, error="login_failed", next=target)
            response.status_code = 401
            return response
        if target == "/wallboard" and who.role == "operator":
            target = "/console"
        sid, _ = keys.open_session(who)
        response = RedirectResponse(target + (f"?lang={lang}" if lang in _LANGS else ""), status_code=303)
        response.set_cookie(COOKIE, sid, max_age=int(SESSION_S), httponly=True, samesite="strict", path="/")
        log.info("web login: %s %s", who.role, who.id)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        who = keys.session(request.cookies.get(COOKIE))
        if who is not None and who.csrf == csrf:
            keys.close_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/wallboard", include_in_schema=False, response_class=HTMLResponse)
    async def wallboard_page(request: Request) -> Response:
        return page(request, "wallboard.html", page_principal(request))

    @app.get("/console", include_in_schema=False, response_class=HTMLResponse)
    async def console_page(request: Request) -> Response:
        who = page_principal(request)
        if who.role != "operator":
            return RedirectResponse("/wallboard", status_code=303)
        return page(request, "console.html", who)

    # --- reading --------------------------------------------------------------------------

    def centre_json() -> dict[str, Any]:
        snapshot = backend.snapshot()
        return backend.views.centre(snapshot, _configured(backend, snapshot))

    def console_json(operator_id: str) -> dict[str, Any]:
        now = backend.now()
        view = backend.desk.view(operator_id)
        call = None
        if view.call_id is not None:
            found = backend.call_view(view.call_id)
            if found is not None:
                call = backend.views.call(found, now)
        return {
            "at": backend.views.at(now),
            "operator": backend.views.operator(view, now),
            "call": call,
            "last_call": backend.last_pop(operator_id) if backend.last_pop is not None else None,
            "pause_reasons": codes(cfg.web.pause_reasons),
            "dispositions": codes(cfg.web.dispositions),
            "skills_all": [{"skill": k, "names": dict(v)} for k, v in cfg.skills.items()],
        }

    @app.get("/api/me", response_model=m.Me, responses=responses, tags=["who"])
    async def me(who: Who) -> dict[str, Any]:
        """Who the token or session belongs to."""
        return {"role": who.role, "id": who.id, "name": who.name}

    @app.get("/api/wallboard", response_model=m.Centre, responses=responses, tags=["wallboard"])
    async def wallboard(who: Who) -> dict[str, Any]:
        """The wallboard's figures now: per skill, the lines, every operator."""
        return centre_json()

    @app.get("/api/codes", response_model=m.Codes, responses=responses, tags=["operators"])
    async def codes_list(who: Who) -> dict[str, Any]:
        """Pause reasons and dispositions, with their names."""
        return {"pause_reasons": codes(cfg.web.pause_reasons), "dispositions": codes(cfg.web.dispositions)}

    @app.get("/api/operators", response_model=list[m.Operator], responses=responses, tags=["operators"])
    async def operators(who: Who) -> list[dict[str, Any]]:
        """Every operator and their state (an operator sees only themselves)."""
        snapshot = backend.snapshot()
        out = backend.views.operators(snapshot, _configured(backend, snapshot))
        return out if who.role != "operator" else [o for o in out if o["id"] == who.id]

    @app.get(
        "/api/operators/{operator_id}", response_model=m.Console, responses=responses, tags=["operators"]
    )
    async def operator(operator_id: str, who: Who) -> dict[str, Any]:
        """An operator's console: their state, the call routed to them (the screen pop)."""
        acting_on(who, operator_id)
        return console_json(operator_id)

    # --- operators' own actions (or a supervisor's on them) -------------------------------

    @app.post(
        "/api/operators/{operator_id}/login",
        response_model=m.Operator,
        responses=responses,
        tags=["operators"],
    )
    async def log_in(operator_id: str, body: m.LoginIn, who: Who) -> dict[str, Any]:
        """Log in (with these skills, or the current ones)."""
        actor = acting_on(who, operator_id)
        if (
            body.skills is not None
            and who.role != "supervisor"
            and body.skills != backend.desk.skills[operator_id]
        ):
            raise AuthError(403, "only a supervisor changes an operator's skills")
        return operator_out(backend.desk.log_in(actor, operator_id, body.skills))

    @app.post(
        "/api/operators/{operator_id}/ready",
        response_model=m.Operator,
        responses=responses,
        tags=["operators"],
    )
    async def ready(operator_id: str, body: m.ReadyIn, who: Who) -> dict[str, Any]:
        """Ready for calls: logs in, ends a pause or the wrap-up, or calls off a pause or
        logout asked for after the call."""
        return operator_out(backend.desk.ready(acting_on(who, operator_id), operator_id))

    @app.post(
        "/api/operators/{operator_id}/pause",
        response_model=m.Operator,
        responses=responses,
        tags=["operators"],
    )
    async def pause(operator_id: str, body: m.PauseIn, who: Who) -> dict[str, Any]:
        """Pause with a reason: now, or after the call in hand."""
        return operator_out(backend.desk.pause(acting_on(who, operator_id), operator_id, body.reason))

    @app.post(
        "/api/operators/{operator_id}/logout",
        response_model=m.Operator,
        responses=responses,
        tags=["operators"],
    )
    async def log_out(operator_id: str, body: m.LogoutIn, who: Who) -> dict[str, Any]:
        """Log out: now, or after the call in hand."""
        return operator_out(backend.desk.log_out(acting_on(who, operator_id), operator_id))

    @app.post(
        "/api/operators/{operator_id}/wrap-up",
        response_model=m.Operator,
        responses=responses,
        tags=["operators"],
    )
    async def wrap_up(operator_id: str, body: m.WrapUpIn, who: Who) -> dict[str, Any]:
        """The after-call work is done: the call's disposition, and ready for the next."""
        view, _ = backend.desk.wrap_up_done(acting_on(who, operator_id), operator_id, body.disposition)
        return operator_out(view)

    # --- supervisors ----------------------------------------------------------------------

    @app.put(
        "/api/operators/{operator_id}/skills",
        response_model=m.Operator,
        responses=responses,
        tags=["supervisors"],
    )
    async def set_skills(operator_id: str, body: m.SkillsIn, who: Supervisor) -> dict[str, Any]:
        """Change an operator's skills and levels, for routing at once."""
        return operator_out(backend.desk.set_skills(acting_on(who, operator_id), operator_id, body.skills))

    @app.post(
        "/api/operators/{operator_id}/monitor",
        response_model=m.Accepted,
        status_code=202,
        responses=responses,
        tags=["supervisors"],
    )
    async def monitor(operator_id: str, body: m.MonitorIn, who: Supervisor) -> dict[str, Any]:
        """Listen to, whisper to, or barge into an operator's call, from the supervisor's phone."""
        actor = acting_on(who, operator_id)
        if backend.monitor is None:
            raise Refused("conflict", "listening in is not set up in this centre")
        await backend.monitor(actor, operator_id, body.mode)
        return {"detail": f"{body.mode}: the supervisor's phone rings"}

    @app.get("/api/calls", response_model=list[m.WaitingCall], responses=responses, tags=["supervisors"])
    async def calls(who: Supervisor) -> list[dict[str, Any]]:
        """The calls waiting now, in queue order per skill and language."""
        return backend.views.waiting(backend.waiting_calls(), backend.now())

    @app.post(
        "/api/calls/{call_id}/move", response_model=m.WaitingCall, responses=responses, tags=["supervisors"]
    )
    async def move(call_id: str, body: m.MoveIn, who: Supervisor) -> dict[str, Any]:
        """Move a waiting call to another skill's queue; it keeps the time it has waited."""
        moved = backend.desk.move_call(Actor(who.id, who.role), call_id, body.skill, body.language)
        return backend.views.waiting([moved], backend.now())[0]

    @app.get("/api/callbacks/slots", response_model=list[m.Slot], responses=responses, tags=["supervisors"])
    async def slots(
        who: Supervisor,
        skill: Annotated[str, Query(max_length=64)],
        date: Annotated[dt.date, Query(description="the day, YYYY-MM-DD")],
        language: Annotated[str | None, Query(max_length=16)] = None,
    ) -> list[dict[str, Any]]:
        """The bookable slots of a day for a skill, with the places left."""
        if backend.slots is None:
            raise Refused("conflict", "callbacks are not offered in this centre")
        if skill not in cfg.skills:
            raise Refused("invalid", f"unknown skill {skill!r}")
        listed = await backend.slots(skill, date)
        return [{"start": _iso(cfg, s), "end": _iso(cfg, e), "free": free} for s, e, free in listed]

    @app.post(
        "/api/callbacks", response_model=m.Booked, status_code=201, responses=responses, tags=["supervisors"]
    )
    async def book(body: m.BookIn, who: Supervisor) -> dict[str, Any]:
        """Book a callback for a citizen at a slot's time ("cita previa")."""
        if backend.book is None:
            raise Refused("conflict", "callbacks are not offered in this centre")
        if body.skill not in cfg.skills or body.language not in cfg.languages:
            raise Refused("invalid", f"no such service and language: {body.skill}/{body.language}")
        try:
            at = dt.datetime.fromisoformat(body.at)
        except ValueError:
            raise Refused("invalid", f"at: not an ISO date-time: {body.at!r}") from None
        if at.tzinfo is None:
            tz = cfg.hours.tz if cfg.hours is not None else dt.UTC
            at = at.replace(tzinfo=tz)
        # (Typed by a person: "612 34 56 78", "(+34) 612-345-678"; the number's own rules
        # then apply, as to a caller's digits.)
        number = re.sub(r"[\s.()/-]", "", body.number)
        callback_id = await _booking(backend.book, number, body.skill, body.language, at.timestamp())
        if backend.audit is not None:
            backend.audit(
                backend.now(),
                Actor(who.id, who.role),
                "book_callback",
                callback_id,
                {"skill": body.skill, "language": body.language, "at": at.isoformat()},
            )
        return {"callback_id": callback_id, "at": at.isoformat()}

    # --- live streams ---------------------------------------------------------------------

    @app.get(
        "/api/events/wallboard", responses=responses, tags=["wallboard"], response_class=StreamingResponse
    )
    async def wallboard_events(who: Who) -> StreamingResponse:
        """Server-Sent Events: `centre` messages, each the wallboard's JSON (GET /api/wallboard)."""
        return _stream(backend.hub, "centre", centre_json)

    @app.get("/api/events/console", responses=responses, tags=["operators"], response_class=StreamingResponse)
    async def console_events(
        who: Who, operator: Annotated[str | None, Query(max_length=64)] = None
    ) -> StreamingResponse:
        """Server-Sent Events: `console` messages, each an operator's console JSON
        (GET /api/operators/{id}); an operator's own, or `operator`'s for a supervisor."""
        operator_id = operator or who.id
        acting_on(who, operator_id)
        return _stream(backend.hub, "console", lambda: console_json(operator_id))

    return app


async def _booking(book: Callable[[str, str, str, float], Awaitable[str]], *args: Any) -> str:
    from contactcenter.core.booking import NotBookable
    from contactcenter.numbers import BadNumber
    from contactcenter.store import StoreError
    from contactcenter.store.callbacks import CallbackConflict, SlotFull

    try:
        return await book(*args)
    except BadNumber as bad:
        raise Refused("invalid", f"number: not one we can call back ({bad.reason})") from None
    except NotBookable as nb:
        raise Refused("conflict", f"that time cannot be booked: {nb.reason} ({nb})") from None
    except SlotFull:
        raise Refused("conflict", "that slot has just been filled: pick another") from None
    except CallbackConflict:
        raise Refused("conflict", "this number already has a booking for this service") from None
    except ValueError as exc:
        raise Refused("invalid", str(exc)) from None
    except StoreError as exc:
        log.error("booking not stored: %s", exc)
        raise Refused(
            "conflict", "the booking could not be stored now: nothing was booked; try again"
        ) from None


def _stream(hub: Hub, event: str, render: Callable[[], dict[str, Any]]) -> StreamingResponse:
    async def messages() -> AsyncIterator[str]:
        seen = -1
        yield "retry: 2000\n\n"
        while not hub.closed:
            seen = hub.version
            yield f"event: {event}\ndata: {json.dumps(render(), separators=(',', ':'))}\n\n"
            await asyncio.sleep(1.0 / SSE_MAX_RATE)  # (changes within this time go in one message)
            await hub.wait(seen, SSE_REFRESH_S)

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _document_the_centre(app: FastAPI, cfg: Config) -> None:
    """The OpenAPI document names this centre's values (operators, skills, languages, pause
    reasons, dispositions) as enums: a client (or schemathesis) knows what is accepted. The
    handlers still check them, with a 4xx naming what is known."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = make()
        enums = {
            "operator_id": [op.id for op in cfg.operators],
            "skill": list(cfg.skills),
            "language": list(cfg.languages),
            "reason": list(cfg.web.pause_reasons),
            "disposition": list(cfg.web.dispositions),
        }
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                for param in op.get("parameters", []):
                    if param.get("name") in enums and param.get("schema", {}).get("type") == "string":
                        param["schema"]["enum"] = enums[param["name"]]
        for component in schema.get("components", {}).get("schemas", {}).values():
            if not component.get("title", "").endswith("In"):
                continue  # (requests only: responses say what they say)
            for name, prop in component.get("properties", {}).items():
                if name in enums and prop.get("type") == "string":
                    prop["enum"] = enums[name]
                elif name == "skills":
                    for shape in [prop, *prop.get("anyOf", [])]:
                        if shape.get("type") == "object":
                            shape["propertyNames"] = {"enum": enums["skill"]}
                            shape["additionalProperties"] = {"type": "integer", "minimum": 1, "maximum": 9}
                            shape["minProperties"] = 1
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _configured(backend: Backend, snapshot: Snapshot) -> dict[str, OperatorView]:
    """Every configured operator's view, logged in or not, from one snapshot (a wallboard
    message is built for every open stream up to 4 times a second: one snapshot each)."""
    return {op.id: backend.desk.view(op.id, snapshot) for op in backend.cfg.operators}


def _iso(cfg: Config, wall: float) -> str:
    tz = cfg.hours.tz if cfg.hours is not None else dt.UTC
    return dt.datetime.fromtimestamp(wall, tz).isoformat(timespec="seconds")


def _safe_next(target: str) -> str:
    """Only a path of ours after login (no open redirect to another site)."""
    if target in ("/wallboard", "/console"):
        return target
    return "/wallboard"


def _here(name: str) -> Any:
    from importlib.resources import files

    return files(_package).joinpath("web", name)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("contactcenter")
    except PackageNotFoundError:
        return "0"
