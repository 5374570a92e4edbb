# The callback desk: the live side of callbacks, between the core, the store and Asterisk.
# Rules:
# - It decides nothing the core decides. It validates the number a caller chose (their
#   caller ID or the digits they keyed, with contactcenter.numbers), and carries out the
#   store's part of the core's commands: PersistCallback (commit, then report
#   CallbackStored, or CallbackStoreFailed: no promise), DialCitizen (record the attempt,
#   then originate the citizen's leg: never the other way round), UpdateCallback (the
#   attempt's outcome, or the final state, which forgets the number).
# - A number lives in the store only, while the callback needs it; in memory only from the
#   caller's choice to the commit. It reaches an AMI header only after validation, as E.164
#   digits (the Local channel's extension); logs show it masked.
# - Each callback's store work and AMI actions run in order on the executor's queue for its
#   id (the live call's until the commit), so an attempt is recorded before it is dialled.
# - Restart: every open callback in the store is read before Asterisk's channels are
#   listed, and given back to the core (CallbackRestored) at its place in the same step as
#   the operators' states (no await between the list and them). One whose attempt was in
#   progress when the controller stopped is left in doubt: while a leg of it is alive it is
#   left alone (its conversation goes on); once none is, the attempt counts as answered if
#   its citizen's leg was seen up in Asterisk's list (the callback completed, never dialled
#   again), else as made, outcome unknown, and the callback is retried only if attempts
#   remain, after the retry delay, never at once.
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from contactcenter.config import Config
from contactcenter.core import events as ev
from contactcenter.core.booking import BookingCalendar, NotBookable, SlotPlan, StaffedShift, Staffing
from contactcenter.core.commands import Command, DialCitizen, PersistCallback, UpdateCallback
from contactcenter.core.lifecycle import CallbackState as CoreState
from contactcenter.live.channels import Channels
from contactcenter.live.executor import Executor
from contactcenter.live.translator import CallbackChoice
from contactcenter.numbers import BadNumber, CallbackNumber, as_dialled, is_withheld, parse_callback_number
from contactcenter.privacy import mask_number
from contactcenter.store import (
    AttemptOutcome,
    CallbackRecord,
    CallbackState,
    CallbackStore,
    StoreError,
    new_callback_id,
)

log = logging.getLogger("contactcenter.callbacks")

MAX_NUMBER_TRIES = 2  # keyed numbers refused before the offer politely ends
_FINAL = {
    CoreState.COMPLETED: CallbackState.COMPLETED,
    CoreState.FAILED: CallbackState.FAILED,
    CoreState.EXPIRED: CallbackState.EXPIRED,
    CoreState.CANCELLED: CallbackState.CANCELLED,
}


