# The Prometheus metrics (contactcenter/live/metrics.py) fed by a real Engine's change feed,
# completed calls and callbacks on a hand-advanced clock, as the controller feeds its
# observers; and the HTTP listener that serves them. Expected figures are worked out from the
# calls each test places (their waits, talk times, outcomes), never copied from an output.
# Call ids look like Asterisk's Uniqueids (10 digits and more): if one reached a label, the
# phone-number check would see it.
from __future__ import annotations

import asyncio
import datetime as dt
import math
import socket
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.utils import floatToGoString

from contactcenter.config import HttpConfig
from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import CallbackPolicy
from contactcenter.core.commands import (
    Command,
    ConnectCall,
    DialCallback,
    DialCitizen,
    OfferCallback,
    RejectClosed,
)
from contactcenter.core.lifecycle import CallbackState, OperatorState
from contactcenter.errors import UserError
from contactcenter.live.http import HttpListener
from contactcenter.live.metrics import (
    AMI_ACTION_OUTCOMES,
    CONTENT_TYPE,
    LAG_BUCKETS_S,
    NONE,
    OTHER,
    WAIT_BUCKETS_S,
    Metrics,
)
from tests.scrape import Samples, assert_labels_clean, http_get, promtool_check

T = 20.0  # the service level's threshold
SKILLS = ("info", "tributs")
LANGUAGES = ("ca", "es")


def call_id(n: int) -> str:
    return f"1733112345.{n}"


class Centre:
    """A real core on a hand-advanced clock, its feed handed to Metrics as the controller's
    `feed` does (changes and completed calls after each event, then completed callbacks)."""

    def __init__(
        self,
        *,
        lines: int = 10,
        sl_threshold_s: float = T,
        skills: Sequence[str] = SKILLS,
        lag_period_s: float = 1.0,
        **engine: object,
    ) -> None:
        self.engine = Engine(lines=lines, record_changes=True, **engine)  # type: ignore[arg-type]
        self.now = 0.0
        self.counters: Counter[str] = Counter()
        self.connected = True
        self.metrics = Metrics(
            snapshot=lambda: self.engine.snapshot(self.now),
            counters=self.counters,
            ami_connected=lambda: self.connected,
            sl_threshold_s=sl_threshold_s,
            skills=skills,
            languages=LANGUAGES,
            lag_period_s=lag_period_s,
        )

    def feed(self, event: ev.Event) -> list[Command]:
        self.now = max(self.now, event.now)
        commands = self.engine.handle(event)
        self.metrics.observe(event.now, self.engine.drain_changes(), self.engine.drain_completed())
        if self.engine.completed_callbacks:
            self.metrics.callbacks_completed(self.engine.drain_completed_callbacks())
        return commands

    def login(self, operator_id: str, skills: Sequence[str], at: float = 0.0) -> None:
        self.feed(
            ev.OperatorLoggedIn(
                now=at, operator_id=operator_id, skills=tuple((s, 1) for s in skills), languages=LANGUAGES
            )
        )

    def arrive(self, call: str, at: float, skill: str, language: str) -> list[Command]:
        assert self.feed(ev.CallArrived(now=at, call_id=call)) == []
        return self.feed(ev.IvrCompleted(now=at, call_id=call, skill=skill, language=language))

    def scrape(self, now: float | None = None) -> Samples:
        if now is not None:
            self.now = now
        return Samples(self.metrics.exposition().decode())


@dataclass(frozen=True)
class Served:
    skill: str
    language: str
    wait: float  # from joining the queue to the operator's answer (the ring included)
    talk: float


@dataclass(frozen=True)
class Abandoned:
    skill: str
    language: str
    after: float  # hangs up while the operator's phone rings


OPERATOR_OF = {"info": "ana", "tributs": "pau"}
SERVED = (
    Served("info", "ca", wait=3, talk=60),
    Served("info", "es", wait=T, talk=95),  # exactly T: within it ("within" is <=)
    Served("info", "ca", wait=T + 1, talk=30),
    Served("tributs", "es", wait=8, talk=200),
    Served("tributs", "es", wait=75, talk=12),
)
ABANDONED = (Abandoned("info", "es", after=12), Abandoned("tributs", "ca", after=40))


def place(centre: Centre, served: Sequence[Served], abandoned: Sequence[Abandoned]) -> float:
    """Each call in turn, to the free operator of its skill; returns the clock at the end."""
    t = 0.0
    n = 0
    for s in served:
        n += 1
        t += 1
        operator = OPERATOR_OF[s.skill]
        assert centre.arrive(call_id(n), t, s.skill, s.language) == [
            ConnectCall(call_id=call_id(n), operator_id=operator)
        ]
        centre.feed(ev.OperatorAnswered(now=t + s.wait, call_id=call_id(n), operator_id=operator))
        t += s.wait + s.talk
        centre.feed(ev.CallEnded(now=t, call_id=call_id(n)))
    for a in abandoned:
        n += 1
        t += 1
        centre.arrive(call_id(n), t, a.skill, a.language)
        t += a.after
        centre.feed(ev.CallerHungUp(now=t, call_id=call_id(n)))
    return t


@pytest.fixture
def served_centre() -> Centre:
    centre = Centre()
    centre.login("ana", ["info"])
    centre.login("pau", ["tributs"])
    place(centre, SERVED, ABANDONED)
    return centre


def pairs() -> list[tuple[str, str]]:
    return [(skill, language) for skill in SKILLS for language in LANGUAGES]


# --- calls by outcome, waits, service level -------------------------------------------------


def test_calls_count_by_outcome_skill_and_language(served_centre: Centre) -> None:
    m = served_centre.scrape()
    answered = Counter((s.skill, s.language) for s in SERVED)
    abandoned = Counter((a.skill, a.language) for a in ABANDONED)
    for skill, language in pairs():
        key = (skill, language)
        labels = {"skill": skill, "language": language}
        assert m.value("cc_calls_answered_total", **labels) == answered[key]
        assert m.value("cc_calls_abandoned_total", **labels) == abandoned[key]
        assert m.value("cc_calls_offered_total", **labels) == answered[key] + abandoned[key]
        assert m.value("cc_calls_called_back_total", **labels) == 0
    assert m.total("cc_calls_offered_total") == len(SERVED) + len(ABANDONED)
    for refused in ("cc_calls_blocked_total", "cc_calls_closed_total"):
        assert m.value(refused, skill=NONE, language=NONE) == 0


def test_wait_histogram_buckets_and_the_service_level_bucket(served_centre: Centre) -> None:
    m = served_centre.scrape()
    bounds = sorted({*WAIT_BUCKETS_S, T})
    for skill, language in pairs():
        waits = [s.wait for s in SERVED if (s.skill, s.language) == (skill, language)]
        answered = {"skill": skill, "language": language, "outcome": "answered"}
        for bound in bounds:
            within = sum(1 for w in waits if w <= bound)
            assert m.value("cc_call_wait_seconds_bucket", le=floatToGoString(bound), **answered) == within
        assert m.value("cc_call_wait_seconds_bucket", le="+Inf", **answered) == len(waits)
        assert m.value("cc_call_wait_seconds_count", **answered) == len(waits)
        assert m.value("cc_call_wait_seconds_sum", **answered) == pytest.approx(sum(waits))
        gave_up = [a.after for a in ABANDONED if (a.skill, a.language) == (skill, language)]
        abandoned = {**answered, "outcome": "abandoned"}
        assert m.value("cc_call_wait_seconds_count", **abandoned) == len(gave_up)
        assert m.value("cc_call_wait_seconds_sum", **abandoned) == pytest.approx(sum(gave_up))
    # Service level = the bucket at T / answered, over the centre: as the rule computes it.
    sl_bucket = m.total("cc_call_wait_seconds_bucket", le=floatToGoString(T), outcome="answered")
    answered_count = m.total("cc_call_wait_seconds_count", outcome="answered")
    assert sl_bucket / answered_count == sum(1 for s in SERVED if s.wait <= T) / len(SERVED)


def test_talk_time_histogram_of_answered_calls(served_centre: Centre) -> None:
    m = served_centre.scrape()
    for skill, language in pairs():
        talks = [s.talk for s in SERVED if (s.skill, s.language) == (skill, language)]
        labels = {"skill": skill, "language": language}
        assert m.value("cc_call_talk_seconds_count", **labels) == len(talks)
        assert m.value("cc_call_talk_seconds_sum", **labels) == pytest.approx(sum(talks))


def test_the_service_level_bucket_is_the_threshold_exactly_whatever_it_is() -> None:
    threshold = 17.5  # not one of the default bounds
    centre = Centre(sl_threshold_s=threshold)
    centre.login("ana", ["info"])
    waits = (threshold, threshold + 0.1, 2.0)
    place(centre, [Served("info", "ca", wait=w, talk=10) for w in waits], [])
    m = centre.scrape()
    answered = {"skill": "info", "language": "ca", "outcome": "answered"}
    le = floatToGoString(threshold)
    assert m.value("cc_call_wait_seconds_bucket", le=le, **answered) == sum(
        1 for w in waits if w <= threshold
    )
    # Every series has it, untouched ones included (at zero).
    assert (
        m.value("cc_call_wait_seconds_bucket", le=le, skill="tributs", language="es", outcome="answered") == 0
    )


def test_calls_that_never_chose_a_skill_count_under_none() -> None:
    lines = 2
    centre = Centre(lines=lines)
    centre.login("ana", ["info"])
    # One hangs up in the IVR; then `lines` calls fill the centre and the next is refused.
    centre.feed(ev.CallArrived(now=1, call_id=call_id(1)))
    centre.feed(ev.CallerHungUp(now=4, call_id=call_id(1)))
    for n in range(2, 2 + lines):
        centre.feed(ev.CallArrived(now=10, call_id=call_id(n)))
    centre.feed(ev.CallArrived(now=11, call_id=call_id(99)))
    m = centre.scrape(now=12)
    assert m.value("cc_calls_blocked_total", skill=NONE, language=NONE) == 1
    assert m.value("cc_calls_abandoned_total", skill=NONE, language=NONE) == 1
    assert m.value("cc_calls_offered_total", skill=NONE, language=NONE) == 2
    # Neither waited for an operator: no wait observed.
    assert m.total("cc_call_wait_seconds_count") == 0
    assert m.value("cc_lines_in_use") == lines and m.value("cc_calls_in_ivr") == lines


def test_calls_outside_opening_hours_are_closed_not_offered() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    hours = OpeningHours(tz=madrid, open=dt.time(8), close=dt.time(20))
    nine_pm = dt.datetime(2026, 3, 2, 21, 0, tzinfo=madrid).timestamp()
    centre = Centre(hours=hours, epoch=nine_pm)
    after_hours = [call_id(n) for n in range(1, 4)]
    for n, call in enumerate(after_hours):
        assert centre.feed(ev.CallArrived(now=n, call_id=call)) == [RejectClosed(call_id=call)]
    m = centre.scrape()
    assert m.value("cc_calls_closed_total", skill=NONE, language=NONE) == len(after_hours)
    assert m.total("cc_calls_offered_total") == 0


def test_a_skill_the_configuration_does_not_have_counts_as_other() -> None:
    centre = Centre(skills=("info",))
    centre.login("pau", ["tributs"])
    served = [Served("tributs", "ca", wait=5, talk=10)]
    place(centre, served, [])
    m = centre.scrape()
    assert m.value("cc_calls_answered_total", skill=OTHER, language="ca") == len(served)
    assert {v for _, name, v in m.label_values() if name == "skill"} <= {"info", OTHER, NONE}


# --- the EWT's error ----------------------------------------------------------------------


def test_ewt_error_is_the_wait_minus_what_the_caller_was_told() -> None:
    centre = Centre(default_aht=60.0)
    centre.login("ana", ["info"])
    first, second, unstaffed = call_id(1), call_id(2), call_id(3)
    centre.arrive(first, 0, "info", "ca")
    centre.feed(ev.OperatorAnswered(now=1, call_id=first, operator_id="ana"))
    centre.arrive(second, 10, "info", "ca")  # Ana is busy: it waits, told an EWT
    told = centre.engine.calls[second].ewt_at_entry
    assert told is not None and math.isfinite(told)
    # Nobody has tributs: its caller is told an unknown (infinite) wait, which has no error.
    centre.arrive(unstaffed, 12, "tributs", "ca")
    assert centre.engine.calls[unstaffed].ewt_at_entry == math.inf
    assert centre.feed(ev.CallEnded(now=100, call_id=first)) == [
        ConnectCall(call_id=second, operator_id="ana")
    ]
    answered_at = 102.0
    centre.feed(ev.OperatorAnswered(now=answered_at, call_id=second, operator_id="ana"))
    centre.feed(ev.CallEnded(now=150, call_id=second))
    centre.login("pau", ["tributs"], at=151)
    centre.feed(ev.OperatorAnswered(now=153, call_id=unstaffed, operator_id="pau"))
    centre.feed(ev.CallEnded(now=160, call_id=unstaffed))

    m = centre.scrape()
    error = (answered_at - 10) - told
    info = {"skill": "info", "language": "ca"}
    # The first call was answered at once (never told a wait): only the second counts.
    assert m.value("cc_ewt_abs_error_seconds_count", **info) == 1
    assert m.value("cc_ewt_abs_error_seconds_sum", **info) == pytest.approx(abs(error))
    longer, shorter = (abs(error), 0.0) if error > 0 else (0.0, abs(error))
    assert m.value("cc_ewt_error_seconds_total", outcome="longer", **info) == pytest.approx(longer)
    assert m.value("cc_ewt_error_seconds_total", outcome="shorter", **info) == pytest.approx(shorter)
    assert m.value("cc_ewt_abs_error_seconds_count", skill="tributs", language="ca") == 0
    assert m.value("cc_calls_answered_total", skill="tributs", language="ca") == 1


# --- state read from the snapshot ---------------------------------------------------------

FAULT = "originate-refused"
NUMBER_IN_REASON = "originate-reason-600123456"  # free text from Asterisk, with a number in it


def busy_moment() -> tuple[Centre, float]:
    """Ana talks; Rosa is paused; Joan and Marc (tributs) could not be rung; two info
    callers and one tributs caller wait; one caller is in the IVR."""
    centre = Centre()
    for operator, skill in (("ana", "info"), ("rosa", "info"), ("joan", "tributs"), ("marc", "tributs")):
        centre.login(operator, [skill])
    centre.feed(ev.OperatorPaused(now=1, operator_id="rosa", reason="training"))
    centre.arrive(call_id(1), 10, "info", "ca")
    centre.feed(ev.OperatorAnswered(now=12, call_id=call_id(1), operator_id="ana"))
    centre.arrive(call_id(2), 20, "info", "es")
    centre.arrive(call_id(3), 30, "info", "ca")
    tributs = call_id(4)
    assert centre.arrive(tributs, 40, "tributs", "ca") == [ConnectCall(call_id=tributs, operator_id="joan")]
    assert centre.feed(ev.OperatorUnreachable(now=41, call_id=tributs, operator_id="joan", reason=FAULT)) == [
        ConnectCall(call_id=tributs, operator_id="marc")
    ]
    centre.feed(ev.OperatorUnreachable(now=42, call_id=tributs, operator_id="marc", reason=NUMBER_IN_REASON))
    centre.feed(ev.CallArrived(now=50, call_id=call_id(5)))
    return centre, 100.0


def test_queues_operators_and_lines_mirror_the_centre_at_scrape_time() -> None:
    centre, now = busy_moment()
    m = centre.scrape(now)
    assert m.value("cc_calls_waiting", skill="info") == 2
    assert m.value("cc_calls_longest_wait_seconds", skill="info") == now - 20
    assert m.value("cc_calls_waiting", skill="tributs") == 1
    assert m.value("cc_calls_longest_wait_seconds", skill="tributs") == now - 40
    states = {
        "ana": OperatorState.TALKING,
        "rosa": OperatorState.PAUSED,
        "joan": OperatorState.UNREACHABLE,
        "marc": OperatorState.UNREACHABLE,
    }
    by_state = Counter(states.values())
    for state in OperatorState:
        assert m.value("cc_operators", state=state.value) == by_state[state]
    assert m.value("cc_operators_unreachable", reason=FAULT) == 1
    assert m.value("cc_operators_unreachable", reason=OTHER) == 1  # not the text with a number
    assert m.value("cc_skill_operators", skill="info", state="talking") == 1
    assert m.value("cc_skill_operators", skill="info", state="paused") == 1
    assert m.value("cc_skill_operators", skill="tributs", state="unreachable") == 2
    assert m.value("cc_skill_operators", skill="tributs", state="available") == 0
    assert m.value("cc_lines_capacity") == centre.engine.lines
    assert m.value("cc_lines_in_use") == 5 and m.value("cc_calls_in_ivr") == 1
    # Nothing ended yet: the counters are all at zero.
    assert m.total("cc_calls_offered_total") == 0
    # A later scrape sees the later moment: the waits grew, nothing else was counted.
    later = centre.scrape(now + 30)
    assert later.value("cc_calls_longest_wait_seconds", skill="info") == now + 30 - 20


def test_ami_link_and_dropped_input_come_from_the_controllers_counters() -> None:
    centre, now = busy_moment()
    received, not_ours = 120, 7
    centre.counters.update({"ami_events": received, "ami_events_not_ours": not_ours, "resyncs": 2})
    dropped = {"unknown_call": 3, "missing_header": 1}
    centre.counters.update({f"dropped_{reason}": n for reason, n in dropped.items()})
    actions = {outcome: i + 1 for i, outcome in enumerate(AMI_ACTION_OUTCOMES)}
    centre.counters.update({f"ami_actions_{outcome}": n for outcome, n in actions.items()})
    m = centre.scrape(now)
    assert m.value("cc_ami_connected") == 1
    assert m.value("cc_ami_events_total", outcome="handled") == received - not_ours
    assert m.value("cc_ami_events_total", outcome="ignored") == not_ours
    for outcome, n in actions.items():
        assert m.value("cc_ami_actions_total", outcome=outcome) == n
    for reason, n in dropped.items():
        assert m.value("cc_input_dropped_total", reason=reason) == n
    assert m.value("cc_ami_resyncs_total") == 2
    centre.connected = False
    assert centre.scrape(now).value("cc_ami_connected") == 0


def test_the_exposition_passes_promtool_with_only_allowed_labels_and_no_numbers(
    served_centre: Centre,
) -> None:
    centre, now = busy_moment()
    centre.counters.update({"ami_events": 10, "dropped_unknown_call": 1})
    for m in (centre.scrape(now), served_centre.scrape()):
        promtool_check(m.text)
        assert_labels_clean(m)


def test_the_label_check_can_fail() -> None:
    leaky = Samples('# TYPE x gauge\nx{caller="+34600123456"} 1\n')
    with pytest.raises(AssertionError):
        assert_labels_clean(leaky)


# --- callbacks ----------------------------------------------------------------------------


def test_callbacks_open_pending_age_and_outcomes() -> None:
    policy = CallbackPolicy(offer_after_ewt_s=120, attempts=2, retry_delay_s=600, expire_after_s=4 * 3600)
    centre = Centre(default_aht=180.0, callback_policy=policy)
    centre.login("ana", ["info"])
    a, b = call_id(1), call_id(2)
    centre.arrive(a, 0, "info", "ca")
    centre.feed(ev.OperatorAnswered(now=1, call_id=a, operator_id="ana"))
    queued_at, requested_at, stored_at, hung_up_at = 10.0, 30.0, 31.0, 35.0
    assert isinstance(centre.arrive(b, queued_at, "info", "ca")[0], OfferCallback)
    centre.feed(ev.CallbackAccepted(now=requested_at, call_id=b, callback_id="cb-b", number_key="k-b"))
    centre.feed(ev.CallbackStored(now=stored_at, callback_id="cb-b"))
    centre.feed(ev.CallerHungUp(now=hung_up_at, call_id=b))

    m = centre.scrape(now=90)
    assert m.value("cc_callbacks_open", state="pending") == 1
    assert m.value("cc_skill_callbacks_open", skill="info") == 1
    assert m.value("cc_callbacks_longest_pending_seconds", skill="info") == 90 - stored_at
    assert m.value("cc_calls_called_back_total", skill="info", language="ca") == 1
    callback = {"skill": "info", "language": "ca", "outcome": "callback"}
    assert m.value("cc_call_wait_seconds_count", **callback) == 1
    assert m.value("cc_call_wait_seconds_sum", **callback) == hung_up_at - queued_at

    # Ana is rung for it: it still waits (she may not answer), then the citizen is called.
    assert centre.feed(ev.CallEnded(now=100, call_id=a)) == [DialCallback(call_id="cb-b", operator_id="ana")]
    assert (
        centre.scrape(now=102).value("cc_callbacks_longest_pending_seconds", skill="info") == 102 - stored_at
    )
    assert centre.feed(ev.OperatorAnswered(now=104, call_id="cb-b", operator_id="ana")) == [
        DialCitizen(call_id="cb-b", operator_id="ana", attempt=1)
    ]
    m = centre.scrape(now=105)
    assert m.value("cc_callbacks_longest_pending_seconds", skill="info") == 0
    assert m.value("cc_callbacks_open", state=CallbackState.RINGING_CITIZEN.value) == 1
    citizen_answered_at = 110.0
    centre.feed(ev.CitizenAnswered(now=citizen_answered_at, callback_id="cb-b"))
    centre.feed(ev.CallEnded(now=300, call_id="cb-b"))

    m = centre.scrape(now=301)
    ended = {"skill": "info", "language": "ca"}
    assert m.value("cc_callbacks_ended_total", outcome="completed", **ended) == 1
    assert m.total("cc_callbacks_ended_total") == 1
    assert m.value("cc_callback_delay_seconds_count", **ended) == 1
    assert m.value("cc_callback_delay_seconds_sum", **ended) == citizen_answered_at - requested_at
    assert m.total("cc_callbacks_open") == 0
    promtool_check(m.text)
    assert_labels_clean(m)


# --- the event loop's lag -----------------------------------------------------------------


async def test_event_loop_lag_measures_a_loop_held_up() -> None:
    period, held = 0.01, 0.2
    centre = Centre(lag_period_s=period)
    await centre.metrics.start()
    try:
        await asyncio.sleep(period / 2)  # the probe is asleep now
        time.sleep(held)  # work that does not yield: the loop is held up
        await asyncio.sleep(3 * period)
    finally:
        await centre.metrics.stop()
    m = centre.scrape()
    count = m.value("cc_event_loop_lag_seconds_count")
    assert count >= 1
    # At least one wake came `held - period` late or more: above the bounds below that.
    below = max(b for b in LAG_BUCKETS_S if b <= held - period)
    assert count - m.value("cc_event_loop_lag_seconds_bucket", le=floatToGoString(below)) >= 1
    assert m.value("cc_event_loop_lag_seconds_sum") >= held - period


def test_a_threshold_that_is_no_number_of_seconds_is_refused() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="sl_threshold_s"):
            Centre(sl_threshold_s=bad)


# --- the HTTP listener ----------------------------------------------------------------------


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_the_listener_serves_metrics_answers_404_and_frees_its_port(served_centre: Centre) -> None:
    listener = HttpListener(HttpConfig(host="127.0.0.1", port=0), [served_centre.metrics.route()])
    await listener.start()
    port = listener.port
    try:
        base = f"http://127.0.0.1:{port}"
        reply = await http_get(f"{base}/metrics")
        assert reply.status == 200
        assert reply.content_type == CONTENT_TYPE
        m = Samples(reply.body)
        assert m.total("cc_calls_offered_total") == len(SERVED) + len(ABANDONED)
        promtool_check(reply.body)
        assert (await http_get(f"{base}/nothing")).status == 404
        # Malformed requests are the HTTP stack's to answer; the listener goes on serving.
        assert (
            await raw_request(
                port, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        ).startswith(b"HTTP/1.1 405")
        assert (await raw_request(port, b"NOT HTTP AT ALL\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert (await http_get(f"{base}/metrics")).status == 200
    finally:
        await listener.stop()
    with pytest.raises(OSError):
        await raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    # Free again: another listener takes the same port at once.
    again = HttpListener(HttpConfig(host="127.0.0.1", port=port), [served_centre.metrics.route()])
    await again.start()
    try:
        assert (await http_get(f"http://127.0.0.1:{port}/metrics")).status == 200
    finally:
        await again.stop()


async def test_a_port_in_use_is_one_clear_error_naming_http_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = HttpListener(HttpConfig(host="127.0.0.1", port=port), [])
        with pytest.raises(UserError, match=f"^http.port {port}: cannot listen on 127.0.0.1:{port}"):
            await listener.start()
        await listener.stop()  # (nothing to stop: harmless)
