# The translator on its own: AMI frames (text as Asterisk sends it, parsed by panoramisk's
# own parser) in, core events out. No Asterisk needed: the subject is the translation. The
# frames recorded from the real sandbox are replayed in test_transcripts.py.
from __future__ import annotations

import logging

import pytest

from contactcenter.core import events as ev
from contactcenter.live.channels import Channels
from contactcenter.live.translator import OperatorFeature, Translation, Translator
from tests.fakeami import ami

ARRIVED = """
Event: UserEvent
Privilege: user,all
Channel: PJSIP/pstn-00000007
Uniqueid: 1700000000.7
CallerIDNum: +34600111222
UserEvent: CcArrived
"""

QUEUED = """
Event: UserEvent
Channel: PJSIP/pstn-00000007
Uniqueid: 1700000000.7
Language: ca
UserEvent: CcQueued
CcSkill: {skill}
CcLanguage: {lang}
"""

CALL = "1700000000.7"


@pytest.fixture
def translator() -> Translator:
    return Translator(
        Channels(prefix="0badcafe"),
        skills=("info", "tramits"),
        languages=("ca", "es"),
        default_skill="info",
        default_language="ca",
    )


def test_arrival_and_queueing(translator: Translator) -> None:
    t1 = translator.translate(ami(ARRIVED), 1.0)
    t2 = translator.translate(ami(QUEUED.format(skill="tramits", lang="es")), 2.0)
    assert t1.events == [ev.CallArrived(now=1.0, call_id=CALL)]
    assert t2.events == [ev.IvrCompleted(now=2.0, call_id=CALL, skill="tramits", language="es")]
    assert (t1.dropped, t2.dropped) == ([], [])
    assert translator.channels.callers == {CALL: "PJSIP/pstn-00000007"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Event: UserEvent\nUserEvent: CcArrived\nChannel: PJSIP/pstn-1", "missing_header"),
        ("Event: UserEvent\nUserEvent: CcArrived\nUniqueid: 1.1", "missing_header"),
        ("Event: UserEvent\nUserEvent: CcArrived\nUniqueid: \nChannel: PJSIP/pstn-1", "missing_header"),
        ("Event: UserEvent\nUserEvent: CcArrived\nUniqueid: 1.1\nChannel: Bad Channel;3", "bad_channel"),
        ("Event: UserEvent\nUserEvent: CcArrived\nUniqueid: 1.1\nChannel: PJSIP/pstn-1,x", "bad_channel"),
        (
            "Event: UserEvent\nUserEvent: CcQueued\nUniqueid: 9.9\nCcSkill: info\nCcLanguage: ca",
            "unknown_call",
        ),
        ("Event: UserEvent\nUserEvent: CcQueued\nUniqueid: 9.9", "missing_header"),
        ("Event: Hangup\nChannel: PJSIP/pstn-1", "missing_header"),
    ],
)
def test_malformed_events_are_dropped_with_a_reason(translator: Translator, text: str, reason: str) -> None:
    t = translator.translate(ami(text), 1.0)
    assert (t.events, t.dropped) == ([], [reason])
    assert not translator.channels.callers


@pytest.mark.parametrize(
    ("header", "priority", "dropped"),
    [
        ("CcPriority: 3\n", 3, []),  # the gateway's X-CC-Priority, one digit
        ("CcPriority: \n", 0, []),  # no header on the call: the dialplan's empty value
        ("", 0, []),  # an older dialplan: no such field
        ("CcPriority: 12\n", 0, ["bad_priority"]),  # (the dialplan keeps one digit)
        ("CcPriority: ٣\n", 0, ["bad_priority"]),  # a digit, but not ASCII
    ],
)
def test_a_callers_priority_is_the_gateways_digit_or_0(
    translator: Translator, header: str, priority: int, dropped: list[str]
) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    t = translator.translate(ami(QUEUED.format(skill="info", lang="ca") + header), 2.0)
    want = ev.IvrCompleted(now=2.0, call_id=CALL, skill="info", language="ca", priority=priority)
    assert t.events == [want]
    assert t.dropped == dropped


