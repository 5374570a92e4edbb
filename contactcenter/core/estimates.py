# Expected waiting time (EWT) of a caller at a place in a (skill, language) queue. Rules:
# - Measured, not assumed: the estimate is how fast this queue has actually been moving. Two
#   rates are kept per queue, both from the engine's facts (`now` is passed, never read):
#     r  the service rate: callers answered from the queue (operator on the line: ringing
#        included, as in the wait measured) per second of *backlog*, time during which
#        someone waited in it. Whoever really took its calls counts, as much as they did:
#        level-1 operators, and backup levels only for what the relaxation steps let them
#        take while their own skills left them free. (k x AHT / N with N every operator with
#        the skill at any level told callers waits 2-4 times too short on the 010 days and
#        offered callbacks too late: tests/bench/README.md. Weighting operators by the share
#        of their work this queue had would need that share measured per operator and still
#        guess when they come free: the queue's own pace is the figure itself.)
#     θ  the abandonment rate of one waiting caller: abandons per second spent waiting (the
#        estimate of an exponential patience): callers ahead who hang up move you on.
#   The caller at place k (1 = next) waits k steps, the i-th with i-1 callers ahead:
#   EWT = sum over i of 1 / (r + (i-1) θ), the expected wait if they stay (the queue-length
#   predictor with abandonment: Whitt 1999, Ibrahim & Whitt 2009); k / r when nobody
#   abandons (M/M/N: Erlang C's wait of the k-th in line). O(1): the terms are added one by
#   one while r/θ + i < 10, the rest in closed form (the digamma function). Callbacks ahead
#   never hang up but count as places like any caller (on the 010 days this made no
#   estimate short: the bench).
# - A backlog is cut into pieces, each from the later of the last cut and the leaving
#   caller's own joining (so idle time is never counted) to an answer (a service) or an
#   abandonment (backlog without one). An answered callback moves the cut without a piece
#   (when it joined is not known here): a piece and a service less, no bias. Both rates are
#   exponentially weighted per event: r over about the last 50 answers, θ over about the
#   last 100 callers who left.
# - Before the first answer, and blended with the measurement as one observation's worth
#   (its weight decays as answers come), the classic estimate: k x AHT / N, where AHT is the
#   skill's recent handle time (talk + wrap-up, weighted over about 20 calls) and N the
#   operators of the nearest relaxation circle that has anyone staffed, plus the wait until
#   that circle may take the call (one level-1 operator, no history: k x AHT).
# - math.inf: nobody is staffed (logged in, not paused) who may ever take the call. When a
#   queue's last operator leaves, its history goes: it measured a team that is gone.
# - The estimate is made when a call joins the queue (and for announcements) and compared
#   with the wait it then has: the error is a KPI (kpis.py).
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

# (Final, and math.inf rather than float("inf"): the compiled build keeps them in C statics
# instead of a lookup in the module's dict or a call for every call.)
EWMA_WEIGHT: Final = 0.05  # AHT: about the last 20 calls of a skill carry most of the weight
SERVICE_WEIGHT: Final = 0.02  # r: about the last 50 answers from the queue
ABANDON_WEIGHT: Final = 0.01  # θ: about the last 100 callers who left the queue
# The sum's terms 1/(x + i) are added one by one while x + i is below this, then the rest in
# closed form (the digamma function's asymptotic series: relative error below 1e-9).
_SERIES_FROM: Final = 10.0


def waiting_steps(x: float, k: int) -> float:
    """sum of 1 / (x + i) for i in 0 .. k-1 (x > 0): k places to move on, each at a rate
    that grows by one abandonment rate per caller ahead, in units of that rate."""
    total = 0.0
    i = 0
    while i < k and x + i < _SERIES_FROM:
        total += 1.0 / (x + i)
        i += 1
    if i >= k:
        return total
    lo, hi = x + i, x + k
    # digamma(hi) - digamma(lo), both >= _SERIES_FROM
    return total + _log1p((k - i) / lo) + _digamma_tail(hi) - _digamma_tail(lo)


