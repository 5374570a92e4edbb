# The supervisors' MQTT feed: an observer that publishes the centre's live state to a
# broker (mosquitto) for wallboards and dashboards. Rules:
# - Call handling never waits for the broker. `observe` only appends to a bounded buffer
#   (cfg.queue events; when full the oldest is dropped and counted in `mqtt_dropped`: a
#   live feed's reader wants the present, and the retained snapshots carry the state) and
#   marks the snapshots stale; one task does all I/O, and a broker that is down, slow or
#   refusing us costs the event loop nothing but that task's sleeps.
# - Snapshots are rendered when sent, not when the change happens: at most one round a
#   second, each topic published only if it differs from what this connection last sent
#   there, so a snapshot superseded before it could be sent never is. Every (re)connection
#   sends them all again (a restarted broker has lost its retained messages).
# - Topics under <prefix>: status ("online"/"offline", retained, QoS 1, and the Last Will
#   "offline"), centre and skill/<skill> (retained JSON snapshots), events (JSON, QoS 1,
#   not retained). Payloads are JSON with sorted keys; durations in seconds (`*_s`),
#   instants as ISO 8601 UTC text.
# - No citizen's phone number, channel or call id in any topic or payload: the read model
#   has no numbers, call ids (Asterisk's uniqueids, epoch-based) are left out, instants are
#   not epoch seconds, and free text (a pause's reason) has anything like a number (6+ digits) masked.
# - Reconnection backs off exponentially with seeded jitter, bounded; connections,
#   disconnections, publications and drops are counted in the controller's counters
#   (`mqtt_*`). Nothing here raises into the controller once it is built (a CA file it
#   cannot load is a UserError then, naming mqtt.tls_ca).
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import re
import secrets
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiomqtt

from contactcenter.config import MqttConfig
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome, CallState, OperatorState
from contactcenter.core.readmodel import CallChanged, Change, OperatorChanged, Snapshot
from contactcenter.errors import UserError

log = logging.getLogger("contactcenter.mqtt")

SNAPSHOT_PERIOD_S = 1.0  # at most one snapshot round (so one message per topic) a second
BACKOFF_S = (0.5, 30.0)  # reconnection delays: the first, and the most
STOP_TIMEOUT_S = 5.0  # stop(): flush, "offline", disconnect, all within this
PUBLISH_TIMEOUT_S = 10.0  # a PUBACK later than this: the link is as good as lost
WINDOW = 50  # QoS 1 publications in flight at once
SNAPSHOT_ALLOWANCE = 64  # snapshot topics (centre, skills, status) that may be in flight too
ONLINE, OFFLINE = b"online", b"offline"
# Operator states counted in snapshots (logged-out operators are not part of the centre now).
STATES = tuple(s for s in OperatorState if s is not OperatorState.LOGGED_OUT)
# Six digits or more, spaced or dotted as people write phone numbers ("932 123 456").
_NUMBER_LIKE = re.compile(r"\+?(?:\d[\s().-]*){5,}\d")


def backoff(
    attempt: int, rng: random.Random, first: float = BACKOFF_S[0], most: float = BACKOFF_S[1]
) -> float:
    """Seconds before reconnection attempt `attempt` (0 after a loss): doubling from `first`
    up to `most`, drawn in the upper half of that (jitter, so clients do not return in step)."""
    ceiling = min(most, first * 2.0 ** min(attempt, 64))
    return ceiling / 2 + rng.random() * ceiling / 2


def _text(value: str | None) -> str | None:
    return None if value is None else _NUMBER_LIKE.sub("******", value)


def _seconds(value: float | None, digits: int) -> float | None:
    return None if value is None else round(max(0.0, value), digits)