def test_duplicate_arrival_is_dropped(translator: Translator) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    t = translator.translate(ami(ARRIVED), 1.5)
    assert (t.events, t.dropped) == ([], ["duplicate_call"])


def test_unknown_skill_and_language_still_queue_the_citizen(translator: Translator) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    t = translator.translate(ami(QUEUED.format(skill="astrology", lang="fr")), 2.0)
    # Never strand a citizen: the service menu's default skill, the IVR's default language.
    assert t.events == [ev.IvrCompleted(now=2.0, call_id=CALL, skill="info", language="ca")]
    assert t.dropped == ["unknown_skill", "unknown_language"]


def test_caller_numbers_are_masked_in_the_log(
    translator: Translator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="contactcenter.translator"):
        translator.translate(ami(ARRIVED), 1.0)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "+34*******22" in text and "600111222" not in text


def test_hangup_of_a_caller_and_of_channels_not_ours(translator: Translator) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    other = translator.translate(ami("Event: Hangup\nChannel: Local/s@cc-inbound-1;2\nUniqueid: 5.5"), 2.0)
    assert (other.events, other.foreign) == ([], True)
    t = translator.translate(ami(f"Event: Hangup\nChannel: PJSIP/pstn-00000007\nUniqueid: {CALL}"), 3.0)
    assert t.events == [ev.CallerHungUp(now=3.0, call_id=CALL)]
    assert not translator.channels.callers
    again = translator.translate(ami(f"Event: Hangup\nUniqueid: {CALL}"), 3.1)
    assert (again.events, again.foreign) == ([], True)


def _response(action_id: str, response: str, reason: str = "") -> str:
    return f"Event: OriginateResponse\nActionID: {action_id}\nResponse: {response}\nReason: {reason}"


@pytest.mark.parametrize(
    ("reason", "fact", "why"),
    [
        ("3", ev.OperatorRingTimeout, "no-answer"),  # the operator's: paused
        ("5", ev.OperatorRingTimeout, "busy"),
        ("1", ev.OperatorRingTimeout, "declined"),
        ("0", ev.OperatorUnreachable, "failed"),  # the system's: retried, never paused
        ("8", ev.OperatorUnreachable, "congestion"),
        ("", ev.OperatorUnreachable, "originate-reason-none"),
    ],
)
def test_who_is_at_fault_for_an_unanswered_leg(
    translator: Translator, reason: str, fact: type[ev.Event], why: str
) -> None:
    leg = translator.channels.new_leg(CALL, "ana", local=True)
    t = translator.translate(ami(_response(leg.leg_id, "Failure", reason)), 4.0)
    assert t.events == [fact(now=4.0, call_id=CALL, operator_id="ana", reason=why)]  # type: ignore[call-arg]
    assert translator.channels.legs == {}


def test_an_answered_local_leg_ends_its_conversation_once(translator: Translator) -> None:
    leg = translator.channels.new_leg(CALL, "ana", local=True)
    assert leg.leg_id == "cc-0badcafe-0000001" and leg.uniqueids == (f"{leg.leg_id}-1", f"{leg.leg_id}-2")
    t = translator.translate(ami(_response(leg.leg_id, "Success")), 5.0)
    assert t.events == [ev.OperatorAnswered(now=5.0, call_id=CALL, operator_id="ana")] and t.answered is leg
    # The resync may have learnt it first: a second answer adds nothing.
    assert translator.translate(ami(_response(leg.leg_id, "Success")), 5.1).events == []
    ended = [
        translator.translate(ami(f"Event: Hangup\nUniqueid: {uid}"), 9.0).events for uid in leg.uniqueids
    ]
    assert ended == [[ev.CallEnded(now=9.0, call_id=CALL)], []]
    assert translator.channels.legs == {}