def _log1p(u: float) -> float:
    """log(1 + u), exact also when u is tiny (x huge: hardly anyone abandons), by Goldberg's
    correction. (math.log1p is a call through Python in the compiled build; math.log is not.)"""
    w = 1.0 + u
    return u if w == 1.0 else math.log(w) * u / (w - 1.0)


def _digamma_tail(y: float) -> float:
    """digamma(y) - log(y), asymptotically (y >= _SERIES_FROM: the next term, 1/(240 y^8),
    is below 1e-10)."""
    f = 1.0 / (y * y)
    return -0.5 / y - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f / 252.0))


@dataclass(slots=True)
class _QueueRecord:
    """Staffing and recent history of one (skill, language) queue."""

    staffed: int = 0  # operators logged in, not paused, with the skill at any level
    by_level: dict[int, int] = field(default_factory=dict)  # of those, per level
    circle_wait: float = math.inf  # waited before the nearest staffed circle may take a call
    circle_staffed: int = 0  # operators in that circle
    cut: float = -math.inf  # end of the last piece of backlog (an answer or an abandonment)
    backlog_s: float = 0.0  # weighted seconds of backlog ...
    answers: float = 0.0  # ... and answers in them: r = answers / backlog_s
    prior: float = 1.0  # the classic estimate's weight, as observations
    waited_s: float = 0.0  # weighted seconds waited by callers who left the queue ...
    abandons: float = 0.0  # ... and how many of them hung up: θ = abandons / waited_s


