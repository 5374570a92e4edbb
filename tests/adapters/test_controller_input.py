# The controller's side of malformed AMI input: raw AMI text, parsed by panoramisk's own
# parser, fed to the controller's event handler. Whatever is malformed is counted, logged
# and dropped; nothing crashes and no citizen is stranded. (No Asterisk needed: the subject
# is the translation from AMI events to core events.)
from __future__ import annotations

import logging

import pytest
from panoramisk.message import Message

from contactcenter.config import Config
from contactcenter.controller import Controller
from contactcenter.core.lifecycle import CallState


def ami(text: str) -> Message:
    msg = Message.from_line(text.strip().replace("\n", "\r\n"))
    assert msg is not None
    return msg


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


@pytest.fixture
async def controller(test_config: Config) -> Controller:
    # Not started: no AMI link and no operator logged in, so every call stays in the core.
    return Controller(test_config)


async def test_well_formed_arrival_and_queueing(controller: Controller) -> None:
    controller._on_ami_event(ami(ARRIVED))
    controller._on_ami_event(ami(QUEUED.format(skill="tramits", lang="es")))
    call = controller.engine.calls["1700000000.7"]
    assert (call.state, call.skill, call.language) == (CallState.QUEUED, "tramits", "es")
    assert controller.callers["1700000000.7"] == "PJSIP/pstn-00000007"
    assert not [k for k in controller.counters if k.startswith("dropped")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Event: UserEvent\nUserEvent: CcArrived\nChannel: PJSIP/pstn-1", "missing_header"),
        ("Event: UserEvent\nUserEvent: CcArrived\nUniqueid: 1.1", "missing_header"),
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
async def test_malformed_events_are_counted_logged_and_dropped(
    controller: Controller, caplog: pytest.LogCaptureFixture, text: str, reason: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="contactcenter.controller"):
        controller._on_ami_event(ami(text))
    assert controller.counters[f"dropped_{reason}"] == 1
    assert not controller.engine.calls and not controller.callers
    assert any(reason in r.getMessage() for r in caplog.records)


async def test_duplicate_arrival_is_dropped(controller: Controller) -> None:
    controller._on_ami_event(ami(ARRIVED))
    controller._on_ami_event(ami(ARRIVED))
    assert controller.counters["dropped_duplicate_call"] == 1
    assert list(controller.engine.calls) == ["1700000000.7"]


async def test_unknown_skill_or_language_still_queues_the_citizen(controller: Controller) -> None:
    controller._on_ami_event(ami(ARRIVED))
    controller._on_ami_event(ami(QUEUED.format(skill="astrology", lang="fr")))
    call = controller.engine.calls["1700000000.7"]
    # Never strand a citizen: the service menu's default skill, the IVR's default language.
    assert (call.state, call.skill, call.language) == (CallState.QUEUED, "info", "ca")
    assert controller.counters["dropped_unknown_skill"] == 1
    assert controller.counters["dropped_unknown_language"] == 1


async def test_caller_numbers_are_masked_in_the_log(
    controller: Controller, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="contactcenter.controller"):
        controller._on_ami_event(ami(ARRIVED))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "+34*******22" in text and "600111222" not in text


async def test_hangup_of_a_waiting_caller_abandons_the_call(controller: Controller) -> None:
    controller._on_ami_event(ami(ARRIVED))
    controller._on_ami_event(ami(QUEUED.format(skill="info", lang="ca")))
    controller._on_ami_event(ami("Event: Hangup\nChannel: PJSIP/pstn-00000007\nUniqueid: 1700000000.7"))
    assert not controller.engine.calls
    [ended] = controller.finished
    assert ended.outcome.value == "abandoned"
