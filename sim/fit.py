# Estimators fitted from a call trace (sim/tracefile.py records): callers' patience, talk
# times, operators' working periods and the share of logged-in time they spend away from
# calls (sim/estimators.md). Rules:
# - Pure and deterministic: the same records give the same fits, bit for bit; nothing here
#   draws a random number except a sampler, from the random.Random it is handed.
# - Patience is censored data: an abandoned caller's wait is their patience (an observation);
#   a served caller's wait is only a lower bound (right-censored: they would have waited at
#   least that long). Callers who hung up in the IVR never queued and say nothing about
#   patience: they are left out of the patience and away estimates.
# - A record queues at arrival_s + ivr_s and leaves the queue wait_s later; a served call is
#   answered then and its operator talks for talk_s.
# - Waits repeat (the bank logs whole seconds), so fits work on a tally of distinct waits,
#   not on one term per call: a month of calls fits in milliseconds.
# - Where the data cannot tell (no abandon at all, a caller outlasting every observed wait),
#   the answer is "never hangs up" (math.inf), never a guess.
# - No numpy/scipy: math and a small Nelder-Mead of our own.
from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from contactcenter.sim.tracefile import TraceRecord

Sampler = Callable[[], float]  # (as sim/traffic.py's)
Cell = tuple[str, int]  # (skill, priority)
SkillCell = tuple[str, None]  # (skill, any priority)

KINDS = ("exp", "lognormal", "km")
DAY_S = 86_400.0
# An abandon logged at 0 s (the bank's clock has whole seconds) is taken as 1 s for the
# lognormal fit: log(0) is undefined and "under a second" is what the record says.
WAIT_FLOOR_S = 1.0
_SIGMA_RANGE = (1e-3, 1e3)  # the lognormal fit's sigma is kept inside (degenerate data)
_LOG_2PI = math.log(2.0 * math.pi)
_MAX_LOG = math.log(1e300)  # (beyond, a patience draw is inf, not an OverflowError)


# --- the waits of queued callers -------------------------------------------------------------


@dataclass(frozen=True)
class WaitTally:
    """Queued callers' waits, tallied by distinct value (ascending)."""

    waits: tuple[float, ...]
    abandons: tuple[int, ...]  # callers who hung up after exactly that wait (observations)
    censored: tuple[int, ...]  # callers answered after exactly that wait (lower bounds)

    @property
    def n_abandons(self) -> int:
        return sum(self.abandons)

    @property
    def n_censored(self) -> int:
        return sum(self.censored)


def queued(records: Iterable[TraceRecord]) -> list[TraceRecord]:
    """The records that joined a queue (served or abandoned there)."""
    return [r for r in records if r.outcome in ("served", "abandoned")]


def tally_waits(records: Iterable[TraceRecord]) -> WaitTally:
    """The waits of the queued records (IVR hang-ups left out)."""
    abandons: defaultdict[float, int] = defaultdict(int)
    censored: defaultdict[float, int] = defaultdict(int)
    for r in queued(records):
        (censored if r.served else abandons)[r.wait_s] += 1
    waits = tuple(sorted(abandons.keys() | censored.keys()))
    return WaitTally(waits, tuple(abandons[w] for w in waits), tuple(censored[w] for w in waits))


# --- the normal tail --------------------------------------------------------------------------


def log_normal_tail(z: float) -> float:
    """log P(Z > z) for a standard normal Z, accurate far into the tail (where erfc
    underflows, the asymptotic series of the Mills ratio takes over)."""
    if z < 37.0:
        return math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
    inv2 = 1.0 / (z * z)
    return -0.5 * z * z - math.log(z) - 0.5 * _LOG_2PI + math.log1p(-inv2 + 3 * inv2**2 - 15 * inv2**3)


