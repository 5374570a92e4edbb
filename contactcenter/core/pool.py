# Available operators, indexed for routing without a scan. For each (skill, language) a heap
# ordered by (level, idle_since, seq): the best-qualified first, then the longest idle, then
# login order, so ties never depend on set order. Entries are invalidated lazily with a
# per-operator token that changes whenever the operator leaves or re-enters availability.
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

PoolKey = tuple[int, float, int]  # (level, idle_since, seq)


@dataclass(slots=True)
class OperatorPool:
    _heaps: dict[tuple[str, str], list[tuple[PoolKey, int, str]]] = field(default_factory=dict)
    _token: dict[str, int] = field(default_factory=dict)  # operator -> live token
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
        for skill, level in skills.items():
            for lang in languages:
                heap = self._heaps.setdefault((skill, lang), [])
                heapq.heappush(heap, ((level, idle_since, seq), token, operator_id))
                if len(heap) > 64 and len(heap) > 4 * len(self._token):
                    # Stale entries deep in the heap never surface on their own.
                    heap[:] = [e for e in heap if self._token.get(e[2]) == e[1]]
                    heapq.heapify(heap)

    def discard(self, operator_id: str) -> None:
        self._token.pop(operator_id, None)

    def __contains__(self, operator_id: object) -> bool:
        return operator_id in self._token

    def __len__(self) -> int:
        return len(self._token)

    def best(self, skill: str, language: str) -> tuple[PoolKey, str] | None:
        """The operator a call for (skill, language) should go to, if any is available."""
        heap = self._heaps.get((skill, language))
        if not heap:
            return None
        tokens = self._token
        while heap:
            key, token, operator_id = heap[0]
            if tokens.get(operator_id) == token:
                return key, operator_id
            heapq.heappop(heap)
        return None
