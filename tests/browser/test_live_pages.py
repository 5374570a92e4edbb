# The wallboard and the operator's console in Debian's chromium (Playwright, headless),
# served by the live controller while SIPp citizens call through the real Asterisk sandbox:
# the pages follow the centre over Server-Sent Events with no reload; the console pops the
# routed call (skill, language, IVR path, masked number, repeat calls) and its pause takes
# effect in the core. Screenshots go to $CC_ARTEFACTS/browser/.
from __future__ import annotations

import re

from playwright.async_api import Page, expect

from contactcenter.controller import Controller
from contactcenter.core.lifecycle import OperatorState
from contactcenter.sim.sipp import SippCall
from tests.browser.conftest import screenshot
from tests.integration.webcentre import SUPERVISOR, Api, operator_token
from tests.polling import until
from tests.recorder import AmiRecorder

ANA = operator_token("ana")


def api_of(ctl: Controller) -> Api:
    return Api(f"http://{ctl.cfg.http.host}:{ctl.http.port}")


async def log_in(page: Page, base: str, token: str, target: str) -> None:
    await page.goto(f"{base}/login?next={target}")
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(rf"{re.escape(base)}{target}"))


def state(ctl: Controller, operator_id: str) -> OperatorState:
    return ctl.engine.snapshot(ctl.now()).operators[operator_id].state


async def test_wallboard_follows_live_sip_calls_without_a_reload(
    asterisk, observer: AmiRecorder, web: Controller, browser_page: Page
) -> None:
    page, api = browser_page, api_of(web)
    await log_in(page, api.base, SUPERVISOR.token, "/wallboard")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    info = page.locator("[data-skill=info]")
    ana = page.locator("[data-operator=ana] [data-field=state]")
    await expect(info.locator("[data-field=waiting]")).to_have_text("0", timeout=10_000)
    await expect(ana).to_have_attribute("data-state", "available")
    # Ana (the only info operator) pauses: info's callers wait, and the wallboard says so.
    assert (await api.post("/api/operators/ana/pause", SUPERVISOR, {"reason": "meeting"})).status_code == 200
    await expect(ana).to_have_attribute("data-state", "paused", timeout=5_000)
    calls = [
        SippCall(caller=f"+3460000051{i}", digits="11", stay_s=45, target_port=asterisk.sip_port)
        for i in range(2)
    ]
    try:
        for call in calls:
            await call.start()
        await expect(info.locator("[data-field=waiting]")).to_have_text("2", timeout=40_000)
        await expect(info.locator("[data-field=paused]")).to_have_text("1")
        await screenshot(page, "wallboard-waiting")
        # She is back: she takes the first caller; the wallboard shows her talking, one waiting.
        assert (await api.post("/api/operators/ana/ready", SUPERVISOR)).status_code == 200
        await until(lambda: state(web, "ana") is OperatorState.TALKING, 20, "ana talking")
        await expect(ana).to_have_attribute("data-state", "talking", timeout=5_000)
        await expect(info.locator("[data-field=waiting]")).to_have_text("1", timeout=5_000)
        await expect(info.locator("[data-field=talking]")).to_have_text("1")
        await screenshot(page, "wallboard-talking")
    finally:
        for call in calls:
            call.stop()
    assert navigations == []  # all of it pushed to the page, never reloaded


async def test_console_pops_the_routed_call_and_its_pause_takes_effect(
    asterisk, observer: AmiRecorder, web: Controller, browser_page: Page
) -> None:
    page, api = browser_page, api_of(web)
    number = "+34600000777"
    # An earlier call from the same number today: the pop counts it (a repeat caller).
    first = SippCall(caller=number, digits="11", stay_s=3, target_port=asterisk.sip_port)
    await first.start()
    assert await first.wait(60) == 0, first.errors()
    await until(lambda: not web.engine.calls, 15, "the first call over")
    await log_in(page, api.base, ANA.token, "/console")
    await expect(page.locator("[data-field=state]").first).to_have_attribute(
        "data-state", "available", timeout=10_000
    )
    again = SippCall(caller=number, digits="11", stay_s=25, target_port=asterisk.sip_port)
    await again.start()
    try:
        pop = page.locator("#pop")
        await expect(pop.locator("[data-field=kind]")).to_be_visible(timeout=40_000)
        await expect(pop.locator("[data-field=number]")).to_have_text(re.compile(r"\+34\*{7}77"))
        await expect(pop.locator("[data-field=calls_7d]")).to_contain_text("1")
        await expect(pop.locator("[data-field=skill]")).to_contain_text("Informació general")
        await expect(pop.locator("[data-field=ivr_path]")).to_have_text("Català › Informació general")
        assert number not in await page.content()  # never the whole number
        await until(lambda: state(web, "ana") is OperatorState.TALKING, 20, "ana talking")
        # Pause after this call, for training: the core defers it to the call's end.
        await page.select_option("select[name=reason]", "training")
        await page.check("input[name=after_call]")
        await page.click("[data-action=pause]")
        await until(
            lambda: web.engine.snapshot(web.now()).operators["ana"].after_call == "pause",
            10,
            "the pause asked for",
        )
        assert state(web, "ana") is OperatorState.TALKING
        await screenshot(page, "console-screen-pop")
        assert await again.wait(60) == 0, again.errors()  # the citizen hangs up
    finally:
        again.stop()
    await until(
        lambda: state(web, "ana") is OperatorState.PAUSED, 20, "ana paused after the call and its wrap-up"
    )
    assert web.engine.snapshot(web.now()).operators["ana"].reason == "training"
    await expect(page.locator("[data-field=state]").first).to_have_attribute(
        "data-state", "paused", timeout=5_000
    )
    await screenshot(page, "console-paused")
