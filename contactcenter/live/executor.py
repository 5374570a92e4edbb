# The executor: carries out the core's commands as AMI actions. Rules:
# - Each call's actions run one after another, in the order the core gave them (never two
#   actions for one call at once); different calls' actions run concurrently.
# - It decides nothing. An action's outcome that the core must know comes back as an event
#   keyed by ids (`report`): an Originate Asterisk refused at once is OperatorUnreachable;
#   the ring's own outcome arrives later as an OriginateResponse, through the translator.
#   It never reads the core's state, before or after an await.
# - A connection is a conference per call: the operator's leg is originated into
#   `cc-connect`, which enters ConfBridge(<the caller's Uniqueid>); on the core's BridgeCall
#   the caller is redirected into `cc-join`, the same room. (Any connection that pulls the
#   caller into a bridge by masquerade leaks Surrogate channels in Asterisk 22.5+.)
# - An AMI failure is logged and counted, never raised out of a task. An Originate whose
#   fate is unknown (the link timed out or dropped after it was sent) is left to the core's
#   offer timeout and to the resync, which settle it from Asterisk's channels.
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from contactcenter.adapters.ami import AmiClient, AmiDisconnected, AmiError, AmiLost, AmiTimeout
from contactcenter.config import Config, OperatorConfig
from contactcenter.core import events as ev
from contactcenter.core.commands import (
    AnnounceWait,
    BridgeCall,
    CancelOffer,
    Command,
    ConfirmCallback,
    ConnectCall,
    DialCallback,
    OfferCallback,
    RefuseCallback,
    RejectBusy,
    RejectClosed,
)
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.live.channels import Channels, Leg
from contactcenter.live.speech import opening_files, wait_minutes

log = logging.getLogger("contactcenter.executor")

Job = Callable[[], Awaitable[None]]