def lognormal_loglik(mu: float, sigma: float, tally: WaitTally) -> float:
    """The censored log-likelihood: log pdf over abandons (waits floored at WAIT_FLOOR_S) plus
    log survival over censored waits (a censored wait of 0 says nothing: log S(0) = 0)."""
    total = 0.0
    log_sigma = math.log(sigma)
    for wait, n_ab, n_cens in zip(tally.waits, tally.abandons, tally.censored, strict=True):
        if n_ab:
            x = max(wait, WAIT_FLOOR_S)
            z = (math.log(x) - mu) / sigma
            total += n_ab * (-math.log(x) - log_sigma - 0.5 * _LOG_2PI - 0.5 * z * z)
        if n_cens and wait > 0:
            total += n_cens * log_normal_tail((math.log(wait) - mu) / sigma)
    return total


# --- a small Nelder-Mead ---------------------------------------------------------------------


def nelder_mead(
    f: Callable[[Sequence[float]], float],
    start: Sequence[float],
    step: float = 0.5,
    *,
    xtol: float = 1e-9,
    ftol: float = 1e-12,
    max_iter: int = 5000,
) -> list[float]:
    """The minimum of f near start (the standard simplex moves: reflect 1, expand 2,
    contract 1/2, shrink 1/2), restarted once from where it stopped, since a simplex can
    collapse before the minimum."""
    best = list(start)
    for _ in range(2):
        best = _simplex(f, best, step, xtol, ftol, max_iter)
        step = max(step / 10, 10 * xtol)
    return best


def _simplex(
    f: Callable[[Sequence[float]], float],
    start: list[float],
    step: float,
    xtol: float,
    ftol: float,
    max_iter: int,
) -> list[float]:
    dim = len(start)
    corners = [[x + (step if i == j else 0.0) for j, x in enumerate(start)] for i in range(dim)]
    points = [list(start), *corners]
    values = [f(p) for p in points]
    for _ in range(max_iter):
        order = sorted(range(dim + 1), key=values.__getitem__)
        points, values = [points[i] for i in order], [values[i] for i in order]
        size = max(abs(p[j] - points[0][j]) for p in points[1:] for j in range(dim))
        if size < xtol and values[-1] - values[0] <= ftol * (1.0 + abs(values[0])):
            break
        centroid = [sum(p[j] for p in points[:-1]) / dim for j in range(dim)]
        worst = points[-1]

        def toward(t: float, worst: list[float] = worst, centroid: list[float] = centroid) -> list[float]:
            return [c + t * (w - c) for c, w in zip(centroid, worst, strict=True)]

        reflected = toward(-1.0)
        f_r = f(reflected)
        if f_r < values[0]:
            expanded = toward(-2.0)
            f_e = f(expanded)
            points[-1], values[-1] = (expanded, f_e) if f_e < f_r else (reflected, f_r)
        elif f_r < values[-2]:
            points[-1], values[-1] = reflected, f_r
        else:
            contracted = toward(-0.5) if f_r < values[-1] else toward(0.5)
            f_c = f(contracted)
            if f_c < min(f_r, values[-1]):
                points[-1], values[-1] = contracted, f_c
            else:  # shrink toward the best point
                points = [points[0]] + [[b + 0.5 * (x - b) for b, x in zip(points[0], p, strict=True)]
                                        for p in points[1:]]  # fmt: skip
                values = [values[0]] + [f(p) for p in points[1:]]
    return points[min(range(dim + 1), key=values.__getitem__)]