@dataclass(slots=True)
class EwtEstimator:
    default_aht: float
    # (after seconds waited, highest level allowed), as the Engine's: the classic estimate's
    # circles. Empty: every level at once.
    relaxation: tuple[tuple[float, int], ...] = ()
    _aht: dict[str, float] = field(default_factory=dict)
    # skill -> language -> its queue's record (two lookups by string cost less than one by a
    # (skill, language) tuple built for it, twice per waiting call)
    _queues: dict[str, dict[str, _QueueRecord]] = field(default_factory=dict)
    # error statistics over answered calls: count, sum(actual - ewt), sum |actual - ewt|
    errors: int = 0
    error_sum: float = 0.0
    abs_error_sum: float = 0.0

    def aht(self, skill: str) -> float:
        return self._aht.get(skill, self.default_aht)

    def observe_handle_time(self, skill: str, seconds: float) -> None:
        # Start from the configured default, so one early short call cannot collapse it.
        prev = self._aht.get(skill, self.default_aht)
        self._aht[skill] = prev + EWMA_WEIGHT * (seconds - prev)

    def _find(self, skill: str, language: str) -> _QueueRecord | None:
        by_language = self._queues.get(skill)
        return None if by_language is None else by_language.get(language)

    def _record(self, skill: str, language: str) -> _QueueRecord:
        by_language = self._queues.get(skill)
        if by_language is None:
            by_language = self._queues[skill] = {}
        record = by_language.get(language)
        if record is None:
            record = by_language[language] = _QueueRecord()
        return record

    def staff(self, skills: dict[str, int], languages: tuple[str, ...], delta: int) -> None:
        """An operator started (+1) or stopped (-1) being able to take calls."""
        for skill, level in skills.items():
            for lang in languages:
                record = self._record(skill, lang)
                record.staffed += delta
                record.by_level[level] = record.by_level.get(level, 0) + delta
                if record.staffed <= 0:
                    self._queues[skill][lang] = _QueueRecord()  # (its team is gone)
                else:
                    self._find_circle(record)

    def _wait_for(self, level: int) -> float:
        """Seconds a call waits before operators of `level` may take it."""
        if not self.relaxation:
            return 0.0
        for after, top in self.relaxation:
            if top >= level:
                return after
        return math.inf

    def _find_circle(self, record: _QueueRecord) -> None:
        """The nearest relaxation circle with anyone staffed: its wait and its operators."""
        nearest, staffed = math.inf, 0
        for level, n in record.by_level.items():
            if n > 0:
                nearest = min(nearest, self._wait_for(level))
        if nearest < math.inf:
            for level, n in record.by_level.items():
                if n > 0 and self._wait_for(level) <= nearest:
                    staffed += n
        record.circle_wait, record.circle_staffed = nearest, staffed

    def staffed(self, skill: str, language: str) -> int:
        record = self._find(skill, language)
        return 0 if record is None else record.staffed

    def observe_answer(self, skill: str, language: str, waiting_since: float, now: float) -> None:
        """An operator answered a caller who had waited in the queue since `waiting_since`.
        (One served at once found the queue empty: there is nothing to observe.)"""
        record = self._record(skill, language)
        keep = 1.0 - SERVICE_WEIGHT
        record.backlog_s = record.backlog_s * keep + (now - max(record.cut, waiting_since))
        record.answers = record.answers * keep + 1.0
        record.prior *= keep
        keep = 1.0 - ABANDON_WEIGHT
        record.waited_s = record.waited_s * keep + (now - waiting_since)
        record.abandons *= keep
        record.cut = now

    def observe_callback_answer(self, skill: str, language: str, now: float) -> None:
        """An operator answered for a callback of the queue: a place served, with no piece
        of backlog measured (when it joined the queue is not known here)."""
        self._record(skill, language).cut = now

    def observe_abandon(self, skill: str, language: str, queued_at: float, now: float) -> None:
        """A caller hung up waiting in the queue (since `queued_at`)."""
        record = self._find(skill, language)
        if record is None or record.staffed <= 0:
            return  # (nobody could have served them: no measure of the queue's pace)
        keep = 1.0 - ABANDON_WEIGHT
        record.waited_s = record.waited_s * keep + (now - queued_at)
        record.abandons = record.abandons * keep + 1.0
        # Backlog without an answer: it counts against the service rate.
        record.backlog_s += now - max(record.cut, queued_at)
        record.cut = now

    def service_rate(self, skill: str, language: str) -> float | None:
        """Answers per second of backlog, as measured (None before the first)."""
        record = self._find(skill, language)
        if record is None or record.answers <= 0.0:
            return None
        return math.inf if record.backlog_s <= 0.0 else record.answers / record.backlog_s

    def abandon_rate(self, skill: str, language: str) -> float:
        """Abandons per second a caller waits, as measured (0 before the first)."""
        record = self._find(skill, language)
        if record is None or record.waited_s <= 0.0:
            return 0.0
        return record.abandons / record.waited_s

    def ewt(self, skill: str, language: str, position: int) -> float:
        """Seconds the caller at `position` (1 = next) can expect to wait."""
        record = self._find(skill, language)
        if record is None or record.circle_staffed <= 0:
            return math.inf
        classic = record.circle_wait + position * self.aht(skill) / record.circle_staffed
        answers = record.answers
        if answers <= 0.0:
            return classic
        backlog_s = record.backlog_s
        if backlog_s <= 0.0:
            measured = 0.0  # (every answer came the instant it was due)
        else:
            rate = answers / backlog_s
            theta = record.abandons / record.waited_s if record.waited_s > 0.0 else 0.0
            # (Whitt's sum needs r / θ > 0 and θ finite: waits so short they underflow, as a
            # hang-up the instant a caller queued, leave k / r, the estimate without abandons.)
            x = rate / theta if 0.0 < theta < math.inf else 0.0
            measured = waiting_steps(x, position) / theta if x > 0.0 else position / rate
        prior = record.prior
        return (answers * measured + prior * classic) / (answers + prior)

    def observe_error(self, ewt: float, actual: float) -> None:
        if ewt == math.inf:
            return
        self.errors += 1
        self.error_sum += actual - ewt
        self.abs_error_sum += abs(actual - ewt)

    @property
    def mean_abs_error(self) -> float | None:
        return self.abs_error_sum / self.errors if self.errors else None

    @property
    def bias(self) -> float | None:
        """Mean of (actual - estimated): positive means callers waited longer than told."""
        return self.error_sum / self.errors if self.errors else None
