# The live controller: drives the core from Asterisk's AMI events and carries out the core's
# commands as AMI actions. Rules:
# - The core decides; this module only translates. Facts from Asterisk become core events
#   (with `now` from the event loop's monotonic clock), commands become AMI actions.
# - Commands are carried out after the core has changed its state; an action's outcome
#   comes back as a new event (Originate answered -> OperatorAnswered, failed or timed out
#   -> OperatorRingTimeout).
# - Malformed or unexpected input from Asterisk is logged, counted and dropped: never a
#   crash. Caller numbers appear in logs only masked.
# - A lost AMI link is the system's fault, never an operator's. An Originate that could not
#   be sent pauses the operator with reason LINK_FAULT (so the core does not offer the same
#   call to the same unreachable phone in a loop); one that was sent and then lost its link
#   is left "in doubt", the core told nothing. On every (re)connection the resync settles
#   offers in doubt from the channels Asterisk still has (answered: the operator talks;
#   else the leg is hung up and the offer fails), then resumes every LINK_FAULT pause.
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import re
import secrets
import signal
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from panoramisk.message import Message

from contactcenter.adapters.ami import AmiError, AmiLink, AmiLost, headers
from contactcenter.config import Config
from contactcenter.core import events as ev
from contactcenter.core.commands import (
    AnnounceWait,
    CancelOffer,
    Command,
    ConnectCall,
    RejectBusy,
    RejectClosed,
)
from contactcenter.core.engine import Call, Engine
from contactcenter.core.lifecycle import CallState, OperatorState
from contactcenter.privacy import mask_number

log = logging.getLogger("contactcenter.controller")

# Channel names come from Asterisk, but they are echoed back into action headers: accept only
# the shapes Asterisk produces (tech/resource-sequence, Local halves with ;1/;2).
_CHANNEL = re.compile(r"^[A-Za-z0-9]+/[A-Za-z0-9@._+#*-]+(;[12])?$")
# The pause reason of an operator whose phone the controller could not reach for a fault of
# the AMI link (lifted on the next resync), not of the operator.
LINK_FAULT = "ami-error"
# OriginateResponse Reason codes (Asterisk's AST_CONTROL_*): why an operator leg failed.
_ORIGINATE_REASONS = {"0": "failed", "1": "hangup", "3": "no-answer", "5": "busy", "8": "congestion"}


@dataclass(slots=True)
class Offer:
    """An operator leg being rung (then talking) for a call."""

    call_id: str
    operator_id: str
    leg_id: str  # the Uniqueid we gave the operator's channel (ChannelId)
    answered: bool = False
    in_doubt: bool = False  # Originate sent, then the AMI link lost before its outcome