# --- patience ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatienceFit:
    """A patience distribution fitted on the queued callers of `cell`."""

    kind: str  # "exp" | "lognormal" | "km"
    cell: Cell | SkillCell | None  # (skill, priority), (skill, None): any priority; None: pooled
    abandons: int  # uncensored observations
    censored: int  # served calls (their wait is a lower bound on patience)
    mean_s: float | None = None  # exp: the mean (math.inf when nobody abandoned)
    mu: float | None = None  # lognormal: of log patience (math.inf when nobody abandoned)
    sigma: float | None = None
    times: tuple[float, ...] = ()  # km: the waits at which someone abandoned, ascending
    levels: tuple[float, ...] = ()  # km: S(times[i]), the step curve's value from times[i] on

    def survival(self, t: float) -> float:
        """P(patience > t). km: the step curve, held at its last level after the last
        abandon (the data say nothing beyond)."""
        if self.kind == "exp":
            assert self.mean_s is not None
            if t < 0:
                return 1.0
            if self.mean_s == 0:
                return 0.0
            return math.exp(-t / self.mean_s)
        if self.kind == "lognormal":
            assert self.mu is not None and self.sigma is not None
            if t <= 0 or self.mu == math.inf:
                return 1.0
            return 0.5 * math.erfc((math.log(t) - self.mu) / (self.sigma * math.sqrt(2.0)))
        i = bisect.bisect_right(self.times, t) - 1
        return 1.0 if i < 0 else self.levels[i]

    def median_s(self) -> float:
        """The smallest t with survival(t) <= 1/2 (math.inf if it never gets there)."""
        if self.kind == "exp":
            assert self.mean_s is not None
            return self.mean_s * math.log(2.0)
        if self.kind == "lognormal":
            assert self.mu is not None
            return math.exp(self.mu) if self.mu != math.inf else math.inf
        return self._km_quantile(0.5)

    def _km_quantile(self, u: float) -> float:
        # The first step at or below u: levels fall, so search their negatives, which rise.
        i = bisect.bisect_left([-s for s in self.levels], -u)
        return self.times[i] if i < len(self.times) else math.inf

    def sampler(self, rng: random.Random) -> Sampler:
        """Patience draws from rng. km, by inverse transform on the step curve: draw u in
        [0, 1) and return the smallest abandon time t with S(t) <= u, so P(draw > t) = S(t);
        when u < S(last abandon time) the caller outlasts every observation: math.inf (in a
        replay they never hang up, which is all the data can say)."""
        rand = rng.random
        if self.kind == "exp":
            mean = self.mean_s
            assert mean is not None
            if mean == math.inf:
                return lambda: math.inf
            return lambda: -math.log(1.0 - rand()) * mean
        if self.kind == "lognormal":
            mu, sigma = self.mu, self.sigma
            assert mu is not None and sigma is not None
            if mu == math.inf:
                return lambda: math.inf
            normal = rng.normalvariate  # (lognormvariate's draws, past exp's range as inf)
            return lambda: math.exp(v) if (v := normal(mu, sigma)) < _MAX_LOG else math.inf
        falling = [-s for s in self.levels]
        times, n = self.times, len(self.times)

        def draw() -> float:
            i = bisect.bisect_left(falling, -rand())
            return times[i] if i < n else math.inf

        return draw


def fit_exp(tally: WaitTally, cell: Cell | SkillCell | None = None) -> PatienceFit:
    """The censored MLE of an exponential mean: (sum of all queued waits) / abandons."""
    total = sum(w * (a + c) for w, a, c in zip(tally.waits, tally.abandons, tally.censored, strict=True))
    n_ab = tally.n_abandons
    return PatienceFit("exp", cell, n_ab, tally.n_censored, mean_s=total / n_ab if n_ab else math.inf)


def fit_lognormal(tally: WaitTally, cell: Cell | SkillCell | None = None) -> PatienceFit:
    """The censored MLE of a lognormal (mu, sigma of log patience), by Nelder-Mead on
    (mu, log sigma) from the moments of the abandons' log waits."""
    n_ab, n_cens = tally.n_abandons, tally.n_censored
    if n_ab == 0:
        return PatienceFit("lognormal", cell, 0, n_cens, mu=math.inf, sigma=1.0)
    pairs = zip(tally.waits, tally.abandons, strict=True)
    logs = [(math.log(max(w, WAIT_FLOOR_S)), a) for w, a in pairs if a]
    mean = sum(x * a for x, a in logs) / n_ab
    sd = math.sqrt(sum(a * (x - mean) ** 2 for x, a in logs) / n_ab)
    lo, hi = (math.log(s) for s in _SIGMA_RANGE)

    def cost(p: Sequence[float]) -> float:
        return -lognormal_loglik(p[0], math.exp(min(max(p[1], lo), hi)), tally)

    # (Censoring pushes the patience beyond the abandons' waits: start at their mean plus one
    # sd, the simplex's first step covers the rest.)
    mu, log_sigma = nelder_mead(cost, [mean + (sd if n_cens else 0.0), math.log(max(sd, 0.5))])
    return PatienceFit("lognormal", cell, n_ab, n_cens, mu=mu, sigma=math.exp(min(max(log_sigma, lo), hi)))