def _host_in_uri(host: str) -> str:
    """A gateway's host as a SIP URI writes it (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def number_secret(store: Path) -> bytes:
    """The key of number keys, kept beside the store (made once, readable by us only): the
    same number gives the same key across restarts, and a key cannot be reversed."""
    path = store.with_name(store.name + ".key")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    return path.read_bytes()


class CallbackDesk:
    def __init__(
        self,
        cfg: Config,
        store: CallbackStore,
        secret: bytes,
        executor: Executor,
        channels: Channels,
        report: Callable[[ev.Event], object],
        clock: Callable[[], float],
        epoch: float,
        counters: Counter[str],
    ) -> None:
        assert cfg.callbacks is not None
        self.cfg, self.callbacks_cfg = cfg, cfg.callbacks
        self.store, self._secret = store, secret
        self.executor, self.channels = executor, channels
        self._report, self._clock, self.epoch, self.counters = report, clock, epoch, counters
        self._chosen: dict[str, CallbackNumber] = {}  # call id -> number, until committed
        self._tries: Counter[str] = Counter()  # call id -> numbers refused so far
        self._live_attempt: dict[str, int] = {}  # callback id -> its attempt being dialled
        self.in_doubt: set[str] = set()  # callbacks whose legs outlived a restart
        # Those of them whose citizen was seen on the line (their leg up, in Asterisk's
        # list): the attempt was answered, whatever the store says (the controller that
        # dialled it may have died before writing so).
        self.answered_in_doubt: set[str] = set()

    def wall(self, t: float) -> float:
        return self.epoch + t

    # --- booked callbacks ("cita previa") -----------------------------------------------------

    def booking_calendar(self, around: float) -> BookingCalendar:
        """The slots and their capacity for the day of `around` (wall-clock seconds): every
        operator of the centre on shift through that day's opening (the config has no
        roster yet), slots and share from `callbacks.booking`."""
        c, hours = self.callbacks_cfg, self.cfg.hours
        if hours is None:
            start = around - around % 86_400.0
            end = start + 86_400.0
        else:
            midnight = dt.datetime.fromtimestamp(around, hours.tz).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            opens = hours.next_open(midnight.timestamp())
            closes = None if opens is None else hours.closes_at(opens)
            if opens is None or closes is None:
                raise NotBookable("closed", "the line does not open that day")
            start, end = opens, closes
        shifts = tuple(
            StaffedShift(start=start, end=end, skills=tuple(op.skills.items()), operator_id=op.id)
            for op in self.cfg.operators
        )
        plan = SlotPlan(
            slot_s=c.booking_slot_s, share=c.booking_share, default_aht_s=self.cfg.routing.default_aht
        )
        return BookingCalendar(plan=plan, staffing=Staffing(shifts), hours=hours)

    async def slots(self, skill: str, day: dt.date) -> list[tuple[float, float, int]]:
        """The bookable slots of `day` (the centre's local day) for `skill`, from now on:
        (start, end, places left), wall-clock seconds. Empty when the line is closed then."""
        tz = self.cfg.hours.tz if self.cfg.hours is not None else dt.UTC
        midnight = dt.datetime.combine(day, dt.time(0), tz).timestamp()
        try:
            calendar = self.booking_calendar(midnight + 43_200.0)
        except NotBookable:
            return []
        now = self.wall(self._clock())
        start, end = max(midnight, now), midnight + 86_400.0
        if start >= end:
            return []
        booked = await self.store.bookings(skill, start, end)
        return [(s.slot.start, s.slot.end, s.free) for s in calendar.slots(skill, start, end, booked)]

    async def book(self, raw_number: str, skill: str, language: str, due_at: float) -> str:
        """Book a callback to `raw_number` for `skill` in `language` at `due_at` (wall-clock
        seconds): committed to the store, then given to the core, which dials it at its time
        in its place, operator first. Its id, or: BadNumber, NotBookable (past, closed,
        unstaffed, full), ValueError (an unknown skill or language), SlotFull (filled by a
        booking at the same moment), CallbackConflict (this number has a booking for this
        service), StoreError."""
        if skill not in self.cfg.skills or language not in self.cfg.languages:
            raise ValueError(f"no such service and language: {skill}/{language}")
        number = parse_callback_number(raw_number, secret=self._secret)
        now = self.wall(self._clock())
        calendar = self.booking_calendar(due_at)
        slot = calendar.slot_at(due_at)
        policy = self.callbacks_cfg.policy
        booked = await self.store.bookings(skill, slot.start, slot.end)
        terms = calendar.terms(skill, due_at, now=now, policy=policy, booked=booked)
        record = CallbackRecord(
            callback_id=new_callback_id(),
            number=number.e164,
            number_key=number.key,
            skill=skill,
            language=language,
            priority=0,
            arrived_at=terms.due_at,  # its place in the queue is its time
            queue_seq=0,
            requested_at=now,
            ivr_path=f"{language}/{skill}/booked",
            due_at=terms.due_at,
            expires_at=terms.expires_at,
            state=CallbackState.PENDING,
            attempts=0,
            next_attempt_at=None,
            last_outcome=None,
            operator_id=None,
            updated_at=now,
        )
        await self.store.book(
            record, slot_start=terms.slot.start, slot_end=terms.slot.end, capacity=terms.capacity
        )
        self.counters["callbacks_booked"] += 1
        log.info("callback %s booked for %s at %s", record.callback_id, skill, terms.due_at)
        self._report(self._restored(record))
        return record.callback_id

    # --- the caller's choice ----------------------------------------------------------------

    def choice(self, choice: CallbackChoice) -> None:
        call_id = choice.call_id
        now = self._clock()
        if choice.key == "0":
            self._report(ev.CallbackDeclined(now=now, call_id=call_id))
            return
        raw = self.channels.numbers.get(call_id) if choice.key == "1" else choice.digits
        try:
            if choice.key == "1" and is_withheld(raw):
                raise BadNumber("withheld")
            number = parse_callback_number(raw or "", secret=self._secret)
        except BadNumber as bad:
            if choice.key == "1":
                # Their caller ID is withheld or no number we may call: they key one instead
                # (not counted as a try: it was not theirs to get wrong).
                self.counters[f"callback_caller_id_{bad.reason}"] += 1
                self.executor.write(
                    call_id, lambda: self.executor.redirect_caller(call_id, "cc-callback-offer", "digits")
                )
                return
            self.counters[f"callback_bad_number_{bad.reason}"] += 1
            log.info("call %s: callback number %s refused (%s)", call_id, mask_number(raw), bad.reason)
            self._tries[call_id] += 1
            if self._tries[call_id] >= MAX_NUMBER_TRIES:
                # A polite end: they keep waiting, and are told why.
                del self._tries[call_id]
                self._report(ev.CallbackDeclined(now=now, call_id=call_id))
                self.executor.write(
                    call_id, lambda: self.executor.redirect_caller(call_id, "cc-callback-done", "refused")
                )
            else:
                self.executor.write(
                    call_id, lambda: self.executor.redirect_caller(call_id, "cc-callback-offer", "invalid")
                )
            return
        self._tries.pop(call_id, None)
        self._chosen[call_id] = number
        callback_id = new_callback_id()
        log.info("call %s: callback %s asked for, to %s", call_id, callback_id, mask_number(number.e164))
        self._report(
            ev.CallbackAccepted(now=now, call_id=call_id, callback_id=callback_id, number_key=number.key)
        )
        # The core has replied by now (PersistCallback took the number with it; a merge or a
        # stale choice did not need it): it is not kept.
        self._chosen.pop(call_id, None)

    def arrived(self, call_id: str) -> None:
        """A call came in: if its number already has a callback waiting, the IVR says so
        (CC_CALLBACK_PENDING, read before the caller queues)."""
        raw = self.channels.numbers.get(call_id)
        if raw is None or is_withheld(raw):
            return
        try:
            number = parse_callback_number(raw, secret=self._secret)
        except BadNumber:
            return
        # Beside the call's turn, not in it: its Originate need not wait for the store, and a
        # Setvar on the channel is harmless wherever it falls among the call's actions.
        self.executor.settle(call_id, self._tell_if_pending(call_id, number.key))

    async def _tell_if_pending(self, call_id: str, key: str) -> None:
        try:
            found = [await self.store.find_open(key, skill) for skill in self.cfg.skills]
        except StoreError as exc:
            log.warning("call %s: pending callbacks not looked up: %s", call_id, exc)
            return
        if any(found):
            told = self.executor.setvar(call_id, "CC_CALLBACK_PENDING", "1")
            if told is not None:
                self.counters["callers_told_of_pending_callback"] += 1
                self.executor.settle(call_id, told)

    def forget_call(self, call_id: str) -> None:
        """The live call ended: nothing of its number stays in memory."""
        self._chosen.pop(call_id, None)
        self._tries.pop(call_id, None)

    # --- the core's commands ------------------------------------------------------------------

    HANDLES = (PersistCallback, DialCitizen, UpdateCallback)

    def carry_out(self, cmd: Command) -> None:
        if isinstance(cmd, PersistCallback):
            number = self._chosen.pop(cmd.call_id, None)
            self.executor.submit(cmd.call_id, lambda: self._persist(cmd, number))
        elif isinstance(cmd, DialCitizen):
            self.executor.submit(cmd.call_id, lambda: self._dial_citizen(cmd))
        elif isinstance(cmd, UpdateCallback):
            self.executor.submit(cmd.call_id, lambda: self._update(cmd))

    async def _persist(self, cmd: PersistCallback, number: CallbackNumber | None) -> None:
        now = self._clock()
        if number is None:  # (cannot happen: the core asks to persist only what was chosen)
            self._report(ev.CallbackStoreFailed(now=now, callback_id=cmd.callback_id, reason="no number"))
            return
        record = CallbackRecord(
            callback_id=cmd.callback_id,
            number=number.e164,
            number_key=number.key,
            skill=cmd.skill,
            language=cmd.language,
            priority=cmd.priority,
            arrived_at=self.wall(cmd.queued_at),
            # (The core's tie-breaking sequence is this process's own; across a restart the
            # store orders callbacks by arrival, then by id.)
            queue_seq=0,
            requested_at=self.wall(now),
            ivr_path=f"{cmd.language}/{cmd.skill}",
            due_at=None,
            expires_at=self.wall(cmd.expires_at),
            state=CallbackState.PENDING,
            attempts=0,
            next_attempt_at=None,
            last_outcome=None,
            operator_id=None,
            updated_at=self.wall(now),
        )
        try:
            await self.store.add(record)
        except StoreError as exc:
            self.counters["callback_store_failures"] += 1
            log.error("callback %s not stored: %s", cmd.callback_id, exc)
            self._report(
                ev.CallbackStoreFailed(now=self._clock(), callback_id=cmd.callback_id, reason="store")
            )
            return
        self.counters["callbacks_stored"] += 1
        self._report(ev.CallbackStored(now=self._clock(), callback_id=cmd.callback_id))

    async def _dial_citizen(self, cmd: DialCitizen) -> None:
        cb_id = cmd.call_id
        try:
            record = await self.store.get(cb_id)
            if record is None or record.number is None:
                raise StoreError(f"callback {cb_id} has no number in the store")
            n = await self.store.start_attempt(cb_id, cmd.operator_id, self.wall(self._clock()))
        except StoreError as exc:
            # Not recorded, so not dialled: at most one live attempt, and none unrecorded.
            self.counters["callback_store_failures"] += 1
            log.error("callback %s: attempt not recorded, not dialled: %s", cb_id, exc)
            self._report(ev.CitizenNotReached(now=self._clock(), callback_id=cb_id, outcome="failed"))
            return
        self._live_attempt[cb_id] = n
        c = self.callbacks_cfg
        trunk = c.trunk
        leg = self.channels.new_callback_leg(cb_id, cmd.operator_id, local=trunk is None, citizen=True)
        # The number is the store's E.164 (checked when it was taken): only '+' and digits
        # reach the dial string.
        if trunk is None:  # the sandbox's simulated phone: digits as the Local extension
            channel = f"Local/{record.number.removeprefix('+')}@cc-sim-callee/n"
            variables = [f"CC_ANSWER_AFTER={c.answer_after:g}", f"CC_TALK_SECONDS={c.talk_seconds:g}"]
        else:  # through the gateway: Asterisk's pstn endpoint, to the gateway's address
            dialled = as_dialled(record.number, trunk.number_format, trunk.prefix)
            channel = f"PJSIP/pstn/sip:{dialled}@{_host_in_uri(trunk.host)}:{trunk.port}"
            variables = []
        self.executor.settle(
            cb_id,
            self.executor.originate_citizen(
                leg, channel=channel, ring_timeout=c.ring_timeout, variables=variables
            ),
        )

    async def _update(self, cmd: UpdateCallback) -> None:
        cb_id, now = cmd.call_id, self.wall(self._clock())
        outcome = None if cmd.outcome is None else AttemptOutcome(cmd.outcome)
        n = self._live_attempt.get(cb_id)
        try:
            if cmd.state in _FINAL:
                self._live_attempt.pop(cb_id, None)
                await self.store.finish(cb_id, _FINAL[cmd.state], now, outcome)
            elif n is not None and outcome is not None:
                if cmd.state is CoreState.TALKING:  # answered: completed when it ends
                    await self.store.end_attempt(cb_id, n, outcome, now, None)
                elif cmd.state is CoreState.SCHEDULED and cmd.next_attempt_at is not None:
                    del self._live_attempt[cb_id]
                    await self.store.end_attempt(cb_id, n, outcome, now, self.wall(cmd.next_attempt_at))
            # (A deferral with no attempt in progress, to the next opening or for a free
            # line, is not written: restored, the core defers it again.)
        except StoreError as exc:
            self.counters["callback_store_failures"] += 1
            log.error("callback %s: state %s not stored: %s", cb_id, cmd.state.value, exc)

    # --- restart --------------------------------------------------------------------------------

    async def open_callbacks(self) -> list[CallbackRecord]:
        """Every open callback in the store, in queue order, for `give_back` (read before
        Asterisk's channels are listed: see give_back)."""
        return await self.store.pending()

    def give_back(
        self, stored: Iterable[CallbackRecord], alive: Mapping[str, Mapping[str, object]] | None
    ) -> int:
        """The open callbacks to the core, each at its place, in the step that gives the
        operators back (nothing awaited: no call routed meanwhile is served ahead of them,
        and no operator is offered one before their own state is back). `alive`: the
        channels Asterisk has now, by Uniqueid (None: unknown). One whose attempt was in
        progress is left in doubt (`in_doubt`), not given: while a leg of it is alive its
        conversation goes on; `recheck` settles it once none is. Returns how many were
        given."""
        alive_ids = None if alive is None else list(alive)
        given = 0
        for record in stored:
            if record.state is CallbackState.DIALLING:
                self.in_doubt.add(record.callback_id)
                self._seen_answered(record.callback_id, alive or {})
                if alive_ids is None or any(uid.startswith(record.callback_id) for uid in alive_ids):
                    log.warning(
                        "callback %s is still on the line after a restart: left alone", record.callback_id
                    )
                continue
            self._report(self._restored(record))
            given += 1
        return given

    async def _settle_in_doubt(self, record: CallbackRecord) -> CallbackRecord | None:
        """An attempt in progress when we stopped, with no channel left: it counts as made."""
        policy = self.callbacks_cfg.policy
        now = self.wall(self._clock())
        attempts = await self.store.attempts(record.callback_id)
        last = attempts[-1] if attempts else None
        seen = record.callback_id in self.answered_in_doubt
        self.answered_in_doubt.discard(record.callback_id)
        if seen or (last is not None and last.outcome is AttemptOutcome.ANSWERED):
            await self.store.finish(record.callback_id, CallbackState.COMPLETED, now, AttemptOutcome.ANSWERED)
            return None
        if record.attempts >= policy.attempts:
            await self.store.finish(record.callback_id, CallbackState.FAILED, now, AttemptOutcome.UNKNOWN)
            return None
        retry_at = now + policy.retry_delay_s
        if last is not None and last.ended_at is None:
            await self.store.end_attempt(record.callback_id, last.n, AttemptOutcome.UNKNOWN, now, retry_at)
        return await self.store.get(record.callback_id)

    def _seen_answered(self, cb_id: str, alive: Mapping[str, Mapping[str, object]]) -> None:
        """Note this callback as answered if its citizen is on the line in Asterisk's list
        (their leg up)."""
        if any(
            uid.startswith(f"{cb_id}-c-") and item.get("ChannelStateDesc") == "Up"
            for uid, item in alive.items()
        ):
            self.answered_in_doubt.add(cb_id)

    async def recheck(self, alive: Mapping[str, Mapping[str, object]]) -> None:
        """Callbacks left alone at restart whose channels are all gone now: settled (an
        attempt whose citizen was seen on the line, answered), and given back to the core."""
        for cb_id in sorted(self.in_doubt):
            self._seen_answered(cb_id, alive)
            if any(uid.startswith(cb_id) for uid in alive):
                continue
            self.in_doubt.discard(cb_id)
            record = await self.store.get(cb_id)
            if record is None or record.state not in (CallbackState.PENDING, CallbackState.DIALLING):
                continue
            settled = (
                await self._settle_in_doubt(record) if record.state is CallbackState.DIALLING else record
            )
            if settled is not None:
                self._report(self._restored(settled))

    def _restored(self, record: CallbackRecord) -> ev.CallbackRestored:
        def core_time(wall: float | None) -> float | None:
            return None if wall is None else wall - self.epoch

        # Not before a retry's delay, if one is running; else, if booked, not before its time.
        due = record.due_at if record.next_attempt_at is None else record.next_attempt_at
        return ev.CallbackRestored(
            now=self._clock(),
            callback_id=record.callback_id,
            skill=record.skill,
            language=record.language,
            priority=record.priority,
            queued_at=record.arrived_at - self.epoch,
            requested_at=record.requested_at - self.epoch,
            number_key=record.number_key,
            expires_at=record.expires_at - self.epoch,
            attempts=record.attempts,
            next_attempt_at=core_time(due),
            booked=record.due_at is not None,
        )