class Controller:
    """One contact centre, live: an Engine, an AMI link, and the glue between them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        # The core's `now` is the event loop's clock, which is time.monotonic(); this is the
        # one place the wall clock is read, so the core can tell opening hours.
        self.engine = engine_for(cfg, epoch=time.time() - time.monotonic())
        self.ami = AmiLink(
            host=cfg.ami.host,
            port=cfg.ami.port,
            username=cfg.ami.username,
            secret=cfg.ami.secret,
            action_timeout=cfg.ami.action_timeout,
            ping_interval=cfg.ami.ping_interval,
            on_event=self._on_ami_event,
            on_ready=self._resync,
        )
        self.callers: dict[str, str] = {}  # call id (caller Uniqueid) -> caller channel name
        self.offers: dict[str, Offer] = {}  # call id -> current offer
        self.legs: dict[str, Offer] = {}  # operator leg Uniqueid (both Local halves) -> offer
        self.counters: Counter[str] = Counter()  # events handled, dropped by reason, ...
        self.routed: list[tuple[str, str, float]] = []  # (call, operator, wait) for the demo
        self.finished: deque[Call] = deque(maxlen=10_000)  # recent ended calls, newest last
        self._timer_changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer_task: asyncio.Task[None] | None = None
        self._announcer_task: asyncio.Task[None] | None = None
        self.announced: dict[str, tuple[str, str]] = {}  # call -> (position, minutes) set
        self._leg_seq = itertools.count(1)
        self._leg_prefix = secrets.token_hex(4)

    # --- lifecycle ----------------------------------------------------------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Connect to Asterisk and log the configured operators in."""
        await self.ami.connect()
        for op in self.cfg.operators:
            self.feed(
                ev.OperatorLoggedIn(
                    now=self.now(),
                    operator_id=op.id,
                    skills=tuple(op.skills.items()),
                    languages=op.languages,
                )
            )
        loop = asyncio.get_running_loop()
        self._timer_task = loop.create_task(self._timers(), name="timers")
        self._announcer_task = loop.create_task(self._announcer(), name="announcer")
        log.info(
            "controller ready: %d operators, %d lines, AMI %s:%s",
            len(self.cfg.operators),
            self.cfg.lines,
            self.cfg.ami.host,
            self.cfg.ami.port,
        )

    async def stop(self) -> None:
        for task in (self._timer_task, self._announcer_task):
            if task is not None:
                task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.ami.close()

    # --- core driving -------------------------------------------------------------------

    def feed(self, event: ev.Event) -> None:
        """Hand one event to the core and start carrying out what it decided."""
        commands = self.engine.handle(event)
        self.counters["core_events"] += 1
        for cmd in commands:
            self._spawn(self._execute(cmd))
        self._timer_changed.set()
        for call in self.engine.drain_completed():
            self.finished.append(call)
            log.info(
                "call %s ended: %s (skill %s, wait %s)",
                call.call_id,
                call.outcome.value if call.outcome else "?",
                call.skill,
                f"{call.wait:.1f}s" if call.wait is not None else "-",
            )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _timers(self) -> None:
        while True:
            self._timer_changed.clear()
            deadline = self.engine.next_deadline()
            if deadline is not None and deadline <= self.now():
                self.feed(ev.Tick(now=self.now()))
                continue
            timeout = None if deadline is None else deadline - self.now()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)

    async def _execute(self, cmd: Command) -> None:
        try:
            if isinstance(cmd, ConnectCall):
                await self._connect(cmd)
            elif isinstance(cmd, CancelOffer):
                await self._cancel_offer(cmd)
            elif isinstance(cmd, RejectBusy):
                await self._reject(cmd.call_id, "cc-busy", "blocked")
            elif isinstance(cmd, RejectClosed):
                await self._reject(cmd.call_id, "cc-closed", "closed")
            elif isinstance(cmd, AnnounceWait):
                await self._announce(cmd.call_id, cmd.position, cmd.ewt_s)
            else:
                log.error("no handler for command %r", cmd)
        except AmiError as exc:
            self.counters["ami_action_errors"] += 1
            log.warning("%s for call %s failed: %s", type(cmd).__name__, cmd.call_id, exc)

    async def _connect(self, cmd: ConnectCall) -> None:
        caller = self.callers.get(cmd.call_id)
        call = self.engine.calls.get(cmd.call_id)
        if caller is None or call is None:
            log.error("ConnectCall for call %s with no known channel: dropped", cmd.call_id)
            return
        op = self.cfg.operator(cmd.operator_id)
        leg = f"cc-{self._leg_prefix}-{next(self._leg_seq)}"
        offer = Offer(cmd.call_id, op.id, leg)
        self.offers[cmd.call_id] = offer
        self.legs[leg] = offer
        action: dict[str, object] = {
            "Action": "Originate",
            "Application": "Bridge",
            # x: hang the citizen up when the operator's leg ends (no dead air).
            "Data": f"{caller},x",
            "Async": "true",
            "Timeout": str(int(self.cfg.routing.ring_timeout * 1000)),
            "ChannelId": leg,
            "CallerID": f'"010 {call.skill}" <010>',
            "Variable": [f"CC_CALL_ID={cmd.call_id}"],
        }
        if op.endpoint == "sim":
            action["Channel"] = f"Local/{op.id}@cc-sim-operator/n"
            action["OtherChannelId"] = f"{leg}-2"
            self.legs[f"{leg}-2"] = offer
            action["Variable"] = [
                f"CC_CALL_ID={cmd.call_id}",
                f"CC_RING_DELAY={self.cfg.simulated_operators.ring_delay:g}",
                f"CC_TALK_SECONDS={self.cfg.simulated_operators.talk_seconds:g}",
            ]
        else:
            action["Channel"] = f"PJSIP/{op.id}"
        reason = "failed"
        answered = False
        try:
            resp = await self.ami.send(
                action, timeout=self.cfg.routing.ring_timeout + self.cfg.ami.action_timeout + 5
            )
            answered, reason = _originate_outcome(resp)
        except AmiLost:
            # The phone may be ringing, or answered: the resync will tell (see the rules).
            offer.in_doubt = True
            self.counters["offers_in_doubt"] += 1
            log.warning("AMI link lost while ringing operator %s for call %s", op.id, cmd.call_id)
            return
        except AmiError as exc:
            reason = LINK_FAULT
            log.warning("originate to operator %s failed: %s", op.id, exc)
            await self._hang_up_leg(leg)
        if self.offers.get(cmd.call_id) is not offer:
            # The caller left while the phone rang (CancelOffer already ran).
            if answered:
                await self._hang_up_leg(leg)
            return
        if answered:
            self._answered(offer)
        else:
            self._forget_offer(offer)
            log.warning("operator %s did not answer call %s (%s): paused", op.id, cmd.call_id, reason)
            self.feed(
                ev.OperatorRingTimeout(now=self.now(), call_id=cmd.call_id, operator_id=op.id, reason=reason)
            )

    def _answered(self, offer: Offer) -> None:
        offer.answered = True
        call = self.engine.calls[offer.call_id]
        wait = self.now() - (call.queued_at or self.now())
        self.routed.append((offer.call_id, offer.operator_id, wait))
        log.info(
            "call %s (skill %s, %s) answered by operator %s after %.1f s in queue",
            offer.call_id,
            call.skill,
            call.language,
            offer.operator_id,
            wait,
        )
        self.feed(ev.OperatorAnswered(now=self.now(), call_id=offer.call_id, operator_id=offer.operator_id))

    async def _hang_up_leg(self, leg_id: str) -> None:
        with contextlib.suppress(AmiError):
            await self.ami.send({"Action": "Hangup", "Channel": leg_id})

    async def _cancel_offer(self, cmd: CancelOffer) -> None:
        offer = self.offers.get(cmd.call_id)
        if offer is None:
            return
        self._forget_offer(offer)
        await self.ami.send({"Action": "Hangup", "Channel": offer.leg_id})

    async def _reject(self, call_id: str, context: str, counter: str) -> None:
        channel = self.callers.pop(call_id, None)
        self.counters[counter] += 1
        if channel is not None:
            await self.ami.send(
                {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": "s", "Priority": "1"}
            )

    async def _announce(self, call_id: str, position: int, ewt_s: float) -> None:
        """Set the place in line and expected wait the hold loop reads on its next pass."""
        channel = self.callers.get(call_id)
        if channel is None:
            return
        # Whole minutes, rounded up (never promise less than the estimate), at least 1;
        # no figure at all when nobody who can take the call is logged in.
        minutes = "" if math.isinf(ewt_s) else str(max(1, math.ceil(ewt_s / 60)))
        values = (str(position), minutes)
        if self.announced.get(call_id) == values:
            return
        self.announced[call_id] = values
        for name, value in zip(("CC_POSITION", "CC_EWT_MIN"), values, strict=True):
            await self.ami.send({"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value})

    async def _announcer(self) -> None:
        """Keep waiting callers' place and EWT current (positions move as others leave)."""
        period = max(1.0, self.cfg.ivr.hold_period / 2)
        while True:
            await asyncio.sleep(period)
            for call_id in [c for c in self.announced if c not in self.engine.calls]:
                del self.announced[call_id]
            for call in list(self.engine.calls.values()):
                if call.state is CallState.QUEUED and self.ami.ready:
                    position, ewt = self.engine.estimate(call.call_id)
                    try:
                        await self._announce(call.call_id, position, ewt)
                    except AmiError as exc:
                        log.debug("announcement for %s not updated: %s", call.call_id, exc)

    def _forget_offer(self, offer: Offer) -> None:
        if self.offers.get(offer.call_id) is offer:
            del self.offers[offer.call_id]
        for leg in (offer.leg_id, f"{offer.leg_id}-2"):
            if self.legs.get(leg) is offer:
                del self.legs[leg]

    # --- AMI events ---------------------------------------------------------------------

    def _drop(self, reason: str, message: Message) -> None:
        self.counters[f"dropped_{reason}"] += 1
        log.warning("dropped AMI %s event (%s)", message.get("Event"), reason)

    def _on_ami_event(self, message: Message) -> None:
        self.counters["ami_events"] += 1
        name = message.get("Event")
        if name == "UserEvent":
            kind = message.get("UserEvent")
            if kind == "CcArrived":
                self._call_arrived(message)
            elif kind == "CcQueued":
                self._call_queued(message)
        elif name == "Hangup":
            self._hangup(message)

    def _call_arrived(self, message: Message) -> None:
        h = headers(message, ("Uniqueid", "Channel"))
        if h is None:
            return self._drop("missing_header", message)
        if not _CHANNEL.match(h["Channel"]):
            return self._drop("bad_channel", message)
        call_id = h["Uniqueid"]
        if call_id in self.callers or call_id in self.engine.calls:
            return self._drop("duplicate_call", message)
        self.callers[call_id] = h["Channel"]
        log.info(
            "call %s arrived from %s on %s",
            call_id,
            mask_number(message.get("CallerIDNum")),
            h["Channel"].split("-")[0],
        )
        self.feed(ev.CallArrived(now=self.now(), call_id=call_id))

    def _call_queued(self, message: Message) -> None:
        # Cc-prefixed: the channel snapshot in every UserEvent already has a Language header.
        h = headers(message, ("Uniqueid", "CcSkill", "CcLanguage"))
        if h is None:
            return self._drop("missing_header", message)
        call = self.engine.calls.get(h["Uniqueid"])
        if call is None or call.state is not CallState.IN_IVR:
            return self._drop("unknown_call", message)
        skill, language = h["CcSkill"], h["CcLanguage"]
        if skill not in self.cfg.skills:
            self._drop("unknown_skill", message)
            skill = self.cfg.ivr.service_menu.default  # never strand a citizen
        if language not in self.cfg.languages:
            self._drop("unknown_language", message)
            language = self.cfg.ivr.default_language
        log.info("call %s queued for %s (%s)", call.call_id, skill, language)
        self.feed(ev.IvrCompleted(now=self.now(), call_id=call.call_id, skill=skill, language=language))

    def _hangup(self, message: Message) -> None:
        uid = message.get("Uniqueid")
        if not isinstance(uid, str):
            return self._drop("missing_header", message)
        if uid in self.callers:
            del self.callers[uid]
            if uid in self.engine.calls:
                self.feed(ev.CallerHungUp(now=self.now(), call_id=uid))
            return
        offer = self.legs.get(uid)
        if offer is not None and offer.answered:
            self._forget_offer(offer)
            self.feed(ev.CallEnded(now=self.now(), call_id=offer.call_id))

    async def _resync(self) -> None:
        """After a (re)connection: what happened while we were away happens in the core too
        (offers in doubt settled, ended calls ended), then link-fault pauses are lifted."""
        if self.callers or self.legs:
            try:
                items = await self.ami.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel")
            except AmiError as exc:
                log.error("resync after reconnect failed: %s", exc)
                return
            self._reconcile({str(m.get("Uniqueid")): m for m in items})
        for op in list(self.engine.operators.values()):
            if op.state is OperatorState.PAUSED and op.pause_reason == LINK_FAULT:
                log.info("operator %s back from a link-fault pause", op.operator_id)
                self.counters["link_fault_resumes"] += 1
                self.feed(ev.OperatorResumed(now=self.now(), operator_id=op.operator_id))

    def _reconcile(self, channels: dict[str, Message]) -> None:
        for offer in [o for o in self.offers.values() if o.in_doubt]:
            offer.in_doubt = False
            leg = channels.get(offer.leg_id)
            if leg is not None and leg.get("ChannelStateDesc") == "Up":
                log.info("call %s answered by %s while the link was down", offer.call_id, offer.operator_id)
                self._answered(offer)
                continue
            self._forget_offer(offer)
            if leg is not None:  # still ringing: too late to know what it would do
                self._spawn(self._hang_up_leg(offer.leg_id))
            self.feed(
                ev.OperatorRingTimeout(
                    now=self.now(), call_id=offer.call_id, operator_id=offer.operator_id, reason=LINK_FAULT
                )
            )
        alive = set(channels)
        for uid in [u for u in self.callers if u not in alive]:
            del self.callers[uid]
            if uid in self.engine.calls:
                self.feed(ev.CallerHungUp(now=self.now(), call_id=uid))
        for uid, offer in list(self.legs.items()):
            if uid not in alive and offer.answered and offer.call_id in self.engine.calls:
                self._forget_offer(offer)
                self.feed(ev.CallEnded(now=self.now(), call_id=offer.call_id))
        self.counters["resyncs"] += 1
        log.info("resynced with Asterisk: %d channels alive", len(alive))


def engine_for(cfg: Config, epoch: float) -> Engine:
    """The core configured for this centre; `epoch` maps the driver's clock to wall time."""
    return Engine(
        lines=cfg.lines,
        wrap_up=cfg.routing.wrap_up,
        relaxation=cfg.routing.relaxation,
        hours=cfg.hours,
        epoch=epoch,
        default_aht=cfg.routing.default_aht,
        announce=True,
    )


def _originate_outcome(resp: Message | list[Message]) -> tuple[bool, str]:
    """(answered, reason) from an async Originate's responses."""
    messages = resp if isinstance(resp, list) else [resp]
    for m in messages:
        if m.get("Event") == "OriginateResponse":
            if m.get("Response") == "Success":
                return True, "answered"
            return False, _ORIGINATE_REASONS.get(str(m.get("Reason")), "failed")
    return False, "rejected"


async def run_forever(cfg: Config) -> None:
    """`contactcenter run`: the controller until SIGINT/SIGTERM."""
    controller = Controller(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await controller.start()
    await stop.wait()
    log.info("stopping")
    await controller.stop()