def fit_km(tally: WaitTally, cell: Cell | SkillCell | None = None) -> PatienceFit:
    """The Kaplan-Meier product-limit curve; at a wait shared by abandons and answers, the
    abandons come first (the answered are still at risk then), the usual convention."""
    at_risk = tally.n_abandons + tally.n_censored
    level, times, levels = 1.0, [], []
    for wait, n_ab, n_cens in zip(tally.waits, tally.abandons, tally.censored, strict=True):
        if n_ab:
            level *= 1.0 - n_ab / at_risk
            times.append(wait)
            levels.append(level)
        at_risk -= n_ab + n_cens
    return PatienceFit(
        "km", cell, tally.n_abandons, tally.n_censored, times=tuple(times), levels=tuple(levels)
    )


_FITTERS = {"exp": fit_exp, "lognormal": fit_lognormal, "km": fit_km}


def fit_one(records: Iterable[TraceRecord], kind: str, cell: Cell | SkillCell | None = None) -> PatienceFit:
    """One fit of `kind` on the queued records given (all of them: the caller chose them)."""
    if kind not in _FITTERS:
        raise ValueError(f"unknown patience model {kind!r} ({', '.join(KINDS)})")
    return _FITTERS[kind](tally_waits(records), cell)


@dataclass(frozen=True)
class PatienceModel:
    """Patience fits per (skill, priority), per skill and pooled, with the fallback between."""

    kind: str
    min_abandons: int
    cells: dict[Cell, PatienceFit]
    skills: dict[str, PatienceFit]
    pooled: PatienceFit

    def for_cell(self, skill: str, priority: int) -> PatienceFit:
        """The (skill, priority) fit if it rests on >= min_abandons abandons, else the skill's
        (any priority) if that does, else the pooled one."""
        cell = self.cells.get((skill, priority))
        if cell is not None and cell.abandons >= self.min_abandons:
            return cell
        by_skill = self.skills.get(skill)
        if by_skill is not None and by_skill.abandons >= self.min_abandons:
            return by_skill
        return self.pooled


def fit_patience(records: Iterable[TraceRecord], kind: str, *, min_abandons: int = 30) -> PatienceModel:
    """Fit `kind` ("exp", "lognormal", "km") per (skill, priority), per skill and pooled over
    the queued records (IVR hang-ups left out)."""
    if kind not in _FITTERS:
        raise ValueError(f"unknown patience model {kind!r} ({', '.join(KINDS)})")
    fitter = _FITTERS[kind]
    rows = queued(records)
    by_cell: defaultdict[Cell, list[TraceRecord]] = defaultdict(list)
    by_skill: defaultdict[str, list[TraceRecord]] = defaultdict(list)
    for r in rows:
        by_cell[(r.skill, r.priority)].append(r)
        by_skill[r.skill].append(r)
    return PatienceModel(
        kind,
        min_abandons,
        {cell: fitter(tally_waits(rs), cell) for cell, rs in sorted(by_cell.items())},
        {skill: fitter(tally_waits(rs), (skill, None)) for skill, rs in sorted(by_skill.items())},
        fitter(tally_waits(rows), None),
    )


# --- talk times -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TalkFit:
    """Lognormal talk times of a skill's served calls (for the calls a source did not serve)."""

    skill: str
    n: int
    mu: float
    sigma: float

    @property
    def mean_s(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)

    @property
    def cv(self) -> float:
        return math.sqrt(math.expm1(self.sigma**2))

    def sampler(self, rng: random.Random) -> Sampler:
        mu, sigma = self.mu, self.sigma
        return lambda: rng.lognormvariate(mu, sigma)


def fit_talk(records: Iterable[TraceRecord]) -> dict[str, TalkFit]:
    """Per skill, the MLE on log(talk_s) of its served calls with talk_s > 0 (mean, and the
    sd with divisor n); skills with no such call have no fit."""
    logs: defaultdict[str, list[float]] = defaultdict(list)
    for r in records:
        if r.served and r.talk_s > 0:
            logs[r.skill].append(math.log(r.talk_s))
    fits = {}
    for skill, xs in sorted(logs.items()):
        mu = math.fsum(xs) / len(xs)
        fits[skill] = TalkFit(skill, len(xs), mu, math.sqrt(math.fsum((x - mu) ** 2 for x in xs) / len(xs)))
    return fits


