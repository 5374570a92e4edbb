# The executor: carries out the core's commands as AMI actions. Rules:
# - Each call's actions are written in the order the core gave them, and at once: a writer
#   (a plain function) writes its actions when the command is carried out, if nothing of
#   its call is still queued ahead of it, and the responses are awaited apart (settled).
#   Nothing waits for Asterisk's response to one action before writing the next: Asterisk
#   carries out a session's actions in the order it reads them. A job that must await
#   something else first (the callback store) is queued in its call's turn, and writers
#   submitted after it wait for it. Different calls never wait for each other.
# - A writer only writes: whatever the core must hear of an action's outcome is reported
#   by its settling task, never from inside carry_out (the core is then still feeding).
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
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from panoramisk.message import Message

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

# How long after a conversation ends its caller may still be up before being hung up:
# the conference ends them within milliseconds of the operator leaving (release).
CALLER_GRACE_S = 2.0

Job = Callable[[], Awaitable[None]]  # awaits first (the store), then writes: queued in turn
Writer = Callable[[], "Awaitable[object] | None"]  # writes now; returns what settles its responses


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
        self._tails: dict[str, asyncio.Task[None]] = {}  # call id -> its last queued turn
        self._settling: set[asyncio.Task[None]] = set()  # written actions' responses awaited
        self.announced: dict[str, tuple[str, str]] = {}  # call -> (position, minutes) set
        # ended calls whose caller is checked CALLER_GRACE_S later (release)
        self._left_over: dict[str, asyncio.TimerHandle] = {}

    # --- queueing -------------------------------------------------------------------------

    def write(self, call_id: str, writer: Writer) -> None:
        """Run `writer` now, or, if a job of this call is still queued, right after it."""
        ahead = self._tails.get(call_id)
        if ahead is None:
            self._run_writer(call_id, writer)
        else:
            self._queue(call_id, self._write_after(ahead, call_id, writer))

    def submit(self, call_id: str, job: Job) -> None:
        """Run `job` (it awaits something before it writes) after what is queued for this call;
        what this call writes next waits for it."""
        self._queue(call_id, self._run_after(self._tails.get(call_id), job))

    def settle(self, call_id: str, responses: Awaitable[object] | None) -> None:
        """Await written actions' responses apart from the call's turn."""
        if responses is None:
            return
        task = asyncio.get_running_loop().create_task(self._guard(responses), name=f"settle-{call_id}")
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    def _queue(self, call_id: str, turn: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(turn, name=f"call-{call_id}")
        self._tails[call_id] = task
        task.add_done_callback(lambda t: self._tails.pop(call_id) if self._tails.get(call_id) is t else None)

    async def _write_after(self, ahead: asyncio.Task[None], call_id: str, writer: Writer) -> None:
        with contextlib.suppress(BaseException):
            await ahead
        self._run_writer(call_id, writer)

    def _run_writer(self, call_id: str, writer: Writer) -> None:
        try:
            responses = writer()
        except Exception:  # (as in _guard: counted and logged, never raised into the core)
            self.counters["executor_bugs"] += 1
            log.exception("executor writer failed")
            return
        self.settle(call_id, responses)

    async def _run_after(self, ahead: asyncio.Task[None] | None, job: Job) -> None:
        if ahead is not None:
            with contextlib.suppress(BaseException):
                await ahead
        await self._guard(job())

    async def _guard(self, work: Awaitable[object]) -> None:
        try:
            await work
        except AmiError as exc:
            self.counters["ami_action_errors"] += 1
            log.warning("AMI action failed: %s", exc)
        except Exception:  # a bug must not go unseen, nor kill the other calls' work
            self.counters["executor_bugs"] += 1
            log.exception("executor job failed")

    async def idle(self) -> None:
        """Wait until every queued job has run and every response is settled (tests, shutdown)."""
        while self._tails or self._settling:
            await asyncio.gather(*self._tails.values(), *self._settling, return_exceptions=True)

    async def close(self) -> None:
        for handle in self._left_over.values():
            handle.cancel()
        self._left_over.clear()
        tasks = [*self._tails.values(), *self._settling]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tails.clear()
        self._settling.clear()

    # --- commands -------------------------------------------------------------------------

    def carry_out(self, cmd: Command) -> None:
        if isinstance(cmd, ConnectCall):
            op = self.cfg.operator(cmd.operator_id)
            leg = self.channels.new_leg(cmd.call_id, op.id, local=op.endpoint == "sim")
            self.write(cmd.call_id, lambda: self._originate(leg))
        elif isinstance(cmd, DialCallback):
            # Operator first: their leg enters the callback's own room (named after it).
            op = self.cfg.operator(cmd.operator_id)
            leg = self.channels.new_callback_leg(
                cmd.call_id, op.id, local=op.endpoint == "sim", citizen=False
            )
            self.write(cmd.call_id, lambda: self._originate(leg))
        elif isinstance(cmd, OfferCallback):
            self.write(cmd.call_id, lambda: self._offer_callback(cmd.call_id, cmd.ewt_s, cmd.next_opening))
        elif isinstance(cmd, ConfirmCallback):
            exten = "merged" if cmd.merged else "s"
            self.write(cmd.call_id, lambda: self.redirect_caller(cmd.call_id, "cc-callback-done", exten))
        elif isinstance(cmd, RefuseCallback):
            self.write(cmd.call_id, lambda: self.redirect_caller(cmd.call_id, "cc-callback-done", "refused"))
        elif isinstance(cmd, CancelOffer):
            legs = [leg for leg in self.channels.legs_of(cmd.call_id) if leg.operator_id == cmd.operator_id]
            for leg in legs:
                self.write(cmd.call_id, lambda leg=leg: self.hang_up_leg(leg))  # type: ignore[misc]
        elif isinstance(cmd, BridgeCall):
            self.write(cmd.call_id, lambda: self._join(cmd.call_id))
        elif isinstance(cmd, AnnounceWait):
            self.write(cmd.call_id, lambda: self.announce(cmd.call_id, cmd.position, cmd.ewt_s))
        elif isinstance(cmd, RejectBusy | RejectClosed):
            context, counter = (
                ("cc-busy", "blocked") if isinstance(cmd, RejectBusy) else ("cc-closed", "closed")
            )
            self.counters[counter] += 1
            # Theirs is a message, then Asterisk's hangup: nothing of it concerns the core.
            channel = self.channels.callers.pop(cmd.call_id, None)
            if channel is not None:
                self.write(cmd.call_id, lambda: self._redirect(channel, context))
        else:
            self.counters["unknown_commands"] += 1
            log.error("no handler for command %r", cmd)

    def release(self, call: Call) -> None:
        """A conversation ended in the core: hang up whatever of it is still up. Normally
        the conference ends both sides itself (end_marked_any): a Local leg one half of
        which is gone is ended by Asterisk, and the caller of an operator who left is
        ended by the conference. So the operator's leg is hung up only when whole, and the
        caller only if still up CALLER_GRACE_S later (one who was joined to the room just
        as the operator left it, and would wait there alone). Hanging up what is already
        going costs an action and an error each, two per call, all at once after a burst."""
        self.announced.pop(call.call_id, None)
        if call.outcome is not CallOutcome.ANSWERED:
            return  # abandoned: the caller is gone; refused: hearing why, then hung up
        channels = self.channels
        for leg in channels.legs_of(call.call_id):
            if not leg.halves_gone:
                self.write(call.call_id, lambda leg=leg: self.hang_up_leg(leg))  # type: ignore[misc]
        if call.call_id in channels.callers and call.call_id not in self._left_over:
            # (In a context of its own: a hangup made on purpose seconds later is no
            # routing latency of the event that ended the call.)
            self._left_over[call.call_id] = asyncio.get_running_loop().call_later(
                CALLER_GRACE_S, self._hang_up_if_still_up, call.call_id, context=contextvars.Context()
            )

    def _hang_up_if_still_up(self, call_id: str) -> None:
        del self._left_over[call_id]
        channel = self.channels.callers.get(call_id)
        if channel is not None:
            self.counters["callers_left_in_room"] += 1
            self.write(call_id, lambda: self._hang_up(channel))

    def refuse_leg(self, leg: Leg) -> None:
        """An answer the core did not take (the caller left, the offer was withdrawn): the
        operator's leg is nobody's; its hangup must end no conversation."""
        leg.answered = False
        self.channels.forget_leg(leg)  # its answer has come: nothing more can be about it
        self.counters["legs_refused"] += 1
        self.write(leg.call_id, lambda: self.hang_up_leg(leg))

    # --- actions --------------------------------------------------------------------------

    def _originate(self, leg: Leg) -> Awaitable[None]:
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
        return self._rang(leg, self.ami.write(action, as_list=False))

    async def _rang(self, leg: Leg, response: Awaitable[Message | list[Message]]) -> None:
        op = self.cfg.operator(leg.operator_id)
        try:
            resp = await response
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

    def hang_up_leg(self, leg: Leg) -> Awaitable[None]:
        return self._hang_up(leg.channel_id)

    def hang_up_channel(self, channel: str) -> None:
        """Hang up a channel no call of ours has (one that outlived a restart), by its name."""
        self.write(f"channel:{channel}", lambda: self._hang_up(channel))

    def _hang_up(self, channel: str) -> Awaitable[None]:
        return self._gone(self.ami.write({"Action": "Hangup", "Channel": channel}))

    @staticmethod
    async def _gone(response: Awaitable[object]) -> None:
        with contextlib.suppress(AmiError):  # gone already: that is what we wanted
            await response

    def _join(self, call_id: str) -> Awaitable[object] | None:
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return None  # the caller hung up meanwhile: the core hears it from their Hangup
        return self._redirect(channel, "cc-join")

    def _redirect(self, channel: str, context: str, exten: str = "s") -> Awaitable[object]:
        return self.ami.write(
            {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten, "Priority": "1"}
        )

    def redirect_caller(self, call_id: str, context: str, exten: str = "s") -> Awaitable[object] | None:
        """Send a waiting caller to `context` (exten `exten`), if they are still there."""
        channel = self.channels.callers.get(call_id)
        return None if channel is None else self._redirect(channel, context, exten)

    def _offer_callback(
        self, call_id: str, ewt_s: float, next_opening: float | None
    ) -> Awaitable[None] | None:
        """The offer: their expected wait and, if their turn would come after closing, when
        the line opens again (both read by the offer context), then the choice."""
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return None
        opens = ""
        if next_opening is not None and self.cfg.hours is not None:
            opens = "&".join(opening_files(next_opening, time.time(), self.cfg.hours.tz))
        written = [
            self._setvar(channel, name, value)
            for name, value in (("CC_EWT_MIN", wait_minutes(ewt_s)), ("CC_CB_OPENS", opens))
        ]
        written.append(self._redirect(channel, "cc-callback-offer"))
        return self._all(written)

    def setvar(self, call_id: str, name: str, value: str) -> Awaitable[object] | None:
        """Set a channel variable on a waiting caller's channel, if they are still there."""
        channel = self.channels.callers.get(call_id)
        return None if channel is None else self._setvar(channel, name, value)

    def _setvar(self, channel: str, name: str, value: str) -> Awaitable[object]:
        return self.ami.write({"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value})

    async def _all(self, written: list[Awaitable[object]]) -> None:
        """Settle several written actions: each one's failure counted, none left unawaited."""
        for response in written:
            try:
                await response
            except AmiError as exc:
                self.counters["ami_action_errors"] += 1
                log.warning("AMI action failed: %s", exc)

    def originate_citizen(
        self, leg: Leg, *, channel: str, ring_timeout: float, variables: list[str]
    ) -> Awaitable[None]:
        """Call a callback's citizen into the room where their operator waits (written now;
        the returned awaitable settles it)."""
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
        return self._citizen_rang(leg, self.ami.write(action, as_list=False))

    async def _citizen_rang(self, leg: Leg, response: Awaitable[Message | list[Message]]) -> None:
        try:
            resp = await response
        except (AmiDisconnected, AmiTimeout) as exc:
            # Its fate is unknown: the core's ring deadline settles it (never a second ring).
            self.counters["callback_dials_in_doubt"] += 1
            log.warning("callback %s: no answer to the citizen's Originate (%s)", leg.call_id, exc)
            return
        if isinstance(resp, list) or resp.get("Response") != "Success":
            self.channels.forget_leg(leg)
            self._report(ev.CitizenNotReached(now=self._clock(), callback_id=leg.call_id, outcome="failed"))

    def announce(self, call_id: str, position: int, ewt_s: float) -> Awaitable[None] | None:
        """Set the place in line and expected wait the hold loop reads on its next pass."""
        channel = self.channels.callers.get(call_id)
        if channel is None:
            return None
        values = (str(position), wait_minutes(ewt_s))
        if self.announced.get(call_id) == values:
            return None
        self.announced[call_id] = values
        return self._all(
            [
                self._setvar(channel, name, value)
                for name, value in zip(("CC_POSITION", "CC_EWT_MIN"), values, strict=True)
            ]
        )
