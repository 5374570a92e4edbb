# Traffic models: when callers arrive and what they bring (skill, language, priority, IVR
# time, talk time, patience). Rules:
# - Every draw comes from a random.Random passed in; nothing reads global random state.
# - Each kind of draw has its own stream (see `streams`), so changing the staffing or the
#   routing never changes which callers arrive or how long they would talk or wait: runs
#   that differ only in N see the same callers (common random numbers).
# - Times are seconds since midnight of day 0; an arrival process yields increasing times
#   in [start, end) and then stops.
# - A caller is a plain tuple (see `Caller`), built once per call and unpacked by the driver.
from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

Sampler = Callable[[], float]
# A caller's patience that says they hang up in the IVR, when their IVR time is over, without
# ever joining a queue (a trace's IVR hang-ups). Any patience < 0 means it.
HANGS_UP_IN_IVR: Final = -1.0


# (at, skill, language, priority, ivr_s, talk_s, patience_s): arrival time (entering the
# IVR); what they choose in the IVR; seconds in the IVR; seconds the conversation will last
# once answered; seconds they will wait in queue before hanging up (inf: never; < 0: they
# hang up in the IVR, HANGS_UP_IN_IVR). A plain
# tuple, not a NamedTuple: building one per call is on the simulator's hot path.
Caller = tuple[float, str, str, int, float, float, float]


def streams(seed: int, name: str) -> dict[str, random.Random]:
    """Independent, named random streams for one traffic source (seeded by string, so
    they do not depend on PYTHONHASHSEED or on how many other sources exist)."""
    kinds = ("arrivals", "language", "ivr", "talk", "patience")
    return {k: random.Random(f"{seed}/{name}/{k}") for k in kinds}


# --- arrival processes ------------------------------------------------------------------------


def _exp(rand: Callable[[], float], mean: float) -> float:
    # Inverse transform, as random.expovariate does, with the mean instead of the rate.
    return -math.log(1.0 - rand()) * mean


def poisson(rng: random.Random, rate_per_h: float, start: float, end: float) -> Iterator[float]:
    """Poisson arrivals at a constant rate."""
    if rate_per_h <= 0:
        return
    gap, rand = 3600.0 / rate_per_h, rng.random
    t = start + _exp(rand, gap)
    while t < end:
        yield t
        t += _exp(rand, gap)