def test_a_ringing_legs_hangup_waits_for_its_originate_response(translator: Translator) -> None:
    leg = translator.channels.new_leg(CALL, "ana", local=False)
    assert translator.translate(ami(f"Event: Hangup\nUniqueid: {leg.channel_id}"), 3.0).events == []
    t = translator.translate(ami(_response(leg.leg_id, "Failure", "3")), 3.1)
    assert t.events == [ev.OperatorRingTimeout(now=3.1, call_id=CALL, operator_id="ana", reason="no-answer")]


@pytest.mark.parametrize(
    ("cause", "fact", "why"),
    [
        ("17", ev.OperatorRingTimeout, "busy"),  # SIP 486 from a real phone
        ("19", ev.OperatorRingTimeout, "no-answer"),  # 480 after ringing
        ("21", ev.OperatorRingTimeout, "declined"),  # 603: the operator pressed decline
        ("38", ev.OperatorUnreachable, "failed"),  # network out of order: the system's
        ("x17", ev.OperatorUnreachable, "failed"),  # malformed: no guess
    ],
)
def test_a_sip_peers_refusal_is_read_from_the_cause_of_its_hangup_request(
    translator: Translator, cause: str, fact: type[ev.Event], why: str
) -> None:
    # As recorded from Asterisk 22 and a SIPp peer answering 486 (tests/integration/
    # test_callback_trunk.py): HangupRequest with the cause, then OriginateResponse Reason 0,
    # then the Hangup.
    leg = translator.channels.new_leg(CALL, "ana", local=False)
    request = ami(
        f"Event: HangupRequest\nChannel: PJSIP/ana-00000002\nUniqueid: {leg.channel_id}\nCause: {cause}"
    )
    assert translator.translate(request, 3.0).events == []
    t = translator.translate(ami(_response(leg.leg_id, "Failure", "0")), 3.1)
    assert t.events == [fact(now=3.1, call_id=CALL, operator_id="ana", reason=why)]  # type: ignore[call-arg]
    late = translator.translate(ami(f"Event: Hangup\nUniqueid: {leg.channel_id}\nCause: {cause}"), 3.2)
    assert (late.events, late.foreign) == ([], True)  # (forgotten with its response)


def test_a_sip_refusal_whose_cause_comes_after_its_response_is_judged_at_the_hangup(
    translator: Translator,
) -> None:
    # The other order Asterisk 22 gives (seen once in CI with a SIPp peer's 486): the
    # OriginateResponse "Reason 0" before any HangupRequest; the Hangup then has the cause.
    cb = "cb-0123456789ab"
    leg = translator.channels.new_callback_leg(cb, "ana", local=False, citizen=True)
    assert translator.translate(ami(_response(leg.leg_id, "Failure", "0")), 3.0).events == []
    hangup = translator.translate(ami(f"Event: Hangup\nUniqueid: {leg.channel_id}\nCause: 17"), 3.1)
    assert hangup.events == [ev.CitizenNotReached(now=3.1, callback_id=cb, outcome="busy")]
    assert leg.leg_id not in translator.channels.legs
    # A real failure (no cause a callee gives) is still the system's, judged at the hangup.
    op = translator.channels.new_leg(CALL, "ana", local=False)
    assert translator.translate(ami(_response(op.leg_id, "Failure", "0")), 4.0).events == []
    gone = translator.translate(ami(f"Event: Hangup\nUniqueid: {op.channel_id}\nCause: 38"), 4.1)
    assert gone.events == [ev.OperatorUnreachable(now=4.1, call_id=CALL, operator_id="ana", reason="failed")]


def test_a_hangup_request_of_a_call_in_progress_says_nothing(translator: Translator) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    t = translator.translate(ami(f"Event: HangupRequest\nUniqueid: {CALL}\nCause: 16"), 2.0)
    assert (t.events, t.foreign, t.dropped) == ([], True, [])  # its Hangup tells
    assert CALL in translator.channels.callers


