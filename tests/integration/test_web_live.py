# The web API of the live controller (FastAPI on its `http` listener), against the real
# Asterisk sandbox with SIPp callers: who may do what (no token 401, wrong role 403, an
# operator only on themselves), bad input as a sentence (never a 500), the supervisors'
# actions taking effect in the core and in Asterisk (a waiting SIP call moved to another
# skill is answered there; listening in starts Asterisk's ChanSpy on the operator's
# channel), every action in the records' audit, and schemathesis against /openapi.json.
from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import httpx
import pytest

from contactcenter.controller import Controller
from contactcenter.core import events as ev
from contactcenter.core.lifecycle import CallState, OperatorState
from contactcenter.sim.sipp import SippCall
from tests.integration.webcentre import SUPERVISOR, VIEWER, Api, operator_token
from tests.polling import until
from tests.recorder import AmiRecorder

ANA, MARTA = operator_token("ana"), operator_token("marta")


def api_of(ctl: Controller) -> Api:
    return Api(f"http://{ctl.cfg.http.host}:{ctl.http.port}")


def state(ctl: Controller, operator_id: str) -> OperatorState:
    return ctl.engine.snapshot(ctl.now()).operators[operator_id].state


async def test_who_may_do_what(web: Controller) -> None:
    api = api_of(web)
    spec = await api.openapi()
    gets = [p for p, ops in spec["paths"].items() if "get" in ops and not p.startswith("/api/events")]
    assert "/api/wallboard" in gets and "/api/calls" in gets
    for path in gets:  # nobody: 401 everywhere
        reply = await api.get(
            path.replace("{operator_id}", "ana"), params={"skill": "info", "date": "2026-12-03"}
        )
        assert reply.status_code == 401, (path, reply.text)
        assert reply.headers["www-authenticate"] == "Bearer"
    bad = await api.get("/api/me", headers={"Authorization": "Bearer not-a-token-of-ours"})
    assert bad.status_code == 401
    # The wallboard's screen reads, and nothing else.
    assert (await api.get("/api/wallboard", VIEWER)).status_code == 200
    assert (await api.post("/api/operators/ana/pause", VIEWER, {"reason": "break"})).status_code == 403
    assert (await api.get("/api/calls", VIEWER)).status_code == 403
    # An operator acts on themselves only, and never as a supervisor.
    other = await api.post("/api/operators/marta/pause", ANA, {"reason": "break"})
    assert other.status_code == 403 and "themselves" in other.json()["detail"]
    assert state(web, "marta") is OperatorState.AVAILABLE
    assert (await api.put("/api/operators/ana/skills", ANA, {"skills": {"info": 1}})).status_code == 403

    def ids(reply: httpx.Response) -> list[str]:
        return [o["id"] for o in reply.json()]

    assert ids(await api.get("/api/operators", ANA)) == ["ana"]
    assert ids(await api.get("/api/operators", SUPERVISOR)) == [op.id for op in web.cfg.operators]
    own = await api.post("/api/operators/ana/pause", ANA, {"reason": "training"})
    assert own.status_code == 200 and own.json()["state"] == "paused"
    assert state(web, "ana") is OperatorState.PAUSED
    assert web.engine.snapshot(web.now()).operators["ana"].reason == "training"
    back = await api.post("/api/operators/ana/ready", ANA)
    assert back.json()["state"] == "available" and state(web, "ana") is OperatorState.AVAILABLE


