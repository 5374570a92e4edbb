# The simulator (the real core in the loop) against queueing theory. Rules:
# - Erlang C (M/M/N, no abandonment) over 10 to 200 Erlangs, including the pyworkforce
#   README case (100 calls per 30 min, AHT 180 s: 10 Erlangs, N = 11..14; the closed form
#   itself is checked against the README's table in test_erlang.py); Erlang A
#   (M/M/N+M); Little's law on the queue and on the operators.
# - Tolerances are statistical, never hand-picked: each KPI's standard error comes from 20
#   batch means (tests/sim/batches.py) and a check allows 3.88 of them (t, 99.9 %,
#   two-sided), so a correct simulator fails a given check about once per thousand seeds.
#   Runs are as long as the suite's budget allows (about 2 minutes on 2 cores): each batch
#   spans >= 20 relaxation times (so batches are close to independent) and each case
#   simulates 130,000 to 500,000 calls after a warm-up of 10 relaxation times; the tests
#   also assert how small the standard errors came out, so a noisier simulator cannot pass
#   by widening them. ASA converges slowest (waits are strongly correlated from call to
#   call; halving its error bar takes 4x the calls), so its tolerance is the widest.
#   Measured when written (sim vs closed form; the 99.9 % tolerance in % of the closed
#   form; the error in standard errors):
#     Erlangs  N    P(wait)                      ASA (s)                     SL(20 s)
#     10       11   .690 vs .682 +-4.5% z+1.0    138 vs 123 +-25% z+1.9      .381 vs .390 +-9.3% z-0.9
#     10       12   .454 vs .449 +-8.2% z+0.5    42.2 vs 40.4 +-26% z+0.7    .636 vs .640 +-6.1% z-0.4
#     10       13   .283 vs .285 +-7.6% z-0.4    16.1 vs 17.1 +-18% z-1.4    .801 vs .796 +-2.5% z+1.0
#     10       14   .171 vs .174 +-13% z-0.5     7.64 vs 7.84 +-22% z-0.4    .890 vs .888 +-2.2% z+0.4
#     50       55   .360 vs .385 +-13% z-1.9     12.6 vs 13.8 +-31% z-1.1    .796 vs .779 +-6.0% z+1.4
#     100      108  .331 vs .328 +-18% z+0.2     7.50 vs 7.39 +-40% z+0.2    .859 vs .865 +-5.7% z-0.5
#     200      215  .215 vs .210 +-23% z+0.4     2.53 vs 2.52 +-38% z+0.0    .961 vs .960 +-2.3% z+0.1
#   Run with -s to print them again.
# - Seeds are fixed and differ per case (independent cases): the suite is deterministic.
#   The cases run on two processes (the suite's budget is two cores).
from __future__ import annotations

import dataclasses
import math

import pytest

from contactcenter.sim.erlang import ErlangA, ErlangC
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.virtual import simulate
from tests.sim.batches import BATCHES, T99_9, CaseResult, relaxation_s, run_many

AHT = 180.0
SL_T = 20.0
BATCH_RELAXATIONS = 20
WARMUP_RELAXATIONS = 10

# (calls per hour, operators, calls to simulate at least): Erlangs = rate x 180 s / 3600
ERLANG_C_CASES = [
    (200.0, 11, 250_000),  # 10 Erlangs: the pyworkforce README case, N = 11..14
    (200.0, 12, 160_000),
    (200.0, 13, 130_000),
    (200.0, 14, 130_000),
    (1000.0, 55, 250_000),  # 50 Erlangs
    (2000.0, 108, 320_000),  # 100 Erlangs
    (4000.0, 215, 500_000),  # 200 Erlangs
]


def mmn_scenario(rate_per_h: float, n: int, calls: int, seed: int) -> Scenario:
    """M/M/N long enough for BATCHES batches of BATCH_RELAXATIONS relaxation times."""
    tau = relaxation_s(rate_per_h / 3600, AHT, n)
    hours = max(BATCHES * BATCH_RELAXATIONS * tau / 3600, calls / rate_per_h)
    return Scenario.quick(
        arrival_rate=rate_per_h,
        aht=AHT,
        operators=n,
        hours=hours,
        warmup_hours=WARMUP_RELAXATIONS * tau / 3600,
        seed=seed,
        sl_threshold=SL_T,
    )


ERLANG_A_CASES = [
    # (calls/h, N, mean patience s): critically loaded (rho = 1) with impatient callers, and
    # the pyworkforce README's Erlang A example (10 Erlangs, N = 13, patience 5 min)
    (1000.0, 50, 180.0),
    (200.0, 13, 300.0),
]
ERLANG_A_CALLS = 80_000

_C_KEYS = ("p_wait", "asa_s", "service_level")
_A_KEYS = ("p_wait", "p_abandon", "mean_wait_s")


def erlang_a_scenario(rate_per_h: float, n: int, patience: float, seed: int) -> Scenario:
    # Abandonment keeps the queue short: it forgets its past within minutes; 2 h of warm-up.
    return Scenario.quick(
        arrival_rate=rate_per_h,
        aht=AHT,
        operators=n,
        patience=patience,
        hours=ERLANG_A_CALLS / rate_per_h,
        warmup_hours=2.0,
        seed=seed,
    )