def test_leg_ids_are_fixed_width_so_no_id_is_a_prefix_of_another() -> None:
    channels = Channels(prefix="00c0ffee")
    ids = [uid for _ in range(120) for uid in channels.new_leg("c", "a", local=True).uniqueids]
    assert len({len(uid) for uid in ids}) == 1 and len(set(ids)) == len(ids)
    # (Asterisk 22 looks a channel up by Uniqueid prefix: with cc-x-7 beside cc-x-78, the
    # Originate naming cc-x-7 failed as "already in use".)
    assert not any(a != b and b.startswith(a) for a in ids for b in ids)


def test_events_we_do_not_use_are_foreign(translator: Translator) -> None:
    for text in (
        "Event: Newexten\nUniqueid: 1.1",
        "Event: UserEvent\nUserEvent: SomethingElse",
        "Response: x",
    ):
        t = translator.translate(ami(text), 1.0)
        assert (t.events, t.dropped, t.foreign) == ([], [], True)


# --- callbacks ---------------------------------------------------------------------------

CHOICE = """
Event: UserEvent
Channel: PJSIP/pstn-00000007
Uniqueid: 1700000000.7
UserEvent: CcCallbackChoice
CcChoice: {key}
CcDigits: {digits}
"""


def test_the_callers_number_is_kept_while_their_call_is_in_and_forgotten_at_hangup(
    translator: Translator,
) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    assert translator.channels.numbers == {CALL: "+34600111222"}
    translator.translate(ami(f"Event: Hangup\nUniqueid: {CALL}\nChannel: PJSIP/pstn-00000007"), 2.0)
    assert translator.channels.numbers == {}


def test_a_callback_choice_is_handed_on_with_digits_only(translator: Translator) -> None:
    translator.translate(ami(ARRIVED), 1.0)
    t = translator.translate(ami(CHOICE.format(key="2", digits="93 412-34*56")), 2.0)
    assert t.events == [] and t.dropped == []
    assert t.choice is not None and (t.choice.call_id, t.choice.key, t.choice.digits) == (
        CALL,
        "2",
        "934123456",
    )
    assert translator.translate(ami(CHOICE.format(key="7", digits="")), 3.0).dropped == [
        "bad_callback_choice"
    ]
    unknown = CHOICE.replace(CALL, "1700000000.99").format(key="1", digits="")
    assert translator.translate(ami(unknown), 4.0).dropped == ["unknown_call"]


@pytest.mark.parametrize(
    ("response", "reason", "want"),
    [
        ("Success", "4", "answered"),
        ("Failure", "3", "no_answer"),
        ("Failure", "5", "busy"),
        ("Failure", "0", "failed"),
        ("Failure", "8", "failed"),
        ("Failure", "0 17", "busy"),  # a gateway's 486: Reason 0 after a HangupRequest, cause 17
        ("Failure", "0 18", "no_answer"),
    ],
)
def test_the_citizens_leg_of_a_callback_answers_or_is_not_reached(
    translator: Translator, response: str, reason: str, want: str
) -> None:
    cb = "cb-0123456789ab"
    leg = translator.channels.new_callback_leg(cb, "ana", local=True, citizen=True)
    assert leg.leg_id.startswith(f"{cb}-c-") and leg.channel_id == f"{leg.leg_id}-1"
    reason, _, cause = reason.partition(" ")
    if cause:
        request = f"Event: HangupRequest\nUniqueid: {leg.channel_id}\nCause: {cause}"
        assert translator.translate(ami(request), 4.9).events == []
    t = translator.translate(
        ami(f"Event: OriginateResponse\nActionID: {leg.leg_id}\nResponse: {response}\nReason: {reason}"), 5.0
    )
    if want == "answered":
        assert t.events == [ev.CitizenAnswered(now=5.0, callback_id=cb)]
        # The citizen hangs up first: for the core, the callback's caller hung up.
        hangup = translator.translate(ami(f"Event: Hangup\nUniqueid: {leg.channel_id}"), 9.0)
        assert hangup.events == [ev.CallerHungUp(now=9.0, call_id=cb)]
    else:
        assert t.events == [ev.CitizenNotReached(now=5.0, callback_id=cb, outcome=want)]
        assert leg.leg_id not in translator.channels.legs


