# The expected-wait estimator (core/estimates.py), alone and through the engine, on a
# hand-advanced clock: every expected value is worked out from the inputs in the test (the
# weights are the module's constants), and a Hypothesis property holds what must hold for
# any history: the estimate never falls as the place gets worse, it is math.inf exactly when
# nobody who may take the call is staffed, and before a queue's first answer it is the
# classic k x AHT / N of the nearest staffed relaxation circle.
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactcenter.core import Engine
from contactcenter.core.callbacks import CallbackPolicy
from contactcenter.core.commands import AnnounceWait, OfferCallback
from contactcenter.core.estimates import ABANDON_WEIGHT, SERVICE_WEIGHT, EwtEstimator, waiting_steps
from tests.unit.test_engine import answer, arrive, connect, end, hang_up, login

KEEP = 1 - SERVICE_WEIGHT  # what an answer leaves of the service history's weight
KEEP_WAITED = 1 - ABANDON_WEIGHT  # what a caller leaving the queue leaves of the abandonment history's
BULLSEYE = ((0.0, 1), (30.0, 2), (90.0, 9))  # config/010.yaml's relaxation


def staffed(aht: float = 60.0, relaxation: tuple[tuple[float, int], ...] = (), **levels: int) -> EwtEstimator:
    """An estimator with one operator per keyword (name=level of `info`), speaking `ca`."""
    est = EwtEstimator(default_aht=aht, relaxation=relaxation)
    for level in levels.values():
        est.staff({"info": level}, ("ca",), +1)
    return est


def steps(rate: float, theta: float, k: int) -> float:
    """The expected wait at place k, term by term: the i-th step has i-1 callers ahead."""
    return math.fsum(1 / (rate + i * theta) for i in range(k))


def blend(measured: float, answers: float, classic: float, prior: float) -> float:
    return (answers * measured + prior * classic) / (answers + prior)


# --- before any answer: the classic estimate ----------------------------------------------


def test_one_level_one_operator_and_no_history_is_position_times_aht() -> None:
    # The integration tests' case: default AHT 60 s, one operator, one caller ahead or none.
    est = staffed(ana=1)
    assert [est.ewt("info", "ca", k) for k in (1, 2, 3)] == [60.0, 120.0, 180.0]
    est.staff({"info": 1}, ("ca",), +1)
    assert [est.ewt("info", "ca", k) for k in (1, 2, 3)] == [30.0, 60.0, 90.0]
    assert staffed(relaxation=BULLSEYE, ana=1).ewt("info", "ca", 1) == 60.0


def test_nobody_staffed_means_no_estimate() -> None:
    est = EwtEstimator(default_aht=60)
    assert est.ewt("info", "ca", 1) == math.inf
    est.staff({"info": 1}, ("ca",), +1)
    assert est.ewt("info", "es", 1) == math.inf  # (not their language)
    est.staff({"info": 1}, ("ca",), -1)
    assert est.ewt("info", "ca", 1) == math.inf


def test_backups_count_only_from_the_nearest_staffed_circle() -> None:
    # Level 1 at once, level 2 after 30 s, anyone after 90 s: with a specialist staffed the
    # backups are not counted (they are busy with their own skill or not yet in reach).
    est = staffed(aht=180, relaxation=BULLSEYE, specialist=1, second=2, backup=3)
    assert est.ewt("info", "ca", 2) == 2 * 180 / 1
    est = staffed(aht=180, relaxation=BULLSEYE, second=2, other=2, backup=3)
    assert est.ewt("info", "ca", 2) == 30 + 2 * 180 / 2  # the call waits 30 s for them first
    est = staffed(aht=180, relaxation=BULLSEYE, backup=3, other=5)
    assert est.ewt("info", "ca", 1) == 90 + 1 * 180 / 2
    # A level no step ever reaches cannot take the call: no estimate.
    assert staffed(relaxation=((0.0, 1), (30.0, 2)), backup=3).ewt("info", "ca", 1) == math.inf


