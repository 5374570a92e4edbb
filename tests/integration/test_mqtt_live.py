# The supervisors' MQTT feed live: the real Asterisk and the sandbox's real mosquitto
# (`sandbox up` starts it; `sandbox status --json` gives its port and a read-only login), the
# controller publishing to it (Controller.mqtt, an MqttFeed), SIPp citizens calling, and a
# real subscriber with the observer's login reading cc/test/#. Also: the controller as its
# own process, SIGKILLed (the broker's Last Will says "offline"), and the broker stopped
# for a minute under load, or slowed to a tenth of its speed (call handling does not notice;
# the feed resumes, catches up and counts what it dropped).
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable

import pytest
import yaml

from contactcenter import sandbox
from contactcenter.config import Config, parse_config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import OperatorState
from contactcenter.sandbox import mosquitto
from contactcenter.sim.sipp import SippBurst, SippCall
from tests.conftest import TEST_CONFIG
from tests.controllerproc import run_controller
from tests.mqttsub import Subscriber
from tests.polling import until
from tests.recorder import AmiRecorder
from tests.scrape import Samples, http_get

OUTAGE_S = 60.0  # how long the broker stays down under load (the "a minute")


async def sandbox_status() -> dict[str, object]:
    """`contactcenter sandbox status --json`, as a wallboard's installer would read it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contactcenter.cli",
        "sandbox",
        "status",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode(errors="replace")
    status = json.loads(out)
    assert isinstance(status, dict)
    return status


@pytest.fixture
async def broker(
    asterisk: sandbox.SandboxState, test_config: Config
) -> AsyncIterator[tuple[str, int, mosquitto.Login]]:
    """(host, port, the observer's login) of the sandbox's mosquitto."""
    assert test_config.mqtt is not None
    status = await sandbox_status()
    assert status["mqtt_port"] == test_config.mqtt.port, status
    assert status.get("mqtt_running") is True, (
        "the sandbox has no mosquitto: `contactcenter sandbox down`, then up"
    )
    observer = status["mqtt_observer"]
    assert isinstance(observer, dict)
    yield (
        test_config.mqtt.host,
        test_config.mqtt.port,
        mosquitto.Login(observer["username"], observer["password"]),
    )


def subscriber(broker: tuple[str, int, mosquitto.Login], cfg: Config) -> Subscriber:
    assert cfg.mqtt is not None
    host, port, login = broker
    return Subscriber(host, port, login, cfg.mqtt.topic_prefix)


def info(sub: Subscriber) -> dict[str, object]:
    return sub.snapshot("skill/info") or {}


def operators(view: dict[str, object]) -> dict[str, int]:
    found = view.get("operators")
    return found if isinstance(found, dict) else {}


async def test_a_subscriber_sees_the_info_queue_change_while_a_call_waits_and_is_answered(
    broker: tuple[str, int, mosquitto.Login],
    test_config: Config,
    asterisk: sandbox.SandboxState,
    observer: AmiRecorder,
    controller: Controller,
) -> None:
    assert getattr(controller, "mqtt", None) is not None, "the controller publishes to MQTT (Controller.mqtt)"
    async with subscriber(broker, test_config) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online", timeout=15)
        # Ana, the only `info` operator, is free: nobody waits.
        await sub.until(
            lambda: info(sub).get("waiting") == 0 and operators(info(sub)).get("available") == 1,
            "skill/info: Ana available, nobody waiting",
        )
        # A takes Ana; B ("11" too: Catalan, information) waits until A hangs up.
        a = SippCall(caller="+34600000701", digits="11", stay_s=10, target_port=asterisk.sip_port)
        await a.start()
        ch_a = await observer.channel_of(a)
        await observer.bridged_with(ch_a, timeout=20)
        b = SippCall(caller="+34600000702", digits="11", stay_s=40, target_port=asterisk.sip_port)
        await b.start()
        await sub.until(lambda: info(sub).get("waiting") == 1, "skill/info: one waiting", timeout=20)
        assert operators(info(sub)).get("talking") == 1
        # The longest wait grows with each update while B waits (any change republishes it).
        await sub.until(
            lambda: info(sub).get("waiting") == 0 and operators(info(sub)).get("talking") == 1,
            "skill/info: B answered, nobody waiting",
            timeout=30,
        )
        waited = [json.loads(p).get("waiting") for p in sub.on("skill/info")]
        assert 1 in waited and waited[-1] == 0
        kinds = [(e["event"], e.get("skill")) for e in sub.events() if e["event"].startswith("call_")]
        assert kinds.count(("call_queued", "info")) == 2 and kinds.count(("call_answered", "info")) == 2
        b_answered = [e for e in sub.events() if e["event"] == "call_answered"][-1]
        assert b_answered["operator"] == "ana" and b_answered["wait_s"] > 3  # B really waited
        assert {q for _, t, _, q, _ in sub.got if t.endswith("/events")} == {1}
        assert await a.wait(30) == 0, a.errors()
        b.stop()
        centre = sub.snapshot("centre")
        assert centre is not None and centre["lines"] == test_config.lines
        # Neither caller's number, nor any Asterisk uniqueid, in any topic or payload.
        sub.assert_no_digit_runs()
        assert not any(b"600000701" in p or b"600000702" in p for _, _, p, _, _ in sub.got)


async def test_the_controller_killed_leaves_its_last_will_and_stopped_leaves_offline(
    broker: tuple[str, int, mosquitto.Login], test_config: Config, asterisk: sandbox.SandboxState
) -> None:
    async with subscriber(broker, test_config) as sub:
        killed = await run_controller(TEST_CONFIG)
        try:
            await sub.until(lambda: sub.last("status") == b"online", "the controller online", timeout=15)
            killed.send_signal(signal.SIGKILL)
            await asyncio.wait_for(killed.wait(), 10)
            # The broker sees the connection drop at once and publishes the Will.
            await sub.until(lambda: sub.last("status") == b"offline", "the Last Will", timeout=10)
        finally:
            if killed.returncode is None:
                killed.kill()
                await killed.wait()
    async with subscriber(broker, test_config) as late:
        await late.until(lambda: late.last("status") is not None, "the retained status")
        assert late.on("status") == [b"offline"]

        stopped = await run_controller(TEST_CONFIG)
        try:
            await late.until(
                lambda: late.last("status") == b"online", "the controller online again", timeout=15
            )
            stopped.send_signal(signal.SIGTERM)
            assert stopped.stdout is not None
            rest = await asyncio.wait_for(stopped.stdout.read(), 20)
            assert await asyncio.wait_for(stopped.wait(), 20) == 0, rest.decode(errors="replace")[-2000:]
            await late.until(lambda: late.last("status") == b"offline", "offline on a clean stop")
        finally:
            if stopped.returncode is None:
                stopped.kill()
                await stopped.wait()
    async with subscriber(broker, test_config) as after:
        await after.until(lambda: after.last("status") is not None, "the retained status")
        assert after.on("status") == [b"offline"]


def busy_centre(test_config: Config, operators_n: int, queue: int) -> Config:
    """The tests' centre with `operators_n` info operators who talk 4 s, and an MQTT buffer
    of `queue` messages (small: an outage overflows it)."""
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw["centre"]["lines"] = 200
    raw["operators"] = [
        *({"id": f"m{i:03d}", "skills": {"info": 1}} for i in range(operators_n)),
        *(op for op in raw["operators"] if "info" not in op["skills"]),
    ]
    raw["simulated_operators"] = {"ring_delay": 1, "talk_seconds": 4}
    raw["mqtt"]["queue"] = queue
    cfg = parse_config(raw, str(TEST_CONFIG))
    assert test_config.callbacks is not None
    return dataclasses.replace(cfg, callbacks=test_config.callbacks)


async def lag_sampler(samples: list[float]) -> None:
    """The event loop's lag: how late a 10 ms sleep wakes up (what a blocked loop shows)."""
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(0.01)
        samples.append(loop.time() - t - 0.01)


async def burst_waits(ctl: Controller, port: int, calls: int) -> tuple[list[float], list[float]]:
    """A burst of `calls` citizens for info, all answered: (their waits, the loop's lags)."""
    lags: list[float] = []
    sampler = asyncio.create_task(lag_sampler(lags))
    before = len(ctl.routed)
    try:
        burst = SippBurst(calls=calls, rate=10, digits="11", stay_s=60, target_port=port)
        await burst.start()
        await until(lambda: len(ctl.routed) - before >= calls, 60, f"{calls} calls answered")
        assert await burst.wait(90) == 0, burst.errors()
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    return [w for _, _, w in list(ctl.routed)[before:]], lags


async def all_free_seen(sub: Subscriber, operators_n: int, timeout: float) -> None:
    """Until the retained info snapshot is the centre at rest: nobody waiting, all
    `operators_n` operators free; and no run of digits in anything the feed published."""
    expect = {s.value: (operators_n if s is OperatorState.AVAILABLE else 0) for s in OperatorState}
    del expect[OperatorState.LOGGED_OUT.value]
    await sub.until(
        lambda: info(sub).get("waiting") == 0 and operators(info(sub)) == expect,
        "the current info snapshot",
        timeout=timeout,
    )
    sub.assert_no_digit_runs()


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


async def test_mosquitto_stopped_for_a_minute_under_load_changes_nothing_for_calls(
    broker: tuple[str, int, mosquitto.Login],
    test_config: Config,
    asterisk: sandbox.SandboxState,
    observer: AmiRecorder,
) -> None:
    calls, queue = 30, 50
    cfg = busy_centre(test_config, operators_n=calls, queue=queue)
    ctl = Controller(cfg)
    await ctl.start()
    try:
        feed = getattr(ctl, "mqtt", None)
        assert feed is not None, "the controller publishes to MQTT (Controller.mqtt)"
        async with subscriber(broker, cfg) as sub:
            await sub.until(lambda: sub.last("status") == b"online", "status online", timeout=15)
            waits_up, lags_up = await burst_waits(ctl, asterisk.sip_port, calls)
            dropped_up = ctl.counters["mqtt_dropped"]  # (0 unless the link could not keep up)

        state = sandbox.load_state()
        assert state is not None and state.mqtt_pid is not None
        t_down = time.monotonic()
        assert mosquitto.stop(state.mqtt_pid)
        await until(lambda: not feed.connected, 15, "the feed to see the broker gone")
        waits_down, lags_down = await burst_waits(ctl, asterisk.sip_port, calls)
        print(
            f"\n{calls} calls each: median wait {statistics.median(waits_up):.2f} s broker up, "
            f"{statistics.median(waits_down):.2f} s down; loop lag p99 {p99(lags_up) * 1e3:.1f} ms up, "
            f"{p99(lags_down) * 1e3:.1f} ms down; dropped {ctl.counters['mqtt_dropped']}"
        )
        assert statistics.median(waits_down) < statistics.median(waits_up) + 1.0
        assert p99(lags_down) < p99(lags_up) + 0.05
        assert ctl.counters["mqtt_dropped"] > dropped_up  # ~6 events a call: the buffer overflowed
        assert feed.buffered <= queue
        # The metrics do not depend on the broker: served through the outage, every call counted.
        url = f"http://{cfg.http.host}:{ctl.http.port}/metrics"
        during = Samples((await http_get(url)).body)
        assert during.total("cc_calls_answered_total", skill="info") == 2 * calls
        assert during.total("cc_input_dropped_total") == 0
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - t_down)))
        assert ctl.counters["mqtt_connect_failures"] >= 3  # it kept trying, backing off

        # Back (`sandbox up` with the running config starts a stopped broker again).
        await asyncio.to_thread(sandbox.up, test_config, lambda *_: None)
        await until(lambda: feed.connected, 40, "the feed to reconnect (backoff at most 30 s)")
        async with subscriber(broker, cfg) as after:
            await after.until(lambda: after.last("status") == b"online", "status online again")
            await until(lambda: not ctl.engine.calls, 60, "every call ended")
            await until(
                lambda: (
                    ctl.engine.snapshot(ctl.now()).skill("info").operators.get(OperatorState.AVAILABLE)
                    == calls
                ),
                10,
                "every info operator available after wrap-up",
            )
            # The retained snapshot is the centre as it is now: all `calls` operators free.
            await all_free_seen(after, calls, timeout=15)
        assert ctl.counters["mqtt_connects"] == 2 and ctl.counters["mqtt_disconnects"] == 1
        after_outage = Samples((await http_get(url)).body)
        assert after_outage.total("cc_calls_answered_total", skill="info") == 2 * calls
    finally:
        await ctl.stop()
        state = sandbox.load_state()
        if state is not None and (state.mqtt_pid is None or not mosquitto.alive(state.mqtt_pid)):
            # Failed with the broker down: bring it back for the rest of the session.
            await asyncio.to_thread(sandbox.up, test_config, lambda *_: None)


