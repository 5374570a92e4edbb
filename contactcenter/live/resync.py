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
from __future__ import annotations

from collections.abc import Mapping

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
