# Repeat callers: how many times a call's number called in the last 7 days, for the
# operator's screen pop and for first-contact resolution. Rules:
# - A number is known only as a caller key: HMAC-SHA256 of its E.164 form under the
#   records' own key (kept beside the records file, owner-only), never the number itself;
#   a number that is not a valid one (or is withheld) has no key and no count.
# - Arrivals of the last REPEAT_WINDOW_S are held in memory by key (loaded from the records
#   at start), pruned as they age: bounded by the window's traffic.
# - The masked number and the count are kept for a call only while it is in the system.
from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from contactcenter.numbers import BadNumber, is_withheld, number_key, parse_callback_number
from contactcenter.privacy import mask_number
from contactcenter.records.store import REPEAT_WINDOW_S


class Contacts:
    def __init__(self, secret: bytes, window_s: float = REPEAT_WINDOW_S) -> None:
        self._secret, self._window = secret, window_s
        self._arrivals: dict[str, deque[float]] = {}  # caller key -> wall-clock arrivals, oldest first
        self._calls: dict[str, tuple[str, int | None]] = {}  # call id -> (masked number, earlier calls)

    def load(self, rows: Iterable[tuple[str, float]]) -> None:
        """Arrivals from the records: (caller key, wall-clock time), oldest first."""
        for key, at in rows:
            self._arrivals.setdefault(key, deque()).append(at)

    def arrived(self, call_id: str, raw_number: str | None, at: float) -> tuple[str | None, int | None]:
        """A call came in at `at` (wall clock): (its caller key, its earlier calls in the
        window), both None when the number is withheld or not valid."""
        key = self.key(raw_number)
        earlier = None
        if key is not None:
            seen = self._arrivals.setdefault(key, deque())
            while seen and seen[0] < at - self._window:
                seen.popleft()
            earlier = len(seen)
            seen.append(at)
        self._calls[call_id] = (mask_number(raw_number) if not is_withheld(raw_number) else "-", earlier)
        return key, earlier

    def key(self, raw_number: str | None) -> str | None:
        if raw_number is None or is_withheld(raw_number):
            return None
        try:
            number = parse_callback_number(raw_number, secret=self._secret)
        except BadNumber:
            return None
        return number_key(number.e164, self._secret)

    def of(self, call_id: str) -> tuple[str, int | None]:
        """(masked number, earlier calls in the window) of a call in the system."""
        return self._calls.get(call_id, ("-", None))

    def forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def prune(self, now_wall: float) -> None:
        """Drop keys whose every arrival is older than the window (call now and then)."""
        cutoff = now_wall - self._window
        for key in [k for k, seen in self._arrivals.items() if not seen or seen[-1] < cutoff]:
            del self._arrivals[key]
