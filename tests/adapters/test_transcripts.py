# AMI transcripts recorded from the real sandbox (tests/transcripts/*.ami, made by
# tests/transcripts/record.py: the controller's own AMI session while it handled real SIPp
# calls), replayed through the translator: the exact core events each one makes, and what
# the core then decides from them; and through the whole controller (its AMI session an
# in-memory one fed the recorded events): it sends the actions it sent then. No Asterisk
# needed to replay: the transcript is its word.
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from contactcenter.config import Config, parse_config
from contactcenter.controller import Controller, engine_for
from contactcenter.core import events as ev
from contactcenter.core.commands import BridgeCall, CancelOffer, ConnectCall
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.live.channels import Channels
from contactcenter.live.translator import Translator
from tests.conftest import TEST_CONFIG
from tests.fakeami import FakeAmi, ami

HERE = Path(__file__).resolve().parents[1] / "transcripts"
_FRAME = re.compile(r"^(<<<|>>>) (\d+\.\d+)\n(.*)$", re.S)


@dataclass
class Frame:
    sent: bool  # an action the controller sent (else an event it received)
    at: float
    text: str

    def headers(self) -> list[tuple[str, str]]:
        return [tuple(line.split(": ", 1)) for line in self.text.splitlines()]  # type: ignore[misc]


def frames(name: str) -> list[Frame]:
    body = "\n".join(line for line in (HERE / name).read_text().splitlines() if not line.startswith("#"))
    out = []
    for chunk in body.strip().split("\n\n"):
        m = _FRAME.match(chunk)
        assert m, chunk
        out.append(Frame(m.group(1) == ">>>", float(m.group(2)), m.group(3)))
    return out


def replay(name: str, cfg: Config) -> list[ev.Event]:
    """Translate a transcript's events as the controller did; the legs it originated are
    registered when its Originate was sent, with the very ids it used."""
    actions = [f for f in frames(name) if f.sent and ("Action", "Originate") in f.headers()]
    prefix = dict(actions[0].headers())["ActionID"].split("-")[1] if actions else "00000000"
    translator = Translator(
        Channels(prefix=prefix),
        skills=cfg.skills,
        languages=cfg.languages,
        default_skill=cfg.ivr.service_menu.default,
        default_language=cfg.ivr.default_language,
    )
    out: list[ev.Event] = []
    for frame in frames(name):
        if frame.sent:
            h = frame.headers()
            if ("Action", "Originate") in h:
                fields = dict(h)
                call_id = next(
                    v.split("=", 1)[1] for k, v in h if k == "Variable" and v.startswith("CC_CALL_ID=")
                )
                operator = re.match(r"^(?:Local|PJSIP)/([a-z0-9_-]+)", fields["Channel"])
                assert operator is not None
                leg = translator.channels.new_leg(
                    call_id, operator.group(1), local=fields["Channel"].startswith("Local/")
                )
                assert (leg.leg_id, leg.channel_id) == (fields["ActionID"], fields["ChannelId"])
            continue
        translation = translator.translate(ami(frame.text), frame.at)
        assert translation.dropped == [], frame.text
        out += translation.events
    return out


def _calls(events: list[ev.Event]) -> list[str]:
    return list(dict.fromkeys(e.call_id for e in events if isinstance(e, ev.CallArrived)))


def test_an_answered_call_and_one_abandoned_while_waiting(test_config: Config) -> None:
    events = replay("answered-and-abandoned.ami", test_config)
    first, second = _calls(events)
    assert events == [
        ev.CallArrived(now=0.669, call_id=first),
        ev.CallArrived(now=1.672, call_id=second),
        ev.IvrCompleted(now=3.820, call_id=first, skill="tramits", language="es"),
        ev.IvrCompleted(now=4.823, call_id=second, skill="tramits", language="es"),
        ev.OperatorAnswered(now=4.827, call_id=first, operator_id="marta"),
        ev.CallerHungUp(now=10.190, call_id=second),  # left while waiting
        ev.CallerHungUp(now=12.189, call_id=first),  # the end of the conversation...
        ev.CallEnded(now=12.191, call_id=first),  # ...and the operator's leg after it
    ]
    # What the core makes of it: Marta rung and joined to the first; the second abandoned;
    # the operator leg's hangup after the caller's is a stale fact, counted and ignored.
    engine = engine_for(test_config, epoch=0.0)
    engine.hours = None
    engine.handle(
        ev.OperatorLoggedIn(now=0, operator_id="marta", skills=(("tramits", 1),), languages=("es",))
    )
    decided = [cmd for e in events for cmd in engine.handle(e) if isinstance(cmd, ConnectCall | BridgeCall)]
    assert decided == [
        ConnectCall(call_id=first, operator_id="marta"),
        BridgeCall(call_id=first, operator_id="marta"),
    ]
    outcomes = {c.call_id: c.outcome for c in engine.drain_completed()}
    assert outcomes == {first: CallOutcome.ANSWERED, second: CallOutcome.ABANDONED}
    assert engine.stale_facts == {("CallEnded", "call not in the system"): 1}


