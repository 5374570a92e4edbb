# The live controller: a thin shell around the core, driven by Asterisk over AMI. Rules:
# - The core decides; the shell only feeds it and carries out what it returns, in parts
#   with one job each: the translator (AMI events -> core events, pure), the executor (the
#   core's commands -> AMI actions, each call's in order), the resync (after every
#   (re)connection, Asterisk's channels -> the core events that settle what was missed;
#   citizens no controller heard arrive, taken in: at start, those the last controller
#   left; after a lost link, those who came meanwhile), the desks (operators'
#   states kept across restarts, and operators whose call outlived one held),
#   the operators' desk (what operators and supervisors ask, from the web or a phone's
#   feature code, checked and turned into core events, audited), and observers (the log,
#   today's KPIs, the metrics, MQTT, the records, the web's live pages), which read the
#   core's change feed and completed calls, never its dicts.
# - One timer: the task below sleeps until the core's next deadline, or until an event may
#   have moved it, then sends a Tick (as aioquic's asyncio layer re-arms one timer).
# - `now` is the event loop's monotonic clock; the wall clock is read once, at start, to
#   map it to opening hours and to the day of today's KPIs.
# - Stale facts (a hangup for a call already ended, an answer after the caller left) are
#   normal: the core counts and ignores them (Engine.stale_facts), in one place. An answer
#   the core did not take leaves an operator's leg nobody wants: it is hung up.
# - A lost AMI link is the system's fault, never an operator's: an operator the controller
#   could not ring is UNREACHABLE for a bounded backoff (the core's rule), and reachable again
#   as soon as the link is back.
# - Malformed or unexpected input from Asterisk is logged, counted and dropped: never a
#   crash. Caller numbers appear in logs only masked.
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
import time
import zoneinfo
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from panoramisk.message import Message

from contactcenter.adapters.ami import EVENT_READ, AmiClient, AmiError, AmiLink, EventRead
from contactcenter.config import Config
from contactcenter.core import events as ev
from contactcenter.core.callbacks import Callback
from contactcenter.core.commands import BridgeCall, Command, DialCitizen
from contactcenter.core.engine import Call, Engine
from contactcenter.core.lifecycle import OperatorState
from contactcenter.errors import UserError
from contactcenter.live.callbacks import CallbackDesk, number_secret
from contactcenter.live.channels import Channels, Leg
from contactcenter.live.contacts import Contacts
from contactcenter.live.desks import DeskKeeper
from contactcenter.live.executor import Executor
from contactcenter.live.http import HttpListener
from contactcenter.live.metrics import Metrics
from contactcenter.live.mqtt import MqttFeed
from contactcenter.live.observers import CallLog, Observer, TodayKpis
from contactcenter.live.operators import Actor, OperatorDesk, Refused
from contactcenter.live.resync import Stray, reconcile, strays
from contactcenter.live.translator import Translator
from contactcenter.records import RecordsError, RecordsWriter
from contactcenter.records.store import REPEAT_WINDOW_S
from contactcenter.store import CallbackStore, SqliteCallbackStore, StoreError
from contactcenter.store.desks import SqliteDeskStore
from contactcenter.web.app import Backend, Hub, build_app
from contactcenter.web.views import Views

log = logging.getLogger("contactcenter.controller")

# (on_event, on_ready) -> the AMI session the controller uses; AmiLink by default.
AmiFactory = Callable[[Callable[[Message], None], Callable[[], Any]], AmiClient]
# The service level's threshold of today's KPIs and of the metrics' wait buckets (the
# shipped Prometheus rules read its bucket, le="20.0").
SL_THRESHOLD_S = 20.0
OUTLIVED_CHECK_S = 5.0  # how often what outlived a restart is checked against Asterisk


class Service(Protocol):
    """A part of the controller with a life of its own (a task, a socket, a file)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# Seconds on top of the ring timeout and an AMI action's deadline before the core gives up
# on an offer whose outcome never came (the OriginateResponse lost or never sent).
OFFER_GRACE_S = 5.0


def ami_link(
    cfg: Config,
    on_event: Callable[[Message], None],
    on_ready: Callable[[], Any],
    counters: Counter[str] | None = None,
    on_lost: Callable[[], None] | None = None,
) -> AmiLink:
    """The AMI link a centre's configuration describes (its dropped input counted in
    `counters`): the controller's own, and the one a load test wraps."""
    a = cfg.ami
    return AmiLink(
        host=a.host,
        port=a.port,
        username=a.username,
        secret=a.secret,
        action_timeout=a.action_timeout,
        ping_interval=a.ping_interval,
        connect_timeout=a.connect_timeout,
        on_event=on_event,
        on_ready=on_ready,
        on_lost=on_lost,
        counters=counters,
    )


