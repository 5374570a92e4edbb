# The Asterisk channels of the calls the controller handles: each caller's channel, and the
# operator legs it originated. Rules:
# - A call's id is its caller channel's Uniqueid (Asterisk's own); an operator leg's ids are
#   ours, fixed-width (`cc-<8 hex>-<7 digits>-1`, and `-2` for the other half of a Local
#   channel), because Asterisk 22 finds a channel by Uniqueid *prefix*: with unequal widths,
#   `cc-x-7` would match the live `cc-x-78` and an Originate naming it would fail.
# - The leg id (without the half's suffix) is also the Originate's ActionID, so its
#   OriginateResponse finds the leg whichever channel it names.
# - A callback's legs carry its id (`<callback id>-o-<7 digits>` for the operator's,
#   `-c-` for the citizen's), so that after a restart the channels of a callback still in
#   progress are found in Asterisk's list before it is dialled again. Callback ids are of
#   one width, and differ from `cc-` at their second letter: no id is a prefix of another.
# - Callers' numbers (CallerIDNum, for a callback to their own number) are kept here, in
#   memory, only while the call is in the system.
# - Names and ids echoed back into AMI headers come only from here, and the caller's channel
#   name is accepted only in the shapes Asterisk produces (see `CHANNEL`).
# - No I/O, no clock: the translator and the executor read and update it.
from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

# tech/resource-sequence, with ;1/;2 for Local halves
CHANNEL = re.compile(r"^[A-Za-z0-9]+/[A-Za-z0-9@._+#*-]+(;[12])?$")
CALLBACK_ID = re.compile(r"^cb-[0-9a-f]{12}$")  # contactcenter.store.new_callback_id()
_SEQ_WIDTH = 7


@dataclass(slots=True)
class Leg:
    """A leg the controller originated for a call (or a callback): an operator's, ringing
    then talking; or a callback's citizen's (`citizen`)."""

    call_id: str  # the call's id, or the callback's
    operator_id: str
    leg_id: str  # the Originate's ActionID; channels are leg_id-1 (and leg_id-2 for Local)
    local: bool  # a Local channel (simulated operator or citizen): two halves
    answered: bool = False
    citizen: bool = False  # the citizen's leg of a callback (not the operator's)
    halves_gone: set[str] = field(default_factory=set)
    ring_cause: str | None = None  # the Q.850 cause of a hangup while it rang (HangupRequest)
    hung_up: bool = False  # its channel's hangup (request) came while it rang
    # A SIP leg's "Reason 0" OriginateResponse that came before the cause did: judged at its Hangup.
    pending_response: Mapping[str, object] | None = None

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
    numbers: dict[str, str] = field(default_factory=dict)  # call id -> CallerIDNum (while in)
    legs: dict[str, Leg] = field(default_factory=dict)  # leg id -> leg
    _by_uniqueid: dict[str, Leg] = field(default_factory=dict)  # either half -> leg
    # Random per controller, so legs of an earlier run still in Asterisk never collide.
    prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_leg(self, call_id: str, operator_id: str, local: bool) -> Leg:
        seq = next(self._seq) % 10**_SEQ_WIDTH
        return self._add(Leg(call_id, operator_id, f"cc-{self.prefix}-{seq:0{_SEQ_WIDTH}d}", local))

    def new_callback_leg(self, callback_id: str, operator_id: str, local: bool, citizen: bool) -> Leg:
        """A leg of callback `callback_id` (an id of CALLBACK_ID's shape), named after it."""
        if not CALLBACK_ID.match(callback_id):
            raise ValueError(f"not a callback id: {callback_id!r}")
        seq = next(self._seq) % 10**_SEQ_WIDTH
        kind = "c" if citizen else "o"
        leg_id = f"{callback_id}-{kind}-{seq:0{_SEQ_WIDTH}d}"
        return self._add(Leg(callback_id, operator_id, leg_id, local, citizen=citizen))

    def _add(self, leg: Leg) -> Leg:
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
