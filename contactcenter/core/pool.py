# Available operators, indexed for routing without a scan. For each (skill, language) a heap
# ordered by (level, idle_since, seq): the best-qualified first, then the longest idle, then
# login order, so ties never depend on set order. Entries are invalidated lazily with a
# per-operator token that changes whenever the operator leaves or re-enters availability.
# A heap entry is a flat (level, idle_since, seq, token, operator_id) (heaps compare entries
# on every push and pop: a flat tuple compares one field at a time where a nested key costs
# a tuple comparison more). Each operator's heaps are found once, at their first add, and
# kept as objects with their own count of live entries: making an operator available or
# taking them looks nothing up by (skill, language). The engine holds on to the heap of each
# (skill, language) it routes (`free_for`) and asks it for the best operator directly.
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Final

PoolKey = tuple[int, float, int]  # (level, idle_since, seq)
_Entry = tuple[int, float, int, int, str]  # (level, idle_since, seq, token, operator_id)

# (Named once: heapq is not one of the compiled build's primitives, so heapq.heappop would be
# an attribute lookup on the module at every use.)
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop


@dataclass(slots=True)
class FreeOperators:
    """The available operators of one (skill, language), best first: a heap with stale
    entries in it (an entry is live while its token is still its operator's)."""

    skill: str
    _tokens: dict[str, int]  # the pool's: operator -> live token (from 1)
    entries: list[_Entry] = field(default_factory=list)
    live: int = 0  # entries that are not stale

    def best_id(self) -> str | None:
        """The operator a call for this (skill, language) should go to, if any is free."""
        heap, tokens = self.entries, self._tokens
        while heap:
            entry = heap[0]
            if tokens.get(entry[4], 0) == entry[3]:  # (0: no one's token)
                return entry[4]
            _heappop(heap)
        return None


@dataclass(slots=True)
class OperatorPool:
    _heaps: dict[tuple[str, str], FreeOperators] = field(default_factory=dict)
    _token: dict[str, int] = field(default_factory=dict)  # operator -> live token (from 1)
    _frees: dict[str, list[FreeOperators]] = field(default_factory=dict)  # operator -> their heaps
    _next_token: int = 0

    def add(
        self,
        operator_id: str,
        skills: dict[str, int],
        languages: tuple[str, ...],
        idle_since: float,
        seq: int,
    ) -> None:
        """Make an operator available for every (skill, language) they handle."""
        if operator_id in self._token:
            raise ValueError(f"operator {operator_id} is already available")
        self._next_token += 1
        token = self._next_token
        self._token[operator_id] = token
        frees = self._frees.get(operator_id)
        if frees is None:
            frees = self._frees[operator_id] = [self.free_for(s, lang) for s in skills for lang in languages]
        for free in frees:
            heap = free.entries
            _heappush(heap, (skills[free.skill], idle_since, seq, token, operator_id))
            free.live += 1
            if len(heap) > 2 * free.live + 64:
                # Stale entries deep in the heap never surface on their own; dropping them
                # when they outnumber live ones keeps the cost amortised O(log n).
                tokens = self._token
                heap[:] = [e for e in heap if tokens.get(e[4], 0) == e[3]]
                heapq.heapify(heap)

    def free_for(self, skill: str, language: str) -> FreeOperators:
        """The available operators of (skill, language) (none yet, if it is new)."""
        free = self._heaps.get((skill, language))
        if free is None:
            free = self._heaps[(skill, language)] = FreeOperators(skill, self._token)
        return free

    def discard(self, operator_id: str) -> None:
        if self._token.pop(operator_id, None) is not None:
            for free in self._frees[operator_id]:
                free.live -= 1

    def forget(self, operator_id: str) -> None:
        """The operator's skills or languages changed (a new login): recompute their heaps."""
        self.discard(operator_id)
        self._frees.pop(operator_id, None)

    def __contains__(self, operator_id: object) -> bool:
        return operator_id in self._token

    def __len__(self) -> int:
        return len(self._token)

    def best_id(self, skill: str, language: str) -> str | None:
        """The operator a call for (skill, language) should go to, if any is available."""
        free = self._heaps.get((skill, language))
        return None if free is None else free.best_id()

    def best(self, skill: str, language: str) -> tuple[PoolKey, str] | None:
        """`best_id` with the operator's key (level, idle_since, seq)."""
        operator_id = self.best_id(skill, language)
        if operator_id is None:
            return None
        level, idle_since, seq, _, _ = self._heaps[(skill, language)].entries[0]
        return (level, idle_since, seq), operator_id
