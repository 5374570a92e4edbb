# The resync: after every (re)connection, what happened in Asterisk while the controller
# could not hear it happens in the core too. Rules:
# - Pure: `reconcile` takes the channel registry and the channels Asterisk lists
#   (CoreShowChannels, its ListItems checked by the AMI link) and returns the core events
#   that settle the difference; it changes only the registry.
# - A caller whose channel is gone hung up; an answered leg that is gone ended its
#   conversation; a leg still ringing is left to its OriginateResponse (or the core's offer
#   timeout); a leg in doubt (its Originate sent, its outcome lost with the link) that is Up
#   was answered, and one that is gone never reached the operator: the system's fault (a
#   callback's citizen leg likewise: answered, or not reached).
# - Then (the controller's part) every operator left unreachable, by these facts or
#   before, can be reached again: the link is back.
# - At start, citizens Asterisk has that no controller knows (`strays`: they came while none
#   ran, or a killed one had them) are taken in, oldest first: one in the IVR is a call
#   arriving; one waiting (in the queue, on hold, in the callback offer) arrives and is sent
#   back to the queue, so its skill and language come again from its own channel. A citizen
#   already talking to an operator is left to that conversation (desks.py holds the operator).
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from contactcenter.core import events as ev
from contactcenter.live.channels import Channels, Leg

LINK_LOST = "link-lost"  # why an operator could not be reached: the AMI link dropped the ring


def reconcile(
    channels: Channels, alive: Mapping[str, Mapping[str, object]], now: float
) -> list[tuple[ev.Event, Leg | None]]:
    """The core events that settle what was missed, in order, each with the leg an
    OperatorAnswered is about (else None). `alive`: Uniqueid -> CoreShowChannel item."""
    out: list[tuple[ev.Event, Leg | None]] = []
    for call_id in [c for c in channels.callers if c not in alive]:
        del channels.callers[call_id]
        out.append((ev.CallerHungUp(now=now, call_id=call_id), None))
    for leg in list(channels.legs.values()):
        up = [uid for uid in leg.uniqueids if uid in alive]
        if leg.answered:
            if not up:
                channels.forget_leg(leg)
                out.append((ev.CallEnded(now=now, call_id=leg.call_id), None))
            continue
        main = alive.get(leg.channel_id)
        if main is not None and main.get("ChannelStateDesc") == "Up":
            leg.answered = True
            if leg.citizen:  # a callback's citizen picked up
                out.append((ev.CitizenAnswered(now=now, callback_id=leg.call_id), None))
            else:
                answered = ev.OperatorAnswered(now=now, call_id=leg.call_id, operator_id=leg.operator_id)
                out.append((answered, leg))
        elif not up:
            channels.forget_leg(leg)
            fault: ev.Event = (
                ev.CitizenNotReached(now=now, callback_id=leg.call_id, outcome="failed")
                if leg.citizen
                else ev.OperatorUnreachable(
                    now=now, call_id=leg.call_id, operator_id=leg.operator_id, reason=LINK_LOST
                )
            )
            out.append((fault, None))
    return out


# Where a citizen's channel runs the dialplan (dialplans/extensions.conf), by what they are doing.
IVR_CONTEXTS = ("cc-inbound", "cc-ivr-language", "cc-ivr-service")
WAITING_CONTEXTS = ("cc-queue", "cc-hold", "cc-callback-offer")


class Stray(NamedTuple):
    call_id: str  # the citizen channel's Uniqueid
    channel: str
    number: str | None
    waiting: bool  # (else in the IVR)
    age_s: int  # how long Asterisk has had the channel


def strays(channels: Channels, alive: Mapping[str, Mapping[str, object]]) -> list[Stray]:
    """Citizens' channels in `alive` (CoreShowChannel items by Uniqueid) that the registry does
    not know, in the IVR or waiting, oldest first (ties by Uniqueid)."""
    out = []
    for uid, item in alive.items():
        context = str(item.get("Context", ""))
        if uid in channels.callers or context not in IVR_CONTEXTS + WAITING_CONTEXTS:
            continue
        number = item.get("CallerIDNum")
        out.append(
            Stray(
                call_id=uid,
                channel=str(item.get("Channel", "")),
                number=number if isinstance(number, str) and number.strip("+").isdigit() else None,
                waiting=context in WAITING_CONTEXTS,
                age_s=_seconds(item.get("Duration")),
            )
        )
    return sorted(out, key=lambda s: (-s.age_s, s.call_id))


def _seconds(duration: object) -> int:
    """Asterisk's HH:MM:SS as seconds (0 if it is not that)."""
    parts = str(duration or "").split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0
    hours, minutes, seconds = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds
