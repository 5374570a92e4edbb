# Prometheus metrics of the live centre: an observer of the core's read model, and the
# collector Prometheus reads through the HTTP listener's /metrics. Rules:
# - Names: the `cc_` prefix, base units (seconds), counters end in `_total`. Labels are only
#   skill, language, state, outcome and reason (and histograms' `le`). Their values come from
#   the configuration (skills, languages), the core's enums (states, outcomes), or a reason
#   checked here (`reason_label`): never a call, operator or callback id, never a number, so
#   there is a series per configured thing, not per call, and no number can leak.
# - What mirrors state (calls waiting, operators by state, lines, open callbacks) is read
#   from `snapshot()` when Prometheus scrapes: nothing is counted twice, nothing can drift.
#   What accumulates (calls by outcome, waits, talk times, the EWT's error, callbacks ended)
#   is counted from the completed calls and callbacks the core hands over. A call counts
#   when it ends, under its skill and language; one that never chose them (blocked, closed,
#   or hung up in the IVR) under "(none)", as in the KPI reports.
# - Offered, answered, abandoned, blocked, called back and closed mean what core/kpis.py
#   says: offered = answered + abandoned + blocked + called back; closed calls are not offered.
# - Service level is the field's: answered within T / answered. The wait histogram of
#   answered calls (outcome="answered") has a bucket at exactly T (`sl_threshold_s`), so SL =
#   that bucket / its count, which sums across controllers as counters do (Prometheus' own
#   SLO practice). Its `le` is T as Prometheus writes floats: 20 s is le="20.0".
# - Every configured skill and language has its series from the start, at zero, so rates
#   and ratios in the rules are defined before the first call.
# - The AMI link's and the input's figures are the controller's `counters`, read at scrape
#   time under the names below (AMI_EVENTS, AMI_ACTIONS, RESYNCS, DROPPED_PREFIX).
# - Event-loop lag: a task sleeps `lag_period_s` and measures how late it wakes. The AMI
#   actions pending and the event loop's tasks are gauges read at scrape time (a soak's
#   figures: they must stay flat).
# - Routing latency (cc_routing_latency_seconds): from an AMI event read to the first action
#   each task its handling started wrote (adapters/ami.py's EVENT_READ); the last
#   LATENCY_SAMPLES figures are also kept for exact percentiles (a load test's p50/p99).
# - Everything runs on the event loop (observer and scrape alike): it must be quick, and it
#   never raises for data it does not expect; an odd call is skipped, a skill or language
#   the configuration does not have is "other".
from __future__ import annotations

import asyncio
import itertools
import math
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.kpis import UNKNOWN_SKILL
from contactcenter.core.lifecycle import FINAL_CALLBACK_STATES, CallbackState, CallOutcome, OperatorState
from contactcenter.core.readmodel import CallbackChanged, Change, Snapshot

# The classic text format, which every Prometheus reads (generate_latest writes it for names
# like ours); prometheus-client's CONTENT_TYPE_LATEST names a newer one in recent versions.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

NONE = UNKNOWN_SKILL  # the skill (and language) of a call that never chose one: "(none)"
OTHER = "other"  # a skill, language or reason this process cannot vouch for

WAIT_BUCKETS_S = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 1800.0)
TALK_BUCKETS_S = (15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1200.0, 1800.0)
EWT_ERROR_BUCKETS_S = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1200.0)
CALLBACK_DELAY_BUCKETS_S = (60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0)
# Fine from 0.1 to 10 ms, where routing should sit, so a load test that reads a running
# controller's histogram (`contactcenter load`) tells its p50 and p99 within a quarter, and
# whether the 5 ms goal is met exactly (a bound at 5 ms).
LATENCY_BUCKETS_S = (
    0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
    0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
LATENCY_SAMPLES = 100_000
LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# The controller's counters this reads.
AMI_EVENTS = "ami_events"  # every AMI event received
AMI_EVENTS_NOT_OURS = "ami_events_not_ours"  # of those, about no call or leg of the centre's
AMI_ACTIONS = "ami_actions_"  # + outcome: an AMI action's end (see AMI_ACTION_OUTCOMES)
AMI_ACTION_OUTCOMES = (
    "success",  # Asterisk answered Response: Success
    "error",  # Asterisk answered otherwise (Response: Error)
    "timeout",  # no complete response within the action's deadline
    "disconnected",  # not sent: no link
    "lost",  # sent, then the link was lost before the response
)
RESYNCS = "resyncs"
DROPPED_PREFIX = "dropped_"  # + reason: input that was malformed, logged and dropped

_OFFERED = frozenset({CallOutcome.ANSWERED, CallOutcome.ABANDONED, CallOutcome.BLOCKED, CallOutcome.CALLBACK})
# Outcomes after which a call's wait in queue (Call.wait) is a wait for an operator.
_WAITED = frozenset({CallOutcome.ANSWERED, CallOutcome.ABANDONED, CallOutcome.CALLBACK})
_LOGGED_IN = tuple(s for s in OperatorState if s is not OperatorState.LOGGED_OUT)
_OPEN_CALLBACK = tuple(s for s in CallbackState if s not in FINAL_CALLBACK_STATES)
_REASON = re.compile(r"[a-z][a-z0-9_.-]{0,39}")
_PHONE_LIKE = re.compile(r"[0-9]{6}")  # a run of 6 digits could be (part of) a phone number
# A bucket's bound as Prometheus writes it (20 -> "20.0", inf -> "+Inf"): rules match on it.
_as_le: Callable[[float], str] = floatToGoString


def reason_label(reason: str | None) -> str:
    """A reason as a label value: a short lowercase token as the code writes them, else
    "other" (a run of 6 digits could be a phone number; free text would be a series each)."""
    if reason is None:
        return "unknown"
    token = reason.lower()
    return token if _REASON.fullmatch(token) and not _PHONE_LIKE.search(token) else OTHER


class _Counter:
    """A counter family kept here, by label values (no `_created` series)."""

    def __init__(self, name: str, doc: str, label_names: Sequence[str]) -> None:
        self.name, self.doc, self.label_names = name, doc, tuple(label_names)
        self._values: dict[tuple[str, ...], float] = {}

    def prepare(self, labels: Iterable[tuple[str, ...]]) -> None:
        for key in labels:
            self._values.setdefault(key, 0.0)

    def inc(self, labels: tuple[str, ...], by: float = 1.0) -> None:
        self._values[labels] = self._values.get(labels, 0.0) + by

    def value(self, labels: tuple[str, ...]) -> float:
        return self._values.get(labels, 0.0)

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.doc, labels=self.label_names)
        for labels, value in self._values.items():
            family.add_metric(labels, value)
        return family


class _Series:
    __slots__ = ("count_in", "total")

    def __init__(self, bounds: int) -> None:
        self.count_in = [0] * (bounds + 1)  # observations per bucket, not cumulative; last: +Inf
        self.total = 0.0


class _Histogram:
    """A histogram family kept here: observations counted in the first bucket whose upper
    bound they do not exceed (Prometheus' `le`), exposed cumulative."""

    def __init__(self, name: str, doc: str, label_names: Sequence[str], bounds: Iterable[float]) -> None:
        self.name, self.doc, self.label_names = name, doc, tuple(label_names)
        self.bounds = tuple(sorted(set(bounds)))
        self._series: dict[tuple[str, ...], _Series] = {}

    def prepare(self, labels: Iterable[tuple[str, ...]]) -> None:
        for key in labels:
            self._series.setdefault(key, _Series(len(self.bounds)))

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = _Series(len(self.bounds))
        series.count_in[bisect_left(self.bounds, value)] += 1
        series.total += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.label_names)
        upper = [_as_le(b) for b in (*self.bounds, math.inf)]
        for labels, series in self._series.items():
            cumulative = itertools.accumulate(series.count_in)
            family.add_metric(labels, list(zip(upper, cumulative, strict=True)), series.total)
        return family


class Metrics:
    """The centre's Prometheus metrics: an observer (`observe`, `callbacks_completed`), a
    collector read at scrape time (`collect`), the /metrics route, and the lag probe."""

    def __init__(
        self,
        *,
        snapshot: Callable[[], Snapshot],
        counters: Mapping[str, int],
        ami_connected: Callable[[], bool],
        sl_threshold_s: float,
        ami_pending: Callable[[], int] = lambda: 0,
        skills: Sequence[str],
        languages: Sequence[str],
        lag_period_s: float = 1.0,
    ) -> None:
        if not (sl_threshold_s > 0 and math.isfinite(sl_threshold_s)):
            raise ValueError(f"sl_threshold_s must be a positive number of seconds, got {sl_threshold_s}")
        if not lag_period_s > 0:
            raise ValueError(f"lag_period_s must be > 0, got {lag_period_s}")
        self._snapshot, self._counters, self._ami_connected = snapshot, counters, ami_connected
        self._ami_pending = ami_pending
        self.sl_threshold_s = float(sl_threshold_s)
        self._skills, self._languages = tuple(skills), tuple(languages)
        self._lag_period_s = lag_period_s
        self._lag_task: asyncio.Task[None] | None = None
        # Callbacks waiting in their queue for an operator: id -> (skill, since when). One
        # leaves it when it is scheduled for later, reaches the citizen, or ends.
        self._pending_since: dict[str, tuple[str, float]] = {}

        call = ("skill", "language")
        self.offered = _Counter(
            "cc_calls_offered",
            "Calls offered (answered, abandoned, blocked or called back), counted as they end.",
            call,
        )
        self.ended = {
            CallOutcome.ANSWERED: _Counter("cc_calls_answered", "Calls answered by an operator.", call),
            CallOutcome.ABANDONED: _Counter(
                "cc_calls_abandoned", "Calls whose caller hung up before an operator answered.", call
            ),
            CallOutcome.BLOCKED: _Counter(
                "cc_calls_blocked", "Calls refused at arrival because every line was in use.", call
            ),
            CallOutcome.CLOSED: _Counter(
                "cc_calls_closed", "Calls that arrived outside opening hours.", call
            ),
            CallOutcome.CALLBACK: _Counter(
                "cc_calls_called_back", "Calls whose caller left their number for a callback.", call
            ),
        }
        self.wait = _Histogram(
            "cc_call_wait_seconds",
            "Seconds in queue until answered (outcome answered; SL = the bucket at the threshold / count),"
            " until hanging up (abandoned), or until leaving the number (callback).",
            (*call, "outcome"),
            (*WAIT_BUCKETS_S, self.sl_threshold_s),
        )
        self.talk = _Histogram(
            "cc_call_talk_seconds", "Seconds of conversation of answered calls.", call, TALK_BUCKETS_S
        )
        # The EWT's error, actual wait - EWT told at entry, in two parts that only grow: its
        # size (a histogram: mean absolute error = sum / count) and, by sign, its seconds
        # (bias = (longer - shorter) / count). A histogram of the signed error would have
        # no usable sum: it falls when callers wait less than told, which rate() takes for
        # a reset (and prometheus-client drops _sum and _count of negative buckets).
        self.ewt_error = _Histogram(
            "cc_ewt_abs_error_seconds",
            "Answered calls' wait minus the expected wait told as they joined the queue, in absolute value.",
            call,
            EWT_ERROR_BUCKETS_S,
        )
        self.ewt_error_by_sign = _Counter(
            "cc_ewt_error_seconds",
            "Seconds answered callers waited longer (outcome longer) or less (shorter) than told at entry.",
            (*call, "outcome"),
        )
        self.callbacks_ended = _Counter(
            "cc_callbacks_ended",
            "Callbacks that reached a final state, by that state (completed, failed, expired, cancelled).",
            (*call, "outcome"),
        )
        self.callback_delay = _Histogram(
            "cc_callback_delay_seconds",
            "Seconds from a callback's request (a booked one's time) to the conversation, of completed ones.",
            call,
            CALLBACK_DELAY_BUCKETS_S,
        )
        self.lag = _Histogram(
            "cc_event_loop_lag_seconds",
            "How late the controller's event loop ran a timer: work that held it up.",
            (),
            LAG_BUCKETS_S,
        )

        pairs = [(skill, language) for skill in self._skills for language in self._languages]
        unchosen = [(NONE, NONE)]
        self.offered.prepare([*pairs, *unchosen])
        for outcome, counter in self.ended.items():
            if outcome in (CallOutcome.BLOCKED, CallOutcome.CLOSED):
                counter.prepare(unchosen)  # refused before the IVR: never a skill
            elif outcome is CallOutcome.ABANDONED:
                counter.prepare([*pairs, *unchosen])  # also in the IVR
            else:
                counter.prepare(pairs)
        self.wait.prepare((*pair, outcome.value) for pair in pairs for outcome in _WAITED)
        for per_call in (self.talk, self.ewt_error, self.callback_delay):
            per_call.prepare(pairs)
        self.ewt_error_by_sign.prepare((*pair, sign) for pair in pairs for sign in ("longer", "shorter"))
        self.callbacks_ended.prepare(
            (*pair, state.value) for pair in pairs for state in FINAL_CALLBACK_STATES
        )
        self.lag.prepare([()])
        self.routing_latency = _Histogram(
            "cc_routing_latency_seconds",
            "Seconds from an AMI event read to an action it caused written.",
            (),
            LATENCY_BUCKETS_S,
        )
        self.routing_latency.prepare([()])
        self.latency_samples: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.lag_max_s = 0.0

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def routed_in(self, seconds: float) -> None:
        """An action was written `seconds` after the event that caused it was read."""
        self.routing_latency.observe((), seconds)
        self.latency_samples.append(seconds)

    def lag_seconds(self) -> tuple[int, float]:
        """The lag probe's (observations, total seconds) so far."""
        series = self.lag._series.get(())
        return (sum(series.count_in), series.total) if series else (0, 0.0)

    # --- the observer -------------------------------------------------------------------

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        for change in changes:
            if isinstance(change, CallbackChanged):
                self._callback_moved(change)
        for call in completed:
            self._count(call)

    def callbacks_completed(self, callbacks: Sequence[Callback]) -> None:
        """Callbacks that reached a final state (what the controller drains from the core)."""
        for cb in callbacks:
            labels = (self._skill(cb.skill), self._language(cb.language))
            self.callbacks_ended.inc((*labels, cb.state.value))
            delay = cb.time_to_serve
            if cb.state is CallbackState.COMPLETED and delay is not None:
                self.callback_delay.observe(labels, delay)
            self._pending_since.pop(cb.callback_id, None)

    def _count(self, call: Call) -> None:
        outcome = call.outcome
        if outcome is None:
            return  # (the core completes a call only with its outcome)
        labels = (self._skill(call.skill), self._language(call.language))
        self.ended[outcome].inc(labels)
        if outcome in _OFFERED:
            self.offered.inc(labels)
        wait = call.wait
        if wait is None or outcome not in _WAITED:
            return  # hung up in the IVR, or refused: never waited for an operator
        self.wait.observe((*labels, outcome.value), wait)
        if outcome is CallOutcome.ANSWERED and call.answered_at is not None and call.ended_at is not None:
            self.talk.observe(labels, call.ended_at - call.answered_at)
            told = call.ewt_at_entry
            if told is not None and math.isfinite(told):
                error = wait - told
                self.ewt_error.observe(labels, abs(error))
                self.ewt_error_by_sign.inc((*labels, "longer" if error > 0 else "shorter"), abs(error))

    def _callback_moved(self, change: CallbackChanged) -> None:
        if change.state is CallbackState.PENDING:
            # (Back from an operator who was not reached: still waiting since it first queued.)
            self._pending_since.setdefault(change.callback_id, (self._skill(change.skill), change.at))
        elif change.state is not CallbackState.RINGING_OPERATOR:
            self._pending_since.pop(change.callback_id, None)

    def _skill(self, skill: str | None) -> str:
        if skill is None:
            return NONE
        return skill if skill in self._skills else OTHER

    def _language(self, language: str | None) -> str:
        if language is None:
            return NONE
        return language if language in self._languages else OTHER

    # --- the scrape ---------------------------------------------------------------------

    def route(self) -> Route:
        """GET /metrics, for the HTTP listener."""
        return Route("/metrics", self._scrape, methods=["GET"])

    async def _scrape(self, request: Request) -> Response:
        # (async: it runs on the event loop, where reading the core is safe; see http.py)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)

    def exposition(self) -> bytes:
        """The text /metrics serves."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """Every family, the state ones read from a snapshot taken now (the registry's
        collector protocol)."""
        snap = self._snapshot()
        yield from self._queues(snap)
        yield from self._operators(snap)
        yield from self._lines(snap)
        yield from self._callbacks(snap)
        yield from self._ami()
        yield self.offered.family()
        for counter in self.ended.values():
            yield counter.family()
        yield self.ewt_error_by_sign.family()
        yield self.callbacks_ended.family()
        for histogram in (
            self.wait,
            self.talk,
            self.ewt_error,
            self.callback_delay,
            self.lag,
            self.routing_latency,
        ):
            yield histogram.family()

    def _queues(self, snap: Snapshot) -> Iterator[Metric]:
        waiting = dict.fromkeys(self._skills, 0)
        longest = dict.fromkeys(self._skills, 0.0)
        for view in snap.skills.values():
            skill = self._skill(view.skill)
            waiting[skill] = waiting.get(skill, 0) + view.waiting
            longest[skill] = max(longest.get(skill, 0.0), view.longest_wait_s)
        calls_waiting = GaugeMetricFamily(
            "cc_calls_waiting", "Calls queued for an operator of the skill (all languages).", labels=["skill"]
        )
        longest_wait = GaugeMetricFamily(
            "cc_calls_longest_wait_seconds",
            "How long the longest-waiting call of the skill has waited so far (0: none waiting).",
            labels=["skill"],
        )
        for skill, n in waiting.items():
            calls_waiting.add_metric([skill], n)
            longest_wait.add_metric([skill], longest[skill])
        yield calls_waiting
        yield longest_wait

    def _operators(self, snap: Snapshot) -> Iterator[Metric]:
        by_state = {state.value: 0 for state in OperatorState}
        unreachable: dict[str, int] = {}
        for op in snap.operators.values():
            by_state[op.state.value] += 1
            if op.state is OperatorState.UNREACHABLE:
                reason = reason_label(op.reason)
                unreachable[reason] = unreachable.get(reason, 0) + 1
        by_skill = {(skill, state.value): 0 for skill in self._skills for state in _LOGGED_IN}
        for view in snap.skills.values():
            skill = self._skill(view.skill)
            for state, n in view.operators.items():
                key = (skill, state.value)
                by_skill[key] = by_skill.get(key, 0) + n
        operators = GaugeMetricFamily(
            "cc_operators", "Operators by state (each operator once, logged out included).", labels=["state"]
        )
        for state_name, n in by_state.items():
            operators.add_metric([state_name], n)
        faults = GaugeMetricFamily(
            "cc_operators_unreachable",
            "Operators the system could not ring (its fault, not theirs), by the fault's reason.",
            labels=["reason"],
        )
        for reason, n in sorted(unreachable.items()):
            faults.add_metric([reason], n)
        skill_operators = GaugeMetricFamily(
            "cc_skill_operators",
            "Logged-in operators with the skill, by state (a multi-skilled operator counts in each skill).",
            labels=["skill", "state"],
        )
        for (skill, state_name), n in by_skill.items():
            skill_operators.add_metric([skill, state_name], n)
        yield operators
        yield faults
        yield skill_operators

    def _lines(self, snap: Snapshot) -> Iterator[Metric]:
        yield GaugeMetricFamily("cc_lines_capacity", "Calls the centre admits at once.", value=snap.lines)
        yield GaugeMetricFamily(
            "cc_lines_in_use",
            "Lines in use: calls in the IVR, queued, ringing or talking, and callbacks being dialled.",
            value=snap.lines_in_use,
        )
        yield GaugeMetricFamily("cc_calls_in_ivr", "Calls in the IVR, not yet queued.", value=snap.in_ivr)

    def _callbacks(self, snap: Snapshot) -> Iterator[Metric]:
        by_state = {state.value: 0 for state in _OPEN_CALLBACK}
        for state, n in snap.callbacks.items():
            by_state[state.value] = by_state.get(state.value, 0) + n
        open_by_state = GaugeMetricFamily("cc_callbacks_open", "Open callbacks, by state.", labels=["state"])
        for state_name, n in by_state.items():
            open_by_state.add_metric([state_name], n)
        per_skill = dict.fromkeys(self._skills, 0)
        for view in snap.skills.values():
            skill = self._skill(view.skill)
            per_skill[skill] = per_skill.get(skill, 0) + view.callbacks
        open_by_skill = GaugeMetricFamily(
            "cc_skill_callbacks_open", "Open callbacks of the skill (any state).", labels=["skill"]
        )
        for skill, n in per_skill.items():
            open_by_skill.add_metric([skill], n)
        oldest = dict.fromkeys(self._skills, snap.at)
        for skill, since in self._pending_since.values():
            oldest[skill] = min(oldest.get(skill, snap.at), since)
        longest = GaugeMetricFamily(
            "cc_callbacks_longest_pending_seconds",
            "How long the longest-waiting callback of the skill has waited in its queue for an operator"
            " (since it last entered it; 0: none).",
            labels=["skill"],
        )
        for skill, since in oldest.items():
            longest.add_metric([skill], max(0.0, snap.at - since))
        yield open_by_state
        yield open_by_skill
        yield longest

    def _ami(self) -> Iterator[Metric]:
        counters = self._counters
        yield GaugeMetricFamily(
            "cc_ami_connected",
            "1 while the AMI link to Asterisk is logged in, else 0.",
            value=1.0 if self._ami_connected() else 0.0,
        )
        # (What a soak watches for growth: both return to a small figure when the centre idles.)
        yield GaugeMetricFamily(
            "cc_ami_pending_actions",
            "AMI actions written and not yet answered, failed or timed out.",
            value=float(self._ami_pending()),
        )
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # (read outside the event loop: a test's, a tool's)
            tasks = 0
        yield GaugeMetricFamily(
            "cc_asyncio_tasks", "Tasks on the controller's event loop.", value=float(tasks)
        )
        events = CounterMetricFamily(
            "cc_ami_events",
            "AMI events received: handled (about the centre's calls), or ignored (about none of them).",
            labels=["outcome"],
        )
        received, not_ours = counters.get(AMI_EVENTS, 0), counters.get(AMI_EVENTS_NOT_OURS, 0)
        events.add_metric(["handled"], received - not_ours)
        events.add_metric(["ignored"], not_ours)
        yield events
        actions = CounterMetricFamily("cc_ami_actions", "AMI actions sent, by outcome.", labels=["outcome"])
        for outcome in AMI_ACTION_OUTCOMES:
            actions.add_metric([outcome], counters.get(AMI_ACTIONS + outcome, 0))
        yield actions
        yield CounterMetricFamily(
            "cc_ami_resyncs",
            "Resyncs with Asterisk after an AMI (re)connection.",
            value=counters.get(RESYNCS, 0),
        )
        dropped: dict[str, int] = {}
        for name, n in counters.items():
            if name.startswith(DROPPED_PREFIX):
                reason = reason_label(name.removeprefix(DROPPED_PREFIX))
                dropped[reason] = dropped.get(reason, 0) + n
        input_dropped = CounterMetricFamily(
            "cc_input_dropped",
            "Malformed input (from Asterisk), logged and dropped, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(dropped.items()):
            input_dropped.add_metric([reason], n)
        yield input_dropped

    # --- the event loop's lag -----------------------------------------------------------

    async def start(self) -> None:
        """Start measuring the event loop's lag."""
        if self._lag_task is None:
            self._lag_task = asyncio.get_running_loop().create_task(
                self._measure_lag(), name="event-loop-lag"
            )

    async def stop(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _measure_lag(self) -> None:
        loop = asyncio.get_running_loop()
        period = self._lag_period_s
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            # (asyncio may run a timer up to its clock's resolution early: never a negative lag)
            late = max(0.0, loop.time() - due)
            self.lag.observe((), late)
            self.lag_max_s = max(self.lag_max_s, late)
