# An operator on a real SIP phone: baresip (tests/phones.py) registers to the sandbox as
# Rosa's PJSIP endpoint, auto-answers the calls the controller routes to her, and sets her
# state with feature codes dialled on it (*21 pause, *22 ready, *23 log out): the dialplan
# answers them with a UserEvent naming the endpoint Asterisk authenticated, which the
# controller reads. Real Asterisk, real SIP on both sides (SIPp is the citizen).
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from panoramisk.message import Message

from contactcenter.adapters.ami import AmiLink
from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core import events as ev
from contactcenter.core.lifecycle import CallOutcome, OperatorState
from contactcenter.live.operators import PHONE_PAUSE_REASON
from contactcenter.sandbox import SandboxState
from contactcenter.sim.sipp import SippCall
from tests.phones import Baresip
from tests.polling import until
from tests.recorder import RECORDED_AT, AmiRecorder

ROSA = "rosa"  # the test centre's operator with `endpoint: pjsip` (skill info, ca/es/en)


@pytest.fixture
async def rosa(asterisk: SandboxState, test_config: Config) -> AsyncIterator[Baresip]:
    """Rosa's phone, registered (as baresip saw its REGISTER answered)."""
    op = test_config.operator(ROSA)
    assert op.endpoint == "pjsip" and op.secret is not None
    phone = Baresip(user=op.id, secret=op.secret, registrar_port=asterisk.sip_port)
    try:
        await phone.start()
        await phone.wait_registered(10)
        yield phone
    finally:
        await phone.stop()


def _state(controller: Controller, operator_id: str = ROSA) -> OperatorState:
    view = controller.engine.snapshot(controller.now()).operators.get(operator_id)
    return OperatorState.LOGGED_OUT if view is None else view.state  # (never logged in: not there)


def _feature_event(feature: str, since: float) -> Callable[[dict[str, Any]], bool]:
    return lambda e: (
        e.get("UserEvent") == "CcOperatorFeature"
        and e.get("CcOperator") == ROSA
        and e.get("CcFeature") == feature
        and e[RECORDED_AT] >= since
    )


async def dial_feature(phone: Baresip, observer: AmiRecorder, code: str, feature: str) -> dict[str, Any]:
    """Dial `code` on the phone: Asterisk answers, beeps and hangs up; the UserEvent it
    raised, as the observer saw it."""
    since = asyncio.get_running_loop().time()
    mark = await phone.dial(code)
    await phone.wait_call("CALL_ESTABLISHED", 5, "outgoing", since=mark)
    event = await observer.wait_for(_feature_event(feature, since), 5, f"CcOperatorFeature {feature}")
    assert str(event["Channel"]).startswith(f"PJSIP/{ROSA}-") and event["Exten"] == code
    closed = await phone.wait_call("CALL_CLOSED", 10, "outgoing", since=mark)  # (after the beep)
    assert "Forbidden" not in str(closed.get("param")), phone.describe()
    return event


async def test_the_phone_registers_and_its_feature_codes_reach_the_controllers_ami_user(
    asterisk: SandboxState, observer: AmiRecorder, test_config: Config, rosa: Baresip
) -> None:
    # Asterisk has the phone's contact (its own port: this phone, not an old registration).
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "ContactStatus"
            and e.get("AOR") == ROSA
            and e.get("EndpointName") == ROSA
            and str(e.get("URI", "")).endswith(f"@127.0.0.1:{rosa.sip_port}")
            and e.get("ContactStatus") != "Removed"
        ),
        5,
        "Rosa's contact in Asterisk",
    )
    # What the controller's own AMI user (least privilege, filtered by event name) is sent.
    seen: list[Message] = []
    link = AmiLink(
        host=test_config.ami.host,
        port=test_config.ami.port,
        username=test_config.ami.username,
        secret=test_config.ami.secret,
        on_event=seen.append,
    )
    await link.connect()
    try:
        for code, feature in (("*21", "pause"), ("*22", "ready"), ("*23", "logout")):
            uid = (await dial_feature(rosa, observer, code, feature))["Uniqueid"]
            await until(
                lambda uid=uid: any(  # type: ignore[misc]
                    m.get("UserEvent") == "CcOperatorFeature" and m.get("Uniqueid") == uid for m in seen
                ),
                5,
                f"{code}'s event through the controller's event filter",
            )
        # Anything else is refused, and raises nothing.
        since = asyncio.get_running_loop().time()
        for code in ("*99", "010", "#5"):
            mark = await rosa.dial(code)
            refused = await rosa.wait_call("CALL_CLOSED", 5, "outgoing", since=mark)
            assert "403" in str(refused.get("param")), rosa.describe()
            assert not [e for e in rosa.events[mark:] if e.get("type") == "CALL_ESTABLISHED"]
        assert not observer.find(
            lambda e: e.get("UserEvent") == "CcOperatorFeature" and e[RECORDED_AT] >= since
        )
    finally:
        link.close()
    # It unregisters when it stops: Asterisk removes its contact.
    await rosa.stop()
    await observer.wait_for(
        lambda e: (
            e.get("Event") == "ContactStatus"
            and e.get("AOR") == ROSA
            and e.get("ContactStatus") == "Removed"
            and str(e.get("URI", "")).endswith(f"@127.0.0.1:{rosa.sip_port}")
        ),
        5,
        "Rosa's contact removed",
    )


