# The translator: AMI events in, core events out. Rules:
# - Pure: no I/O, no clock (`now` is passed in), no reading of the core's state. It keeps the
#   channel registry (Channels) current and nothing else.
# - It reads only what the controller's AMI user is sent (manager.conf's filters): our own
#   UserEvents (CcArrived, CcQueued, CcCallbackChoice, CcOperatorFeature), Hangup,
#   HangupRequest and OriginateResponse. Anything else, and any event about channels that
#   are not ours, is not an error: it is `foreign`, and ignored.
# - Malformed input (a missing or empty header, a channel name of a shape Asterisk does not
#   make, an unknown skill or language) is `dropped` with a reason, and logged and counted by
#   the controller; a citizen is never stranded by it (an unknown skill or language falls
#   back to the IVR's defaults). Caller numbers never leave this module unmasked.
# - Who is at fault when an operator's phone was not answered is decided here, from
#   Asterisk's OriginateResponse Reason: an unanswered, busy or declined ring is the
#   operator's (OperatorRingTimeout); a call Asterisk could not place is the system's
#   (OperatorUnreachable). A callback's citizen leg answers with CitizenAnswered or
#   CitizenNotReached (no_answer, busy, failed), from the same Reason codes. A SIP peer's
#   486/480/603 comes as Reason 0: the cause of the ring's HangupRequest says which it was.
# - A caller's priority is the one digit of CcQueued's CcPriority (the city's gateway's
#   X-CC-Priority, read by the dialplan only on calls through it); empty or missing is 0,
#   anything else is dropped (counted) and 0.
# - A caller's choice in the callback offer (CcCallbackChoice) is not a core fact yet: the
#   number must be validated first. It is handed on as `choice`, digits filtered.
# - An operator's feature code dialled on their own phone (CcOperatorFeature: *21 pause, *22
#   ready, *23 log out) is handed on as `feature`: what it means depends on the operator's
#   state, which only the controller may read. The operator is the endpoint Asterisk
#   authenticated (the dialplan's CHANNEL(endpoint)), and must be one of `phones` (operators
#   with `endpoint: pjsip`) calling from a channel of that endpoint; anything else is dropped.
from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from contactcenter.core import events as ev
from contactcenter.live.channels import CHANNEL, Channels, Leg
from contactcenter.privacy import mask_number

log = logging.getLogger("contactcenter.translator")

# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* values) the operator is answerable
# for; any other code (0: the call could not be placed at all, 8: congestion, ...) is a fault
# of the system.
OPERATORS_DOING = {"1": "declined", "3": "no-answer", "5": "busy"}
SYSTEMS_DOING = {"0": "failed", "8": "congestion"}
# A SIP phone or gateway that answers 486/480/603 hangs the channel up before Asterisk sees a
# control frame: the OriginateResponse then says only Reason 0, and the HangupRequest before
# it carries the cause (Q.850). These causes are the callee's doing, as the codes above.
CAUSE_AS_REASON = {"17": "5", "18": "3", "19": "3", "21": "1"}  # busy; no answer (x2); rejected


@dataclass
class Translation:
    """What one AMI event meant: core events to feed, in order; or why it was dropped."""

    events: list[ev.Event] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # why (part of) the event was malformed
    foreign: bool = False  # not about our calls (another user's channel, an event we do not use)
    answered: Leg | None = None  # the leg an OperatorAnswered in `events` is about
    choice: CallbackChoice | None = None  # a caller's key in the callback offer
    feature: OperatorFeature | None = None  # a feature code an operator dialled on their phone


@dataclass(frozen=True, slots=True)
class CallbackChoice:
    call_id: str
    key: str  # "1": call me at this number; "2": at the number I key; "0": I hold
    digits: str  # what they keyed (digits only), for "2"


FEATURES = ("pause", "ready", "logout")  # the dialplan's CcFeature values (*21, *22, *23)
_PJSIP_CHANNEL = re.compile(r"PJSIP/(.+)-[0-9a-f]{8}")  # PJSIP/<endpoint>-<sequence>


@dataclass(frozen=True, slots=True)
class OperatorFeature:
    operator_id: str
    feature: str  # "pause" | "ready" | "logout"


def _headers(message: Mapping[str, object], names: tuple[str, ...]) -> dict[str, str] | None:
    """The named headers as strings, or None if any is missing, empty or not a string."""
    out = {}
    for name in names:
        value = message.get(name)
        if not isinstance(value, str) or not value:
            return None
        out[name] = value
    return out


