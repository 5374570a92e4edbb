# Waiting calls, one queue per (skill, language). Order is (-priority, enqueued_at, seq):
# higher priority first, then first come first served; `seq` is a global arrival counter so
# ties never depend on set or dict order. A call that goes back (ring timeout) keeps its
# original key and so returns to the head of its queue, ahead of later arrivals.
# Inside, one heap per priority class: within a class the head is also the call that has
# waited longest, so "the best call that has waited at least T" (relaxation) is found by
# looking at one head per class, never by a scan. Removal is lazy (a heap entry is skipped
# if its call is no longer waiting under that key): enqueue, removal and peeking at a head
# cost O(log n) (times the handful of priority classes).
# A heap entry is a flat (enqueued_at, seq, call_id): heaps compare entries on every push and
# pop, and a flat tuple compares one field at a time where a nested key would cost a tuple
# comparison more per level. Heads are returned as call IDs, not entries, so that the
# compiled build (which unpacks typed tuples into C structs) never builds a tuple to return.
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Final

QueueKey = tuple[int, float, int]  # (-priority, enqueued_at, seq)
_Entry = tuple[float, int, str]  # (enqueued_at, seq, call_id), in the heap of its priority class

# (Named once: heapq is not one of the compiled build's primitives, so heapq.heappop would be
# an attribute lookup on the module at every use.)
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop


@dataclass(slots=True)
class _Class:
    """The calls of one priority in a queue: a heap (with removed calls in it) and a count."""

    neg_priority: int
    heap: list[_Entry] = field(default_factory=list)
    waiting: int = 0


def _by_neg_priority(cls: _Class) -> int:
    return cls.neg_priority


@dataclass(slots=True)
class SkillQueue:
    skill: str
    language: str
    _classes: dict[int, _Class] = field(default_factory=dict)  # -priority -> its calls
    _order: list[_Class] = field(default_factory=list)  # best (highest priority) first
    _live: dict[str, QueueKey] = field(default_factory=dict)

    def push(self, call_id: str, key: QueueKey) -> None:
        if call_id in self._live:
            raise ValueError(f"call {call_id} is already waiting in {self.skill}/{self.language}")
        self._live[call_id] = key
        cls = self._classes.get(key[0])
        if cls is None:
            cls = self._classes[key[0]] = _Class(key[0])
            self._order.append(cls)
            self._order.sort(key=_by_neg_priority)
        cls.waiting += 1
        _heappush(cls.heap, (key[1], key[2], call_id))

    def remove(self, call_id: str) -> None:
        key = self._live.pop(call_id)
        cls = self._classes[key[0]]
        cls.waiting -= 1
        heap = cls.heap
        # Garbage is collected when it surfaces at the head; keep a heap from growing
        # without bound when removals happen deep inside it.
        if len(heap) > 2 * cls.waiting + 64:
            live, neg = self._live, cls.neg_priority
            heap[:] = [e for e in heap if live.get(e[2]) == (neg, e[0], e[1])]
            heapq.heapify(heap)

    def head(self) -> tuple[QueueKey, str] | None:
        """The call to serve next (highest priority, then longest waiting), with its key."""
        call_id = self.head_within(float("inf"))
        return None if call_id is None else (self._live[call_id], call_id)

    def head_within(self, cutoff: float) -> str | None:
        """The call to serve next among those that joined at or before `cutoff`."""
        live = self._live
        for cls in self._order:
            heap, neg = cls.heap, cls.neg_priority
            while heap:
                at, seq, call_id = heap[0]
                key = live.get(call_id)
                if key is not None and key[2] == seq and key[1] == at and key[0] == neg:
                    if at <= cutoff:
                        return call_id
                    break
                _heappop(heap)  # removed (or now waiting under another key): garbage
        return None

    def key_of(self, call_id: str) -> QueueKey:
        """The key a waiting call is served by."""
        return self._live[call_id]

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._live

    def entry_position(self, priority: int) -> int:
        """Place of a call of `priority` that just joined: everyone of its priority or
        higher is ahead of it (they came earlier), itself included. O(#priorities)."""
        ahead = 0
        for cls in self._order:
            if -cls.neg_priority >= priority:
                ahead += cls.waiting
        return ahead

    def in_order(self) -> list[str]:
        """The waiting calls, the next to serve first (O(n log n): for announcements)."""
        live = self._live
        return sorted(live, key=live.__getitem__)

    def position(self, call_id: str) -> int:
        """1-based position of a waiting call (O(n): for announcements, not routing)."""
        key = self._live[call_id]
        return 1 + sum(1 for k in self._live.values() if k < key)