# --- operators: working periods, staffing, time away -----------------------------------------


@dataclass(frozen=True)
class WorkPeriod:
    """An operator's logged-in stretch."""

    operator: str  # unique per day: f"{day}/{operator}" for a trace (operator_id)
    day: str
    start_s: float  # seconds since midnight of `day`
    end_s: float
    skills: tuple[str, ...]  # the skills they serve in it (level 1)


def operator_id(day: str, operator: str) -> str:
    """A trace operator's id in WorkPeriod: names are per site, not per day."""
    return f"{day}/{operator}"


@dataclass(frozen=True)
class _Talk:
    start_s: float  # answered
    end_s: float


def _talks(records: Iterable[TraceRecord]) -> dict[tuple[str, str], list[_Talk]]:
    """Served calls with a named operator, per (day, operator), by answer time."""
    talks: defaultdict[tuple[str, str], list[_Talk]] = defaultdict(list)
    for r in records:
        if r.served and r.operator:
            answer = r.queued_s + r.wait_s
            talks[(r.day, r.operator)].append(_Talk(answer, answer + r.talk_s))
    return {key: sorted(ts, key=lambda t: (t.start_s, t.end_s)) for key, ts in talks.items()}


def working_periods(
    records: Iterable[TraceRecord], *, gap_s: float = 1800.0, lead_s: float = 0.0
) -> list[WorkPeriod]:
    """Each operator's logged-in stretches as the trace shows them: from their first answer
    (minus lead_s) to the end of their last call, split where they did not talk for more
    than gap_s (logged out in between). Served calls with no operator named are left out.
    Every period of a day carries the skills the operator served that day."""
    rows = list(records)
    skills: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        if r.served and r.operator:
            skills[(r.day, r.operator)].add(r.skill)
    periods = []
    for (day, name), talks in sorted(_talks(rows).items()):
        their_skills = tuple(sorted(skills[(day, name)]))
        op = operator_id(day, name)
        floor = 0.0  # (a lead never reaches back before midnight or into the previous period)
        start, end = talks[0].start_s, talks[0].end_s
        for talk in talks[1:]:
            if talk.start_s - end > gap_s:
                periods.append(WorkPeriod(op, day, max(start - lead_s, floor), end, their_skills))
                floor, start = end, talk.start_s
            end = max(end, talk.end_s)
        periods.append(WorkPeriod(op, day, max(start - lead_s, floor), end, their_skills))
    return periods


def _intervals(interval_s: float) -> int:
    n = round(DAY_S / interval_s)
    if interval_s <= 0 or abs(n * interval_s - DAY_S) > 1e-6:
        raise ValueError(f"an interval must divide the day into whole parts, got {interval_s} s")
    return n