def day_profile(
    rng: random.Random, rates_per_h: Sequence[float], start: float, end: float
) -> Iterator[float]:
    """Non-homogeneous Poisson arrivals with a rate per hour of the day (24 values, repeated
    every day), by inverting the cumulative rate: exact, no thinning."""
    if len(rates_per_h) != 24:
        raise ValueError(f"a day profile has 24 hourly rates, got {len(rates_per_h)}")
    if not any(r > 0 for r in rates_per_h):
        return
    rates = [r / 3600.0 for r in rates_per_h]
    t = start
    exp = rng.expovariate
    while True:
        need = exp(1.0)  # arrivals are unit-rate in the cumulative-rate clock
        while True:
            hour = int(t // 3600)
            bound = min((hour + 1) * 3600.0, end)
            rate = rates[hour % 24]
            if rate > 0:
                step = need / rate
                if t + step < bound:
                    t += step
                    break
                need -= (bound - t) * rate
            t = bound
            if t >= end:
                return
        yield t


# --- what callers bring -----------------------------------------------------------------------


def service_sampler(rng: random.Random, dist: str, mean_s: float, cv: float = 1.0) -> Sampler:
    """Talk (or IVR) times: `exp` (exponential), `lognormal` (mean and coefficient of
    variation), or `const`."""
    if mean_s <= 0:
        raise ValueError(f"mean must be > 0, got {mean_s}")
    if dist == "exp":
        rand = rng.random
        return lambda: _exp(rand, mean_s)
    if dist == "lognormal":
        if cv <= 0:
            raise ValueError(f"cv must be > 0, got {cv}")
        sigma = math.sqrt(math.log1p(cv * cv))
        mu = math.log(mean_s) - sigma * sigma / 2
        logn = rng.lognormvariate
        return lambda: logn(mu, sigma)
    if dist == "const":
        return lambda: mean_s
    raise ValueError(f"unknown distribution {dist!r} (exp, lognormal, const)")


def patience_sampler(
    rng: random.Random, mean_s: float | None, dist: str = "exp", cv: float = 1.0
) -> Sampler | float:
    """Patience with the given mean, exponential or lognormal (with its coefficient of
    variation); None means callers never hang up (inf)."""
    if mean_s is None:
        return math.inf
    return service_sampler(rng, dist, mean_s, cv)


def language_picker(rng: random.Random, mix: Sequence[tuple[str, float]]) -> Callable[[], str] | str:
    """Languages in the given proportions (weights need not sum to 1); just the language
    when there is one."""
    if not mix:
        raise ValueError("a language mix needs at least one language")
    if len(mix) == 1:
        return mix[0][0]
    names = [m[0] for m in mix]
    cum = list(itertools.accumulate(m[1] for m in mix))
    total = cum[-1]
    rand = rng.random
    return lambda: names[bisect.bisect_right(cum, rand() * total)]


def callers(
    times: Iterable[float],
    skill: str,
    language: Callable[[], str] | str,
    priority: int,
    ivr: Sampler | float,
    talk: Sampler,
    patience: Sampler | float,
) -> Iterator[Caller]:
    """Dress an arrival process as callers of one skill. A plain value instead of a sampler
    (one language, no IVR, no abandonment) is used as is: no call per caller."""
    if isinstance(language, str) and not callable(ivr) and not callable(patience):
        lang, ivr_s, patience_s = language, float(ivr), float(patience)
        for t in times:
            yield (t, skill, lang, priority, ivr_s, talk(), patience_s)
        return
    pick = language if callable(language) else (lambda: language)
    ivr_f = ivr if callable(ivr) else (lambda: ivr)
    pat_f = patience if callable(patience) else (lambda: patience)
    for t in times:
        yield (t, skill, pick(), priority, ivr_f(), talk(), pat_f())


def exp_callers(
    arrivals: random.Random,
    rate_per_h: float,
    start: float,
    end: float,
    skill: str,
    language: str,
    priority: int,
    ivr_s: float,
    talk: random.Random,
    talk_mean_s: float,
    patience: random.Random,
    patience_mean_s: float | None,
) -> Iterator[Caller]:
    """The textbook M/M/N(+M) caller stream: the same numbers as `callers(poisson(...))` with
    exponential talk and patience samplers (the tests check it), drawn in one generator with
    no Python call per draw but the generators': it feeds the simulator's hot path."""
    if rate_per_h <= 0:
        return
    # math.log in full, not a local alias: the compiled build calls C's log then (the same
    # libm function CPython's math.log uses, so the same numbers) instead of going through
    # Python's calling protocol with boxed floats.
    ra, rt, rp = arrivals.random, talk.random, patience.random
    gap = 3600.0 / rate_per_h
    t = start + -math.log(1.0 - ra()) * gap
    if patience_mean_s is None:
        while t < end:
            yield (t, skill, language, priority, ivr_s, -math.log(1.0 - rt()) * talk_mean_s, math.inf)
            t += -math.log(1.0 - ra()) * gap
    else:
        while t < end:
            yield (
                t, skill, language, priority, ivr_s,
                -math.log(1.0 - rt()) * talk_mean_s, -math.log(1.0 - rp()) * patience_mean_s,
            )  # fmt: skip
            t += -math.log(1.0 - ra()) * gap


def merge(sources: Sequence[Iterator[Caller]]) -> Iterator[Caller]:
    """All sources in arrival order (ties by skill name, then the rest of the tuple)."""
    if len(sources) == 1:
        return sources[0]
    return heapq.merge(*sources)
