# Estimators fitted from a call trace (sim/fit.py): patience fits on censored synthetic data
# with a known truth (tolerances of 4 standard errors, from n or from the likelihood's
# curvature, computed here with a likelihood written independently of the module), the
# Kaplan-Meier curve by hand, samplers against their own survival, the fallback between
# cells; talk fits; working periods, the staffing curve and the away share against a
# brute-force second-by-second count; and sane facts on the bundled bank month.
from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from contactcenter.sim.fit import (
    KINDS,
    PatienceFit,
    WorkPeriod,
    away_share,
    fit_one,
    fit_patience,
    fit_talk,
    operator_id,
    staffing_curve,
    working_periods,
)
from contactcenter.sim.tracefile import TraceRecord, bank_trace

DAY = "2026-01-05"


def rec(
    call_id: str,
    outcome: str,
    wait_s: float,
    *,
    skill: str = "info",
    priority: int = 0,
    arrival_s: float = 0.0,
    ivr_s: float = 0.0,
    talk_s: float = 0.0,
    operator: str = "",
    day: str = DAY,
) -> TraceRecord:
    return TraceRecord(call_id, day, arrival_s, skill, "", priority, ivr_s, outcome, wait_s, talk_s, operator)


def censored_sample(
    rng: random.Random, patience: Callable[[], float], n: int, answer_mean_s: float
) -> list[TraceRecord]:
    """n callers with the given patience, answered after an independent exponential time:
    who runs out first decides the outcome, the wait is the shorter of the two."""
    out = []
    for i in range(n):
        p, answer = patience(), rng.expovariate(1.0 / answer_mean_s)
        out.append(rec(f"c{i}", "abandoned" if p < answer else "served", min(p, answer)))
    return out


def no_abandon_under_a_second(records: list[TraceRecord]) -> bool:
    """(The module takes such an abandon as 1 s: the samples here choose parameters that
    make one all but impossible, so the truth is the truth.)"""
    return all(r.wait_s >= 1.0 for r in records if r.outcome == "abandoned")


def loglik(mu: float, sigma: float, records: list[TraceRecord]) -> float:
    """The lognormal censored log-likelihood, one term per caller (an answer at 0 s adds
    log S(0) = 0)."""
    total = 0.0
    for r in records:
        if r.wait_s == 0:
            continue
        z = (math.log(r.wait_s) - mu) / sigma
        if r.outcome == "abandoned":
            total += -math.log(r.wait_s * sigma * math.sqrt(2 * math.pi)) - z * z / 2
        else:
            total += math.log(0.5 * math.erfc(z / math.sqrt(2)))
    return total


def standard_errors(mu: float, sigma: float, records: list[TraceRecord]) -> tuple[float, float]:
    """From the observed information: the inverse of minus the numerical Hessian."""
    h = 1e-3

    def f(a: float, b: float) -> float:
        return loglik(mu + a, sigma + b, records)

    f0 = f(0, 0)
    h_mm = (f(h, 0) - 2 * f0 + f(-h, 0)) / h**2
    h_ss = (f(0, h) - 2 * f0 + f(0, -h)) / h**2
    h_ms = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)
    det = h_mm * h_ss - h_ms**2
    return math.sqrt(-h_ss / det), math.sqrt(-h_mm / det)


# --- patience -----------------------------------------------------------------------------------


def test_exp_fit_recovers_a_known_mean() -> None:
    rng = random.Random(11)
    truth = 150.0
    records = censored_sample(rng, lambda: rng.expovariate(1 / truth), 5000, 100.0)
    fit = fit_one(records, "exp")
    abandons = sum(r.outcome == "abandoned" for r in records)
    assert (fit.abandons, fit.censored) == (abandons, len(records) - abandons)
    assert fit.mean_s == pytest.approx(sum(r.wait_s for r in records) / abandons)
    # (The censored exponential's Fisher information is abandons / mean^2.)
    assert fit.mean_s is not None and abs(fit.mean_s - truth) < 4 * truth / math.sqrt(abandons)


