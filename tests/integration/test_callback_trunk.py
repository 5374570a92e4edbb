# Callbacks dialled through a trunk (callbacks.dial: trunk), with the real Asterisk and a
# real SIP peer behind it: Asterisk's `pstn` endpoint sends the INVITE to the gateway's
# address, where a SIPp UAS plays the citizen's phone (the public network is not reachable
# here, and is not needed: what is under test is the INVITE we send and how its answer, a
# 200 or a 486, is taken). The number dialled is read from the INVITE SIPp received.
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from contactcenter.config import Config, TrunkConfig
from contactcenter.controller import Controller
from contactcenter.sim.sipp import SippCall, SippCallee
from tests.integration.test_callbacks import ana_talking, callback_config, new_channel, rows
from tests.polling import until
from tests.recorder import AmiRecorder


@pytest.fixture
async def trunk_centre(
    test_config: Config, observer: AmiRecorder, tmp_path: Path
) -> AsyncIterator[Callable[[TrunkConfig], Controller]]:
    """Start a controller that calls citizens back through `trunk` (one per test)."""
    started: list[Controller] = []

    async def start(trunk: TrunkConfig) -> Controller:
        cfg = callback_config(test_config, tmp_path / "callbacks.sqlite")
        assert cfg.callbacks is not None
        cfg = dataclasses.replace(
            cfg, callbacks=dataclasses.replace(cfg.callbacks, dial="trunk", trunk=trunk)
        )
        ctl = Controller(cfg)
        await ctl.start()
        started.append(ctl)
        return ctl

    yield start  # type: ignore[misc]
    for ctl in started:
        await ctl.stop()


def _state(store: Path) -> str:
    return str(rows(store, "SELECT state FROM callbacks")[0]["state"])


async def test_a_callback_through_the_trunk_reaches_the_citizen_once_operator_first(
    asterisk, observer: AmiRecorder, trunk_centre, tmp_path: Path
) -> None:
    callee = SippCallee(behaviour="answer", ring_s=1.0, stay_s=4)
    await callee.start()
    try:
        controller = await trunk_centre(
            TrunkConfig(host="127.0.0.1", port=callee.port, number_format="e164", prefix="")
        )
        store = tmp_path / "callbacks.sqlite"
        port = asterisk.sip_port
        a = await ana_talking(observer, "+34600000801", 8, port)
        number = "+34600000802"
        b = SippCall(caller=number, digits="111", stay_s=60, target_port=port)
        await b.start()
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "the callback stored")
        callback_id = rows(store, "SELECT callback_id FROM callbacks")[0]["callback_id"]
        assert await b.wait(40) == 0, b.errors()
        assert await a.wait(40) == 0, a.errors()
        op_leg = await observer.wait_for(new_channel(callback_id, "o"), 20, "the operator's leg")
        citizen_leg = await observer.wait_for(new_channel(callback_id, "c"), 20, "the citizen's leg")
        assert observer.events.index(op_leg) < observer.events.index(citizen_leg)
        assert citizen_leg["Channel"].startswith("PJSIP/pstn-")  # out through the gateway
        await until(lambda: _state(store) == "completed", 60, "the callback completed")
        # The gateway was asked for the citizen's number, once; SIPp saw the call through.
        assert callee.dialled() == [number]
        assert await callee.wait(30) == 0, callee.errors()
    finally:
        callee.stop()
    (attempt,) = rows(store, "SELECT operator_id, outcome FROM attempts")
    assert (attempt["operator_id"], attempt["outcome"]) == ("ana", "answered")
    assert rows(store, "SELECT number FROM callbacks")[0]["number"] is None  # forgotten when done
    assert not controller.engine.callbacks


async def test_a_busy_citizen_behind_the_trunk_is_retried_then_the_callback_fails(
    asterisk, observer: AmiRecorder, trunk_centre, tmp_path: Path
) -> None:
    attempts = 2  # the test centre's callbacks.attempts
    callee = SippCallee(behaviour="busy", ring_s=0.5, stay_s=30, calls=attempts)
    await callee.start()
    try:
        controller = await trunk_centre(
            TrunkConfig(host="127.0.0.1", port=callee.port, number_format="national", prefix="0")
        )
        policy = controller.engine.callback_policy
        assert policy is not None and policy.attempts == attempts
        store = tmp_path / "callbacks.sqlite"
        port = asterisk.sip_port
        await ana_talking(observer, "+34600000811", 6, port)
        b = SippCall(caller="+34600000812", digits="111", stay_s=60, target_port=port)
        await b.start()
        await until(lambda: len(rows(store, "SELECT 1 FROM callbacks")) == 1, 30, "the callback stored")
        await until(lambda: _state(store) == "failed", 90, "the callback failed after its attempts")
        # National format with the outside-line digit: "0" + 600000812, once per attempt.
        assert callee.dialled() == ["0600000812"] * attempts
        assert await callee.wait(30) == 0, callee.errors()
    finally:
        callee.stop()
    outcomes = [r["outcome"] for r in rows(store, "SELECT outcome FROM attempts ORDER BY n")]
    assert outcomes == ["busy"] * attempts  # a SIP 486, taken as busy (retried), not a fault
    (final,) = rows(store, "SELECT number, last_outcome FROM callbacks")
    assert (final["number"], final["last_outcome"]) == (None, "busy")
