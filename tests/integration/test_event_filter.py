# The controller's AMI user sees only the events it uses, whatever a caller puts in their
# display name. A legacy `eventfilter` is a regex over the whole event text, so a caller
# named "Event: Hangup" pulled every event of their channel through the old unanchored
# filter; the advanced filters (by event name) in dialplans/manager.conf are a boundary.
# Real Asterisk, a real SIP call from SIPp with that display name.
from __future__ import annotations

import asyncio
import re

from panoramisk.message import Message

from contactcenter.adapters.ami import AmiLink
from contactcenter.config import Config
from contactcenter.sim.sipp import SippCall
from tests.recorder import AmiRecorder

HOSTILE = "Event: Hangup"
# The filter this replaced, as a regex over the event's text.
LEGACY = re.compile(r"Event: (UserEvent|Hangup|OriginateResponse|BridgeEnter)")


async def test_a_hostile_display_name_does_not_pull_events_through_the_filter(
    asterisk, observer: AmiRecorder, test_config: Config
) -> None:
    seen: list[Message] = []
    # A session with the controller's own (least-privileged, filtered) AMI user.
    link = AmiLink(
        host=test_config.ami.host,
        port=test_config.ami.port,
        username=test_config.ami.username,
        secret=test_config.ami.secret,
        on_event=seen.append,
    )
    await link.connect()
    try:
        call = SippCall(
            caller="+34600000601", digits="11", stay_s=5, target_port=asterisk.sip_port, display=HOSTILE
        )
        await call.start()
        channel = await observer.channel_of(call)
        assert await call.wait(40) == 0, call.errors()
        await observer.wait_for(
            lambda e: e.get("Event") == "Hangup" and e.get("Channel") == channel, 10, "the caller's hangup"
        )
        # The two sessions are written apart: the observer's copy of the hangup can arrive
        # before the controller user's, so wait for that one too (bounded).
        for _ in range(100):
            if any(m.get("Event") == "Hangup" and m.get("Channel") == channel for m in seen):
                break
            await asyncio.sleep(0.1)
    finally:
        link.close()
    # The name really was there, on events a regex over the whole text would have passed.
    hostile = [e for e in observer.events if e.get("Channel") == channel and e.get("CallerIDName") == HOSTILE]
    leaking = {e["Event"] for e in hostile if LEGACY.search("\n".join(f"{k}: {v}" for k, v in e.items()))}
    assert {"Newexten", "VarSet"} <= leaking
    # The controller's user got only what it reads: our UserEvents and the hangup.
    mine = [m for m in seen if m.get("Channel") == channel]
    assert {m.get("Event") for m in mine} <= {"UserEvent", "HangupRequest", "Hangup"}
    assert {"UserEvent", "Hangup"} <= {m.get("Event") for m in mine}
    assert {m.get("UserEvent") for m in mine if m.get("Event") == "UserEvent"} == {"CcArrived", "CcQueued"}
    assert {m.get("Event") for m in seen} <= {"UserEvent", "HangupRequest", "Hangup", "OriginateResponse"}