@pytest.mark.parametrize(("mu", "sigma"), [(4.5, 0.9), (5.0, 1.3)])
def test_lognormal_fit_recovers_known_parameters(mu: float, sigma: float) -> None:
    rng = random.Random(f"lognormal {mu} {sigma}")
    records = censored_sample(rng, lambda: rng.lognormvariate(mu, sigma), 3000, math.exp(mu))
    assert no_abandon_under_a_second(records)
    fit = fit_one(records, "lognormal")
    assert fit.mu is not None and fit.sigma is not None
    se_mu, se_sigma = standard_errors(fit.mu, fit.sigma, records)
    assert abs(fit.mu - mu) < 4 * se_mu
    assert abs(fit.sigma - sigma) < 4 * se_sigma


def test_lognormal_fit_is_the_likelihood_maximum() -> None:
    rng = random.Random(5)
    records = censored_sample(rng, lambda: rng.lognormvariate(4.0, 1.0), 800, 60.0)
    assert no_abandon_under_a_second(records)
    fit = fit_one(records, "lognormal")
    assert fit.mu is not None and fit.sigma is not None
    best = loglik(fit.mu, fit.sigma, records)
    for d_mu, d_sigma in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (1e-3, 1e-3), (-1e-3, 1e-3)]:
        assert loglik(fit.mu + d_mu, fit.sigma + d_sigma, records) < best


def test_lognormal_floors_zero_waits_at_one_second() -> None:
    # An abandon at 0 s is the same observation as one at 1 s; an answer at 0 s says nothing.
    base = [rec(f"a{i}", "abandoned", w) for i, w in enumerate([1.0, 3.0, 10.0, 40.0, 90.0])]
    base += [rec(f"s{i}", "served", w) for i, w in enumerate([5.0, 20.0, 60.0])]
    with_zero = [*base, rec("z", "abandoned", 0.0)]
    with_one = [*base, rec("z", "abandoned", 1.0)]
    a, b = fit_one(with_zero, "lognormal"), fit_one(with_one, "lognormal")
    assert (a.mu, a.sigma) == (b.mu, b.sigma)
    c = fit_one([*base, rec("q", "served", 0.0)], "lognormal")
    d = fit_one(base, "lognormal")
    assert (c.mu, c.sigma) == pytest.approx((d.mu, d.sigma), rel=1e-6)
    assert c.censored == d.censored + 1


@pytest.mark.parametrize(
    "waits",
    [
        [(5.0, True)],
        [(5.0, True)] * 5,
        [(0.0, True)] * 4 + [(0.0, False)],
        [(5.0, True)] + [(1e5, False)] * 50,  # (sigma runs to its bound)
    ],
)
def test_lognormal_on_degenerate_data_ends_with_finite_parameters(waits: list[tuple[float, bool]]) -> None:
    records = [rec(f"c{i}", "abandoned" if ab else "served", w) for i, (w, ab) in enumerate(waits)]
    fit = fit_one(records, "lognormal")
    assert fit.mu is not None and fit.sigma is not None
    assert math.isfinite(fit.mu) and 0 < fit.sigma < math.inf
    assert fit.abandons == sum(ab for _, ab in waits)
    draw = fit.sampler(random.Random(1))
    assert all(0 <= draw() <= math.inf for _ in range(1000))  # (and no OverflowError)


def test_km_by_hand() -> None:
    # (wait, abandoned?): six callers, a tie at 3 s between an abandon and an answer.
    data = [(1, True), (2, False), (3, True), (3, False), (5, True), (7, False)]
    records = [rec(f"c{i}", "abandoned" if ab else "served", w) for i, (w, ab) in enumerate(data)]
    fit = fit_one(records, "km")
    # At risk: 6 at 1 s; 4 at 3 s (the answer at 3 s still at risk: abandons first); 2 at 5 s.
    s1 = 1 - 1 / 6
    s3 = s1 * (1 - 1 / 4)
    s5 = s3 * (1 - 1 / 2)
    assert fit.times == (1, 3, 5)
    assert fit.levels == pytest.approx((s1, s3, s5))
    assert [fit.survival(t) for t in (0, 0.99, 1, 2.5, 3, 4.9, 5, 7, 100)] == pytest.approx(
        [1, 1, s1, s1, s3, s3, s5, s5, s5]
    )
    assert (fit.abandons, fit.censored) == (3, 3)
    assert fit.median_s() == 5  # (the first step at or below 1/2)


def test_km_without_censoring_is_the_empirical_survival() -> None:
    rng = random.Random(3)
    waits = [float(rng.randint(0, 40)) for _ in range(300)]  # (ties on purpose)
    fit = fit_one([rec(f"c{i}", "abandoned", w) for i, w in enumerate(waits)], "km")
    for t in [*sorted(set(waits)), -1.0, 0.5, 17.5, 99.0]:
        assert fit.survival(t) == pytest.approx(sum(w > t for w in waits) / len(waits), abs=1e-12)


def test_km_recovers_a_known_survival() -> None:
    rng = random.Random(17)
    truth = 120.0
    records = censored_sample(rng, lambda: rng.expovariate(1 / truth), 4000, 150.0)
    fit = fit_one(records, "km")
    for t in (30.0, 90.0, 200.0):
        s = math.exp(-t / truth)
        # Greenwood's variance is about S^2 * sum d / (n (n - d)); bound it by the at-risk count at t.
        at_risk = sum(r.wait_s >= t for r in records)
        assert abs(fit.survival(t) - s) < 4 * math.sqrt(s * (1 - s) / at_risk)


def _patience_records() -> list[TraceRecord]:
    rng = random.Random(23)
    records = censored_sample(rng, lambda: rng.lognormvariate(4.0, 1.0), 3000, 80.0)
    assert no_abandon_under_a_second(records)
    return records


@pytest.mark.parametrize("kind", KINDS)
def test_sampler_matches_survival(kind: str) -> None:
    fit = fit_one(_patience_records(), kind)
    n = 20_000
    draw = fit.sampler(random.Random(f"draws {kind}"))
    draws = sorted(draw() for _ in range(n))
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        t = draws[int(q * n)]  # the empirical q-quantile
        if math.isfinite(t):
            share_above = sum(d > t for d in draws) / n
            assert abs(fit.survival(t) - share_above) < 4 * math.sqrt(q * (1 - q) / n) + 1e-9


def test_km_sampler_outlasts_the_observations_with_the_last_level() -> None:
    fit = fit_one(_patience_records(), "km")
    n = 20_000
    draw = fit.sampler(random.Random(2))
    never = sum(draw() == math.inf for _ in range(n)) / n
    s_last = fit.levels[-1]
    assert s_last > 0.05  # (the sample is censored enough for the check to mean something)
    assert abs(never - s_last) < 4 * math.sqrt(s_last * (1 - s_last) / n)
    assert all(t in set(fit.times) for t in (draw() for _ in range(1000)) if math.isfinite(t))


def test_samplers_are_deterministic_by_seed() -> None:
    for kind in KINDS:
        fit = fit_one(_patience_records(), kind)
        a, b = fit.sampler(random.Random(9)), fit.sampler(random.Random(9))
        assert [a() for _ in range(50)] == [b() for _ in range(50)]


@pytest.mark.parametrize("kind", KINDS)
def test_nobody_abandoned_means_never_hanging_up(kind: str) -> None:
    fit = fit_one([rec(f"s{i}", "served", 10.0 * i) for i in range(10)], kind)
    assert fit.abandons == 0 and fit.censored == 10
    assert fit.sampler(random.Random(1))() == math.inf
    assert fit.survival(1e6) == 1.0


