# The Asterisk channels of the calls the controller handles: each caller's channel, and the
# operator legs it originated. Rules:
# - A call's id is its caller channel's Uniqueid (Asterisk's own); an operator leg's ids are
#   ours, fixed-width (`cc-<8 hex>-<7 digits>-1`, and `-2` for the other half of a Local
#   channel), because Asterisk 22 finds a channel by Uniqueid *prefix*: with unequal widths,
#   `cc-x-7` would match the live `cc-x-78` and an Originate naming it would fail.
# - The leg id (without the half's suffix) is also the Originate's ActionID, so its
#   OriginateResponse finds the leg whichever channel it names.
# - Names and ids echoed back into AMI headers come only from here, and the caller's channel
#   name is accepted only in the shapes Asterisk produces (see `CHANNEL`).
# - No I/O, no clock: the translator and the executor read and update it.
from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field

# tech/resource-sequence, with ;1/;2 for Local halves
CHANNEL = re.compile(r"^[A-Za-z0-9]+/[A-Za-z0-9@._+#*-]+(;[12])?$")
_SEQ_WIDTH = 7


@dataclass(slots=True)
class Leg:
    """An operator's leg, originated for a call: ringing, then (answered) talking."""

    call_id: str
    operator_id: str
    leg_id: str  # the Originate's ActionID; channels are leg_id-1 (and leg_id-2 for Local)
    local: bool  # a Local channel (simulated operator): two halves
    answered: bool = False
    halves_gone: set[str] = field(default_factory=set)

    @property
    def channel_id(self) -> str:
        """Uniqueid of the channel the Originate created (ChannelId)."""
        return f"{self.leg_id}-1"

    @property
    def other_id(self) -> str | None:
        """Uniqueid of a Local channel's other half (OtherChannelId)."""
        return f"{self.leg_id}-2" if self.local else None

    @property
    def uniqueids(self) -> tuple[str, ...]:
        return (self.channel_id, f"{self.leg_id}-2") if self.local else (self.channel_id,)


@dataclass
class Channels:
    callers: dict[str, str] = field(default_factory=dict)  # call id -> caller channel name
    legs: dict[str, Leg] = field(default_factory=dict)  # leg id -> leg
    _by_uniqueid: dict[str, Leg] = field(default_factory=dict)  # either half -> leg
    # Random per controller, so legs of an earlier run still in Asterisk never collide.
    prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_leg(self, call_id: str, operator_id: str, local: bool) -> Leg:
        seq = next(self._seq) % 10**_SEQ_WIDTH
        leg = Leg(call_id, operator_id, f"cc-{self.prefix}-{seq:0{_SEQ_WIDTH}d}", local)
        self.legs[leg.leg_id] = leg
        for uid in leg.uniqueids:
            self._by_uniqueid[uid] = leg
        return leg

    def leg_by_uniqueid(self, uniqueid: str) -> Leg | None:
        return self._by_uniqueid.get(uniqueid)

    def forget_leg(self, leg: Leg) -> None:
        if self.legs.get(leg.leg_id) is leg:
            del self.legs[leg.leg_id]
        for uid in leg.uniqueids:
            if self._by_uniqueid.get(uid) is leg:
                del self._by_uniqueid[uid]

    def legs_of(self, call_id: str) -> list[Leg]:
        return [leg for leg in self.legs.values() if leg.call_id == call_id]
