# The AMI link against the real Asterisk, through a fault-injecting proxy: unsafe headers
# never reach the socket, actions have deadlines, a half-open link is declared dead after
# 3 missed pings, and nothing is re-sent after a reconnect.
from __future__ import annotations

import asyncio

import pytest

from contactcenter.adapters.ami import (
    MISSED_PINGS_LIMIT,
    AmiDisconnected,
    AmiLink,
    AmiLost,
    AmiTimeout,
    UnsafeHeader,
    check_action,
)
from contactcenter.sandbox import SandboxState
from tests.faultproxy import FaultProxy


@pytest.mark.parametrize(
    "action",
    [
        {"Action": "Originate", "CallerID": "x\r\nAction: Hangup"},
        {"Action": "Setvar", "Value": "a\nb"},
        {"Action": "Setvar", "Value": "nul\0byte"},
        {"Action": "Originate", "Variable": ["A=1", "B=2\r\nAction: Command"]},
        {"Action": "Ping", "Bad Header": "x"},
        {"Action": "Ping", "X:Y": "x"},
        {"Action\r\n": "Ping"},
        {"Channel": "no action header"},
    ],
)
def test_unsafe_headers_are_refused(action: dict[str, object]) -> None:
    with pytest.raises(UnsafeHeader):
        check_action(action)


def test_safe_headers_pass_as_strings() -> None:
    out = check_action({"Action": "Originate", "Timeout": 15000, "Variable": ["A=1", "B=2"]})
    assert out == {"Action": "Originate", "Timeout": "15000", "Variable": ["A=1", "B=2"]}


@pytest.fixture
async def proxy(asterisk: SandboxState):
    p = FaultProxy(asterisk.ami_host, asterisk.ami_port)
    await p.start()
    yield p
    await p.close()


def _link(asterisk: SandboxState, port: int, events: list | None = None, **kw) -> AmiLink:
    return AmiLink(
        host="127.0.0.1",
        port=port,
        username=asterisk.observer_username,
        secret=asterisk.observer_secret,
        on_event=(events.append if events is not None else (lambda m: None)),
        **kw,
    )


async def test_unsafe_action_is_not_sent(asterisk: SandboxState, proxy: FaultProxy) -> None:
    link = _link(asterisk, proxy.port)
    await link.connect()
    try:
        before = bytes(proxy.sent_by_client[0])
        with pytest.raises(UnsafeHeader):
            await link.send({"Action": "Ping", "ActionID": "p1\r\nAction: Originate"})
        assert bytes(proxy.sent_by_client[0]) == before
        pong = await link.send({"Action": "Ping"})
        assert pong.get("Response") == "Success"
        # Asterisk's answers, counted by outcome (the refused one was never sent).
        assert (await link.send({"Action": "NoSuchAction"})).get("Response") == "Error"
        assert +link.counters == {"ami_actions_success": 1, "ami_actions_error": 1}
    finally:
        link.close()
    with pytest.raises(AmiDisconnected):
        await link.send({"Action": "Ping"})
    assert link.counters["ami_actions_disconnected"] == 1


async def test_action_without_answer_times_out(asterisk: SandboxState, proxy: FaultProxy) -> None:
    link = _link(asterisk, proxy.port, action_timeout=0.5, ping_interval=60)
    await link.connect()
    try:
        proxy.swallow = True
        with pytest.raises(AmiTimeout):
            await link.send({"Action": "Ping"})
        assert link.counters["ami_actions_timeout"] == 1
    finally:
        link.close()


async def test_half_open_link_is_declared_dead_and_reconnects(
    asterisk: SandboxState, proxy: FaultProxy
) -> None:
    interval = 0.3
    link = _link(asterisk, proxy.port, action_timeout=1, ping_interval=interval)
    await link.connect()
    try:
        assert proxy.connections == 1
        proxy.frozen = True  # sockets open, nothing flows: only the watchdog can notice
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        async with asyncio.timeout(10):
            while link.ready:
                await asyncio.sleep(0.02)
        detected = loop.time() - t0
        # Each missed ping costs one interval of sleep plus one interval of waiting.
        assert detected <= (2 * MISSED_PINGS_LIMIT + 1) * interval + 0.5
        proxy.frozen = False
        async with asyncio.timeout(10):
            while not link.ready:
                await asyncio.sleep(0.05)
        assert proxy.connections == 2
        assert link.reconnects == 1
        assert (await link.send({"Action": "Ping"})).get("Response") == "Success"
    finally:
        link.close()


async def test_pending_action_fails_and_is_never_resent(asterisk: SandboxState, proxy: FaultProxy) -> None:
    link = _link(asterisk, proxy.port, action_timeout=10, ping_interval=60)
    await link.connect()
    try:
        proxy.swallow = True  # Asterisk never sees it, so it stays unanswered
        pending = asyncio.ensure_future(
            link.send(
                {
                    "Action": "Originate",
                    "Channel": "Local/ana@cc-sim-operator/n",
                    "Application": "Wait",
                    "Data": "1",
                    "ActionID": "cc-probe-originate",
                }
            )
        )
        await asyncio.sleep(0.3)
        assert b"cc-probe-originate" in proxy.sent_by_client[0]
        proxy.swallow = False
        proxy.cut()
        with pytest.raises(AmiLost):  # sent, then lost: Asterisk may have carried it out
            await pending
        async with asyncio.timeout(10):
            while not link.ready:
                await asyncio.sleep(0.05)
        await link.send({"Action": "Ping"})
        # The second connection carried the login and the ping, not the Originate.
        assert proxy.connections == 2
        assert b"Action: Login" in proxy.sent_by_client[1]
        assert b"cc-probe-originate" not in proxy.sent_by_client[1]
        assert b"Originate" not in proxy.sent_by_client[1]
    finally:
        link.close()
