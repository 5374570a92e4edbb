# The AMI link fails while the controller rings an operator (real Asterisk, the link through
# a fault-injecting proxy). A link fault is the system's, never the operator's: an offer
# whose Originate was sent and then lost its link is settled from Asterisk's channels on
# reconnection (answered meanwhile -> talking; gone -> offered again), and an operator the
# controller could not ring is UNREACHABLE (never paused) until the link is back, then
# rung at once.
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallState, OperatorState
from tests.faultproxy import FaultProxy
from tests.polling import until
from tests.recorder import AmiRecorder

RING_S = 3.0  # the simulated operators' ring delay here: the window to cut the link in


@pytest.fixture
async def linked(asterisk, test_config: Config) -> AsyncIterator[tuple[Controller, FaultProxy]]:
    proxy = FaultProxy(asterisk.ami_host, asterisk.ami_port)
    await proxy.start()
    cfg = dataclasses.replace(
        test_config,
        ami=dataclasses.replace(test_config.ami, port=proxy.port),
        routing=dataclasses.replace(test_config.routing, wrap_up=3.0),
        simulated_operators=dataclasses.replace(test_config.simulated_operators, ring_delay=RING_S),
    )
    ctl = Controller(cfg)
    await ctl.start()
    try:
        yield ctl, proxy
    finally:
        await ctl.stop()
        await proxy.close()


async def ana_rings(ctl: Controller, observer: AmiRecorder) -> tuple[str, str, str]:
    """A citizen for Ana; wait until the Originate of her leg has reached Asterisk (so that
    cutting the link now leaves it in doubt, not unsent). (call id, leg id, leg channel)."""
    await observer.simulated_citizen("11")
    await until(lambda: ana(ctl) is OperatorState.RESERVED, 20, "Ana's phone to ring")
    call_id = ctl.engine.operators["ana"].call_id
    assert call_id is not None
    (offer,) = ctl.channels.legs_of(call_id)
    leg = offer.channel_id
    event = await observer.wait_for(
        lambda e: e.get("Event") == "Newchannel" and e.get("Uniqueid") == leg, 5, "Ana's leg"
    )
    return call_id, leg, str(event["Channel"])


async def cut(ctl: Controller, proxy: FaultProxy) -> None:
    proxy.refuse = True
    proxy.cut()
    await until(lambda: not ctl.ami.ready, 5, "the controller to see the link go")


def ana(ctl: Controller) -> OperatorState:
    return ctl.engine.operators["ana"].state


async def test_an_offer_answered_while_the_link_was_down_is_a_conversation_after_it(
    linked: tuple[Controller, FaultProxy], observer: AmiRecorder
) -> None:
    ctl, proxy = linked
    call_id, leg, _ = await ana_rings(ctl, observer)
    await cut(ctl, proxy)
    # Ana answers while the controller cannot hear it: her leg comes up in Asterisk.
    await observer.wait_for(
        lambda e: e.get("Event") == "BridgeEnter" and e.get("Uniqueid") == leg,
        RING_S + 5,
        "Ana's leg bridged to the citizen, with the controller away",
    )
    # The core was told nothing meanwhile: her leg's outcome went with the link.
    assert ana(ctl) is OperatorState.RESERVED
    assert [leg.answered for leg in ctl.channels.legs_of(call_id)] == [False]

    proxy.refuse = False
    await until(lambda: ana(ctl) is OperatorState.TALKING, 15, "the resync to settle the offer")
    assert ctl.engine.calls[call_id].state is CallState.TALKING
    assert [leg.answered for leg in ctl.channels.legs_of(call_id)] == [True]
    assert [(c, o) for c, o, _ in ctl.routed] == [(call_id, "ana")]
    # The citizen was joined to her (their channel entered the call's conference).
    caller = ctl.channels.callers[call_id]
    await observer.wait_for(
        lambda e: e.get("Event") == "BridgeEnter" and e.get("Channel") == caller, 10, "the citizen joined"
    )
    # And it is a conversation like any other: it ends when the citizen hangs up.
    await observer.link.send({"Action": "Hangup", "Channel": caller})
    await until(lambda: call_id not in ctl.engine.calls, 10, "the call to end")
    assert [(c.call_id, c.outcome.value if c.outcome else None) for c in ctl.finished] == [
        (call_id, "answered")
    ]


async def test_an_offer_whose_leg_died_with_the_link_is_made_again_to_an_operator_who_was_not_paused(
    linked: tuple[Controller, FaultProxy], observer: AmiRecorder
) -> None:
    ctl, proxy = linked
    call_id, leg, channel = await ana_rings(ctl, observer)
    await cut(ctl, proxy)
    # Her leg fails while the controller is away (her phone drops off the network).
    await observer.link.send({"Action": "Hangup", "Channel": channel})
    await observer.wait_for(
        lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == leg, 5, "Ana's leg gone"
    )

    proxy.refuse = False
    # Settled as an offer that failed for the system's fault (Ana unreachable, not paused),
    # retried at once since the link is back: the citizen, first in line again, is offered
    # to her anew and answered.
    await until(lambda: ctl.counters["reachable_after_resync"] == 1, 15, "Ana reachable again")
    await until(lambda: ana(ctl) is OperatorState.TALKING, RING_S + 10, "Ana to take the call again")
    op = ctl.engine.operators["ana"]
    assert op.call_id == call_id and op.pause_reason is None
    assert [leg.channel_id for leg in ctl.channels.legs_of(call_id)] != [leg]
    assert ctl.engine.stale_facts == {}


async def test_an_operator_the_link_could_not_reach_is_rung_as_soon_as_it_is_back(
    linked: tuple[Controller, FaultProxy], observer: AmiRecorder
) -> None:
    ctl, proxy = linked
    await observer.simulated_citizen("11")
    await until(lambda: ana(ctl) is OperatorState.TALKING, 20, "Ana to answer the first citizen")
    first = ctl.engine.operators["ana"].call_id
    assert first is not None
    await observer.simulated_citizen("11")  # the second waits for her

    def queued() -> list[str]:
        return [c.call_id for c in ctl.engine.calls.values() if c.state is CallState.QUEUED]

    await until(lambda: bool(queued()), 20, "a second call waiting")
    (second,) = queued()
    # The first citizen hangs up: Ana's 3 s of wrap-up begin, and the link goes within them.
    await observer.link.send({"Action": "Hangup", "Channel": ctl.channels.callers[first]})
    await until(lambda: ana(ctl) is OperatorState.WRAP_UP, 5, "Ana in wrap-up after the first call")
    await cut(ctl, proxy)
    # Her wrap-up ends while the link is down: the core offers her the second call, the
    # Originate cannot be sent: she is unreachable for the system's fault, never paused.
    await until(lambda: ana(ctl) is OperatorState.UNREACHABLE, 10, "the offer to fail")
    assert ctl.engine.operators["ana"].fault_reason == "ami-down"
    assert ctl.engine.calls[second].state is CallState.QUEUED

    proxy.refuse = False
    # Back with the link (not at the end of her backoff): rung at once, on the second call.
    await until(lambda: ana(ctl) is OperatorState.TALKING, RING_S + 5, "Ana back, on the second call")
    assert ctl.engine.operators["ana"].call_id == second != first
    assert ctl.counters["reachable_after_resync"] >= 1