def test_callback_leg_ids_carry_the_callback_and_refuse_other_ids() -> None:
    channels = Channels(prefix="0badcafe")
    op = channels.new_callback_leg("cb-0123456789ab", "ana", local=True, citizen=False)
    assert op.leg_id.startswith("cb-0123456789ab-o-") and not op.citizen
    with pytest.raises(ValueError):
        channels.new_callback_leg("cb-x\r\nAction: Originate", "ana", local=True, citizen=False)


# --- operators' phones --------------------------------------------------------------------

# As recorded from Asterisk 22 when baresip, registered as PJSIP endpoint `rosa`, dialled *21
# (tests/integration/test_operator_phone.py).
FEATURE = """
Event: UserEvent
Privilege: user,all
Channel: {channel}
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: rosa
CallerIDName: <unknown>
Language: ca
Context: cc-operator-phone
Exten: *21
Priority: 2
Uniqueid: 1796196461.1
Linkedid: 1796196461.1
UserEvent: CcOperatorFeature
CcOperator: {operator}
CcFeature: {feature}
"""


@pytest.fixture
def phones() -> Translator:
    return Translator(
        Channels(prefix="0badcafe"),
        skills=("info", "tramits"),
        languages=("ca", "es"),
        default_skill="info",
        default_language="ca",
        phones=("rosa", "joan_b"),
    )


def _feature(feature: str, operator: str = "rosa", channel: str = "PJSIP/rosa-00000001") -> str:
    return FEATURE.format(channel=channel, operator=operator, feature=feature)


@pytest.mark.parametrize("feature", ["pause", "ready", "logout"])
def test_a_feature_code_from_an_operators_phone_is_handed_on(phones: Translator, feature: str) -> None:
    t = phones.translate(ami(_feature(feature)), 1.0)
    assert t == Translation(feature=OperatorFeature(operator_id="rosa", feature=feature))
    # (Not a call: nothing of the channel is kept.)
    channels = phones.channels
    assert (channels.callers, channels.numbers, channels.legs) == ({}, {}, {})


def test_an_operator_id_with_an_underscore_is_read_from_its_own_channel(phones: Translator) -> None:
    t = phones.translate(ami(_feature("ready", "joan_b", "PJSIP/joan_b-0000001a")), 1.0)
    assert t == Translation(feature=OperatorFeature(operator_id="joan_b", feature="ready"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_feature("pause", operator="ana"), "unknown_operator"),  # a simulated operator: no phone
        (_feature("pause", operator="mallory"), "unknown_operator"),
        (_feature("transfer"), "unknown_feature"),
        (_feature("Pause"), "unknown_feature"),
        (_feature("pause", channel="PJSIP/joan_b-00000002"), "bad_channel"),  # another's channel
        (_feature("pause", channel="Local/rosa@cc-operator-phone-00000001;1"), "bad_channel"),
        (_feature("pause", channel="PJSIP/rosa-1"), "bad_channel"),
        (_feature("pause", channel="PJSIP/rosa"), "bad_channel"),
        (_feature(""), "missing_header"),
        (_feature("pause", operator=""), "missing_header"),  # CHANNEL(endpoint) of no endpoint
        (
            "Event: UserEvent\nUserEvent: CcOperatorFeature\nChannel: PJSIP/rosa-00000001\nCcFeature: pause",
            "missing_header",
        ),
        (
            "Event: UserEvent\nUserEvent: CcOperatorFeature\nCcOperator: rosa\nCcFeature: pause",
            "missing_header",
        ),
    ],
)
def test_a_malformed_feature_event_is_dropped_with_a_reason(
    phones: Translator, text: str, reason: str
) -> None:
    assert phones.translate(ami(text), 1.0) == Translation(dropped=[reason])


def test_without_phones_no_operator_can_dial_a_feature(translator: Translator) -> None:
    assert translator.translate(ami(_feature("ready")), 1.0) == Translation(dropped=["unknown_operator"])