async def test_bad_input_is_a_sentence_never_a_500(web: Controller) -> None:
    api = api_of(web)
    cases = [
        ("post", "/api/operators/ana/pause", {"reason": "coffee"}, 422, "unknown pause reason"),
        ("post", "/api/operators/ana/pause", {"reason": "break", "extra": 1}, 422, "extra"),
        ("post", "/api/operators/nobody/pause", {"reason": "break"}, 404, "no operator"),
        ("put", "/api/operators/ana/skills", {"skills": {"astrology": 1}}, 422, "unknown skill"),
        ("put", "/api/operators/ana/skills", {"skills": {"info": 12}}, 422, "level"),
        ("put", "/api/operators/ana/skills", {"skills": {}}, 422, "at least one skill"),
        ("post", "/api/calls/no-such-call/move", {"skill": "info"}, 404, "no call"),
        ("post", "/api/operators/ana/wrap-up", {"disposition": "resolved"}, 409, "no call to wrap up"),
        ("post", "/api/operators/ana/login", {}, 409, "already logged in"),
        (
            "post",
            "/api/callbacks",
            {"number": "12", "skill": "info", "language": "ca", "at": "2030-01-01T10:00"},
            422,
            "number",
        ),
        (
            "post",
            "/api/callbacks",
            {"number": "612345678", "skill": "info", "language": "ca", "at": "soon"},
            422,
            "ISO",
        ),
    ]
    async with api.client(SUPERVISOR) as c:
        for method, path, body, status, words in cases:
            reply = await c.request(method.upper(), path, json=body)
            assert reply.status_code == status, (path, body, reply.text)
            assert words in reply.json()["detail"], (path, reply.text)
        garbage = await c.post(
            "/api/operators/ana/pause", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbage.status_code == 422 and garbage.json()["detail"]
    assert state(web, "ana") is OperatorState.AVAILABLE  # nothing of it took effect


async def test_pages_need_a_login_and_a_csrf_token(web: Controller) -> None:
    api = api_of(web)
    async with httpx.AsyncClient(base_url=api.base, timeout=10) as browser:
        first = await browser.get("/wallboard")
        assert first.status_code == 303 and first.headers["location"].startswith("/login")
        refused = await browser.post("/login", data={"token": "wrong", "next": "/console"})
        assert refused.status_code == 401
        logged = await browser.post("/login", data={"token": ANA.token, "next": "/console", "lang": "es"})
        assert logged.status_code == 303 and logged.headers["location"].startswith("/console")
        cookie = logged.cookies.get("cc_session")
        assert cookie and "httponly" in logged.headers["set-cookie"].lower()
        assert "samesite=strict" in logged.headers["set-cookie"].lower()
        page = await browser.get("/console")
        assert page.status_code == 200 and 'lang="es"' in page.text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf is not None
        # The cookie alone cannot change anything (another site's form could send it).
        forged = await browser.post("/api/operators/ana/pause", json={"reason": "break"})
        assert forged.status_code == 403 and state(web, "ana") is OperatorState.AVAILABLE
        elsewhere = await browser.post(
            "/api/operators/ana/pause",
            json={"reason": "break"},
            headers={"X-CSRF-Token": csrf.group(1), "Origin": "http://evil.example"},
        )
        assert elsewhere.status_code == 403
        done = await browser.post(
            "/api/operators/ana/pause", json={"reason": "break"}, headers={"X-CSRF-Token": csrf.group(1)}
        )
        assert done.status_code == 200 and state(web, "ana") is OperatorState.PAUSED


async def test_supervisor_moves_a_waiting_sip_call_and_listens_in(
    asterisk, observer: AmiRecorder, web: Controller
) -> None:
    api = api_of(web)
    # Nobody may take info calls: the citizen waits.
    assert (await api.post("/api/operators/ana/pause", SUPERVISOR, {"reason": "meeting"})).status_code == 200
    call = SippCall(caller="+34600000911", digits="11", stay_s=40, target_port=asterisk.sip_port)
    await call.start()
    try:
        await until(
            lambda: any(c.state is CallState.QUEUED for c in web.engine.calls.values()),
            30,
            "the call waiting",
        )
        waiting = (await api.get("/api/calls", SUPERVISOR)).json()
        assert [(w["skill"], w["language"], w["position"], w["kind"]) for w in waiting] == [
            ("info", "ca", 1, "inbound")
        ]
        call_id = waiting[0]["call_id"]
        moved = await api.post(f"/api/calls/{call_id}/move", SUPERVISOR, {"skill": "tramits"})
        assert moved.status_code == 200, moved.text
        # Marta (tramits) answers it: the core says so, and Asterisk joined them.
        await until(
            lambda: (
                web.engine.snapshot(web.now()).operators["marta"].call_id == call_id
                and state(web, "marta") is OperatorState.TALKING
            ),
            20,
            "marta talking to the moved call",
        )
        again = await api.post(f"/api/calls/{call_id}/move", SUPERVISOR, {"skill": "info"})
        assert again.status_code == 409  # not waiting any more
        # Listening in: the supervisor's (simulated) phone rings into ChanSpy on marta's channel.
        listen = await api.post("/api/operators/marta/monitor", SUPERVISOR, {"mode": "listen"})
        assert listen.status_code == 202, listen.text
        spy = await observer.wait_for(lambda m: m.get("Event") == "ChanSpyStart", 15, "ChanSpy started")
        assert str(spy.get("SpyeeChannel", "")).startswith("Local/marta@cc-sim-operator-"), dict(spy)
        assert str(spy.get("SpyerChannel", "")).startswith("Local/sala@cc-sim-supervisor-"), dict(spy)
        # Whisper and barge: ChanSpy again, each from a new ring of the supervisor's phone.
        for mode in ("whisper", "barge"):
            assert (
                await api.post("/api/operators/marta/monitor", SUPERVISOR, {"mode": mode})
            ).status_code == 202
        await until(
            lambda: sum(e.get("Event") == "ChanSpyStart" for e in observer.events) == 3,
            15,
            "three ChanSpy sessions",
        )
        refused = await api.post("/api/operators/ana/monitor", SUPERVISOR, {"mode": "barge"})
        assert refused.status_code == 409 and "not on a call" in refused.json()["detail"]
    finally:
        call.stop()
    records = web.cfg.records
    assert records is not None

    def audit() -> list[tuple[str, str, str, str]]:
        with sqlite3.connect(records.path) as db:  # (written by the records' batches, twice a second)
            return db.execute("SELECT actor, role, action, target FROM audit ORDER BY at").fetchall()

    expected = [
        ("sala", "supervisor", "pause", "ana"),
        ("sala", "supervisor", "move_call", call_id),
        ("sala", "supervisor", "monitor_listen", "marta"),
        ("sala", "supervisor", "monitor_whisper", "marta"),
        ("sala", "supervisor", "monitor_barge", "marta"),
    ]
    await until(lambda: audit() == expected, 10, f"the audit to read {expected}")


async def test_a_supervisor_books_a_callback_in_a_free_slot(web: Controller) -> None:
    api = api_of(web)
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    params = {"skill": "tramits", "language": "es", "date": tomorrow}
    slots = (await api.get("/api/callbacks/slots", SUPERVISOR, params=params)).json()
    assert slots and all(s["free"] >= 0 for s in slots)
    slot = next(s for s in slots if s["free"] > 0)
    body = {"number": "612 345 678", "skill": "tramits", "language": "es", "at": slot["start"]}
    booked = await api.post("/api/callbacks", SUPERVISOR, body)
    assert booked.status_code == 201, booked.text
    callback_id = booked.json()["callback_id"]
    after = {
        s["start"]: s["free"]
        for s in (await api.get("/api/callbacks/slots", SUPERVISOR, params=params)).json()
    }
    assert after[slot["start"]] == slot["free"] - 1
    # Stored (the store, not our tables: what a restart restores), due at the slot's start,
    # and in the core as a booked callback of tramits.
    assert web.store is not None
    record = await web.store.get(callback_id)
    assert record is not None and record.skill == "tramits" and record.number == "+34612345678"
    assert record.due_at == dt.datetime.fromisoformat(slot["start"]).timestamp()
    assert web.engine.snapshot(web.now()).skill("tramits").callbacks == 1
    # The same number again for the same service: refused with a reason.
    twice = await api.post("/api/callbacks", SUPERVISOR, body)
    assert twice.status_code == 409 and "already" in twice.json()["detail"]
    assert (await api.post("/api/callbacks", ANA, body)).status_code == 403


async def test_schemathesis_finds_no_500_and_no_schema_violation(web: Controller) -> None:
    if shutil.which("schemathesis") is None and not (Path(sys.executable).parent / "schemathesis").exists():
        pytest.fail("schemathesis is not installed: run scripts/setup.sh")
    api = api_of(web)
    exe = str(Path(sys.executable).parent / "schemathesis")
    proc = await asyncio.create_subprocess_exec(
        exe,
        "run",
        f"{api.base}/openapi.json",
        "-H",
        f"Authorization: Bearer {SUPERVISOR.token}",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--exclude-path-regex",
        "^/api/events/",  # (streams never end: the browser tests read them)
        "--max-examples",
        "15",
        "--generation-deterministic",
        "--workers",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    assert re.search(r"\b\d+ passed\b", text) or "passed" in text, text[-2000:]
    # It did exercise the actions, and the controller lives on.
    assert web.engine.snapshot(web.now()).operators
    web.feed(ev.Tick(now=web.now()))
