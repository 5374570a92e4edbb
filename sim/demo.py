# `contactcenter demo`: the whole chain, live. The Asterisk sandbox comes up with the 010
# centre, the controller connects over AMI, and a slice of the real trace (the busiest
# hour's first calls, arrivals compressed) is replayed as SIPp calls that key the IVR with
# RFC 4733 DTMF. Each citizen is routed to a simulated operator of the chosen skill; the
# routing is logged as it happens and summed up at the end.
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import time
import urllib.request
from pathlib import Path

import aiomqtt
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from contactcenter import sandbox
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.privacy import mask_number
from contactcenter.sim.sipp import SippCall
from contactcenter.sim.trace import ACKNOWLEDGEMENT, TYPE_TO_SKILL, busiest_hour, load_trace

console = Console()


def plan_calls(cfg: Config, count: int, spread_s: float) -> list[tuple[float, str, str, str, float]]:
    """(offset s, caller number, skill, language, time on the line s) for `count` calls of
    the trace's busiest hour, arrivals compressed to about `spread_s` seconds."""
    calls, _ = load_trace()
    day, hour = busiest_hour(calls)
    chosen = [c for c in calls if c.day == day and int(c.arrival_s // 3600) == hour][:count]
    first, last = chosen[0].arrival_s, chosen[-1].arrival_s
    scale = spread_s / max(last - first, 1.0)
    plan = []
    for i, c in enumerate(chosen):
        skill = TYPE_TO_SKILL[c.service_type]
        language = "en" if c.service_type == "PE" else ("ca", "es")[int(c.call_id) % 2]
        if language not in cfg.languages:
            language = cfg.ivr.default_language
        # Time on the line: some patience for the queue plus the real talk time, compressed,
        # within what a demo can wait for.
        stay = min(35.0 + c.talk_s / 15, 60.0)
        plan.append(((c.arrival_s - first) * scale, f"+346000{i:05d}", skill, language, stay))
    return plan


async def _watch_mqtt(cfg: Config, state: sandbox.SandboxState, seen: dict[str, bytes]) -> None:
    """What a supervisor's screen would read: the retained snapshots and the event stream,
    with the sandbox's read-only observer login; each topic printed when it changes."""
    assert cfg.mqtt is not None and state.mqtt_observer_username and state.mqtt_observer_password
    client = aiomqtt.Client(
        cfg.mqtt.host,
        cfg.mqtt.port,
        username=state.mqtt_observer_username,
        password=state.mqtt_observer_password,
    )
    async with client:
        await client.subscribe(f"{cfg.mqtt.topic_prefix}/#", qos=1)
        async for message in client.messages:
            topic, payload = message.topic.value, message.payload
            if not isinstance(payload, bytes) or seen.get(topic) == payload:
                continue
            seen[topic] = payload
            if topic.endswith(("/skill/info", "/events", "/status")):
                console.print(f"[magenta]MQTT[/] {topic} {payload.decode(errors='replace')[:110]}")


def _metrics_lines(text: str) -> list[str]:
    """The lines of /metrics a supervisor looks at first (no comments, no zero series)."""
    wanted = (
        "cc_calls_offered_total",
        "cc_calls_answered_total",
        "cc_calls_abandoned_total",
        "cc_lines_in_use",
    )
    return [line for line in text.splitlines() if line.startswith(wanted) and not line.endswith(" 0.0")]


async def _run(cfg: Config, state: sandbox.SandboxState, count: int) -> int:
    controller = Controller(cfg)
    await controller.start()
    base = f"http://{cfg.http.host}:{controller.http.port}"
    metrics_url = f"{base}/metrics"
    console.print(
        f"[bold]Supervisors[/]: the wallboard at {base}/wallboard{_login_hint(cfg, 'viewer', 'supervisor')}"
    )
    console.print(f"[bold]Operators[/]: the console at {base}/console{_login_hint(cfg, 'operator')}")
    console.print(f"[bold]Supervisors[/]: metrics at {metrics_url}, the API at {base}/openapi.json")
    watcher: asyncio.Task[None] | None = None
    seen: dict[str, bytes] = {}
    if cfg.mqtt is not None and state.mqtt_port is not None:
        console.print(
            f"[bold]Supervisors[/]: MQTT at {cfg.mqtt.host}:{cfg.mqtt.port}, topics {cfg.mqtt.topic_prefix}/#"
            " (read-only login: `contactcenter sandbox status --json`)"
        )
        watcher = asyncio.create_task(_watch_mqtt(cfg, state, seen))
    plan = plan_calls(cfg, count, spread_s=max(4.0, count * 4.0))
    console.rule(f"[bold]{count} citizens call 010 ({ACKNOWLEDGEMENT})")
    sipp_calls: list[SippCall] = []
    t0 = asyncio.get_running_loop().time()
    for offset, number, skill, language, stay in plan:
        delay = t0 + offset - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        console.print(
            f"[cyan]SIPp[/] {mask_number(number)} dials 010, keys "
            f"{cfg.ivr_keys(language, skill)} ({language}, {skill}), stays {stay:.0f} s"
        )
        call = SippCall(
            caller=number, digits=cfg.ivr_keys(language, skill), stay_s=stay, target_port=state.sip_port
        )
        await call.start()
        sipp_calls.append(call)
    await _wallboard_screenshot(cfg, base)
    codes = await asyncio.gather(*(c.wait(120) for c in sipp_calls))
    for _ in range(50):  # let the last hangups reach the core
        if not controller.engine.calls:
            break
        await asyncio.sleep(0.1)
    scraped = await asyncio.to_thread(_fetch, metrics_url)
    await asyncio.sleep(1.2)  # the feed's last snapshots (at most one a second)
    if watcher is not None:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    await controller.stop()
    console.rule(f"[bold]{metrics_url}")
    for line in _metrics_lines(scraped):
        console.print(line)
    if seen:
        console.print(f"MQTT topics seen: {', '.join(sorted(seen))}")

    table = Table(title="Calls routed by the controller through Asterisk")
    for col in ("call", "skill", "lang", "operator", "wait s", "outcome"):
        table.add_column(col)
    answered = 0
    for c in controller.finished:
        answered += c.outcome is CallOutcome.ANSWERED
        table.add_row(
            c.call_id,
            c.skill or "-",
            c.language or "-",
            c.operator_id or "-",
            f"{c.wait:.1f}" if c.wait is not None else "-",
            c.outcome.value if c.outcome else "-",
        )
    console.print(table)
    failed = sum(1 for code in codes if code != 0)
    ended = len(controller.finished)
    console.print(
        f"{answered} of {count} calls answered by an operator of their skill, "
        f"{ended - answered} abandoned (hung up while waiting); SIPp calls failed: {failed}; "
        f"AMI events handled: {controller.counters['ami_events']}"
    )
    # Success: every SIPp call completed and every call is accounted for in the core.
    return 0 if failed == 0 and ended == count else 1


def _login_hint(cfg: Config, *roles: str) -> str:
    token = next((t for role in roles for t in cfg.web.tokens if t.role == role), None)
    if token is None:
        return ""
    # (the token itself is never printed: the file it is in is named, or its value when the
    # centre file gives it in the open anyway)
    where = f"in {token.token_file}" if token.token_file else token.token
    return f" (log in with the {token.role} token of {token.id}: {where})"


async def _wallboard_screenshot(cfg: Config, base: str) -> Path | None:
    """Open the wallboard in headless Chromium (Debian's) while the calls flow, and save
    what it shows: proof that it opens, for a machine with no screen."""
    token = next((t for role in ("viewer", "supervisor") for t in cfg.web.tokens if t.role == role), None)
    chromium = shutil.which("chromium")
    if token is None or chromium is None:
        console.print("[yellow]wallboard not opened: no viewer token in the config, or no chromium")
        return None
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        console.print("[yellow]wallboard not opened: playwright is not installed (scripts/setup.sh)")
        return None
    out = Path(os.environ.get("CC_ARTEFACTS", "artefacts")) / "demo-wallboard.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 900})
            await page.goto(f"{base}/login?next=/wallboard")
            await page.fill("input[name=token]", token.token)
            await page.click("button[type=submit]")
            await page.wait_for_selector("[data-skill]", timeout=15_000)
            await asyncio.sleep(8)  # the calls in the IVR reach their queues and operators
            await page.screenshot(path=str(out), full_page=True)
        finally:
            await browser.close()
    console.print(f"[bold]Wallboard[/] opened in Chromium while the calls flowed: {out.resolve()}")
    return out


# Debian's chromium, headless, as root, on a machine whose network is closed (the flags keep
# it from reaching out at every start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:  # (loopback: the controller's own)
        return str(reply.read().decode())


def run_demo(cfg: Config, calls: int = 8, keep: bool = False) -> int:
    logging.getLogger().handlers[:] = [RichHandler(console=console, show_path=False)]
    logging.getLogger("panoramisk").setLevel(logging.WARNING)
    logging.getLogger("contactcenter.panoramisk").setLevel(logging.WARNING)
    if cfg.hours is not None and not cfg.hours.is_open(time.time()):
        # A demo shows routing at any hour; the closed treatment has its own test.
        console.print("[yellow]010 is closed right now: the demo ignores opening hours")
        cfg = dataclasses.replace(cfg, hours=None)
    state = sandbox.up(cfg, log=console.print)
    try:
        return asyncio.run(_run(cfg, state, calls))
    finally:
        if keep:
            console.print("sandbox left running: `contactcenter sandbox down` stops it")
        else:
            sandbox.down(log=console.print)