def test_ivr_hang_ups_are_left_out() -> None:
    records = _patience_records()
    ivr = [rec(f"i{i}", "ivr_abandoned", 0.0, skill="") for i in range(500)]
    for kind in KINDS:
        assert fit_one(records + ivr, kind) == fit_one(records, kind)


def test_fallback_cell_then_skill_then_pooled() -> None:
    counts = {("info", 0): 40, ("info", 1): 5, ("tramits", 0): 3, ("tramits", 1): 2}
    records = []
    for (skill, priority), n in counts.items():
        for i in range(n):
            records.append(
                rec(f"{skill}{priority}a{i}", "abandoned", 10.0 + i, skill=skill, priority=priority)
            )
            records.append(rec(f"{skill}{priority}s{i}", "served", 5.0 + i, skill=skill, priority=priority))
    model = fit_patience(records, "exp", min_abandons=30)
    assert model.for_cell("info", 0).cell == ("info", 0)
    assert model.for_cell("info", 0).abandons == counts[("info", 0)]
    info = model.for_cell("info", 1)
    assert info.cell == ("info", None)
    assert info.abandons == counts[("info", 0)] + counts[("info", 1)]
    assert model.for_cell("tramits", 0).cell is None
    assert model.for_cell("tramits", 0).abandons == sum(counts.values())
    assert model.for_cell("nowhere", 3).cell is None
    assert model.for_cell("info", 7).cell == ("info", None)  # (a priority the trace lacks)
    loose = fit_patience(records, "exp", min_abandons=2)
    assert loose.for_cell("tramits", 1).cell == ("tramits", 1)


def test_bad_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="weibull"):
        fit_patience([], "weibull")
    with pytest.raises(ValueError, match="weibull"):
        fit_one([], "weibull")


def test_fits_are_deterministic() -> None:
    records = _patience_records()
    for kind in KINDS:
        assert fit_patience(records, kind) == fit_patience(list(reversed(records)), kind)


def test_bank_patience_per_cell() -> None:
    records = bank_trace().records
    queued = [r for r in records if r.outcome != "ivr_abandoned"]
    cells = sorted({(r.skill, r.priority) for r in queued})
    models = {kind: fit_patience(records, kind) for kind in KINDS}
    for skill, priority in cells:
        mine = [r for r in queued if (r.skill, r.priority) == (skill, priority)]
        abandons = [r.wait_s for r in mine if r.outcome == "abandoned"]
        exp = models["exp"].for_cell(skill, priority)
        km = models["km"].for_cell(skill, priority)
        logn = models["lognormal"].for_cell(skill, priority)
        if len(abandons) >= 30:
            assert exp.cell == km.cell == logn.cell == (skill, priority)
            assert exp.abandons == len(abandons) and exp.censored == len(mine) - len(abandons)
            assert exp.mean_s == pytest.approx(sum(r.wait_s for r in mine) / len(abandons))
            assert km.survival(max(abandons)) < 1
            assert km.survival(min(abandons)) < 1
        assert exp.mean_s is not None and 0 < exp.mean_s < math.inf
        assert logn.sigma is not None and logn.mu is not None and logn.sigma > 0 and math.isfinite(logn.mu)
        # The fitted median lies within the waits seen (the lognormal's may lie past them).
        assert 0 < km.median_s() <= max(r.wait_s for r in queued) or km.median_s() == math.inf
        levels = km.levels
        assert all(a > b for a, b in itertools.pairwise(levels)) and 0 <= levels[-1] < 1


# --- talk times ---------------------------------------------------------------------------------


