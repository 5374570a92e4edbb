# Available operators, indexed for routing without a scan. For each (skill, language) a list
# sorted by (level, idle_since, seq) from a moving head on: the best-qualified first, then
# the longest idle, then login order, so ties never depend on set order. Entries are
# invalidated lazily with a per-operator token that changes whenever the operator leaves or
# re-enters availability; a stale entry is skipped for good when it reaches the head.
# Operators mostly become free in the order of that key (idle since now, at one level), so
# adding one is mostly an append and taking the best one moves the head on: neither
# compares more than one entry, where a heap compares log n of them each time. One that
# sorts before the last (a better level, a tie broken by login order) is inserted by
# bisection (O(n) moves, in C, on lists of at most the operators who are free).
# An entry is a flat (level, idle_since, seq, token, operator_id). Each operator's lists are
# found once, at their first add, and kept as objects with their own count of live entries:
# making an operator available or taking them looks nothing up by (skill, language). The
# engine holds on to the list of each (skill, language) it routes (`free_for`) and asks it
# for the best operator directly.
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

PoolKey = tuple[int, float, int]  # (level, idle_since, seq)
_Entry = tuple[int, float, int, int, str]  # (level, idle_since, seq, token, operator_id)


@dataclass(slots=True)
class FreeOperators:
    """The available operators of one (skill, language), best first: entries[head:] sorted
    (with stale entries among them), entries[:head] done with."""

    skill: str
    _tokens: dict[str, int]  # the pool's: operator -> live token (from 1)
    entries: list[_Entry] = field(default_factory=list)
    head: int = 0
    live: int = 0  # entries that are not stale

    def add(self, entry: _Entry) -> None:
        entries = self.entries
        level, idle, seq, _, _ = entry
        if self.head == len(entries):
            entries.append(entry)
        else:
            last_level, last_idle, last_seq, _, _ = entries[-1]
            if level > last_level or (
                level == last_level and (idle > last_idle or (idle == last_idle and seq > last_seq))
            ):
                entries.append(entry)  # the common case: free after the others
            else:
                bisect.insort(entries, entry, self.head)  # (a better level, or a tie)
        self.live += 1
        if len(entries) - self.head > 2 * self.live + 64:
            # Stale entries deep in the list only go when the head reaches them; dropping
            # them when they outnumber live ones keeps the list (and insertions) short.
            tokens = self._tokens
            entries[:] = [e for e in entries[self.head :] if tokens.get(e[4], 0) == e[3]]
            self.head = 0
        elif self.head > 64 and 2 * self.head > len(entries):
            del entries[: self.head]
            self.head = 0

    def best_id(self) -> str | None:
        """The operator a call for this (skill, language) should go to, if any is free."""
        entries, i, tokens = self.entries, self.head, self._tokens
        n = len(entries)
        while i < n:
            entry = entries[i]
            if tokens.get(entry[4], 0) == entry[3]:  # (0: no one's token)
                self.head = i
                return entry[4]
            i += 1  # stale: skipped for good
        self.head = i
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
            free.add((skills[free.skill], idle_since, seq, token, operator_id))

    def free_for(self, skill: str, language: str) -> FreeOperators:
        """The available operators of (skill, language) (none yet, if it is new)."""
        free = self._heaps.get((skill, language))
        if free is None:
            free = self._heaps[(skill, language)] = FreeOperators(skill, self._token)
        return free

    def discard(self, operator_id: str) -> None:
        # (`in` and `del`, not .pop: dict.pop is a Python method call in the compiled build.)
        if operator_id in self._token:
            del self._token[operator_id]
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
        free = self._heaps[(skill, language)]
        level, idle_since, seq, _, _ = free.entries[free.head]
        return (level, idle_since, seq), operator_id
