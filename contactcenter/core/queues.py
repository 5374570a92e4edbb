# Waiting calls, one queue per (skill, language). Order is (-priority, enqueued_at, seq):
# higher priority first, then first come first served; `seq` is a global arrival counter so
# ties never depend on set or dict order. A call that goes back (ring timeout) keeps its
# original key and so returns to the head of its queue, ahead of later arrivals.
# Inside, one list per priority class, sorted by (enqueued_at, seq) from a moving head on:
# within a class the head is also the call that has waited longest, so "the best call that
# has waited at least T" (relaxation) is found by looking at one head per class, never by a
# scan. Calls join in key order (a later call, a later key), so joining is an append and
# serving the head moves the head on: neither compares more than one entry, where a heap
# compares log n of them each time. A call back from a failed offer, whose key is older, is
# inserted by bisection (O(n) moves, in C, rare, on queues of at most a centre's lines).
# Removal is lazy: an entry is skipped when it reaches the head if its call is no longer
# waiting under that key.
# An entry is a flat (enqueued_at, seq, call_id), and heads are returned as call IDs, not
# entries, so that the compiled build (which unpacks typed tuples into C structs) never
# builds a tuple to return.
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

QueueKey = tuple[int, float, int]  # (-priority, enqueued_at, seq)
_Entry = tuple[float, int, str]  # (enqueued_at, seq, call_id), in the list of its priority class


@dataclass(slots=True)
class _Class:
    """The calls of one priority in a queue: entries[head:] sorted (with removed calls among
    them), entries[:head] done with; and how many of them wait."""

    neg_priority: int
    entries: list[_Entry] = field(default_factory=list)
    head: int = 0
    waiting: int = 0

    def add(self, entry: _Entry) -> None:
        entries = self.entries
        if self.head < len(entries):
            at, seq, _ = entry
            last_at, last_seq, _ = entries[-1]
            if not (at > last_at or (at == last_at and seq > last_seq)):
                bisect.insort(entries, entry, self.head)  # (a call back from a failed offer)
                return
        entries.append(entry)  # the common case: a call that joins last

    def compact(self, live: dict[str, QueueKey]) -> None:
        """Drop what is done with and, once removed calls outnumber waiting ones, them too
        (removals deep in the list stay until the head reaches them)."""
        entries, head = self.entries, self.head
        if len(entries) - head > 2 * self.waiting + 64:
            neg = self.neg_priority
            entries[:] = [e for e in entries[head:] if live.get(e[2]) == (neg, e[0], e[1])]
            self.head = 0
        elif head > 64 and 2 * head > len(entries):
            del entries[:head]
            self.head = 0


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
        cls.add((key[1], key[2], call_id))

    def remove(self, call_id: str) -> None:
        key = self._live[call_id]
        del self._live[call_id]  # (not .pop: a Python method call in the compiled build)
        cls = self._classes[key[0]]
        cls.waiting -= 1
        if cls.head > 64 or len(cls.entries) > 2 * cls.waiting + 64:
            cls.compact(self._live)

    def head(self) -> tuple[QueueKey, str] | None:
        """The call to serve next (highest priority, then longest waiting), with its key."""
        call_id = self.head_within(float("inf"))
        return None if call_id is None else (self._live[call_id], call_id)

    def head_within(self, cutoff: float) -> str | None:
        """The call to serve next among those that joined at or before `cutoff`."""
        live = self._live
        for cls in self._order:
            entries, i, neg = cls.entries, cls.head, cls.neg_priority
            n = len(entries)
            while i < n:
                at, seq, call_id = entries[i]
                key = live.get(call_id)
                if key is not None and key[2] == seq and key[1] == at and key[0] == neg:
                    break
                i += 1  # removed (or now waiting under another key): skipped for good
            cls.head = i
            if i < n:
                at, _, call_id = entries[i]
                if at <= cutoff:
                    return call_id
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
