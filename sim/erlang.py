# Closed forms that the simulator is validated against.
# Rules: pure Python (math only), no import from the core or the rest of sim/ so the
# reference never depends on the code it checks. Rates are per second, times in seconds,
# `erlangs` = arrival rate x mean handling time, `n` = operators.
# - Erlang C: M/M/N, infinite patience. P(wait) by the Erlang B recurrence (no factorials,
#   no overflow at hundreds of operators); ASA = C x AHT / (N - A); SL(t) = 1 - C e^-(N-A)t/AHT.
# - Erlang A: M/M/N+M (exponential patience), solved as a birth-death chain truncated where
#   the stationary probabilities fall below 1e-18 of their peak. Little's law gives the mean
#   wait E[Q]/lambda; each waiting caller leaves at rate theta, so P(abandon) = theta E[Q]/lambda.
from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(erlangs: float, n: int) -> float:
    """Blocking probability of an M/M/N/N loss system (the Erlang B formula)."""
    if erlangs < 0 or n < 0:
        raise ValueError("erlangs and n must be >= 0")
    b = 1.0
    for k in range(1, n + 1):
        b = erlangs * b / (k + erlangs * b)
    return b


def erlang_c(erlangs: float, n: int) -> float:
    """Probability that a caller has to wait in M/M/N (1.0 when the queue is unstable)."""
    if n <= erlangs:
        return 1.0
    b = erlang_b(erlangs, n)
    return n * b / (n - erlangs * (1.0 - b))


@dataclass(frozen=True, slots=True)
class ErlangC:
    """M/M/N with infinite patience: the classic staffing model."""

    rate_per_s: float
    aht_s: float
    n: int

    @property
    def erlangs(self) -> float:
        return self.rate_per_s * self.aht_s

    @property
    def p_wait(self) -> float:
        return erlang_c(self.erlangs, self.n)

    @property
    def asa_s(self) -> float:
        """Mean wait of all (here: all answered) calls."""
        if self.n <= self.erlangs:
            return math.inf
        return self.p_wait * self.aht_s / (self.n - self.erlangs)

    def service_level(self, threshold_s: float) -> float:
        """P(wait <= threshold)."""
        if self.n <= self.erlangs:
            return 0.0
        return 1.0 - self.p_wait * math.exp(-(self.n - self.erlangs) * threshold_s / self.aht_s)

    @property
    def occupancy(self) -> float:
        return min(1.0, self.erlangs / self.n)


@dataclass(frozen=True, slots=True)
class ErlangA:
    """M/M/N+M: exponential patience with mean `patience_s`, from the birth-death chain."""

    rate_per_s: float
    aht_s: float
    n: int
    patience_s: float
    p_wait: float
    mean_queue: float  # time-average number of callers waiting
    mean_busy: float  # time-average number of busy operators

    @classmethod
    def solve(cls, rate_per_s: float, aht_s: float, n: int, patience_s: float) -> ErlangA:
        if rate_per_s <= 0 or aht_s <= 0 or n < 1 or patience_s <= 0:
            raise ValueError("rate, AHT, patience must be > 0 and n >= 1")
        mu, theta = 1.0 / aht_s, 1.0 / patience_s
        # log pi_k up to a constant; pi_k / pi_(k-1) = lambda / (min(k, n) mu + (k - n)+ theta)
        logs = [0.0]
        peak = 0.0
        k = 0
        while True:
            k += 1
            death = min(k, n) * mu + max(k - n, 0) * theta
            logs.append(logs[-1] + math.log(rate_per_s / death))
            peak = max(peak, logs[-1])
            # Past the mode (k > n and falling) and negligible: stop.
            if k > n and logs[-1] < logs[-2] and logs[-1] < peak - 41.5:  # e^-41.5 ~ 1e-18
                break
        weights = [math.exp(x - peak) for x in logs]
        total = math.fsum(weights)
        p = [w / total for w in weights]
        p_wait = math.fsum(p[n:])
        mean_queue = math.fsum((j - n) * p[j] for j in range(n + 1, len(p)))
        mean_busy = math.fsum(min(j, n) * p[j] for j in range(len(p)))
        return cls(rate_per_s, aht_s, n, patience_s, p_wait, mean_queue, mean_busy)

    @property
    def mean_wait_s(self) -> float:
        """Mean time in queue of all callers, answered or abandoned (Little's law)."""
        return self.mean_queue / self.rate_per_s

    @property
    def p_abandon(self) -> float:
        return self.mean_queue / self.patience_s / self.rate_per_s

    @property
    def occupancy(self) -> float:
        return self.mean_busy / self.n