class Translator:
    def __init__(
        self,
        channels: Channels,
        *,
        skills: Collection[str],
        languages: Collection[str],
        default_skill: str,
        default_language: str,
        phones: Collection[str] = (),
    ) -> None:
        self.channels = channels
        self._phones = frozenset(phones)  # operators with a real phone (endpoint: pjsip)
        self._skills, self._languages = frozenset(skills), frozenset(languages)
        self._default_skill, self._default_language = default_skill, default_language

    def translate(self, message: Mapping[str, object], now: float) -> Translation:
        name = message.get("Event")
        if name == "UserEvent":
            kind = message.get("UserEvent")
            if kind == "CcArrived":
                return self._arrived(message, now)
            if kind == "CcQueued":
                return self._queued(message, now)
            if kind == "CcCallbackChoice":
                return self._callback_choice(message)
            if kind == "CcOperatorFeature":
                return self._operator_feature(message)
            return Translation(foreign=True)
        if name == "Hangup":
            return self._hangup(message, now)
        if name == "HangupRequest":
            return self._hangup_request(message, now)
        if name == "OriginateResponse":
            return self._originate_response(message, now)
        return Translation(foreign=True)

    def _arrived(self, message: Mapping[str, object], now: float) -> Translation:
        h = _headers(message, ("Uniqueid", "Channel"))
        if h is None:
            return Translation(dropped=["missing_header"])
        if not CHANNEL.match(h["Channel"]):
            return Translation(dropped=["bad_channel"])
        call_id = h["Uniqueid"]
        if call_id in self.channels.callers:
            return Translation(dropped=["duplicate_call"])
        self.channels.callers[call_id] = h["Channel"]
        number = message.get("CallerIDNum")
        if isinstance(number, str):
            self.channels.numbers[call_id] = number  # (validated if they ask for a callback)
        log.info(
            "call %s arrived from %s on %s",
            call_id,
            mask_number(number if isinstance(number, str) else None),
            h["Channel"].split("-")[0],
        )
        return Translation([ev.CallArrived(now=now, call_id=call_id)])

    def _queued(self, message: Mapping[str, object], now: float) -> Translation:
        # Cc-prefixed: the channel snapshot in every UserEvent already has a Language header.
        h = _headers(message, ("Uniqueid", "CcSkill", "CcLanguage"))
        if h is None:
            return Translation(dropped=["missing_header"])
        call_id = h["Uniqueid"]
        if call_id not in self.channels.callers:
            return Translation(dropped=["unknown_call"])
        skill, language, dropped = h["CcSkill"], h["CcLanguage"], []
        if skill not in self._skills:  # never strand a citizen: the menus' defaults
            skill = self._default_skill
            dropped.append("unknown_skill")
        if language not in self._languages:
            language = self._default_language
            dropped.append("unknown_language")
        # The gateway's classification (one digit, the dialplan's FILTER); none: 0.
        raw = message.get("CcPriority")
        priority = 0
        if isinstance(raw, str) and len(raw) == 1 and raw in "0123456789":
            priority = int(raw)
        elif raw not in (None, ""):
            dropped.append("bad_priority")
        log.info("call %s queued for %s (%s, priority %d)", call_id, skill, language, priority)
        return Translation(
            [ev.IvrCompleted(now=now, call_id=call_id, skill=skill, language=language, priority=priority)],
            dropped,
        )

    def _callback_choice(self, message: Mapping[str, object]) -> Translation:
        h = _headers(message, ("Uniqueid", "CcChoice"))
        if h is None:
            return Translation(dropped=["missing_header"])
        if h["Uniqueid"] not in self.channels.callers:
            return Translation(dropped=["unknown_call"])
        key = h["CcChoice"]
        if key not in ("0", "1", "2"):
            return Translation(dropped=["bad_callback_choice"])
        digits = message.get("CcDigits")
        digits = "".join(c for c in digits if c.isdigit() and c.isascii()) if isinstance(digits, str) else ""
        return Translation(choice=CallbackChoice(h["Uniqueid"], key, digits[:20]))

    def _operator_feature(self, message: Mapping[str, object]) -> Translation:
        h = _headers(message, ("Channel", "CcOperator", "CcFeature"))
        if h is None:
            return Translation(dropped=["missing_header"])
        operator_id, feature = h["CcOperator"], h["CcFeature"]
        if operator_id not in self._phones:
            return Translation(dropped=["unknown_operator"])
        # From a channel of that endpoint (PJSIP/<endpoint>-<8 hex digits>), never another's.
        m = _PJSIP_CHANNEL.fullmatch(h["Channel"])
        if m is None or m.group(1) != operator_id:
            return Translation(dropped=["bad_channel"])
        if feature not in FEATURES:
            return Translation(dropped=["unknown_feature"])
        log.info("operator %s dialled %s", operator_id, feature)
        return Translation(feature=OperatorFeature(operator_id, feature))

    def _hangup(self, message: Mapping[str, object], now: float) -> Translation:
        uid = message.get("Uniqueid")
        if not isinstance(uid, str) or not uid:
            return Translation(dropped=["missing_header"])
        channels = self.channels
        if channels.callers.pop(uid, None) is not None:
            channels.numbers.pop(uid, None)  # a number is kept only while its call is in
            return Translation([ev.CallerHungUp(now=now, call_id=uid)])
        leg = channels.leg_by_uniqueid(uid)
        if leg is None:
            return Translation(foreign=True)
        if not leg.answered:
            # A ringing leg hung up: its OriginateResponse tells why (and forgets it); one
            # that came first, saying only "failed", is judged now, with the Hangup's cause.
            cause = message.get("Cause")
            if isinstance(cause, str) and cause in CAUSE_AS_REASON and leg.ring_cause is None:
                leg.ring_cause = cause
            leg.hung_up = True
            pending = leg.pending_response
            if pending is not None:
                leg.pending_response = None
                return self._originate_response(pending, now)
            return Translation()
        first = not leg.halves_gone
        leg.halves_gone.add(uid)
        if len(leg.halves_gone) == len(leg.uniqueids):
            channels.forget_leg(leg)
        if first:
            # One side of a conversation is gone (either half of a Local leg tells it first;
            # the other half's hangup adds nothing): the operator's, or a callback's citizen.
            if leg.citizen:
                return Translation([ev.CallerHungUp(now=now, call_id=leg.call_id)])
            return Translation([ev.CallEnded(now=now, call_id=leg.call_id)])
        return Translation()

    def _hangup_request(self, message: Mapping[str, object], now: float) -> Translation:
        """Why a leg that is still ringing is being hung up (its OriginateResponse follows);
        for anything else, its Hangup will tell."""
        uid = message.get("Uniqueid")
        leg = self.channels.leg_by_uniqueid(uid) if isinstance(uid, str) else None
        if leg is None or leg.answered:
            return Translation(foreign=True)
        cause = message.get("Cause")
        if isinstance(cause, str) and cause in CAUSE_AS_REASON:
            leg.ring_cause = cause
        leg.hung_up = True  # (its cause, whatever it is, is known: the response is judged on it)
        pending = leg.pending_response
        if pending is not None:
            leg.pending_response = None
            return self._originate_response(pending, now)
        return Translation()

    def _reason(self, leg: Leg, message: Mapping[str, object]) -> str:
        """An OriginateResponse's Reason, or, when it says only 0 (failed), what the cause of
        the leg's hangup while ringing says."""
        reason = str(message.get("Reason", ""))
        if reason == "0" and leg.ring_cause is not None:
            return CAUSE_AS_REASON[leg.ring_cause]
        return reason

    def _originate_response(self, message: Mapping[str, object], now: float) -> Translation:
        action_id = message.get("ActionID")
        leg = self.channels.legs.get(action_id) if isinstance(action_id, str) else None
        if leg is None:
            return Translation(foreign=True)  # another client's Originate, or a leg forgotten
        if leg.answered:
            return Translation()  # the resync learnt of the answer first
        response = message.get("Response")
        if (
            response == "Failure"
            and str(message.get("Reason", "")) == "0"
            and not (leg.local or leg.hung_up or leg.ring_cause is not None)
        ):
            # A SIP peer's refusal whose cause has not come yet (HangupRequest and
            # OriginateResponse race): its Hangup, next, carries it. (Should none come, the
            # core's ring deadline settles the leg.)
            leg.pending_response = dict(message)
            return Translation()
        if leg.citizen:
            return self._citizen_response(leg, response, message, now)
        if response == "Success":
            leg.answered = True
            answered = ev.OperatorAnswered(now=now, call_id=leg.call_id, operator_id=leg.operator_id)
            return Translation([answered], answered=leg)
        reason = self._reason(leg, message)
        self.channels.forget_leg(leg)
        if reason in OPERATORS_DOING:
            return Translation(
                [
                    ev.OperatorRingTimeout(
                        now=now,
                        call_id=leg.call_id,
                        operator_id=leg.operator_id,
                        reason=OPERATORS_DOING[reason],
                    )
                ]
            )
        why = SYSTEMS_DOING.get(reason, f"originate-reason-{reason or 'none'}")
        return Translation(
            [ev.OperatorUnreachable(now=now, call_id=leg.call_id, operator_id=leg.operator_id, reason=why)],
            dropped=[] if response == "Failure" else ["bad_originate_response"],
        )

    def _citizen_response(
        self, leg: Leg, response: object, message: Mapping[str, object], now: float
    ) -> Translation:
        if response == "Success":
            leg.answered = True
            return Translation([ev.CitizenAnswered(now=now, callback_id=leg.call_id)])
        reason = self._reason(leg, message)
        self.channels.forget_leg(leg)
        outcome = {"3": "no_answer", "1": "no_answer", "5": "busy"}.get(reason, "failed")
        return Translation(
            [ev.CitizenNotReached(now=now, callback_id=leg.call_id, outcome=outcome)],
            dropped=[] if response == "Failure" else ["bad_originate_response"],
        )