def _spread(start: float, end: float, interval_s: float, n: int, add: Callable[[int, float], None]) -> None:
    """Call add(interval of the day, seconds) for each piece of [start, end) (times past
    midnight fold onto the day's intervals)."""
    t = start
    while t < end:
        k = int(t // interval_s)
        stop = min(end, (k + 1) * interval_s)
        add(k % n, stop - t)
        t = stop


def staffing_curve(periods: Iterable[WorkPeriod], interval_s: float = 1800.0) -> dict[tuple[str, int], float]:
    """Mean operators logged in per (skill, interval of the day), over the days the periods
    cover: an operator with two skills counts for both."""
    n = _intervals(interval_s)
    seconds: defaultdict[tuple[str, int], float] = defaultdict(float)
    days: set[str] = set()
    skills: set[str] = set()
    for p in periods:
        days.add(p.day)
        skills.update(p.skills)
        for skill in p.skills:

            def add(k: int, dt: float, skill: str = skill) -> None:
                seconds[(skill, k)] += dt

            _spread(p.start_s, p.end_s, interval_s, n, add)
    n_days = len(days) or 1
    return {(s, k): seconds[(s, k)] / (interval_s * n_days) for s in sorted(skills) for k in range(n)}


# Sweep events: (time, order, kind, key). Order 0 ends before 1 starts at the same instant
# (it does not change the integrals, only keeps the counters small).
_WAIT, _LOGIN, _TALK = 0, 1, 2


def away_share(
    records: Iterable[TraceRecord], periods: Sequence[WorkPeriod], *, interval_s: float = 1800.0
) -> list[float | None]:
    """Per interval of the day, the share of logged-in operators' time not talking while a
    caller of one of their skills waits: integral of sum over logged-in operators of
    1[not talking and one of their skills has a caller waiting], over the integral of the sum
    of 1[one of their skills has a caller waiting]. None where nobody was logged in while a
    caller of theirs waited. Days pool: a day's records meet that day's periods, a trace
    operator talks as `operator_id(day, operator)`. By an event sweep, no time grid."""
    n = _intervals(interval_s)
    num, den = [0.0] * n, [0.0] * n
    rows = list(records)
    by_day: defaultdict[str, list[WorkPeriod]] = defaultdict(list)
    for p in periods:
        by_day[p.day].append(p)
    rows_by_day: defaultdict[str, list[TraceRecord]] = defaultdict(list)
    for r in rows:
        rows_by_day[r.day].append(r)
    for day, day_periods in sorted(by_day.items()):
        _sweep_day(rows_by_day.get(day, []), day_periods, interval_s, n, num, den)
    return [a / d if d > 0 else None for a, d in zip(num, den, strict=True)]


def _sweep_day(
    records: list[TraceRecord],
    periods: list[WorkPeriod],
    interval_s: float,
    n: int,
    num: list[float],
    den: list[float],
) -> None:
    skills_of = {p.operator: p.skills for p in periods}
    # Operators with the same skills count together: what the integrand needs per moment is,
    # per skill set, how many are logged in and how many of those talk.
    groups = sorted(set(skills_of.values()))
    events: list[tuple[float, int, int, str, int]] = []  # (time, order, kind, key, +1/-1)
    for r in queued(records):
        if r.wait_s > 0:
            events.append((r.queued_s, 1, _WAIT, r.skill, +1))
            events.append((r.queued_s + r.wait_s, 0, _WAIT, r.skill, -1))
        if r.served and r.operator and r.talk_s > 0:
            op = operator_id(r.day, r.operator)
            if op in skills_of:
                answer = r.queued_s + r.wait_s
                events.append((answer, 1, _TALK, op, +1))
                events.append((answer + r.talk_s, 0, _TALK, op, -1))
    for p in periods:
        if p.end_s > p.start_s:
            events.append((p.start_s, 1, _LOGIN, p.operator, +1))
            events.append((p.end_s, 0, _LOGIN, p.operator, -1))
    events.sort()
    waiting: defaultdict[str, int] = defaultdict(int)
    logged: defaultdict[str, int] = defaultdict(int)  # per operator: periods open (0 or 1)
    talking: defaultdict[str, int] = defaultdict(int)  # per operator: calls in hand
    logged_in = dict.fromkeys(groups, 0)  # per skill set
    idle = dict.fromkeys(groups, 0)  # per skill set: logged in and not talking
    now = events[0][0] if events else 0.0
    for time, _, kind, key, delta in events:
        if time > now:
            covered = [g for g in groups if logged_in[g] and any(waiting[s] > 0 for s in g)]
            if covered:
                n_logged = sum(logged_in[g] for g in covered)
                n_idle = sum(idle[g] for g in covered)

                def add(k: int, dt: float, n_logged: int = n_logged, n_idle: int = n_idle) -> None:
                    den[k] += n_logged * dt
                    num[k] += n_idle * dt

                _spread(now, time, interval_s, n, add)
            now = time
        if kind == _WAIT:
            waiting[key] += delta
            continue
        group = skills_of[key]
        was_in, was_idle = logged[key] > 0, logged[key] > 0 and talking[key] == 0
        (logged if kind == _LOGIN else talking)[key] += delta
        is_in, is_idle = logged[key] > 0, logged[key] > 0 and talking[key] == 0
        logged_in[group] += is_in - was_in
        idle[group] += is_idle - was_idle