SLOW_FROZEN_S, SLOW_RUNNING_S = 0.9, 0.1  # mosquitto runs a tenth of the time: a slow broker


async def slowed(pid: int) -> None:
    """Keep the sandbox's mosquitto frozen (SIGSTOP) 0.9 s of every second, as a broker
    starved of CPU or stuck on its disk would be, until cancelled; it always runs again."""
    try:
        while True:
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(SLOW_FROZEN_S)
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(SLOW_RUNNING_S)
    finally:
        os.kill(pid, signal.SIGCONT)


async def sampled(value: Callable[[], int], into: list[int]) -> None:
    while True:
        into.append(value())
        await asyncio.sleep(0.05)


async def test_mosquitto_slow_under_load_changes_nothing_for_calls_and_the_feed_catches_up(
    broker: tuple[str, int, mosquitto.Login],
    test_config: Config,
    asterisk: sandbox.SandboxState,
    observer: AmiRecorder,
) -> None:
    calls, queue = 30, 50
    cfg = busy_centre(test_config, operators_n=calls, queue=queue)
    ctl = Controller(cfg)
    await ctl.start()
    slow: asyncio.Task[None] | None = None
    try:
        feed = ctl.mqtt
        assert feed is not None
        async with subscriber(broker, cfg) as sub:
            await sub.until(lambda: sub.last("status") == b"online", "status online", timeout=15)
            waits_up, lags_up = await burst_waits(ctl, asterisk.sip_port, calls)
        state = sandbox.load_state()
        assert state is not None and state.mqtt_pid is not None
        slow = asyncio.create_task(slowed(state.mqtt_pid))
        backlog: list[int] = []
        sampler = asyncio.create_task(sampled(lambda: feed.buffered, backlog))
        waits_slow, lags_slow = await burst_waits(ctl, asterisk.sip_port, calls)
        sampler.cancel()
        url = f"http://{cfg.http.host}:{ctl.http.port}/metrics"
        during = Samples((await http_get(url)).body)
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
        print(
            f"\n{calls} calls each: median wait {statistics.median(waits_up):.2f} s broker at full speed, "
            f"{statistics.median(waits_slow):.2f} s slowed to a tenth; loop lag p99 "
            f"{p99(lags_up) * 1e3:.1f} ms, {p99(lags_slow) * 1e3:.1f} ms; MQTT messages dropped "
            f"{ctl.counters['mqtt_dropped']}, disconnects {ctl.counters['mqtt_disconnects']}, "
            f"events waiting for the broker at most {max(backlog)}"
        )
        assert max(backlog) > 0  # (the broker was slow: the feed's events waited for it)
        assert statistics.median(waits_slow) < statistics.median(waits_up) + 1.0
        assert p99(lags_slow) < p99(lags_up) + 0.05
        assert feed.buffered <= queue
        # The metrics never wait for the broker: every call counted while it crawled.
        assert during.total("cc_calls_answered_total", skill="info") == 2 * calls
        assert during.total("cc_input_dropped_total") == 0
        # At full speed again, the feed catches up: a new subscriber reads the centre as it is.
        await until(lambda: feed.connected, 40, "the feed connected to the broker")
        await until(lambda: not ctl.engine.calls, 60, "every call ended")
        async with subscriber(broker, cfg) as after:
            await after.until(lambda: after.last("status") == b"online", "status online")
            await all_free_seen(after, calls, timeout=30)
    finally:
        if slow is not None:
            slow.cancel()
            await asyncio.gather(slow, return_exceptions=True)
        await ctl.stop()