def _payload(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails: paho-mqtt (2.2) drops such
    a socket unclosed, to be found by the garbage collector, on every refused attempt."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


class MqttFeed:
    """Publishes the centre's snapshots, its events and its status to MQTT (an Observer)."""

    def __init__(
        self,
        cfg: MqttConfig,
        *,
        snapshot: Callable[[], Snapshot],
        counters: Counter[str],
        centre: str,
        skills: Iterable[str] = (),
        epoch: float | None = None,
        rng: random.Random | None = None,
        backoff_s: tuple[float, float] = BACKOFF_S,
        period_s: float = SNAPSHOT_PERIOD_S,
    ) -> None:
        """`snapshot`: the read model now; `skills`: skill topics published even before any
        operator or call has them; `epoch`: wall time at the driver's clock 0 (by default
        the monotonic clock's, as the controller's `now`); `rng`: the backoff's jitter."""
        self.cfg = cfg
        self.counters = counters
        self.centre = centre
        self._snapshot = snapshot
        self._skills = tuple(skills)
        self._epoch = time.time() - time.monotonic() if epoch is None else epoch
        self._rng = rng if rng is not None else random.Random()
        self._backoff_s = backoff_s
        self._period_s = period_s
        self._tls = self._tls_context(cfg)
        prefix = cfg.topic_prefix
        self.topic_status, self.topic_centre, self.topic_events = (
            f"{prefix}/status",
            f"{prefix}/centre",
            f"{prefix}/events",
        )
        self._identifier = f"contactcenter-{secrets.token_hex(4)}"
        # (when, body): the instant is written out when sent, to keep `observe` cheap.
        self._events: deque[tuple[float, dict[str, Any]]] = deque()
        self._queued_at: dict[str, float] = {}  # call -> when it first joined its queue
        self._dirty = True  # the snapshots may have changed since the last round
        self._last_round = -float("inf")  # time.monotonic() of the last snapshot round
        self._sent: dict[str, bytes] = {}  # topic -> body (without "at") sent on this connection
        self._wake = asyncio.Event()
        self._closing = False
        self._stopping = asyncio.Event()  # set by stop(): ends a backoff's wait at once
        self._flush_until = 0.0  # the event loop's time when stop() stops flushing
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    @staticmethod
    def _tls_context(cfg: MqttConfig) -> ssl.SSLContext | None:
        if cfg.tls_ca is None:
            return None
        try:
            context = ssl.create_default_context(cafile=str(cfg.tls_ca))
        except (OSError, ssl.SSLError) as exc:
            raise UserError(f"mqtt.tls_ca {cfg.tls_ca}: cannot load it as a CA file: {exc}") from None
        context.sslsocket_class = _ClosingSSLSocket
        return context

    @property
    def buffered(self) -> int:
        """Events waiting for the broker (never more than cfg.queue)."""
        return len(self._events)

    # --- observer (on the event loop, between two AMI events: never blocks) -------------

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        try:
            self._observe(changes, completed)
        except Exception:
            self.counters["mqtt_observe_errors"] += 1
            log.exception("MQTT feed: a change could not be read")

    def _observe(self, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        if not changes and not completed:
            return
        self._dirty = True
        for change in changes:
            if isinstance(change, CallChanged):
                if change.state is CallState.QUEUED:
                    if change.call_id not in self._queued_at:  # not again after a ring-out
                        self._queued_at[change.call_id] = change.at
                        self._event("call_queued", change.at, skill=change.skill, language=change.language)
                elif change.state is CallState.TALKING:
                    queued = self._queued_at.get(change.call_id, change.at)
                    self._event(
                        "call_answered",
                        change.at,
                        skill=change.skill,
                        language=change.language,
                        operator=change.operator_id,
                        wait_s=_seconds(change.at - queued, 3),
                    )
                elif change.state is CallState.ENDED:
                    self._queued_at.pop(change.call_id, None)
            elif isinstance(change, OperatorChanged):
                self._event(
                    "operator_state",
                    change.at,
                    operator=change.operator_id,
                    state=change.state.value,
                    reason=_text(change.reason),
                )
        for call in completed:
            self._queued_at.pop(call.call_id, None)
            if call.outcome is CallOutcome.ABANDONED:
                self._event(
                    "call_abandoned",
                    call.ended_at if call.ended_at is not None else call.arrived_at,
                    skill=call.skill,
                    language=call.language,
                    wait_s=_seconds(call.wait, 3),
                )
        self._wake.set()

    def _event(self, kind: str, at: float, **fields: Any) -> None:
        if len(self._events) >= self.cfg.queue:
            self._events.popleft()
            self.counters["mqtt_dropped"] += 1
        fields["event"] = kind
        self._events.append((at, fields))

    def _instant(self, at: float) -> str:
        wall = dt.datetime.fromtimestamp(self._epoch + at, dt.UTC)
        return wall.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # --- snapshots ----------------------------------------------------------------------

    def snapshots(self, snap: Snapshot) -> dict[str, dict[str, Any]]:
        """The retained payloads (without their "at") of a snapshot, by topic."""
        operators = dict.fromkeys((s.value for s in STATES), 0)
        for op in snap.operators.values():
            if op.state is not OperatorState.LOGGED_OUT:
                operators[op.state.value] += 1
        out: dict[str, dict[str, Any]] = {
            self.topic_centre: {
                "centre": self.centre,
                "lines": snap.lines,
                "lines_in_use": snap.lines_in_use,
                "in_ivr": snap.in_ivr,
                "waiting": sum(v.waiting for v in snap.skills.values()),
                "longest_wait_s": _seconds(
                    max((v.longest_wait_s for v in snap.skills.values()), default=0), 1
                ),
                "operators": operators,
                "callbacks_open": sum(snap.callbacks.values()),
            }
        }
        prefix = self.cfg.topic_prefix
        # A skill that had a topic keeps it, emptied, when its last operator and call leave.
        known = {t.rsplit("/", 1)[1] for t in self._sent if t.startswith(f"{prefix}/skill/")}
        for name in sorted(known | set(self._skills) | set(snap.skills)):
            view = snap.skill(name)
            out[f"{prefix}/skill/{name}"] = {
                "skill": name,
                "waiting": view.waiting,
                "longest_wait_s": _seconds(view.longest_wait_s, 1),
                "operators": {s.value: view.operators.get(s, 0) for s in STATES},
                "callbacks": view.callbacks,
            }
        return out

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start publishing (in a task of its own); returns at once, broker up or not."""
        if self._task is None:
            self._closing = False
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt")

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Flush what it can (for half of `timeout`), publish the retained "offline" and
        disconnect, all within `timeout`: past it the task is cancelled, the "offline" already
        written to the socket for a broker that has stopped answering."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._flush_until = asyncio.get_running_loop().time() + timeout / 2
        self._stopping.set()
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            log.warning("MQTT feed: no clean disconnect within %g s", timeout)
            # A cancelled client still waits for the broker to close in its exit: cancel that
            # too, so that stop() stays bounded whatever the broker does.
            for _ in range(3):
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=0.5)
                if done:
                    break
            if task.done() and not task.cancelled():
                task.exception()  # (retrieved: nothing to report after a forced stop)

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with self._client() as client:
                    self.connected, attempt = True, 0
                    self.counters["mqtt_connects"] += 1
                    log.info("MQTT feed connected to %s:%s", self.cfg.host, self.cfg.port)
                    await self._publish(client, self.topic_status, ONLINE, retain=True)
                    self._sent.clear()
                    self._dirty = True
                    await self._pump(client)
                    await self._publish(client, self.topic_status, OFFLINE, retain=True)
                    return  # (leaving the block disconnects: no Last Will)
            except aiomqtt.MqttError as exc:
                self._lost(exc, attempt)
            except Exception as exc:  # a bug here must not end the feed for the process
                self.counters["mqtt_errors"] += 1
                log.exception("MQTT feed: unexpected error")
                self._lost(exc, attempt)
            finally:
                if self.connected:
                    self.connected = False
                    self.counters["mqtt_disconnects"] += 1
            if self._closing:
                return
            delay = backoff(attempt, self._rng, *self._backoff_s)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    def _lost(self, exc: BaseException, attempt: int) -> None:
        if self.connected:
            log.warning("MQTT feed lost the broker %s:%s: %s", self.cfg.host, self.cfg.port, exc)
        else:
            self.counters["mqtt_connect_failures"] += 1
            (log.warning if attempt == 0 else log.debug)(
                "MQTT feed cannot reach %s:%s: %s", self.cfg.host, self.cfg.port, exc
            )

    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password,
            identifier=self._identifier,
            will=aiomqtt.Will(self.topic_status, OFFLINE, qos=1, retain=True),
            keepalive=cfg.keepalive,
            timeout=PUBLISH_TIMEOUT_S,
            tls_context=self._tls,
            logger=log,
        )
        # aiomqtt warns at every publication beyond 10 in flight; this feed keeps a window of
        # WINDOW events in flight by design (plus a snapshot round), so under a burst it
        # logged a warning per publication: noise, and formatting work on the event loop.
        client.pending_calls_threshold = WINDOW + SNAPSHOT_ALLOWANCE
        return client

    async def _publish(
        self, client: aiomqtt.Client, topic: str, payload: bytes, retain: bool = False
    ) -> None:
        await client.publish(topic, payload, qos=1, retain=retain, timeout=PUBLISH_TIMEOUT_S)
        self.counters["mqtt_published"] += 1

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish events and snapshot rounds until stop(); MqttError if the link is lost."""
        lost = asyncio.ensure_future(self._until_lost(client))
        try:
            while True:
                self._wake.clear()
                if self._closing:
                    # What is left, while there is time; then "offline" (in _run) either way.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(self._flush_until):
                            while self._events and await self._publish_events(client, lost):
                                pass
                            if self._dirty:
                                await self._snapshot_round(client)
                    return
                # Snapshots first: a steady stream of events must not hold them back.
                if self._due_in() == 0.0:
                    await self._snapshot_round(client)
                if self._events:
                    await self._publish_events(client, lost)
                    continue
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {woken, lost}, timeout=self._due_in(), return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                if lost.done():
                    lost.result()  # raises the MqttError
                    raise aiomqtt.MqttError("disconnected")
        finally:
            lost.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await lost

    @staticmethod
    async def _until_lost(client: aiomqtt.Client) -> None:
        # Nothing is subscribed: the message iterator only ends, raising, when the link drops.
        async for _ in client.messages:
            pass

    def _due_in(self) -> float | None:
        if not self._dirty:
            return None
        return max(0.0, self._last_round + self._period_s - time.monotonic())

    async def _publish_events(self, client: aiomqtt.Client, lost: asyncio.Future[None]) -> bool:
        """Publish a window of events; False if some were not acknowledged (they are back at
        the buffer's head). MqttError when the link is lost, or acknowledgements stop coming."""
        batch = [self._events.popleft() for _ in range(min(WINDOW, len(self._events)))]
        tasks = [
            asyncio.ensure_future(
                client.publish(
                    self.topic_events,
                    _payload({**body, "at": self._instant(at)}),
                    qos=1,
                    timeout=PUBLISH_TIMEOUT_S,
                )
            )
            for at, body in batch
        ]
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        waiters: set[asyncio.Future[Any]] = {gathered, lost}
        if not self._closing:  # stop() must not wait for a broker that has stopped answering
            waiters.add(asyncio.ensure_future(self._stopping.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters - {lost}:
                waiter.cancel()
            await asyncio.gather(gathered, return_exceptions=True)
        failed = [e for e, t in zip(batch, tasks, strict=True) if t.cancelled() or t.exception() is not None]
        self.counters["mqtt_published"] += len(batch) - len(failed)
        if not failed:
            return True
        # Back at the head, in order, for the next try; what no longer fits is dropped.
        room = self.cfg.queue - len(self._events)
        keep = failed[len(failed) - room :] if room < len(failed) else failed
        self.counters["mqtt_dropped"] += len(failed) - len(keep)
        self._events.extendleft(reversed(keep))
        if lost.done():
            lost.result()
            raise aiomqtt.MqttError("disconnected")
        if not self._closing:
            raise aiomqtt.MqttError(f"{len(failed)} events not acknowledged")
        return False

    async def _snapshot_round(self, client: aiomqtt.Client) -> None:
        self._dirty = False
        self._last_round = time.monotonic()
        try:
            snap = self._snapshot()
            rendered = self.snapshots(snap)
        except Exception:
            self.counters["mqtt_snapshot_errors"] += 1
            log.exception("MQTT feed: the snapshot could not be rendered")
            return
        at = self._instant(snap.at)
        for topic, body in rendered.items():
            key = _payload(body)
            if self._sent.get(topic) == key:
                continue
            try:
                await self._publish(client, topic, _payload({**body, "at": at}), retain=True)
            except BaseException:
                self._dirty = True  # the rest is sent on the next connection
                raise
            self._sent[topic] = key
