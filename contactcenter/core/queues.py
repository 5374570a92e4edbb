# Waiting calls, one queue per (skill, language). Order is (-priority, enqueued_at, seq):
# higher priority first, then first come first served; `seq` is a global arrival counter so
# ties never depend on set or dict order. A call that goes back (ring timeout) keeps its
# original key and so returns to the head of its queue, ahead of later arrivals.
# Removal is lazy (a heap entry is skipped if its call is no longer waiting under that
# key), so enqueue, removal and peeking at the head cost O(log n), never a scan.
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

QueueKey = tuple[int, float, int]  # (-priority, enqueued_at, seq)


@dataclass(slots=True)
class SkillQueue:
    skill: str
    language: str
    _heap: list[tuple[QueueKey, str]] = field(default_factory=list)
    _live: dict[str, QueueKey] = field(default_factory=dict)
    _by_priority: dict[int, int] = field(default_factory=dict)  # -priority -> calls waiting

    def push(self, call_id: str, key: QueueKey) -> None:
        if call_id in self._live:
            raise ValueError(f"call {call_id} is already waiting in {self.skill}/{self.language}")
        self._live[call_id] = key
        self._by_priority[key[0]] = self._by_priority.get(key[0], 0) + 1
        heapq.heappush(self._heap, (key, call_id))

    def remove(self, call_id: str) -> None:
        key = self._live.pop(call_id)
        self._by_priority[key[0]] -= 1
        # Garbage is collected when it surfaces at the head; keep the heap from growing
        # without bound when removals happen deep inside it.
        if len(self._heap) > 2 * len(self._live) + 64:
            self._heap = [(k, c) for k, c in self._heap if self._live.get(c) == k]
            heapq.heapify(self._heap)

    def head(self) -> tuple[QueueKey, str] | None:
        heap, live = self._heap, self._live
        while heap:
            key, call_id = heap[0]
            if live.get(call_id) == key:
                return key, call_id
            heapq.heappop(heap)
        return None

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._live

    def entry_position(self, priority: int) -> int:
        """Place of a call of `priority` that just joined: everyone of its priority or
        higher is ahead of it (they came earlier), itself included. O(#priorities)."""
        return sum(n for neg, n in self._by_priority.items() if -neg >= priority)

    def position(self, call_id: str) -> int:
        """1-based position of a waiting call (O(n): for announcements, not routing)."""
        key = self._live[call_id]
        return 1 + sum(1 for k in self._live.values() if k < key)