async def test_feature_codes_dialled_on_the_phone_set_the_operators_state(
    asterisk: SandboxState, observer: AmiRecorder, controller: Controller, rosa: Baresip
) -> None:
    # An operator with a real phone starts logged out: she logs in from it.
    assert _state(controller) is OperatorState.LOGGED_OUT
    await dial_feature(rosa, observer, "*22", "ready")
    await until(lambda: _state(controller) is OperatorState.AVAILABLE, 5, "Rosa available after *22")
    view = controller.engine.snapshot(controller.now()).operators[ROSA]
    assert (dict(view.skills), view.languages) == ({"info": 1}, ("ca", "es", "en"))  # as configured

    await dial_feature(rosa, observer, "*21", "pause")
    await until(lambda: _state(controller) is OperatorState.PAUSED, 5, "Rosa paused after *21")
    assert controller.engine.snapshot(controller.now()).operators[ROSA].reason == PHONE_PAUSE_REASON

    await dial_feature(rosa, observer, "*22", "ready")
    await until(lambda: _state(controller) is OperatorState.AVAILABLE, 5, "Rosa resumed after *22")

    await dial_feature(rosa, observer, "*23", "logout")
    await until(lambda: _state(controller) is OperatorState.LOGGED_OUT, 5, "Rosa logged out after *23")
    # Nothing the controller read was dropped as malformed.
    assert not {k: n for k, n in controller.counters.items() if k.startswith("dropped_")}


async def test_a_call_is_routed_to_the_real_phone_which_answers_and_the_operator_hangs_up(
    asterisk: SandboxState, observer: AmiRecorder, controller: Controller, rosa: Baresip
) -> None:
    await dial_feature(rosa, observer, "*22", "ready")
    await until(lambda: _state(controller) is OperatorState.AVAILABLE, 5, "Rosa available after *22")
    # Ana, the other `info` operator, is on a break: the call can only go to Rosa.
    controller.feed(ev.OperatorPaused(now=controller.now(), operator_id="ana", reason="break"))

    mark = rosa.mark()
    citizen = SippCall(caller="+34600000901", digits="11", stay_s=40, target_port=asterisk.sip_port)
    await citizen.start()
    try:
        channel = await observer.channel_of(citizen)
        # The phone rings (an INVITE from the sandbox, from 010) and answers by itself.
        answered = await rosa.wait_call("CALL_ESTABLISHED", 20, "incoming", since=mark)
        assert answered.get("peeruri") == "sip:010@127.0.0.1", rosa.describe()
        # Asterisk: the citizen and Rosa's PJSIP leg in one conference.
        mine, other = await observer.bridged_with(channel, timeout=10)
        # (Her leg is the controller's Originate: its ChannelId is one of the controller's.)
        assert str(other["Channel"]).startswith(f"PJSIP/{ROSA}-") and str(other["Uniqueid"]).startswith("cc-")
        await until(lambda: _state(controller) is OperatorState.TALKING, 5, "Rosa talking in the core")
        view = controller.engine.snapshot(controller.now()).operators[ROSA]
        assert view.call_id == mine["Uniqueid"]

        # They talk: audio flows both ways, as Asterisk's first RTCP report to the phone says
        # (a few seconds in; by then the citizen's key presses are long over, and SIPp takes
        # a BYE: not before its last one has been heard).
        report = (await rosa.wait_call("CALL_RTCP", 15, "incoming", since=mark))["rtcp_stats"]
        assert report["tx"]["sent"] > 0 and report["rx"]["sent"] > 0, report
        # Rosa ends the call from her phone: the citizen is hung up on, the call was answered.
        await rosa.hangup()
        await rosa.wait_call("CALL_CLOSED", 5, "incoming", since=mark)
        assert await citizen.wait(15) == 0, citizen.errors()
    finally:
        citizen.stop()
    await until(lambda: not controller.engine.calls, 10, "the call ended in the core")
    assert [(c.call_id, c.outcome, c.operator_id) for c in controller.finished] == [
        (mine["Uniqueid"], CallOutcome.ANSWERED, ROSA)
    ]
    await until(lambda: _state(controller) is OperatorState.AVAILABLE, 5, "Rosa available after wrap-up")

    # After the call she takes a break from the phone.
    await dial_feature(rosa, observer, "*21", "pause")
    await until(lambda: _state(controller) is OperatorState.PAUSED, 5, "Rosa paused after *21")


async def test_a_phone_with_the_wrong_secret_neither_registers_nor_dials_a_feature(
    asterisk: SandboxState, observer: AmiRecorder, controller: Controller
) -> None:
    # Who dials a feature is who Asterisk authenticated: a phone claiming to be Rosa without
    # her secret is refused at REGISTER and at INVITE, and no event names her.
    since = asyncio.get_running_loop().time()
    impostor = Baresip(user=ROSA, secret="not-rosas-secret", registrar_port=asterisk.sip_port)
    try:
        await impostor.start()
        assert await impostor.registration(10) == "ERR", impostor.describe()
        mark = await impostor.dial("*22")
        refused = await impostor.wait_call("CALL_CLOSED", 10, "outgoing", since=mark)
        assert refused.get("param") == "401 Unauthorized", impostor.describe()
        assert not [e for e in impostor.events[mark:] if e.get("type") == "CALL_ESTABLISHED"]
    finally:
        await impostor.stop()
    assert not observer.find(lambda e: e.get("UserEvent") == "CcOperatorFeature" and e[RECORDED_AT] >= since)
    assert _state(controller) is OperatorState.LOGGED_OUT