# --- the queue's measured pace ------------------------------------------------------------


def test_answers_measure_the_service_rate_over_the_backlog() -> None:
    est = staffed(ana=1)  # classic: k x 60 s
    est.observe_answer("info", "ca", 0.0, 10.0)  # joined at 0, answered at 10: 10 s of backlog
    assert est.service_rate("info", "ca") == 1 / 10
    # The next answer's piece starts at the last answer (it was waiting then already) ...
    est.observe_answer("info", "ca", 5.0, 14.0)
    backlog, answers = 10 * KEEP + 4, 1 * KEEP + 1
    assert est.service_rate("info", "ca") == pytest.approx(answers / backlog)
    # ... and at a caller's joining when they came after it (no idle time is counted).
    est.observe_answer("info", "ca", 20.0, 26.0)
    backlog, answers = backlog * KEEP + 6, answers * KEEP + 1
    assert est.service_rate("info", "ca") == pytest.approx(answers / backlog)
    assert est.abandon_rate("info", "ca") == 0.0
    prior = KEEP**3
    for k in (1, 4):
        expected = blend(k * backlog / answers, answers, k * 60.0, prior)
        assert est.ewt("info", "ca", k) == pytest.approx(expected, rel=1e-12)


def test_abandonments_count_as_backlog_without_an_answer_and_move_callers_on() -> None:
    est = staffed(ana=1)
    est.observe_abandon("info", "ca", 0.0, 30.0)  # waited 30 s, no answer came
    assert est.service_rate("info", "ca") is None  # (no answer yet: the classic estimate)
    assert est.abandon_rate("info", "ca") == 1 / 30
    assert est.ewt("info", "ca", 2) == 120.0
    est.observe_answer("info", "ca", 10.0, 40.0)  # waited since 10 s: the piece is 30 s -> 40 s
    backlog, answers = 30 * KEEP + 10, 1.0
    waited, abandons = 30 * KEEP_WAITED + 30, 1 * KEEP_WAITED
    rate, theta = answers / backlog, abandons / waited
    assert est.service_rate("info", "ca") == pytest.approx(rate)
    assert est.abandon_rate("info", "ca") == pytest.approx(theta)
    for k in (1, 2, 5, 40):
        expected = blend(steps(rate, theta, k), answers, k * 60.0, KEEP)
        assert est.ewt("info", "ca", k) == pytest.approx(expected, rel=1e-9)
    # Callers ahead who hang up make the wait shorter than k answers' worth.
    assert est.ewt("info", "ca", 40) < blend(40 / rate, answers, 40 * 60.0, KEEP)


def test_an_answered_callback_moves_the_cut_without_a_piece() -> None:
    est = staffed(ana=1)
    est.observe_answer("info", "ca", 0.0, 10.0)
    est.observe_callback_answer("info", "ca", 50.0)  # (when it joined is not known)
    assert est.service_rate("info", "ca") == 1 / 10
    est.observe_answer("info", "ca", 0.0, 53.0)  # waiting since 0, but the piece is 50 -> 53
    assert est.service_rate("info", "ca") == pytest.approx((1 * KEEP + 1) / (10 * KEEP + 3))


def test_a_caller_who_gives_up_with_nobody_staffed_measures_nothing() -> None:
    est = EwtEstimator(default_aht=60)
    est.observe_abandon("info", "ca", 0.0, 30.0)
    est.staff({"info": 1}, ("ca",), +1)
    assert est.abandon_rate("info", "ca") == 0.0 and est.ewt("info", "ca", 1) == 60.0


def test_the_history_goes_with_the_last_operator() -> None:
    est = staffed(ana=1)
    est.observe_answer("info", "ca", 0.0, 5.0)
    assert est.ewt("info", "ca", 1) != 60.0
    est.staff({"info": 1}, ("ca",), -1)
    assert est.ewt("info", "ca", 1) == math.inf and est.service_rate("info", "ca") is None
    est.staff({"info": 1}, ("ca",), +1)  # a new team: the classic estimate again
    assert est.ewt("info", "ca", 1) == 60.0


@pytest.mark.parametrize("x", [1e-6, 0.3, 1.0, 9.5, 10.0, 10.5, 250.0, 1e9])
@pytest.mark.parametrize("k", [1, 2, 10, 11, 12, 100, 5000])
def test_waiting_steps_is_the_sum_it_closes(x: float, k: int) -> None:
    assert waiting_steps(x, k) == pytest.approx(math.fsum(1 / (x + i) for i in range(k)), rel=1e-9)


# --- through the engine -------------------------------------------------------------------


def test_engine_tells_the_integration_tests_wait_one_caller_ahead_one_operator() -> None:
    # tests/integration/test_hold_and_hours.py: default AHT 60 s, Ana alone on info; the first
    # caller is answered at once, the second is first in line: 1 minute.
    for relaxation in ((), BULLSEYE):
        engine = Engine(lines=10, default_aht=60, announce=True, relaxation=relaxation)
        login(engine, "ana", 0, {"info": 1})
        assert arrive(engine, "first", 0) == [connect("first", "ana")]
        answer(engine, "first", "ana", 1)
        assert arrive(engine, "second", 5) == [AnnounceWait(call_id="second", position=1, ewt_s=60.0)]


def test_engine_offers_a_callback_at_threshold_zero_before_any_history() -> None:
    # tests/integration/test_callbacks.py offers to whoever has to wait at all.
    engine = Engine(lines=10, default_aht=60, callback_policy=CallbackPolicy(offer_after_ewt_s=0))
    login(engine, "ana", 0, {"info": 1})
    arrive(engine, "a", 0)
    answer(engine, "a", "ana", 1)
    assert arrive(engine, "b", 5) == [OfferCallback(call_id="b", ewt_s=60.0, next_opening=None)]


def test_busy_backups_are_not_counted_before_the_queue_is_measured() -> None:
    # One info specialist and three tributs operators with info as a backup skill, on calls of
    # their own: the classic k x AHT / N would have said 2 x 100 / 4 = 50 s.
    engine = Engine(lines=20, default_aht=100, announce=True, relaxation=((0.0, 1), (90.0, 3)))
    login(engine, "p", 0, {"info": 1})
    for i in range(3):
        login(engine, f"b{i}", 0, {"tributs": 1, "info": 3})
        assert arrive(engine, f"t{i}", 0, skill="tributs") == [connect(f"t{i}", f"b{i}")]
    assert arrive(engine, "c1", 1) == [connect("c1", "p")]
    assert arrive(engine, "c2", 2) == [AnnounceWait(call_id="c2", position=1, ewt_s=100.0)]
    assert arrive(engine, "c3", 3) == [AnnounceWait(call_id="c3", position=2, ewt_s=200.0)]


def test_engine_measures_the_queue_from_answers_and_hang_ups() -> None:
    engine = Engine(lines=10, default_aht=60)
    login(engine, "ana", 0, {"info": 1})
    arrive(engine, "a", 0)
    answer(engine, "a", "ana", 0)
    arrive(engine, "b", 10)
    arrive(engine, "c", 12)
    hang_up(engine, "c", 32)  # gave up after 20 s; b still waits
    assert engine.ewt.abandon_rate("info", "ca") == 1 / 20
    assert engine.ewt.service_rate("info", "ca") is None
    assert end(engine, "a", 40) == [connect("b", "ana")]
    answer(engine, "b", "ana", 42)  # waited 32 s; the piece since the abandonment: 32 s -> 42 s
    backlog = 20 * KEEP + 10  # (c's 20 s from 12 s to 32 s, then b's 10 s)
    assert engine.ewt.service_rate("info", "ca") == pytest.approx(1 / backlog)
    waited, abandons = 20 * KEEP_WAITED + 32, 1 * KEEP_WAITED
    assert engine.ewt.abandon_rate("info", "ca") == pytest.approx(abandons / waited)
    arrive(engine, "d", 43)  # first in line behind b's conversation
    aht = 60 + 0.05 * (40 - 60)  # (a talked from 0 s to 40 s)
    expected = blend(steps(1 / backlog, abandons / waited, 1), 1.0, 1 * aht, KEEP)
    assert engine.calls["d"].ewt_at_entry == pytest.approx(expected, rel=1e-9)