def all_jobs() -> list[tuple[Scenario, tuple[str, ...]]]:
    jobs = [
        (mmn_scenario(r, n, calls, seed=1000 + i), _C_KEYS) for i, (r, n, calls) in enumerate(ERLANG_C_CASES)
    ]
    for i, (r, n, patience) in enumerate(ERLANG_A_CASES):
        jobs.append((erlang_a_scenario(r, n, patience, seed=2000 + i), _A_KEYS))
    return jobs


def reference(sc: Scenario) -> dict[str, float]:
    """The closed form's KPIs for a quick-model scenario."""
    skill, n = sc.skills[0], sc.operator_count
    rate = skill.arrivals_per_h[0] / 3600
    if skill.patience_s is None:
        c = ErlangC(rate, AHT, n)
        return {"p_wait": c.p_wait, "asa_s": c.asa_s, "service_level": c.service_level(SL_T)}
    a = ErlangA.solve(rate, AHT, n, skill.patience_s)
    return {"p_wait": a.p_wait, "p_abandon": a.p_abandon, "mean_wait_s": a.mean_wait_s}


@pytest.fixture(scope="module")
def results() -> dict[tuple[float, ...], CaseResult]:
    keys: list[tuple[float, ...]] = [(r, n) for r, n, _ in ERLANG_C_CASES] + list(ERLANG_A_CASES)
    jobs = all_jobs()
    out = run_many(jobs)
    # The measured errors, for whoever runs this with -s (pytest shows them on failure too).
    for (sc, kpi_keys), res in zip(jobs, out, strict=True):
        ref = reference(sc)
        cells = [
            f"{k} {res.estimates[k].value:.4g} vs {ref[k]:.4g} "
            f"(+-{100 * T99_9 * res.estimates[k].se / ref[k]:.1f} %, z {res.estimates[k].z(ref[k]):+.2f})"
            for k in kpi_keys
        ]
        erlangs = sc.skills[0].arrivals_per_h[0] * AHT / 3600
        print(f"{erlangs:g} E, N={sc.operator_count}, {res.arrivals:,} calls: " + "; ".join(cells))
    return dict(zip(keys, out, strict=True))


def _check(res: CaseResult, key: str, reference: float, max_se: float) -> None:
    est = res.estimates[key]
    assert est.within(reference), (
        f"{key}: simulated {est.value:.5g} vs closed form {reference:.5g}: "
        f"{est.z(reference):+.2f} standard errors (se {est.se:.3g})"
    )
    # The tolerance must be tight, not just honest.
    assert est.se <= max_se, (
        f"{key}: standard error {est.se:.3g} wider than {max_se:.3g} (ref {reference:.5g})"
    )


@pytest.mark.parametrize(("rate", "n", "calls"), ERLANG_C_CASES)
def test_erlang_c(results: dict[tuple[float, ...], CaseResult], rate: float, n: int, calls: int) -> None:
    res = results[(rate, n)]
    ref = ErlangC(rate / 3600, AHT, n)
    assert res.kpis["abandoned"] == 0 and res.kpis["blocked"] == 0
    assert int(res.kpis["answered"]) >= calls * 0.95  # type: ignore[call-overload]
    # Precision floors: these run lengths give standard errors of at most about 70 % of them.
    _check(res, "p_wait", ref.p_wait, 0.09 * ref.p_wait)
    _check(res, "asa_s", ref.asa_s, 0.16 * ref.asa_s)
    _check(res, "service_level", ref.service_level(SL_T), 0.02)


@pytest.mark.parametrize(("rate", "n", "patience"), ERLANG_A_CASES)
def test_erlang_a(results: dict[tuple[float, ...], CaseResult], rate: float, n: int, patience: float) -> None:
    res = results[(rate, n, patience)]
    ref = ErlangA.solve(rate / 3600, AHT, n, patience)
    _check(res, "p_abandon", ref.p_abandon, 0.07 * ref.p_abandon)
    _check(res, "mean_wait_s", ref.mean_wait_s, 0.08 * ref.mean_wait_s)
    _check(res, "p_wait", ref.p_wait, 0.05 * ref.p_wait)


def test_littles_law_on_queue_and_operators() -> None:
    """L = lambda W, measured independently: L from the engine's queue lengths integrated
    over time, lambda and W from the completed calls; and on the operators, busy operators
    = answered calls per second x AHT (talk + wrap-up), busy read from operators' state
    times. A sample-path identity: only edge effects (calls waiting across the window's
    ends) separate the two sides, so the tolerance is 0.5 %."""
    base = Scenario.quick(
        arrival_rate=600, aht=200.0, operators=30, patience=120.0, hours=40, warmup_hours=1, seed=3
    )
    sc = dataclasses.replace(base, wrap_up_s=20.0)  # 33 Erlangs on 30 operators: a real queue
    res = simulate(sc, measure_queue=True)
    k = res.kpis
    window = sc.end_s - sc.start_s
    assert res.queue_area is not None
    l_queue = res.queue_area / window
    handled = int(k["answered"]) + int(k["abandoned"])  # type: ignore[call-overload]
    lam_w = handled / window * float(k["mean_wait_s"])  # type: ignore[arg-type]
    assert l_queue > 1.0  # a queue worth measuring
    assert math.isclose(l_queue, lam_w, rel_tol=0.005), (l_queue, lam_w)
    busy = float(k["occupancy"]) * sc.operator_count  # type: ignore[arg-type]
    throughput_x_aht = int(k["answered"]) / window * float(k["aht_s"])  # type: ignore[call-overload, arg-type]
    assert math.isclose(busy, throughput_x_aht, rel_tol=0.005), (busy, throughput_x_aht)
