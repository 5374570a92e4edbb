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
    _live: dict[tuple[str, str], int] = field(default_factory=dict)  # live entries per heap
    _token: dict[str, int] = field(default_factory=dict)  # operator -> live token
    _keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # operator -> heaps
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
        keys = self._keys.get(operator_id)
        if keys is None:
            keys = self._keys[operator_id] = [(s, lang) for s in skills for lang in languages]
        heaps, live = self._heaps, self._live
        for key in keys:
            heap = heaps.get(key)
            if heap is None:
                heap = heaps[key] = []
            heapq.heappush(heap, ((skills[key[0]], idle_since, seq), token, operator_id))
            n = live[key] = live.get(key, 0) + 1
            if len(heap) > 2 * n + 64:
                # Stale entries deep in the heap never surface on their own; dropping them
                # when they outnumber live ones keeps the cost amortised O(log n).
                tokens = self._token
                heap[:] = [e for e in heap if tokens.get(e[2]) == e[1]]
                heapq.heapify(heap)

    def discard(self, operator_id: str) -> None:
        if self._token.pop(operator_id, None) is not None:
            live = self._live
            for key in self._keys[operator_id]:
                live[key] -= 1

    def forget(self, operator_id: str) -> None:
        """The operator's skills or languages changed (a new login): recompute their heaps."""
        self.discard(operator_id)
        self._keys.pop(operator_id, None)

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