# --- for any history ----------------------------------------------------------------------

OPERATORS = (  # (skills with levels, languages)
    ({"info": 1}, ("ca",)),
    ({"info": 2, "tributs": 1}, ("ca", "es")),
    ({"tributs": 3}, ("es",)),
    ({"info": 3, "tributs": 2}, ("ca",)),
    ({"info": 1, "tributs": 1}, ("es",)),
)
QUEUES = tuple((s, lang) for s in ("info", "tributs") for lang in ("ca", "es"))
RELAXATIONS = ((), ((0.0, 1), (30.0, 2)), BULLSEYE)

history = st.lists(
    st.one_of(
        st.tuples(st.just("staff"), st.integers(0, len(OPERATORS) - 1)),
        st.tuples(
            st.sampled_from(["answer", "callback", "abandon", "handled"]),
            st.sampled_from(QUEUES),
            st.floats(0, 600),  # seconds waited (or handled)
            st.floats(0, 120),  # seconds since the last fact
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(relaxation=st.sampled_from(RELAXATIONS), facts=history)
def test_ewt_rises_with_the_place_and_is_unknown_only_without_anyone_in_reach(
    relaxation: tuple[tuple[float, int], ...], facts: list[tuple[object, ...]]
) -> None:
    est = EwtEstimator(default_aht=180, relaxation=relaxation)
    on: set[int] = set()
    measured: set[tuple[str, str]] = set()  # queues answered from since their team formed
    now = 0.0

    def wait_for(level: int) -> float:
        if not relaxation:
            return 0.0
        return next((after for after, top in relaxation if top >= level), math.inf)

    def levels(queue: tuple[str, str]) -> list[int]:
        skill, lang = queue
        return [OPERATORS[i][0][skill] for i in on if skill in OPERATORS[i][0] and lang in OPERATORS[i][1]]

    for fact in facts:
        if fact[0] == "staff":
            i = fact[1]
            assert isinstance(i, int)
            skills, langs = OPERATORS[i]
            est.staff(skills, langs, -1 if i in on else +1)
            on ^= {i}
            measured -= {q for q in measured if not levels(q)}
            continue
        kind, queue, seconds, gap = fact
        assert isinstance(queue, tuple) and isinstance(seconds, float) and isinstance(gap, float)
        skill, lang = queue
        now += gap
        if kind == "handled":
            est.observe_handle_time(skill, seconds)
        elif not levels(queue):
            continue  # (the engine never queues, answers or loses a call nobody is staffed for)
        elif kind == "answer":
            est.observe_answer(skill, lang, now - seconds, now)
            measured.add(queue)
        elif kind == "callback":
            est.observe_callback_answer(skill, lang, now)
        else:
            est.observe_abandon(skill, lang, now - seconds, now)
        for q in QUEUES:
            here = levels(q)
            told = [est.ewt(*q, k) for k in range(1, 31)]
            reach = [wait_for(level) for level in here]
            if not here or min(reach) == math.inf:
                assert all(t == math.inf for t in told)
                continue
            assert all(0 <= t < math.inf for t in told)
            assert all(a <= b for a, b in itertools.pairwise(told)), told
            if q not in measured:
                nearest = min(reach)
                n = sum(1 for w in reach if w <= nearest)
                aht = est.aht(q[0])
                assert told == [nearest + k * aht / n for k in range(1, 31)]
