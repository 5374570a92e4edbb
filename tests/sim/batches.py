# Batch means: the error bar of a steady-state simulation. Rules: one long run per case; a
# warm-up is discarded; the measured window is cut into BATCHES equal batches by arrival
# time, each many relaxation times long (see `relaxation_s`), so batch KPIs are nearly
# independent; each batch's KPI comes from the same KpiCollector the CLI uses. The standard
# error of the window's KPI is stdev(batch KPIs) / sqrt(BATCHES), and a check allows T99_9
# of them: Student's t, two-sided 99.9 %, BATCHES - 1 degrees of freedom.
from __future__ import annotations

import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from contactcenter.core.engine import Call
from contactcenter.core.kpis import KpiCollector
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.virtual import simulate

BATCHES = 20
T99_9 = 3.883  # t(0.9995, 19)


def relaxation_s(rate_per_s: float, aht_s: float, n: int) -> float:
    """Relaxation time of M/M/N near saturation, 1 / (N mu (1 - sqrt(rho))^2): how long the
    queue takes to forget where it was (the M/M/1 heavy-traffic form, with rate N mu)."""
    rho = rate_per_s * aht_s / n
    return aht_s / (n * (1.0 - math.sqrt(rho)) ** 2)


@dataclass(frozen=True)
class Estimate:
    value: float  # over the whole window: what the CLI reports
    se: float  # standard error, from the batch means

    def z(self, reference: float) -> float:
        """Error in standard errors."""
        return (self.value - reference) / self.se

    def within(self, reference: float) -> bool:
        return abs(self.value - reference) <= T99_9 * self.se


@dataclass(frozen=True)
class CaseResult:
    kpis: dict[str, object]
    estimates: dict[str, Estimate]
    arrivals: int
    wall_s: float
    queue_area: float | None


def run_batches(sc: Scenario, keys: tuple[str, ...], measure_queue: bool = False) -> CaseResult:
    """Simulate `sc`; estimate each KPI in `keys` with its batch-means standard error."""
    width = (sc.end_s - sc.start_s) / BATCHES
    cols = [
        KpiCollector(
            start=sc.start_s + i * width, end=sc.start_s + (i + 1) * width, sl_threshold_s=sc.sl_threshold_s
        )
        for i in range(BATCHES)
    ]

    def on_call(call: Call) -> None:
        i = int((call.arrived_at - sc.start_s) // width)
        if 0 <= i < BATCHES:
            cols[i].add(call)

    result = simulate(sc, on_call=on_call, measure_queue=measure_queue)
    estimates = {}
    for key in keys:
        values = [float(c.group()[key]) for c in cols]
        estimates[key] = Estimate(float(result.kpis[key]), statistics.stdev(values) / math.sqrt(BATCHES))
    return CaseResult(result.kpis, estimates, result.arrivals, result.wall_s, result.queue_area)


def run_many(jobs: list[tuple[Scenario, tuple[str, ...]]]) -> list[CaseResult]:
    """Run cases on two processes (the suite's budget is two cores), longest first."""
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].expected_calls())
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {i: pool.submit(run_batches, *jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]
