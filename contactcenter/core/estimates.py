# Expected waiting time (EWT). Rules: EWT for the k-th caller in a (skill, language) queue is
# k x AHT / N, the classic position-based estimate, where AHT is the skill's recent handle
# time (talk + wrap-up, exponentially weighted so it follows the day) and N the operators
# logged in and not paused who can take that queue. It is computed at the moment a call
# joins the queue and compared with the wait it then has: the error is a KPI.
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

# (Final, and math.inf rather than float("inf"): the compiled build keeps them in C statics
# instead of a lookup in the module's dict or a call for every call.)
EWMA_WEIGHT: Final = 0.05  # about the last 20 calls of a skill carry most of the weight


@dataclass(slots=True)
class EwtEstimator:
    default_aht: float
    _aht: dict[str, float] = field(default_factory=dict)
    _staffed: dict[tuple[str, str], int] = field(default_factory=dict)
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

    def staff(self, skills: dict[str, int], languages: tuple[str, ...], delta: int) -> None:
        """An operator started (+1) or stopped (-1) being able to take calls."""
        for skill in skills:
            for lang in languages:
                key = (skill, lang)
                self._staffed[key] = self._staffed.get(key, 0) + delta

    def staffed(self, skill: str, language: str) -> int:
        return self._staffed.get((skill, language), 0)

    def ewt(self, skill: str, language: str, position: int) -> float:
        """Seconds the caller at `position` (1 = next) can expect to wait."""
        n = self.staffed(skill, language)
        if n <= 0:
            return math.inf
        return position * self.aht(skill) / n

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