def test_an_originate_asterisk_fails_is_the_systems_fault(test_config: Config) -> None:
    events = replay("originate-failed.ami", test_config)
    (call,) = _calls(events)
    assert [type(e).__name__ for e in events] == [
        "CallArrived",
        "IvrCompleted",
        "OperatorUnreachable",  # Reason 0: Asterisk could not place the call to x
        "OperatorAnswered",  # then Ana (level 2) took it
        "CallerHungUp",
        "CallEnded",
    ]
    fault = events[2]
    assert fault == ev.OperatorUnreachable(now=fault.now, call_id=call, operator_id="x", reason="failed")
    engine = engine_for(test_config, epoch=0.0)
    engine.hours = None
    for op, level in (("x", 1), ("ana", 2)):
        engine.handle(
            ev.OperatorLoggedIn(now=0, operator_id=op, skills=(("info", level),), languages=("ca",))
        )
    decided = [
        cmd
        for e in events
        for cmd in engine.handle(e)
        if isinstance(cmd, ConnectCall | BridgeCall | CancelOffer)
    ]
    assert decided == [
        ConnectCall(call_id=call, operator_id="x"),
        ConnectCall(call_id=call, operator_id="ana"),
        BridgeCall(call_id=call, operator_id="ana"),
    ]
    x = engine.operators["x"]
    assert x.state.value == "unreachable" and x.pause_reason is None  # not paused: retried


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("*.ami")))
def test_every_transcript_translates_without_a_drop(test_config: Config, name: str) -> None:
    assert replay(name, test_config)


def _faults_config(test_config: Config) -> Config:
    """The centre record.py used for originate-failed.ami: operator x first (level 1)."""
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    raw["operators"] = [{"id": "x", "skills": {"info": 1}}, {"id": "ana", "skills": {"info": 2}}] + [
        op for op in raw["operators"] if op["id"] != "ana"
    ]
    return parse_config(raw, str(TEST_CONFIG))


ACTIONS = ("Originate", "Redirect", "Hangup")  # what the controller decides (not the announcer)


@pytest.mark.parametrize("name", ["answered-and-abandoned.ami", "originate-failed.ami"])
async def test_the_controller_fed_a_transcript_sends_the_actions_it_sent_then(
    test_config: Config, name: str
) -> None:
    cfg = _faults_config(test_config) if name == "originate-failed.ami" else test_config
    cfg = dataclasses.replace(cfg, hours=None)
    recorded = [dict(f.headers()) for f in frames(name) if f.sent and dict(f.headers())["Action"] in ACTIONS]
    ctl = Controller(cfg, ami=FakeAmi)
    originates = [a for a in recorded if a["Action"] == "Originate"]
    ctl.channels.prefix = originates[0]["ActionID"].split("-")[1]  # the ids it used then
    await ctl.start()
    try:
        fake = ctl.ami
        assert isinstance(fake, FakeAmi)
        for frame in frames(name):
            if not frame.sent:
                fake.deliver(frame.text)
                await ctl.executor.idle()
        # Header by header, in order, repeated ones (Variable) included.
        sent = [
            [(k, x) for k, v in a.items() for x in (v if isinstance(v, list) else [v])]
            for a in fake.sent
            if a["Action"] in ACTIONS
        ]
        assert sent == [
            f.headers() for f in frames(name) if f.sent and dict(f.headers())["Action"] in ACTIONS
        ]
    finally:
        await ctl.stop()