class Controller:
    """One contact centre, live: an Engine, an AMI link, and the parts between them."""

    def __init__(self, cfg: Config, ami: AmiFactory | None = None) -> None:
        self.cfg = cfg
        # The core's `now` is the event loop's clock, which is time.monotonic(); this is the
        # one place the wall clock is read, so the core can tell opening hours.
        self.epoch = time.time() - time.monotonic()
        self.engine = engine_for(cfg, epoch=self.epoch)
        self.counters: Counter[str] = Counter()  # AMI events and actions, dropped input by reason, ...
        self.link_lost_at: float | None = None  # (the core's clock) since when the link is down
        factory = ami or self._ami_link
        self.ami: AmiClient = factory(self._on_ami_event, self._resync)
        self.channels = Channels()
        self.translator = Translator(
            self.channels,
            skills=cfg.skills,
            languages=cfg.languages,
            default_skill=cfg.ivr.service_menu.default,
            default_language=cfg.ivr.default_language,
            phones=[op.id for op in cfg.operators if op.endpoint == "pjsip"],
        )
        self.executor = Executor(self.ami, self.channels, cfg, self.feed, self.now, self.counters)
        self.store: CallbackStore | None = None
        self.desk: CallbackDesk | None = None
        if cfg.callbacks is not None:
            path = cfg.callbacks.store
            self.store = SqliteCallbackStore(path)
            try:
                secret = number_secret(path)
            except OSError as exc:
                raise UserError(
                    f"callbacks.store {path}: cannot keep its key beside it: {exc.strerror}"
                ) from None
            self.desk = CallbackDesk(
                cfg,
                self.store,
                secret,
                self.executor,
                self.channels,
                self.feed,
                self.now,
                self.epoch,
                self.counters,
            )
        self.calls = CallLog()
        tz = cfg.hours.tz if cfg.hours is not None else zoneinfo.ZoneInfo("UTC")
        self.today = TodayKpis(
            epoch=self.epoch, tz=tz, sl_threshold_s=SL_THRESHOLD_S, wrap_up_s=cfg.routing.wrap_up
        )
        # The supervisors' metrics, on the HTTP listener (which the web will share).
        self.metrics = Metrics(
            snapshot=lambda: self.engine.snapshot(self.now()),
            counters=self.counters,
            ami_connected=lambda: self.ami.ready,
            ami_pending=lambda: self.ami.pending_actions,
            sl_threshold_s=SL_THRESHOLD_S,
            skills=list(cfg.skills),
            languages=cfg.languages,
        )
        # What operators and supervisors ask (the web, the phones' feature codes).
        self.operators = OperatorDesk(
            cfg,
            feed=self.feed,
            snapshot=lambda: self.engine.snapshot(self.now()),
            call_view=self.engine.call_view,
            stale_count=lambda: sum(self.engine.stale_facts.values()),
            now=self.now,
            audit=self._audit,
        )
        # Operators' desks (logged in, paused and why, skills) kept across restarts.
        self.desks = DeskKeeper(
            cfg,
            None if cfg.desks is None else SqliteDeskStore(cfg.desks.store),
            restore_within=0.0 if cfg.desks is None else cfg.desks.restore_within,
            snapshot=lambda: self.engine.snapshot(self.now()),
            feed=self.feed,
            now=self.now,
            counters=self.counters,
            hang_up=self.executor.hang_up_channel,
        )
        self.observers: list[Observer] = [self.calls, self.today, self.metrics, self.operators, self.desks]
        # Parts with a life of their own (tasks, sockets, files): started in this order
        # before the AMI link, stopped in the reverse order after it (the records last,
        # so what the shutdown itself fed is written too).
        self.services: list[Service] = [self.desks]
        # The centre's history: every call and operator state change, in SQLite.
        self.records: RecordsWriter | None = None
        if cfg.records is not None:
            self.records = RecordsWriter(
                cfg.records,
                epoch=self.epoch,
                counters=self.counters,
                hours=cfg.hours,
                tz=tz,
                sl_threshold_s=SL_THRESHOLD_S,
                wrap_up_s=cfg.routing.wrap_up,
                clock=self.now,
            )
            self.observers.append(self.records)
            self.services.append(self.records)
        # Repeat callers (the screen pop's "called N times in 7 days"), by a keyed hash
        # under the records' own key (a run without records counts within the run only).
        secret = secrets.token_bytes(32)
        if cfg.records is not None:
            try:
                secret = number_secret(cfg.records.path)
            except OSError as exc:
                raise UserError(
                    f"records.path {cfg.records.path}: cannot keep its key beside it: {exc.strerror}"
                ) from None
        self.contacts = Contacts(secret)
        # The web: wallboard, console and API, with /metrics, on one listener; its live
        # pages hear of every change through the hub (the last observer: it sees all done).
        self.hub = Hub()
        self.views = Views(
            cfg,
            wall=lambda t: self.epoch + t,
            skill_kpis=lambda skill: self.today.skill_kpis(skill, self.now()),
            ami_connected=lambda: self.ami.ready,
            pop_extras=self.contacts.of,
        )
        self.operators.render_pop = lambda call: self.views.call(call, self.now())
        desk = self.desk
        self.web = build_app(
            Backend(
                cfg=cfg,
                now=self.now,
                snapshot=lambda: self.engine.snapshot(self.now()),
                call_view=self.engine.call_view,
                waiting_calls=lambda: self.engine.waiting_calls(self.now()),
                desk=self.operators,
                views=self.views,
                hub=self.hub,
                monitor=self._monitor,
                book=desk.book if desk is not None else None,
                slots=desk.slots if desk is not None else None,
                audit=self._audit,
                last_pop=self.operators.last_pop,
                wall=lambda t: self.epoch + t,
            ),
            extra_routes=[self.metrics.route()],
        )
        self.http = HttpListener(cfg.http, app=self.web)
        self.services += [self.metrics, self.http]
        # The supervisors' live feed (retained snapshots, events, status with a Last Will).
        self.mqtt: MqttFeed | None = None
        if cfg.mqtt is not None:
            self.mqtt = MqttFeed(
                cfg.mqtt,
                snapshot=lambda: self.engine.snapshot(self.now()),
                counters=self.counters,
                centre=cfg.name,
                skills=tuple(cfg.skills),
                epoch=self.epoch,
            )
            self.observers.append(self.mqtt)
            self.services.append(self.mqtt)
        self.observers.append(self.hub)
        # Who is told of callbacks that reached a final state, with when.
        self._callback_sinks: list[Callable[[float, Sequence[Callback]], None]] = [
            self.today.add_callbacks,
            lambda _now, done: self.metrics.callbacks_completed(done),
        ]
        records = self.records
        if records is not None:
            self._callback_sinks.append(lambda _now, done: records.callbacks_completed(done))
        self._timer_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started: list[Service] = []

    def _ami_link(self, on_event: Callable[[Message], None], on_ready: Callable[[], Any]) -> AmiClient:
        return ami_link(self.cfg, on_event, on_ready, self.counters, on_lost=self._link_lost)

    def _link_lost(self) -> None:
        """The AMI link dropped (Asterisk gone, restarted, or the network): from now until
        the resync, Asterisk's facts are unheard; the records mark that gap."""
        if self.link_lost_at is None:
            self.link_lost_at = self.now()
        self.counters["link_losses"] += 1

    # The demo and the tests read these.
    @property
    def finished(self) -> deque[Call]:
        return self.calls.finished

    @property
    def routed(self) -> deque[tuple[str, str, float]]:
        return self.calls.routed

    # --- lifecycle ----------------------------------------------------------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        """Connect to Asterisk (AmiUnavailable if it never answers) and log the configured
        operators in."""
        if self.store is not None:
            try:
                await self.store.open()
            except StoreError as exc:
                raise UserError(f"callbacks.store: {exc}") from None
        try:
            for service in self.services:
                try:
                    await service.start()
                except RecordsError as exc:
                    raise UserError(f"records.path: {exc}") from None
                except StoreError as exc:  # (the desks')
                    raise UserError(f"desks.store: {exc}") from None
                self._started.append(service)
            if self.records is not None:
                self.contacts.load(await self.records.recent_contacts(time.time() - REPEAT_WINDOW_S))
            await self.ami.connect()
        except BaseException:
            await self._stop_services()
            if self.store is not None:  # (its worker thread would keep the process alive)
                await self.store.close()
            raise
        # Every open callback in the store, read before the channels are listed: from the
        # list on, nothing awaits until the operators, the callbacks and the citizens that
        # outlived the last controller are all back, so the list is what Asterisk has.
        # (With the store read between the two, a callback's operator leg answered
        # meanwhile was taken for a leg with nobody on it, and hung up.)
        stored = await self.desk.open_callbacks() if self.desk is not None else []
        # The channels Asterisk has now: calls and callbacks that outlived a controller.
        try:
            alive: dict[str, Message] | None = await self._alive()
        except AmiError as exc:
            log.warning("channels not listed at start (%s): what outlived the last run waits", exc)
            alive = None
        # The callbacks back at their place, then the operators where they were (simulated
        # ones on shift on a first start; a real one logs in from the console or their
        # phone, *22), each logged in and paused in one event if so, then the citizens who
        # came, or waited, while no controller ran, oldest first: one step. Each operator
        # is offered the best of all of them; before this order, a waiting citizen queued
        # again while the store was read was given the only operator ahead of three
        # callbacks.
        if self.desk is not None:
            given = self.desk.give_back(stored, alive)
            log.info("%d callbacks restored from %s", given, self.store)
        self.desks.restore(alive)
        for stray in strays(self.channels, alive or {}):
            self._adopt(stray)
        if self.desk is not None and alive is not None and self.desk.in_doubt:
            # Attempts in progress at the stop with no channel left: each counts as made
            # (the store written), then given back for its retry, if any remain.
            await self.desk.recheck(alive)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._timers(), name="timers"),
            loop.create_task(self._announcer(), name="announcer"),
        ]
        self._tasks.append(loop.create_task(self._outlived(), name="outlived"))
        log.info(
            "controller ready: %d operators, %d lines, AMI %s:%s",
            len(self.cfg.operators),
            self.cfg.lines,
            self.cfg.ami.host,
            self.cfg.ami.port,
        )

    async def stop(self) -> None:
        self.hub.close()  # (the live pages' streams end, so the listener stops at once)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.executor.close()
        self.ami.close()
        await self._stop_services()
        if self.store is not None:
            await self.store.close()

    async def _stop_services(self) -> None:
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("%s did not stop cleanly", type(service).__name__)

    # --- core driving -------------------------------------------------------------------

    def feed(self, event: ev.Event) -> list[Command]:
        """Hand one event to the core, start carrying out what it decided, tell observers."""
        commands = self.engine.handle(event)
        self.counters["core_events"] += 1
        desk = self.desk
        for cmd in commands:
            if desk is not None and isinstance(cmd, CallbackDesk.HANDLES):
                desk.carry_out(cmd)
            else:
                self.executor.carry_out(cmd)
        changes, completed = self.engine.drain_changes(), self.engine.drain_completed()
        for observer in self.observers:
            try:
                observer.observe(event.now, changes, completed)
            except Exception:
                self.counters["observer_errors"] += 1
                log.exception("observer %s failed", type(observer).__name__)
        for call in completed:
            self.executor.release(call)
            self.contacts.forget(call.call_id)
            if desk is not None:
                desk.forget_call(call.call_id)
        if self.engine.completed_callbacks:
            done = self.engine.drain_completed_callbacks()
            for sink in self._callback_sinks:
                sink(event.now, done)
        self._timer_changed.set()
        return commands

    async def _timers(self) -> None:
        while True:
            self._timer_changed.clear()
            deadline = self.engine.next_deadline()
            if deadline is not None and deadline <= self.now():
                self.feed(ev.Tick(now=self.now()))
                continue
            timeout = None if deadline is None else deadline - self.now()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that comes as the event is set (stop() then waited for this task forever).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._timer_changed.wait()

    async def _announcer(self) -> None:
        """Keep waiting callers' place and EWT current (positions move as others leave)."""
        period = max(1.0, self.cfg.ivr.hold_period / 2)
        while True:
            await asyncio.sleep(period)
            if not self.ami.ready:
                continue
            for call_id, (position, ewt) in self.engine.wait_estimates().items():
                self._announce_later(call_id, position, ewt)

    def _announce_later(self, call_id: str, position: int, ewt: float) -> None:
        self.executor.write(call_id, lambda: self.executor.announce(call_id, position, ewt))

    # --- AMI events ---------------------------------------------------------------------

    def _on_ami_event(self, message: Message) -> None:
        # (Marked read now: the actions its handling writes observe the routing latency.)
        token = EVENT_READ.set(EventRead(time.perf_counter(), self.metrics.routed_in))
        try:
            self._handle_ami_event(message)
        finally:
            EVENT_READ.reset(token)

    def _handle_ami_event(self, message: Message) -> None:
        self.counters["ami_events"] += 1
        if self.desks.held and message.get("Event") == "Hangup":
            self.desks.hung_up(str(message.get("Uniqueid")))
        translation = self.translator.translate(message, self.now())
        for reason in translation.dropped:
            self.counters[f"dropped_{reason}"] += 1
            log.warning("dropped AMI %s event (%s)", message.get("Event"), reason)
        if translation.foreign:
            self.counters["ami_events_not_ours"] += 1
        for event in translation.events:
            self._feed_fact(event, translation.answered)
            if type(event) is ev.CallArrived and event.call_id in self.engine.calls:
                self._arrived(event.call_id)
        if translation.feature is not None:
            self.operators.feature(translation.feature.operator_id, translation.feature.feature)
        if translation.choice is not None:
            if self.desk is None:
                self.counters["dropped_callbacks_off"] += 1
            else:
                self.desk.choice(translation.choice)

    def _adopt(self, stray: Stray) -> None:
        """A citizen Asterisk has that no controller knew: arrived now (as its CcArrived would
        have said), and if it was waiting, sent back to the queue (its CcQueued then says its
        skill and language again). Its wait before this start (or reconnection) is not in
        today's figures."""
        arrived: dict[str, object] = {
            "Event": "UserEvent",
            "UserEvent": "CcArrived",
            "Uniqueid": stray.call_id,
            "Channel": stray.channel,
        }
        if stray.number is not None:
            arrived["CallerIDNum"] = stray.number
        translation = self.translator.translate(arrived, self.now())
        for reason in translation.dropped:
            self.counters[f"dropped_{reason}"] += 1
            log.warning("citizen channel %s not taken in (%s)", stray.channel, reason)
        for event in translation.events:
            self._feed_fact(event, None)
        if stray.call_id not in self.engine.calls:
            return  # (not admitted: out of hours, or every line taken; the core said so)
        self._arrived(stray.call_id)
        self.counters["calls_adopted"] += 1
        if stray.waiting:
            self.executor.write(
                stray.call_id, lambda: self.executor.redirect_caller(stray.call_id, "cc-queue")
            )

    def _arrived(self, call_id: str) -> None:
        """A call was admitted: who it is (a repeat caller?), and whether a callback waits."""
        wall = self.epoch + self.now()
        key, earlier = self.contacts.arrived(call_id, self.channels.numbers.get(call_id), wall)
        if self.records is not None:
            self.records.contact(call_id, wall, key, earlier)
        if self.desk is not None:
            self.desk.arrived(call_id)

    def _audit(self, now: float, actor: Actor, action: str, target: str, detail: Any) -> None:
        self.desks.touch(target)  # (a request on an operator: their desk may have changed)
        if self.records is not None:
            self.records.audit(self.epoch + now, actor.id, actor.role, action, target, detail)

    async def _monitor(self, actor: Actor, operator_id: str, mode: str) -> None:
        """Ring the supervisor's phone into ChanSpy on the operator's call: listen (quiet),
        whisper (the operator hears them), or barge (both do). Refused when it cannot be."""
        token = next((t for t in self.cfg.web.tokens if t.role == "supervisor" and t.id == actor.id), None)
        if token is None or token.phone is None:
            raise Refused("conflict", f"supervisor {actor.id} has no phone configured (web.tokens: phone)")
        view = self.operators.view(operator_id)
        if view.state is not OperatorState.TALKING:
            raise Refused("conflict", f"{operator_id} is not on a call ({view.state.value})")
        try:
            await self.executor.monitor(token.id, token.phone, self.cfg.operator(operator_id), mode)
        except AmiError as exc:
            raise Refused("conflict", f"Asterisk could not ring your phone: {exc}") from None
        self._audit(self.now(), actor, f"monitor_{mode}", operator_id, {"phone": token.phone})

    def _feed_fact(self, event: ev.Event, leg: Leg | None) -> None:
        """Feed a fact from Asterisk; `leg`: the operator leg an OperatorAnswered is about,
        hung up if the core did not take the answer (no BridgeCall came back)."""
        commands = self.feed(event)
        # (Taken: the caller is joined to them, or, a callback's operator, the citizen is called.)
        if leg is not None and not any(isinstance(c, BridgeCall | DialCitizen) for c in commands):
            self.executor.refuse_leg(leg)

    async def _alive(self) -> dict[str, Message]:
        """The channels Asterisk has now, by Uniqueid (its CoreShowChannel items)."""
        items = await self.ami.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel")
        return {str(m.get("Uniqueid")): m for m in items}

    async def _outlived(self) -> None:
        """What outlived a restart waits for its channels to go: callbacks in doubt are given
        back, and operators held on a call are ready, once those are gone (checked against
        Asterisk's list too, not only its Hangups: one may have come while the list was
        being read at start)."""
        while True:
            await asyncio.sleep(OUTLIVED_CHECK_S)
            desk = self.desk
            if not ((desk is not None and desk.in_doubt) or self.desks.held) or not self.ami.ready:
                continue
            try:
                alive = await self._alive()
                self.desks.recheck(alive)
                if desk is not None and desk.in_doubt:
                    await desk.recheck(alive)
            except (AmiError, StoreError) as exc:
                log.warning("channels that outlived a restart not rechecked: %s", exc)

    async def _resync(self) -> None:
        """After a (re)connection: what happened while we were away happens in the core too,
        then operators the system could not reach are offered calls again at once."""
        # (After a loss, read even with nothing of ours up: citizens may have come while we
        # were away, their CcArrived with them. The first connection's strays are start()'s,
        # once the operators' desks are back.)
        reconnected = self.link_lost_at is not None
        alive: dict[str, Message] = {}
        if reconnected or self.channels.callers or self.channels.legs or self.desks.held:
            try:
                alive = await self._alive()
            except AmiError as exc:
                log.error("resync after reconnect failed: %s", exc)
                return
        facts = reconcile(self.channels, alive, self.now())
        self.desks.recheck(alive)
        for event, leg in facts:
            self._feed_fact(event, leg)
        if reconnected:  # citizens who arrived while the link was down, oldest first
            for stray in strays(self.channels, alive):
                self._adopt(stray)
        lost_at, self.link_lost_at = self.link_lost_at, None
        if lost_at is not None and self.records is not None:
            # The gap, in the records: calls ended here ended at some time within it.
            self.records.link_gap(
                self.epoch + lost_at,
                self.epoch + self.now(),
                list(
                    dict.fromkeys(
                        e.call_id for e, _ in facts if isinstance(e, ev.CallerHungUp | ev.CallEnded)
                    )
                ),
            )
        snapshot = self.engine.snapshot(self.now())
        for op in snapshot.operators.values():
            if op.state is OperatorState.UNREACHABLE:
                self.counters["reachable_after_resync"] += 1
                self.feed(ev.OperatorReachable(now=self.now(), operator_id=op.operator_id))
        self.counters["resyncs"] += 1
        log.info("resynced with Asterisk: %d channels alive, %d facts settled", len(alive), len(facts))


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
        # (The longest ring of either leg: an operator's, or a callback's citizen's.)
        offer_timeout=max(cfg.routing.ring_timeout, cfg.callbacks.ring_timeout if cfg.callbacks else 0.0)
        + cfg.ami.action_timeout
        + OFFER_GRACE_S,
        fault_retry=cfg.routing.fault_retry,
        fault_retry_max=cfg.routing.fault_retry_max,
        record_changes=True,
        callback_policy=cfg.callbacks.policy if cfg.callbacks is not None else None,
        priority_head_start=cfg.routing.priority_head_start,
    )


async def run_forever(cfg: Config, stop: asyncio.Event | None = None) -> None:
    """`contactcenter run`: the controller until SIGINT/SIGTERM (or `stop`)."""
    controller = Controller(cfg)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await controller.start()
    # What start-up made (modules, the config, the web app: hundreds of thousands of
    # objects) lives as long as the process: out of the collector's full passes, which
    # would walk it all each time. One such pass took 105 ms of the event loop in a
    # 250-call burst, and a loop that stalls stops reading Asterisk's events.
    gc.freeze()
    try:
        await stop.wait()
    finally:
        gc.unfreeze()
    log.info("stopping")
    await controller.stop()
