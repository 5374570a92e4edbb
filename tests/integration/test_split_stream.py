# What Asterisk sends reaches the controller one byte at a time (a fault proxy writes each
# byte apart, so frames - and the UTF-8 characters of a caller's display name - are cut at
# every position across reads): a SIP call is routed, answered and ended as over a whole
# stream. No frame is dropped, no event is lost or duplicated - the controller reads the
# same events, in the same order, as a second session of its AMI user on a direct link -
# and no action is left pending. (Real sandbox Asterisk, a SIPp caller.)
from __future__ import annotations

import dataclasses

from panoramisk.message import Message

from contactcenter.adapters.ami import AmiLink
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import OperatorState
from contactcenter.sim.sipp import SippCall
from tests.faultproxy import FaultProxy
from tests.polling import until
from tests.recorder import AmiRecorder

DISPLAY = "Josép Müller — 日本語 🙂"  # characters of 2, 3 and 4 bytes, cut anywhere


def _of_call(events: list[Message], uniqueids: set[str]) -> list[tuple[str, str, str]]:
    return [
        (str(m.get("Event")), str(m.get("Uniqueid")), str(m.get("UserEvent", "")))
        for m in events
        if m.get("Uniqueid") in uniqueids
    ]


async def test_a_stream_cut_at_every_byte_loses_nothing_and_duplicates_nothing(
    asterisk, observer: AmiRecorder, test_config: Config
) -> None:
    proxy = FaultProxy(asterisk.ami_host, asterisk.ami_port)
    proxy.split = 1
    await proxy.start()
    cfg = dataclasses.replace(test_config, ami=dataclasses.replace(test_config.ami, port=proxy.port))
    direct_seen: list[Message] = []
    direct = AmiLink(
        host=asterisk.ami_host,
        port=asterisk.ami_port,
        username=cfg.ami.username,
        secret=cfg.ami.secret,
        on_event=direct_seen.append,
    )
    await direct.connect()
    ctl = Controller(cfg)
    seen: list[Message] = []
    handler = ctl.ami._on_event  # type: ignore[attr-defined]  # (a tap on what the link read)
    ctl.ami._on_event = lambda m: (seen.append(m), handler(m))  # type: ignore[attr-defined]
    call = SippCall(
        caller="+34600000991", digits="11", stay_s=6, target_port=asterisk.sip_port, display=DISPLAY
    )
    try:
        await ctl.start()  # (its login and FullyBooted came a byte at a time too)
        await call.start()
        channel = await observer.channel_of(call)
        await until(lambda: ctl.engine.operators["ana"].state is OperatorState.TALKING, 30, "Ana to answer")
        call_id = ctl.engine.operators["ana"].call_id
        assert call_id is not None
        uniqueids = {ctl.channels.callers[call_id]} | {
            uid for leg in ctl.channels.legs_of(call_id) for uid in leg.uniqueids
        }
        assert await call.wait(40) == 0, call.errors()
        await until(lambda: call_id not in ctl.engine.calls, 15, "the call to end")
        await observer.wait_for(
            lambda e: e.get("Event") == "Hangup" and e.get("Channel") == channel, 10, "the caller's hangup"
        )
        # (Each session is written apart: wait for the last of the call's events on both.)
        await until(
            lambda: len(_of_call(seen, uniqueids)) >= len(_of_call(direct_seen, uniqueids)) > 0,
            15,
            "the controller's link to read all the direct session read",
        )
        assert [(c.call_id, c.outcome.value if c.outcome else None) for c in ctl.finished] == [
            (call_id, "answered")
        ]
        assert _of_call(seen, uniqueids) == _of_call(direct_seen, uniqueids)
        assert any(m.get("CallerIDName") == DISPLAY for m in seen)  # the name whole, once joined
        assert {k: n for k, n in ctl.counters.items() if k.startswith("dropped") and n} == {}
        assert proxy.pieces > 1000  # (it really came a byte at a time: some 4 KB for this call)
        await until(lambda: ctl.ami.pending_actions == 0, 10, "no action left pending")  # type: ignore[attr-defined]
    finally:
        call.stop()
        await ctl.stop()
        direct.close()
        await proxy.close()
