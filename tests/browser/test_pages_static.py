"""The pages' rendering, with the data faked: the templates rendered through Jinja2 with
sample context, and the scripts fed sample SSE payloads and API answers shaped like the
API's contract, in Debian's chromium. Their subject is what the pages do with the data
(tiles, states, the screen pop, the controls, errors shown); the live controller's data
is the subject of other tests.

No server: Playwright answers the page's requests (http://cc.test/...) itself, the page
with the Content-Security-Policy the app sends, so an inline script or style would fail.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from playwright.async_api import Page, Request, Route, expect

from contactcenter.web.strings import LANGUAGES, strings_for
from tests.browser.conftest import screenshot

WEB = Path(__file__).resolve().parents[2] / "contactcenter" / "web"
BASE = "http://cc.test"
CSRF = "csrf-sample-token"
# As contactcenter/web/app.py sends it with every page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
TYPES = {".js": "text/javascript", ".css": "text/css"}

NAMES = {
    "info": {"ca": "Informació general", "es": "Información general", "en": "General information"},
    "tramits": {
        "ca": "Tràmits i cita prèvia",
        "es": "Trámites y cita previa",
        "en": "Procedures and appointments",
    },
    "tributs": {"ca": "Impostos i multes", "es": "Impuestos y multas", "en": "Taxes and fines"},
}
PAUSE_REASONS = [
    {"code": "break", "names": {"ca": "Descans", "es": "Descanso", "en": "Break"}},
    {"code": "training", "names": {"ca": "Formació", "es": "Formación", "en": "Training"}},
]
DISPOSITIONS = [
    {"code": "resolved", "names": {"ca": "Resolta", "es": "Resuelta", "en": "Resolved"}},
    {"code": "transferred", "names": {"ca": "Derivada", "es": "Derivada", "en": "Referred"}},
]


def _op(oid: str, name: str, state: str, since: float, **kw: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "name": name,
        "state": state,
        "since_s": since,
        "reason": kw.get("reason"),
        "skills": kw.get("skills", {"info": 1}),
        "languages": ["ca", "es"],
        "after_call": kw.get("after_call"),
    }


def _skill(sid: str, **kw: Any) -> dict[str, Any]:
    tile = {
        "skill": sid,
        "names": NAMES[sid],
        "waiting": 0,
        "longest_wait_s": 0.0,
        "service_level": None,
        "asa_s": None,
        "abandon_rate": None,
        "offered": 0,
        "answered": 0,
        "operators": {
            "available": 0,
            "reserved": 0,
            "talking": 0,
            "wrap_up": 0,
            "paused": 0,
            "unreachable": 0,
        },
        "callbacks_pending": 0,
        "levels": {},
    }
    tile.update(kw)
    return tile


CENTRE: dict[str, Any] = {
    "at": "2026-12-02T08:15:03+01:00",
    "centre": "010 Barcelona",
    "lines": {"in_use": 12, "capacity": 220, "level": "ok"},
    "in_ivr": 3,
    "ami_connected": True,
    "skills": [
        _skill(
            "info",
            waiting=4,
            longest_wait_s=63.0,
            service_level=0.92,
            asa_s=14.2,
            abandon_rate=0.03,
            offered=130,
            answered=120,
            callbacks_pending=3,
            # As the API counts: talking includes the ringing (reserved) operator.
            operators={
                "available": 1,
                "reserved": 1,
                "talking": 3,
                "wrap_up": 1,
                "paused": 1,
                "unreachable": 0,
            },
            levels={"service_level": "red", "longest_wait_s": "amber", "abandon_rate": "ok", "waiting": "ok"},
        ),
        _skill(
            "tramits",
            operators={
                "available": 0,
                "reserved": 0,
                "talking": 0,
                "wrap_up": 0,
                "paused": 0,
                "unreachable": 1,
            },
        ),
        _skill("tributs"),
    ],
    "operators": [
        _op("ana", "Ana", "talking", 34.0, skills={"info": 1, "tramits": 2}),
        _op("jordi", "Jordi", "paused", 65.0, reason="break"),
        _op("marta", "Marta", "unreachable", 5.0, reason="chan_unavailable", skills={"tramits": 1}),
        _op("pau", "Pau", "logged_out", 0.0, skills={"tributs": 1}),
        _op("x", "<img src=x onerror=alert(1)>", "available", 1.0),
    ],
    "pause_reasons": PAUSE_REASONS,
    "dispositions": DISPOSITIONS,
    "skills_all": [{"skill": k, "names": v} for k, v in NAMES.items()],
    "languages_all": list(LANGUAGES),
}

POP = {
    "call_id": "c-1",
    "kind": "inbound",
    "skill": "info",
    "names": NAMES["info"],
    "language": "es",
    "ivr_path": ["es", "info"],
    "wait_s": 42.0,
    "number": "6••••••12",
    "calls_7d": 2,
    "state": "talking",
}
CONSOLE: dict[str, Any] = {
    "at": "2026-12-02T08:15:03+01:00",
    "operator": _op("ana", "Ana", "talking", 34.0, skills={"info": 1, "tramits": 2}),
    "call": POP,
    "last_call": None,
    "pause_reasons": PAUSE_REASONS,
    "dispositions": DISPOSITIONS,
}

Handler = Callable[[Route, Request], Awaitable[None]]


def render(template: str, lang: str, **extra: Any) -> str:
    env = Environment(
        loader=FileSystemLoader(WEB / "templates"), autoescape=select_autoescape(), undefined=StrictUndefined
    )
    context = {
        "t": strings_for(lang),
        "lang": lang,
        "centre": "010 Barcelona",
        "csrf": CSRF,
        "static": "/static",
        "languages": list(LANGUAGES),
        "role": None,
        "operator_id": None,
    }
    return env.get_template(template).render({**context, **extra})


def sse(event: str, *payloads: dict[str, Any]) -> str:
    # A long retry: once this body ends, the page shows "reconnecting" and stays so.
    return "retry: 600000\n\n" + "".join(f"event: {event}\ndata: {json.dumps(p)}\n\n" for p in payloads)


async def serve(page: Page, html: str, api: dict[str, Handler]) -> list[Request]:
    """Answer the page's requests: the page, /static/*, and `api` ("METHOD /path" -> handler;
    anything else 404). Returns the list the API requests are recorded in."""
    seen: list[Request] = []

    async def handle(route: Route, request: Request) -> None:
        path = request.url.removeprefix(BASE).split("?")[0]
        if path.startswith("/static/"):
            file = WEB / "static" / path.removeprefix("/static/")
            if file.is_file():
                await route.fulfill(body=file.read_bytes(), content_type=TYPES.get(file.suffix, "text/plain"))
                return
        elif path in ("/wallboard", "/console", "/login"):
            await route.fulfill(
                body=html, content_type="text/html; charset=utf-8", headers={"Content-Security-Policy": CSP}
            )
            return
        handler = api.get(f"{request.method} {path}")
        if handler is not None:
            seen.append(request)
            await handler(route, request)
            return
        await route.fulfill(status=404, json={"detail": f"not faked: {request.method} {path}"})

    await page.route(f"{BASE}/**", handle)
    return seen


def stream(event: str, *payloads: dict[str, Any]) -> Handler:
    async def handler(route: Route, request: Request) -> None:
        await route.fulfill(body=sse(event, *payloads), content_type="text/event-stream")

    return handler


def answer(status: int, body: Any) -> Handler:
    async def handler(route: Route, request: Request) -> None:
        await route.fulfill(status=status, json=body)

    return handler


def field(root: Any, name: str) -> Any:
    return root.locator(f'[data-field="{name}"]')


async def test_wallboard_tiles_from_a_centre_message(browser_page: Page) -> None:
    page = browser_page
    await serve(
        page,
        render("wallboard.html", "ca", role="viewer"),
        {"GET /api/events/wallboard": stream("centre", CENTRE)},
    )
    await page.goto(f"{BASE}/wallboard")

    info = page.locator('[data-skill="info"]')
    await expect(info).to_be_visible()
    assert await page.locator("[data-skill]").evaluate_all("els => els.map(e => e.dataset.skill)") == [
        "info",
        "tramits",
        "tributs",
    ]
    await expect(info.locator(".skill-name")).to_have_text("Informació general")
    await expect(field(info, "waiting")).to_have_text("4")
    await expect(field(info, "longest_wait")).to_have_text(re.compile(r"^1:0[3-9]$"))  # counts on: 4 wait
    await expect(field(info, "service_level")).to_have_text("92 %")
    await expect(field(info, "asa")).to_have_text("14 s")
    await expect(field(info, "abandon_rate")).to_have_text("3 %")
    for name, text in [
        ("available", "1"),
        ("talking", "3"),
        ("wrap_up", "1"),
        ("paused", "1"),
        ("unreachable", "0"),
        ("callbacks_pending", "3"),
    ]:
        await expect(field(info, name)).to_have_text(text)
    await expect(field(info, "reserved")).to_have_text("1 sonant")
    # Levels: the server's, as classes, and in words for screen readers.
    await expect(field(info, "service_level")).to_have_class(re.compile(r"\blevel-red\b"))
    await expect(field(info, "longest_wait")).to_have_class(re.compile(r"\blevel-amber\b"))
    await expect(field(info, "abandon_rate")).to_have_class(re.compile(r"\blevel-ok\b"))
    await expect(field(info, "asa")).not_to_have_class(re.compile(r"\blevel-"))
    await expect(info.locator('.metric:has([data-field="service_level"]) .level-word')).to_have_text(
        "(alarma)"
    )
    # No call yet today: no figures.
    tributs = page.locator('[data-skill="tributs"]')
    for name in ("service_level", "asa", "abandon_rate"):
        await expect(field(tributs, name)).to_have_text("–")
    await expect(field(tributs, "longest_wait")).to_have_text("0:00")

    ana = page.locator('[data-operator="ana"]')
    await expect(field(ana, "state")).to_have_text("En trucada")
    await expect(field(ana, "state")).to_have_attribute("data-state", "talking")
    await expect(field(page.locator('[data-operator="jordi"]'), "reason")).to_have_text("Descans")
    await expect(field(page.locator('[data-operator="marta"]'), "state")).to_have_text("Il·localitzable")
    await expect(field(page.locator('[data-operator="pau"]'), "time")).to_have_text("")
    first = await field(ana, "time").text_content()
    assert first is not None and re.fullmatch(r"0:3\d", first)
    await expect(field(ana, "time")).not_to_have_text(first, timeout=2500)  # counts each second
    # Data goes in as text, never as markup.
    hostile = page.locator('[data-operator="x"]')
    await expect(hostile.locator(".op-name")).to_have_text("<img src=x onerror=alert(1)>")
    assert await hostile.locator("img").count() == 0

    await expect(page.locator("#lines [data-field=lines]")).to_have_text("12 / 220")
    await expect(page.locator("[data-field=in_ivr]")).to_have_text("3")
    await expect(page.locator("#clock")).to_have_text(re.compile(r"^08:15:0\d$"))
    await expect(page.locator("#ami-banner")).to_be_hidden()
    # A viewer has no controls at all.
    assert await page.locator(".op-menu, #calls, #callback-form").count() == 0
    await screenshot(page, "static-wallboard-viewer-ca")
    # The fake stream has ended: the page says it is reconnecting, and dims the figures.
    await expect(page.locator("#conn-banner")).to_be_visible()
    await expect(page.locator("body")).to_have_class(re.compile(r"\bstale\b"))


async def test_wallboard_in_english_with_the_ami_link_down(browser_page: Page) -> None:
    page = browser_page
    down = copy.deepcopy(CENTRE) | {"ami_connected": False}
    await serve(
        page,
        render("wallboard.html", "en", role="viewer"),
        {"GET /api/events/wallboard": stream("centre", down)},
    )
    await page.goto(f"{BASE}/wallboard")
    await expect(page.locator("#ami-banner")).to_be_visible()
    await expect(page.locator('[data-skill="info"] .skill-name')).to_have_text("General information")
    await expect(field(page.locator('[data-skill="info"]'), "service_level")).to_have_text("92%")
    await expect(field(page.locator('[data-operator="ana"]'), "state")).to_have_text("On a call")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await screenshot(page, "static-wallboard-ami-down-en")


async def test_supervisor_controls_send_the_contract_and_show_refusals(browser_page: Page) -> None:
    page = browser_page
    calls = [
        {
            "call_id": "k1",
            "skill": "info",
            "language": "es",
            "wait_s": 75.0,
            "position": 1,
            "kind": "inbound",
        },
        {"call_id": "k2", "skill": None, "language": None, "wait_s": 3.0, "position": 1, "kind": "callback"},
    ]
    slots = [
        {"start": "2026-12-03T09:00:00+01:00", "end": "2026-12-03T10:00:00+01:00", "free": 0},
        {"start": "2026-12-03T10:00:00+01:00", "end": "2026-12-03T11:00:00+01:00", "free": 2},
    ]
    ana_after = CENTRE["operators"][0] | {"skills": {"info": 2}}
    seen = await serve(
        page,
        render("wallboard.html", "ca", role="supervisor"),
        {
            "GET /api/events/wallboard": stream("centre", CENTRE),
            "GET /api/calls": answer(200, calls),
            "POST /api/operators/ana/pause": answer(409, {"detail": "Ana is on a call: it ends first"}),
            "PUT /api/operators/ana/skills": answer(200, ana_after),
            "POST /api/operators/ana/monitor": answer(
                202, {"detail": "listen: the supervisor's phone rings"}
            ),
            "POST /api/calls/k1/move": answer(
                422, {"detail": [{"loc": ["body", "skill"], "msg": "unknown skill"}]}
            ),
            "GET /api/callbacks/slots": answer(200, slots),
            "POST /api/callbacks": answer(201, {"callback_id": "cb-9", "at": "2026-12-03T10:00:00+01:00"}),
        },
    )
    await page.goto(f"{BASE}/wallboard")
    ana = page.locator('[data-operator="ana"]')
    await expect(field(ana, "state")).to_have_attribute("data-state", "talking")

    # The waiting calls, from GET /api/calls after the message.
    await expect(page.locator("#calls tbody tr")).to_have_count(2)
    await expect(page.locator('[data-call="k2"] td').nth(1)).to_have_text("–")
    await page.locator('[data-call="k1"] select[name="skill"]').select_option("tributs")
    await page.locator('[data-call="k1"] [data-action="move"]').click()
    await expect(page.locator("#calls-msg")).to_have_text("unknown skill")  # 422's list: its msg
    move = next(r for r in seen if r.url.endswith("/move"))
    assert move.post_data_json == {"skill": "tributs"}

    # The menu, by keyboard: the summary opens it.
    await ana.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect(ana.locator('[data-action="pause"]')).to_be_visible()
    await expect(ana.locator('[data-action="login"]')).to_be_hidden()
    await expect(ana.locator('[data-mode="barge"]')).to_be_visible()  # talking: monitoring offered
    await ana.locator('select[name="reason"]').select_option("training")
    await ana.locator('[data-action="pause"]').click()
    await expect(ana.locator(".menu-body .msg")).to_have_text("Ana is on a call: it ends first")
    await expect(ana.locator(".menu-body .msg")).to_have_class(re.compile(r"\berror\b"))
    pause = next(r for r in seen if r.url.endswith("/pause"))
    assert pause.post_data_json == {"reason": "training", "after_call": True}
    assert (await pause.all_headers())["x-csrf-token"] == CSRF

    await ana.locator('[data-mode="listen"]').click()
    await expect(ana.locator(".menu-body .msg")).to_have_text("Ara sonarà el vostre telèfon.")

    await ana.locator('.skill-rows select[data-skill-id="info"]').select_option("2")
    await ana.locator('.skill-rows select[data-skill-id="tramits"]').select_option("")
    await ana.locator('[data-action="skills"]').click()
    await expect(ana.locator(".menu-body .msg")).to_have_text("Fet.")
    put = next(r for r in seen if r.method == "PUT")
    assert put.post_data_json == {"skills": {"info": 2}}
    await expect(field(ana, "skills")).to_have_text("Informació general 2")  # the answer, at once

    # A logged-out operator's menu offers logging in, not pausing.
    pau = page.locator('[data-operator="pau"]')
    await pau.locator("summary").click()
    await expect(pau.locator('[data-action="login"]')).to_be_visible()
    await expect(pau.locator('[data-action="pause"]')).to_be_hidden()
    await expect(pau.locator('[data-action="logout"]')).to_be_hidden()

    # Booking a callback: find the slots, pick a free one, book.
    form = page.locator("#callback-form")
    await expect(form.locator('[name="date"]')).to_have_value("2026-12-02")  # the centre's today
    await form.locator('[name="number"]').fill("612 345 678")
    await form.locator('[name="skill"]').select_option("tramits")
    await form.locator('[name="language"]').select_option("es")
    await form.locator('[name="date"]').fill("2026-12-03")
    await form.locator('[data-action="find-slots"]').click()
    await expect(form.locator('input[name="slot"]')).to_have_count(2)
    await expect(form.locator('input[name="slot"]').first).to_be_disabled()  # full
    slot_req = next(r for r in seen if "/slots" in r.url)
    assert (
        "skill=tramits" in slot_req.url
        and "language=es" in slot_req.url
        and "date=2026-12-03" in slot_req.url
    )
    await form.locator('input[name="slot"]').nth(1).check()
    await form.locator('[data-action="book"]').click()
    await expect(page.locator("#cb-msg")).to_contain_text("a les 10:00")
    booking = next(r for r in seen if r.url.endswith("/api/callbacks"))
    assert booking.post_data_json == {
        "number": "612 345 678",
        "skill": "tramits",
        "language": "es",
        "at": "2026-12-03T10:00:00+01:00",
    }
    await screenshot(page, "static-wallboard-supervisor-ca")


async def test_console_pop_controls_and_wrap_up(browser_page: Page) -> None:
    page = browser_page
    wrap = copy.deepcopy(CONSOLE) | {
        "operator": _op("ana", "Ana", "wrap_up", 3.0),
        "call": None,
        "last_call": POP | {"calls_7d": 0, "kind": "callback"},
    }
    feed = {"payload": CONSOLE}

    async def console_stream(route: Route, request: Request) -> None:
        await route.fulfill(body=sse("console", feed["payload"]), content_type="text/event-stream")

    seen = await serve(
        page,
        render("console.html", "ca", role="operator", operator_id="ana"),
        {
            "GET /api/events/console": console_stream,
            "POST /api/operators/ana/wrap-up": answer(200, _op("ana", "Ana", "available", 0.0)),
        },
    )
    await page.goto(f"{BASE}/console")
    state = page.locator('[data-field="state"]')
    await expect(state).to_have_text("En trucada")
    await expect(state).to_have_attribute("data-state", "talking")
    pop = page.locator("#pop")
    await expect(pop).to_be_visible()
    for name, text in [
        ("kind", "Trucada entrant"),
        ("skill", "Informació general"),
        ("language", "Castellà"),
        ("ivr_path", "Castellà › Informació general"),
        ("wait", "0:42"),
        ("number", "6••••••12"),
        ("calls_7d", "Ja ha trucat 2 vegades en els últims 7 dies"),
    ]:
        await expect(field(pop, name)).to_have_text(text)
    await expect(field(pop, "calls_7d")).to_have_class(re.compile(r"\brepeat\b"))
    for action, visible in [
        ("login", False),
        ("ready", False),
        ("pause", True),
        ("logout", True),
        ("wrap-up", False),
    ]:
        button = page.locator(f'[data-action="{action}"]')
        await (expect(button).to_be_visible() if visible else expect(button).to_be_hidden())
    await expect(page.locator('input[name="after_call"]')).to_be_visible()
    await screenshot(page, "static-console-talking-ca")

    # Wrap-up: the call just ended stays shown; disposition and "wrap-up done".
    feed["payload"] = wrap
    await page.reload()
    await expect(state).to_have_attribute("data-state", "wrap_up")
    await expect(pop).to_have_attribute("data-call-state", "ended")
    await expect(field(pop, "kind")).to_have_text("Trucada de retorn")
    await expect(field(pop, "calls_7d")).to_have_text("Primera trucada en 7 dies")
    await expect(field(pop, "calls_7d")).not_to_have_class(re.compile(r"\brepeat\b"))
    await expect(page.locator('input[name="after_call"]')).to_be_hidden()
    await page.locator('select[name="disposition"]').select_option("transferred")
    await screenshot(page, "static-console-wrap-up-ca")
    await page.locator('[data-action="wrap-up"]').click()
    await expect(state).to_have_text("Disponible")  # the POST's answer, before any message
    done = next(r for r in seen if r.url.endswith("/wrap-up"))
    assert done.post_data_json == {"disposition": "transferred"}
    assert (await done.all_headers())["x-csrf-token"] == CSRF


async def test_login_page(browser_page: Page) -> None:
    page = browser_page
    await serve(page, render("login.html", "es", error="login_failed", next="/console?a=1&b=2"), {})
    await page.goto(f"{BASE}/login")
    await expect(page.locator("#login-error")).to_have_text("Ese código de acceso no es válido.")
    form = page.locator("form.login-form")
    await expect(form).to_have_attribute("method", "post")
    await expect(form).to_have_attribute("action", "/login")
    await expect(page.get_by_label("Código de acceso")).to_have_attribute("type", "password")
    await expect(form.locator('input[name="lang"]')).to_have_value("es")
    await expect(form.locator('input[name="next"]')).to_have_value("/console?a=1&b=2")
    await expect(page.locator('.langs a[hreflang="ca"]')).to_have_attribute(
        "href", "?lang=ca&next=/console%3Fa%3D1%26b%3D2"
    )
    assert await page.locator("form.signout").count() == 0
    await screenshot(page, "static-login-es")


async def test_an_ended_session_goes_back_to_the_sign_in_page(browser_page: Page) -> None:
    page = browser_page
    await serve(
        page,
        render("wallboard.html", "ca", role="viewer"),
        {
            "GET /api/events/wallboard": answer(401, {"detail": "log in"}),
            "GET /api/me": answer(401, {"detail": "log in"}),
        },
    )
    await page.goto(f"{BASE}/wallboard")
    await page.wait_for_url(f"{BASE}/login?next=%2Fwallboard")
