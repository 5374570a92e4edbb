# What a waiting citizen hears, and what a citizen hears outside opening hours, through the
# real Asterisk: the controller sets the place in line and the expected wait on the held
# channel and the hold loop speaks them; outside the hours the call gets the closed message.
from __future__ import annotations

import dataclasses
import datetime as dt

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim.sipp import SippCall
from tests.recorder import AmiRecorder


def _on(channel: str, app: str, data: str):  # type: ignore[no-untyped-def]
    return lambda e: (
        e.get("Event") == "Newexten"
        and e.get("Channel") == channel
        and e.get("Application") == app
        and e.get("AppData") == data
    )


async def test_waiting_caller_hears_place_and_expected_wait(
    asterisk, observer: AmiRecorder, controller: Controller
) -> None:
    port = asterisk.sip_port
    first = SippCall(caller="+34600000301", digits="12", stay_s=60, target_port=port)
    await first.start()
    await observer.bridged_with(await observer.channel_of(first), timeout=20)

    second = SippCall(caller="+34600000302", digits="12", stay_s=60, target_port=port)
    await second.start()
    ch = await observer.channel_of(second)
    # Set by the controller: first in line; EWT = 1 x 60 s (default AHT) / 1 operator.
    pos = await observer.wait_for(
        lambda e: (
            e.get("Event") == "VarSet" and e.get("Channel") == ch and e.get("Variable") == "CC_POSITION"
        ),
        10,
        "CC_POSITION set on the held caller",
    )
    ewt = await observer.wait_for(
        lambda e: e.get("Event") == "VarSet" and e.get("Channel") == ch and e.get("Variable") == "CC_EWT_MIN",
        10,
        "CC_EWT_MIN set on the held caller",
    )
    assert (pos["Value"], ewt["Value"]) == ("1", "1")
    # ...and spoken by the hold loop, in Catalan, after the "all busy" message.
    await observer.wait_for(_on(ch, "Playback", "cc/hold"), 10, "the all-busy message")
    await observer.wait_for(_on(ch, "Playback", "cc/position"), 15, "the place in line")
    await observer.wait_for(_on(ch, "SayNumber", "1"), 10, "the number 1")
    await observer.wait_for(_on(ch, "Playback", "cc/minutes"), 20, "the expected wait")
    await observer.wait_for(
        lambda e: e.get("Event") == "MusicOnHoldStart" and e.get("Channel") == ch,
        10,
        "music on hold after the announcements",
    )
    assert observer.find(
        lambda e: e.get("Event") == "UserEvent" and e.get("Channel") == ch and e.get("CcLanguage") == "ca"
    )
    second.stop()
    first.stop()


async def test_call_outside_opening_hours_hears_closed_message(
    asterisk, observer: AmiRecorder, test_config: Config
) -> None:
    today = dt.datetime.now(dt.UTC).weekday()
    closed_today = OpeningHours(
        tz=dt.UTC,
        open=dt.time(7),
        close=dt.time(23),
        weekdays=frozenset(set(range(7)) - {today}),
    )
    ctl = Controller(dataclasses.replace(test_config, hours=closed_today))
    await ctl.start()
    try:
        call = SippCall(caller="+34600000401", digits="11", stay_s=15, target_port=asterisk.sip_port)
        await call.start()
        ch = await observer.channel_of(call)
        await observer.wait_for(_on(ch, "Playback", "cc/closed"), 10, "the closed message")
        await observer.wait_for(
            lambda e: e.get("Event") == "Hangup" and e.get("Channel") == ch,
            20,
            "the system hanging up after the closed message",
        )
        assert await call.wait(30) == 0, call.errors()  # Asterisk's BYE is a clean end
        [closed] = list(ctl.finished)
        assert closed.outcome is CallOutcome.CLOSED
        assert not observer.find(lambda e: e.get("UserEvent") == "CcQueued" and e.get("Channel") == ch)
        assert ctl.counters["closed"] == 1
    finally:
        await ctl.stop()
