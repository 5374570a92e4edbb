# Traffic models: the inputs of the validation runs are checked here on their own, so the
# queueing checks in test_validation.py test the engine, not the random numbers. Statistical
# checks allow 4 standard errors (fixed seeds: deterministic).
from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter

import pytest

from contactcenter.sim import traffic


def test_poisson_rate_and_interarrivals() -> None:
    rng = random.Random(1)
    times = list(traffic.poisson(rng, 3600.0, 0.0, 100_000.0))  # 1 call/s
    n = len(times)
    assert abs(n - 100_000) <= 4 * math.sqrt(100_000)
    assert all(0 < a < b < 100_000 for a, b in itertools.pairwise(times))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(1.0, abs=4 / math.sqrt(n))
    assert statistics.stdev(gaps) == pytest.approx(1.0, abs=0.02)  # exponential: CV 1
    assert list(traffic.poisson(rng, 0.0, 0.0, 1e6)) == []


def test_day_profile_follows_the_hourly_rates_and_repeats() -> None:
    rates = [0.0] * 24
    rates[7], rates[8], rates[20] = 1000.0, 3000.0, 500.0
    times = list(traffic.day_profile(random.Random(2), rates, 0.0, 10 * 86400.0))
    per_hour = Counter(int(t // 3600) % 24 for t in times)
    assert set(per_hour) == {7, 8, 20}  # nothing when the rate is zero
    for hour in (7, 8, 20):
        expected = rates[hour] * 10
        assert abs(per_hour[hour] - expected) <= 4 * math.sqrt(expected), hour
    assert times == sorted(times) and times[-1] < 10 * 86400
    # starting mid-day and stopping at `end`
    part = list(traffic.day_profile(random.Random(3), rates, 8.5 * 3600, 20.5 * 3600))
    assert part and part[0] >= 8.5 * 3600 and part[-1] < 20.5 * 3600
    with pytest.raises(ValueError):
        list(traffic.day_profile(random.Random(1), [1.0] * 23, 0.0, 10.0))


@pytest.mark.parametrize(("dist", "cv"), [("exp", 1.0), ("lognormal", 0.5), ("lognormal", 1.5)])
def test_service_time_mean_and_cv(dist: str, cv: float) -> None:
    draw = traffic.service_sampler(random.Random(4), dist, 180.0, cv)
    xs = [draw() for _ in range(200_000)]
    assert min(xs) > 0
    assert statistics.mean(xs) == pytest.approx(180.0, abs=4 * 180.0 * cv / math.sqrt(len(xs)))
    # the sample CV of a lognormal converges slowly (heavy tail): a looser 5 %
    assert statistics.stdev(xs) / statistics.mean(xs) == pytest.approx(cv, rel=0.05)


def test_constant_and_bad_distributions() -> None:
    assert traffic.service_sampler(random.Random(1), "const", 30.0)() == 30.0
    with pytest.raises(ValueError):
        traffic.service_sampler(random.Random(1), "gamma", 30.0)
    with pytest.raises(ValueError):
        traffic.service_sampler(random.Random(1), "exp", 0.0)
    assert traffic.patience_sampler(random.Random(1), None) == math.inf


def test_language_mix() -> None:
    pick = traffic.language_picker(random.Random(5), [("ca", 0.5), ("es", 0.4), ("en", 0.1)])
    assert callable(pick)
    n = 100_000
    counts = Counter(pick() for _ in range(n))
    for lang, share in (("ca", 0.5), ("es", 0.4), ("en", 0.1)):
        assert abs(counts[lang] - n * share) <= 4 * math.sqrt(n * share * (1 - share)), lang
    assert traffic.language_picker(random.Random(5), [("ca", 1.0)]) == "ca"


def test_streams_are_reproducible_and_independent_of_each_other() -> None:
    a, b = traffic.streams(7, "info"), traffic.streams(7, "info")
    assert [a["talk"].random() for _ in range(5)] == [b["talk"].random() for _ in range(5)]
    c = traffic.streams(7, "tramits")
    assert a["arrivals"].random() != c["arrivals"].random()
    assert traffic.streams(8, "info")["talk"].random() != traffic.streams(7, "info")["talk"].random()


def test_callers_carry_their_fate() -> None:
    rng = traffic.streams(1, "info")
    times = traffic.poisson(rng["arrivals"], 3600.0, 0.0, 100.0)
    talk = traffic.service_sampler(rng["talk"], "exp", 100.0)
    out = list(traffic.callers(times, "info", "es", 2, 0.0, talk, math.inf))
    assert out and all(c[1:5] == ("info", "es", 2, 0.0) and c[6] == math.inf and c[5] > 0 for c in out)
    pat = traffic.patience_sampler(rng["patience"], 60.0)
    ivr = traffic.service_sampler(rng["ivr"], "const", 12.0)
    langs = traffic.language_picker(rng["language"], [("ca", 1), ("en", 1)])
    out = list(traffic.callers([1.0, 2.0], "info", langs, 0, ivr, talk, pat))
    assert [c[4] for c in out] == [12.0, 12.0] and all(c[2] in ("ca", "en") and c[6] < math.inf for c in out)
    merged = list(traffic.merge([iter([(1.0, "a"), (5.0, "a")]), iter([(2.0, "b")])]))  # type: ignore[list-item]
    assert [m[0] for m in merged] == [1.0, 2.0, 5.0]


@pytest.mark.parametrize("patience", [None, 45.0])
def test_the_fast_mmn_stream_draws_the_same_callers(patience: float | None) -> None:
    a, b = traffic.streams(3, "general"), traffic.streams(3, "general")
    generic = traffic.callers(
        traffic.poisson(a["arrivals"], 500.0, 0.0, 36_000.0),
        "general",
        "ca",
        0,
        0.0,
        traffic.service_sampler(a["talk"], "exp", 170.0),
        traffic.patience_sampler(a["patience"], patience),
    )
    fast = traffic.exp_callers(
        b["arrivals"],
        500.0,
        0.0,
        36_000.0,
        "general",
        "ca",
        0,
        0.0,
        b["talk"],
        170.0,
        b["patience"],
        patience,
    )
    assert list(generic) == list(fast)