class Executor:
    def __init__(
        self,
        ami: AmiClient,
        channels: Channels,
        cfg: Config,
        report: Callable[[ev.Event], object],
        clock: Callable[[], float],
        counters: Counter[str],
    ) -> None:
        self.ami, self.channels, self.cfg = ami, channels, cfg
        self._report, self._clock, self.counters = report, clock, counters
        self._tails: dict[str, asyncio.Task[None]] = {}  # call id -> its last queued job
        self.announced: dict[str, tuple[str, str]] = {}  # call -> (position, minutes) set

    # --- queueing -------------------------------------------------------------------------

    def submit(self, call_id: str, job: Job) -> None:
        """Run `job` after every job already queued for this call."""
        prev = self._tails.get(call_id)
        task = asyncio.get_running_loop().create_task(self._after(prev, job), name=f"call-{call_id}")
        self._tails[call_id] = task
        task.add_done_callback(lambda t: self._tails.pop(call_id) if self._tails.get(call_id) is t else None)

    async def _after(self, prev: asyncio.Task[None] | None, job: Job) -> None:
        if prev is not None:
            with contextlib.suppress(BaseException):
                await prev
        try:
            await job()
        except AmiError as exc:
            self.counters["ami_action_errors"] += 1
            log.warning("AMI action failed: %s", exc)
        except Exception:  # a bug must not go unseen, nor kill the other calls' work
            self.counters["executor_bugs"] += 1
            log.exception("executor job failed")

    async def idle(self) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        while self._tails:
            await asyncio.gather(*list(self._tails.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tails.values()):
            task.cancel()
        await asyncio.gather(*list(self._tails.values()), return_exceptions=True)
        self._tails.clear()

    # --- commands -------------------------------------------------------------------------

    def carry_out(self, cmd: Command) -> None:
        if isinstance(cmd, ConnectCall):
            op = self.cfg.operator(cmd.operator_id)
            leg = self.channels.new_leg(cmd.call_id, op.id, local=op.endpoint == "sim")
            self.submit(cmd.call_id, lambda: self._originate(leg))
        elif isinstance(cmd, DialCallback):
            # Operator first: their leg enters the callback's own room (named after it).
            op = self.cfg.operator(cmd.operator_id)
            leg = self.channels.new_callback_leg(
                cmd.call_id, op.id, local=op.endpoint == "sim", citizen=False
            )
            self.submit(cmd.call_id, lambda: self._originate(leg))
        elif isinstance(cmd, OfferCallback):
            self.submit(cmd.call_id, lambda: self._offer_callback(cmd.call_id, cmd.ewt_s, cmd.next_opening))
        elif isinstance(cmd, ConfirmCallback):
            exten = "merged" if cmd.merged else "s"
            self.submit(cmd.call_id, lambda: self.redirect_caller(cmd.call_id, "cc-callback-done", exten))
        elif isinstance(cmd, RefuseCallback):
            self.submit(cmd.call_id, lambda: self.redirect_caller(cmd.call_id, "cc-callback-done", "refused"))
        elif isinstance(cmd, CancelOffer):
            legs = [leg for leg in self.channels.legs_of(cmd.call_id) if leg.operator_id == cmd.operator_id]
            for leg in legs:
                self.submit(cmd.call_id, lambda leg=leg: self.hang_up_leg(leg))  # type: ignore[misc]
        elif isinstance(cmd, BridgeCall):
            self.submit(cmd.call_id, lambda: self._join(cmd.call_id))
        elif isinstance(cmd, AnnounceWait):
            self.submit(cmd.call_id, lambda: self.announce(cmd.call_id, cmd.position, cmd.ewt_s))
        elif isinstance(cmd, RejectBusy | RejectClosed):
            context, counter = (
                ("cc-busy", "blocked") if isinstance(cmd, RejectBusy) else ("cc-closed", "closed")
            )
            self.counters[counter] += 1
            # Theirs is a message, then Asterisk's hangup: nothing of it concerns the core.
            channel = self.channels.callers.pop(cmd.call_id, None)
            if channel is not None:
                self.submit(cmd.call_id, lambda: self._redirect(channel, context))
        else:
            self.counters["unknown_commands"] += 1
            log.error("no handler for command %r", cmd)

    def release(self, call: Call) -> None:
        """A conversation ended in the core: hang up whatever of it is still up (normally
        the conference has already ended both sides; this covers a caller who never got in)."""
        self.announced.pop(call.call_id, None)
        if call.outcome is not CallOutcome.ANSWERED:
            return  # abandoned: the caller is gone; refused: hearing why, then hung up
        channels = self.channels
        for leg in channels.legs_of(call.call_id):
            self.submit(call.call_id, lambda leg=leg: self.hang_up_leg(leg))  # type: ignore[misc]
        channel = channels.callers.get(call.call_id)
        if channel is not None:
            self.submit(call.call_id, lambda: self._hang_up(channel))

    def refuse_leg(self, leg: Leg) -> None:
        """An answer the core did not take (the caller left, the offer was withdrawn): the
        operator's leg is nobody's; its hangup must end no conversation."""
        leg.answered = False
        self.channels.forget_leg(leg)  # its answer has come: nothing more can be about it
        self.counters["legs_refused"] += 1
        self.submit(leg.call_id, lambda: self.hang_up_leg(leg))

    # --- actions --------------------------------------------------------------------------

    async def _originate(self, leg: Leg) -> None:
        cfg, op = self.cfg, self.cfg.operator(leg.operator_id)
        variables = [f"CC_CALL_ID={leg.call_id}", f"CC_ROOM={leg.call_id}"]
        action: dict[str, object] = {
            "Action": "Originate",
            "ActionID": leg.leg_id,  # its OriginateResponse carries it
            "Context": "cc-connect",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "Timeout": str(int(cfg.routing.ring_timeout * 1000)),
            "ChannelId": leg.channel_id,
            "CallerID": '"010" <010>',
        }
        if leg.local:
            action["Channel"] = f"Local/{op.id}@cc-sim-operator/n"
            action["OtherChannelId"] = leg.other_id
            variables += [
                f"CC_RING_DELAY={cfg.simulated_operators.ring_delay:g}",
                f"CC_TALK_SECONDS={cfg.simulated_operators.talk_seconds:g}",
            ]
        else:
            action["Channel"] = f"PJSIP/{op.id}"
        action["Variable"] = variables
        try:
            resp = await self.ami.send(action, as_list=False)
        except AmiDisconnected as exc:
            if isinstance(exc, AmiLost):
                # Sent, then the link went: ringing or not, the resync will tell.
                self.counters["offers_in_doubt"] += 1
                log.warning("AMI link lost while ringing operator %s for call %s", op.id, leg.call_id)
                return
            self._unreachable(leg, "ami-down")
            return
        except AmiTimeout:
            # Asterisk may have queued it: the OriginateResponse, the core's offer timeout
            # or the resync will settle it; ringing it again now could ring two phones.
            self.counters["offers_in_doubt"] += 1
            log.warning("no answer to the Originate for operator %s (call %s)", op.id, leg.call_id)
            return
        if isinstance(resp, list) or resp.get("Response") != "Success":
            message = resp[0].get("Message") if isinstance(resp, list) else resp.get("Message")
            log.warning("Asterisk refused to ring operator %s: %s", op.id, message)
            self._unreachable(leg, "originate-refused")

    async def monitor(self, supervisor_id: str, phone: str, op: OperatorConfig, mode: str) -> None:
        """Ring a supervisor's phone into ChanSpy on operator `op`'s channel: `mode` listen
        (quiet), whisper (the operator hears the supervisor) or barge (both do). Names come
        from the config only (ids checked at load), never from a caller. AmiError if
        Asterisk refused it."""
        spy = {"listen": "qES", "whisper": "qESw", "barge": "qESB"}[mode]
        # The operator's own channel, by the prefix Asterisk names it with (one call at a
        # time per operator: the prefix finds that one).
        target = f"PJSIP/{op.id}-" if op.endpoint == "pjsip" else f"Local/{op.id}@cc-sim-operator-"
        channel = (
            f"PJSIP/{supervisor_id}" if phone == "pjsip" else f"Local/{supervisor_id}@cc-sim-supervisor/n"
        )
        resp = await self.ami.send(
            {
                "Action": "Originate",
                "Channel": channel,
                "Application": "ChanSpy",
                "Data": f"{target},{spy}",
                "Async": "true",
                "Timeout": "30000",
                "CallerID": f'"010 {mode}" <010>',
            },
            as_list=False,
        )
        if isinstance(resp, list) or resp.get("Response") != "Success":
            message = resp[0].get("Message") if isinstance(resp, list) else resp.get("Message")
            raise AmiError(str(message or "refused"))
        self.counters[f"monitor_{mode}"] += 1

    def _unreachable(self, leg: Leg, reason: str) -> None:
        self.channels.forget_leg(leg)
        self.counters[f"unreachable_{reason}"] += 1
        self._report(
            ev.OperatorUnreachable(
                now=self._clock(), call_id=leg.call_id, operator_id=leg.operator_id, reason=reason
            )
        )

    async def hang_up_leg(self, leg: Leg) -> None:
        await self._hang_up(leg.channel_id)

    async def _hang_up(self, channel: str) -> None:
        with contextlib.suppress(AmiError):  # gone already: that is what we wanted
            await self.ami.send({"Action": "Hangup", "Channel": channel})

    async def _join(self, call_id: str) -> None:
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return  # the caller hung up meanwhile: the core hears it from their Hangup
        await self._redirect(channel, "cc-join")

    async def _redirect(self, channel: str, context: str, exten: str = "s") -> None:
        await self.ami.send(
            {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten, "Priority": "1"}
        )

    async def redirect_caller(self, call_id: str, context: str, exten: str = "s") -> None:
        """Send a waiting caller to `context` (exten `exten`), if they are still there."""
        channel = self.channels.callers.get(call_id)
        if channel is not None:
            await self._redirect(channel, context, exten)

    async def _offer_callback(self, call_id: str, ewt_s: float, next_opening: float | None) -> None:
        """The offer: their expected wait and, if their turn would come after closing, when
        the line opens again (both read by the offer context), then the choice."""
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return
        opens = ""
        if next_opening is not None and self.cfg.hours is not None:
            opens = "&".join(opening_files(next_opening, time.time(), self.cfg.hours.tz))
        for name, value in (("CC_EWT_MIN", wait_minutes(ewt_s)), ("CC_CB_OPENS", opens)):
            await self.ami.send({"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value})
        await self._redirect(channel, "cc-callback-offer")

    async def originate_citizen(
        self, leg: Leg, *, channel: str, ring_timeout: float, variables: list[str]
    ) -> None:
        """Call a callback's citizen into the room where their operator waits."""
        action: dict[str, object] = {
            "Action": "Originate",
            "ActionID": leg.leg_id,
            "Channel": channel,
            "Context": "cc-callback-citizen",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "Timeout": str(int(ring_timeout * 1000)),
            "ChannelId": leg.channel_id,
            "OtherChannelId": leg.other_id,
            "CallerID": '"010" <010>',
            "Variable": [f"CC_CALL_ID={leg.call_id}", f"CC_ROOM={leg.call_id}", *variables],
        }
        try:
            resp = await self.ami.send(action, as_list=False)
        except (AmiDisconnected, AmiTimeout) as exc:
            # Its fate is unknown: the core's ring deadline settles it (never a second ring).
            self.counters["callback_dials_in_doubt"] += 1
            log.warning("callback %s: no answer to the citizen's Originate (%s)", leg.call_id, exc)
            return
        if isinstance(resp, list) or resp.get("Response") != "Success":
            self.channels.forget_leg(leg)
            self._report(ev.CitizenNotReached(now=self._clock(), callback_id=leg.call_id, outcome="failed"))

    async def announce(self, call_id: str, position: int, ewt_s: float) -> None:
        """Set the place in line and expected wait the hold loop reads on its next pass."""
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return
        values = (str(position), wait_minutes(ewt_s))
        if self.announced.get(call_id) == values:
            return
        self.announced[call_id] = values
        for name, value in zip(("CC_POSITION", "CC_EWT_MIN"), values, strict=True):
            await self.ami.send({"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value})
