# A citizen reaches an operator through the real Asterisk: SIPp dials the sandbox's PJSIP
# `pstn` endpoint, keys the IVR with RFC 4733 DTMF, waits with music, and is bridged to a
# simulated operator of the chosen skill by the controller (Originate + Bridge over AMI).
from __future__ import annotations

import asyncio

from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallOutcome, OperatorState
from contactcenter.sim.sipp import SippCall
from tests.polling import until
from tests.recorder import AmiRecorder


async def test_sip_caller_reaches_operator_of_chosen_skill(
    asterisk, observer: AmiRecorder, controller: Controller
) -> None:
    # Caller 1: "1" Catalan, "1" general information -> Ana, the only `info` operator.
    first = SippCall(caller="+34600000101", digits="11", stay_s=12, target_port=asterisk.sip_port)
    await first.start()
    ch1 = await observer.channel_of(first)
    assert ch1.startswith("PJSIP/pstn-")
    mine, other = await observer.bridged_with(ch1, timeout=20)
    assert other["Channel"].startswith("Local/ana@cc-sim-operator")

    call1 = controller.engine.calls[mine["Uniqueid"]]
    assert (call1.skill, call1.language) == ("info", "ca")
    # Asterisk reports the bridge before the controller hears the Originate's answer.
    await until(
        lambda: controller.engine.operators["ana"].state is OperatorState.TALKING,
        5,
        "Ana talking in the core",
    )
    assert controller.engine.operators["ana"].call_id == call1.call_id

    # Caller 2: "3" English, "3" taxes and fines -> Pau only; Ana stays on caller 1.
    second = SippCall(caller="+34600000102", digits="33", stay_s=6, target_port=asterisk.sip_port)
    await second.start()
    ch2 = await observer.channel_of(second)
    _, other2 = await observer.bridged_with(ch2, timeout=20)
    assert other2["Channel"].startswith("Local/pau@cc-sim-operator")
    await until(
        lambda: controller.engine.operators["pau"].state is OperatorState.TALKING,
        5,
        "Pau talking in the core",
    )
    call2 = controller.engine.operators["pau"].call_id
    assert call2 is not None
    assert (controller.engine.calls[call2].skill, controller.engine.calls[call2].language) == (
        "tributs",
        "en",
    )
    assert controller.engine.operators["ana"].call_id == call1.call_id
    assert controller.engine.operators["marta"].state is OperatorState.AVAILABLE

    # Both SIPp calls end cleanly (the citizens hang up); the operators go to wrap-up and back.
    assert await second.wait(30) == 0, second.errors()
    assert await first.wait(30) == 0, first.errors()
    await until(lambda: not controller.engine.calls, 10, "both calls ended in the core")
    outcomes = {c.call_id: (c.outcome, c.operator_id) for c in controller.finished}
    assert outcomes == {
        call1.call_id: (CallOutcome.ANSWERED, "ana"),
        call2: (CallOutcome.ANSWERED, "pau"),
    }
    await until(
        lambda: controller.engine.operators["pau"].state is OperatorState.AVAILABLE,
        5,
        "Pau back to available after wrap-up",
    )


async def test_waiting_callers_hear_hold_and_are_served_in_arrival_order(
    asterisk, observer: AmiRecorder, controller: Controller
) -> None:
    # Three callers for `tramits` (digits 2, 2: Spanish, procedures); Marta is its only
    # operator. A stays 7 s on the line, B 14 s, C until the test ends.
    port = asterisk.sip_port
    a = SippCall(caller="+34600000201", digits="22", stay_s=7, target_port=port)
    await a.start()
    ch_a = await observer.channel_of(a)
    await observer.bridged_with(ch_a, timeout=20)

    b = SippCall(caller="+34600000202", digits="22", stay_s=14, target_port=port)
    await b.start()
    await asyncio.sleep(1.0)
    c = SippCall(caller="+34600000203", digits="22", stay_s=40, target_port=port)
    await c.start()
    ch_b = await observer.channel_of(b)
    ch_c = await observer.channel_of(c)

    # Both wait: the hold treatment starts for each while Marta talks to A.
    for ch in (ch_b, ch_c):
        await observer.wait_for(
            lambda e, ch=ch: (
                e.get("Event") == "Newexten"
                and e.get("Channel") == ch
                and e.get("Context") == "cc-hold"
                and e.get("AppData") == "cc/hold"
            ),
            15,
            f"the hold message for {ch}",
        )
    await until(lambda: controller.engine.waiting("tramits", "es") == 2, 10, "two waiting")
    assert controller.engine.operators["marta"].state is OperatorState.TALKING

    # A hangs up -> wrap-up (1 s) -> B, not C, is connected to Marta; then C after B.
    _, b_op = await observer.bridged_with(ch_b, timeout=30)
    assert b_op["Channel"].startswith("Local/marta@cc-sim-operator")
    assert not observer.find(lambda e: e.get("Event") == "BridgeEnter" and e.get("Channel") == ch_c)
    _, c_op = await observer.bridged_with(ch_c, timeout=30)
    assert c_op["Channel"].startswith("Local/marta@cc-sim-operator")
    order = [
        e["Channel"]
        for e in observer.events
        if e.get("Event") == "BridgeEnter" and e.get("Channel") in (ch_a, ch_b, ch_c)
    ]
    assert order == [ch_a, ch_b, ch_c]
    # Asterisk reports the bridge before the controller hears the Originate's answer.
    await until(lambda: len(controller.routed) == 3, 5, "three calls routed in the core")
    assert [op for _, op, _ in controller.routed] == ["marta"] * 3
    waits = [w for _, _, w in controller.routed]
    assert waits[1] > 3 and waits[2] > waits[1]  # B and C really waited, C longer

    assert await a.wait(30) == 0, a.errors()
    assert await b.wait(30) == 0, b.errors()
    c.stop()