def test_talk_fit_recovers_a_known_lognormal() -> None:
    rng = random.Random(31)
    truth = {"info": (4.6, 1.1), "tributs": (5.0, 0.6)}
    records = []
    for skill, (mu, sigma) in truth.items():
        for i in range(2000):
            records.append(
                rec(
                    f"{skill}{i}",
                    "served",
                    3.0,
                    skill=skill,
                    talk_s=rng.lognormvariate(mu, sigma),
                    operator="A",
                )
            )
    # Neither zero talk nor unserved calls count.
    records += [rec("zero", "served", 1.0, talk_s=0.0, operator="A"), rec("gone", "abandoned", 9.0)]
    fits = fit_talk(records)
    assert set(fits) == set(truth)
    for skill, (mu, sigma) in truth.items():
        fit = fits[skill]
        assert fit.n == 2000
        assert abs(fit.mu - mu) < 4 * sigma / math.sqrt(fit.n)
        assert abs(fit.sigma - sigma) < 4 * sigma / math.sqrt(2 * fit.n)
        assert fit.mean_s == pytest.approx(math.exp(fit.mu + fit.sigma**2 / 2))
        assert fit.cv == pytest.approx(math.sqrt(math.exp(fit.sigma**2) - 1))


def test_talk_sampler_has_the_fitted_mean_and_cv() -> None:
    records = [
        rec(f"c{i}", "served", 0.0, talk_s=float(30 + (i * 37) % 400), operator="A") for i in range(500)
    ]
    fit = fit_talk(records)["info"]
    draw = fit.sampler(random.Random(8))
    xs = [draw() for _ in range(40_000)]
    mean = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))
    assert abs(mean - fit.mean_s) < 4 * fit.mean_s * fit.cv / math.sqrt(len(xs))
    assert sd / mean == pytest.approx(fit.cv, rel=0.1)


def test_bank_talk() -> None:
    records = bank_trace().records
    fits = fit_talk(records)
    served = Counter(r.skill for r in records if r.served and r.talk_s > 0)
    assert {s: f.n for s, f in fits.items()} == dict(served)
    for skill, fit in fits.items():
        talks = [r.talk_s for r in records if r.served and r.talk_s > 0 and r.skill == skill]
        assert min(talks) < fit.mean_s < max(talks)
        assert fit.sigma > 0


# --- working periods and staffing ---------------------------------------------------------------


def served(call_id: str, operator: str, answer_s: float, talk_s: float, *, skill: str = "info",
           wait_s: float = 0.0, day: str = DAY) -> TraceRecord:  # fmt: skip
    """A call answered at answer_s (after wait_s in queue, 10 s in the IVR)."""
    return rec(call_id, "served", wait_s, skill=skill, arrival_s=answer_s - wait_s - 10.0, ivr_s=10.0,
               talk_s=talk_s, operator=operator, day=day)  # fmt: skip


def test_working_periods_by_hand() -> None:
    records = [
        served("1", "ANA", 1000, 100),  # 1000-1100
        served("2", "ANA", 2000, 300, skill="tributs"),  # 2000-2300: 900 s idle, same period
        served("3", "ANA", 4200, 60),  # 4200-4260: 1900 s after, a new period
        served("4", "BEN", 500, 50),
        served("5", "BEN", 520, 100),  # (overlaps the previous call: ends at 620)
        served("6", "ANA", 100, 10, day="2026-01-06"),
        rec("7", "served", 0.0, arrival_s=300, talk_s=40, operator=""),  # (no operator: left out)
        rec("8", "abandoned", 50.0, arrival_s=300),
    ]
    periods = working_periods(records, gap_s=1800)
    ana, ben, ana2 = operator_id(DAY, "ANA"), operator_id(DAY, "BEN"), operator_id("2026-01-06", "ANA")
    assert sorted(periods, key=lambda p: (p.operator, p.start_s)) == [
        WorkPeriod(ana, DAY, 1000, 2300, ("info", "tributs")),
        WorkPeriod(ana, DAY, 4200, 4260, ("info", "tributs")),
        WorkPeriod(ben, DAY, 500, 620, ("info",)),
        WorkPeriod(ana2, "2026-01-06", 100, 110, ("info",)),
    ]
    # A shorter gap splits ANA's first stretch; a lead starts each period earlier, never
    # before midnight nor before the previous period's end.
    split = working_periods(records, gap_s=600)
    assert [(p.start_s, p.end_s) for p in split if p.operator == ana] == [
        (1000, 1100),
        (2000, 2300),
        (4200, 4260),
    ]
    led = working_periods(records, gap_s=600, lead_s=1000)
    assert [(p.start_s, p.end_s) for p in led if p.operator == ana] == [(0, 1100), (1100, 2300), (3200, 4260)]


def test_staffing_curve() -> None:
    periods = [
        WorkPeriod("d1/A", "d1", 0.0, 2700.0, ("info", "tributs")),  # interval 0 full, 1 half
        WorkPeriod("d1/B", "d1", 900.0, 1800.0, ("info",)),  # interval 0 half
        WorkPeriod("d2/A", "d2", 86_400.0 - 900, 86_400.0 + 900, ("info",)),  # past midnight
    ]
    curve = staffing_curve(periods, interval_s=1800.0)
    days = 2
    assert curve[("info", 0)] == pytest.approx((1800 + 900 + 900) / 1800 / days)
    assert curve[("info", 1)] == pytest.approx(900 / 1800 / days)
    assert curve[("tributs", 0)] == pytest.approx(1 / days)
    assert curve[("info", 47)] == pytest.approx(900 / 1800 / days)
    assert curve[("info", 20)] == 0
    assert len(curve) == 2 * 48
    with pytest.raises(ValueError):
        staffing_curve(periods, interval_s=1000.0)


# --- time away from calls -----------------------------------------------------------------------


def brute_away(
    records: list[TraceRecord], periods: list[WorkPeriod], interval_s: float
) -> list[float | None]:
    """The away share by looking at every second's midpoint (all times here are whole seconds)."""
    n = round(86_400 / interval_s)
    num, den = [0.0] * n, [0.0] * n
    for day in sorted({p.day for p in periods}):
        mine = [r for r in records if r.day == day and r.outcome != "ivr_abandoned"]
        ps = [p for p in periods if p.day == day]
        end = int(max([p.end_s for p in ps] + [r.queued_s + r.wait_s + r.talk_s for r in mine]))
        start = int(min([p.start_s for p in ps] + [r.queued_s for r in mine]))
        for second in range(start, end + 1):
            t = second + 0.5
            waiting = {r.skill for r in mine if r.queued_s <= t < r.queued_s + r.wait_s}
            for p in ps:
                if not p.start_s <= t < p.end_s or not waiting & set(p.skills):
                    continue
                talks = any(
                    operator_id(r.day, r.operator) == p.operator
                    and r.queued_s + r.wait_s <= t < r.queued_s + r.wait_s + r.talk_s
                    for r in mine
                    if r.served
                )
                k = int(t // interval_s) % n
                den[k] += 1
                num[k] += not talks
    return [a / d if d else None for a, d in zip(num, den, strict=True)]


def test_away_share_by_hand() -> None:
    # ANA talks 100-400 and 600-900, BEN 200-1000; a caller of info waits 500-600 (then ANA
    # answers), another 300-700 (then hangs up). While someone waits (300-700) ANA is free
    # 400-600 and BEN never is: away = 200 / (400 + 400).
    records = [
        served("1", "ANA", 100, 300),
        served("2", "ANA", 600, 300, wait_s=100),
        served("3", "BEN", 200, 800),
        rec("4", "abandoned", 400.0, arrival_s=290, ivr_s=10),
        rec("5", "abandoned", 100.0, arrival_s=5000, skill="tributs"),  # (nobody of theirs there)
        rec("6", "ivr_abandoned", 0.0, arrival_s=300, ivr_s=30, skill=""),
    ]
    periods = working_periods(records)
    shares = away_share(records, periods, interval_s=1800)
    assert shares[0] == pytest.approx(200 / 800)
    assert shares == pytest.approx(brute_away(records, periods, 1800))
    assert all(s is None for s in shares[1:])  # (no caller of theirs waited then)


def test_away_share_splits_at_interval_boundaries() -> None:
    # A caller waits 1700-1900 with ANA logged in and free all along: 100 s each side of 1800.
    records = [
        served("1", "ANA", 1000, 100),
        served("2", "ANA", 2500, 100),
        rec("w", "abandoned", 200.0, arrival_s=1700),
    ]
    shares = away_share(records, working_periods(records), interval_s=1800)
    assert shares[0] == shares[1] == 1.0


def test_away_share_against_brute_force_on_a_random_day() -> None:
    rng = random.Random(41)
    records = []
    free_at = {"ANA": 0, "BEN": 0, "CAT": 0}
    skill_of = {"ANA": "info", "BEN": "info", "CAT": "tributs"}
    t = 0
    for i in range(120):
        t += rng.randint(5, 60)
        skill = rng.choice(["info", "tributs"])
        wait = rng.randint(0, 90)
        names = [n for n in free_at if skill_of[n] == skill and free_at[n] <= t + wait]
        if names and rng.random() < 0.8:
            name = rng.choice(names)
            talk = rng.randint(20, 200)
            records.append(served(f"c{i}", name, t + wait, talk, skill=skill, wait_s=wait))
            free_at[name] = t + wait + talk + rng.randint(0, 40)
        else:
            records.append(rec(f"c{i}", "abandoned", float(wait), skill=skill, arrival_s=t))
    periods = working_periods(records, gap_s=300, lead_s=30)
    for interval_s in (1800.0, 900.0):
        shares = away_share(records, periods, interval_s=interval_s)
        assert shares == pytest.approx(brute_away(records, periods, interval_s))
        assert any(s is not None for s in shares)
        assert all(0 <= s <= 1 for s in shares if s is not None)


def test_away_share_pools_days() -> None:
    # Day 1: ANA talks 100-400 while a caller waits 150-350: 200 s, none free. Day 2: ANA is
    # logged in 100-450, talks 100-200 and 400-450, a caller waits 150-300: 150 s, 100 free.
    day1 = [served("1", "ANA", 100, 300), rec("2", "abandoned", 200.0, arrival_s=150)]
    day2 = [
        served("3", "ANA", 100, 100, day="d2"),
        rec("4", "abandoned", 150.0, arrival_s=150, day="d2"),
        served("5", "ANA", 400, 50, day="d2"),
    ]
    records = day1 + day2
    periods = working_periods(records)
    shares = away_share(records, periods)
    assert shares[0] == pytest.approx(brute_away(records, periods, 1800)[0])
    assert shares[0] == pytest.approx(100 / (200 + 150))


def test_away_share_on_the_bank_busiest_day() -> None:
    trace = bank_trace()
    by_day = defaultdict(list)
    for r in trace.records:
        by_day[r.day].append(r)
    day = max(by_day, key=lambda d: (len(by_day[d]), d))
    records = by_day[day]
    periods = working_periods(records)
    assert {p.operator for p in periods} == {
        operator_id(day, r.operator) for r in records if r.served and r.operator
    }
    shares = away_share(records, periods)
    assert len(shares) == 48
    assert any(s is not None for s in shares)
    assert all(0 <= s <= 1 for s in shares if s is not None)
    # Nobody waited before the first queued caller: those half hours have no share.
    first = min(r.queued_s for r in records if r.outcome != "ivr_abandoned" and r.wait_s > 0)
    assert all(s is None for s in shares[: int(first // 1800)])


def test_patience_fit_is_frozen() -> None:
    fit = PatienceFit("exp", None, 1, 0, mean_s=1.0)
    with pytest.raises(AttributeError):
        fit.mean_s = 2.0  # type: ignore[misc]
