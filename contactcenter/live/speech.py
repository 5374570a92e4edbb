# What callers hear of numbers and times, as lists of Asterisk sound files. Rules:
# - Only names of files the sandbox has (digits/N, Asterisk's and, for Catalan, ours; and
#   cc/<prompt>) come out, joined with '&' as Playback and Read take them: nothing a caller
#   sent ever reaches these strings.
# - Numbers are composed as SayNumber composes them for a language without rules of its
#   own (tens, then units): the same files the hold loop's SayNumber plays.
# - A time is said in the centre's time zone: the day relative to the caller's today
#   (today, tomorrow, else the weekday), then the hour and, unless on the hour, the minutes.
from __future__ import annotations

import datetime as dt
import math

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # the opens-<day> prompts


def wait_minutes(ewt_s: float) -> str:
    """An expected wait as callers hear it: whole minutes, rounded up (never promise less
    than the estimate), at least 1; nothing when nobody who can take the call is logged in."""
    return "" if math.isinf(ewt_s) else str(max(1, math.ceil(ewt_s / 60)))


def number_files(n: int) -> list[str]:
    """The digits/ files that say `n` (0 to 99)."""
    if not 0 <= n <= 99:
        raise ValueError(f"only 0 to 99 are said here, not {n}")
    if n <= 20 or n % 10 == 0:
        return [f"digits/{n}"]
    return [f"digits/{n - n % 10}", f"digits/{n % 10}"]


def opening_files(opens_at: float, now: float, tz: dt.tzinfo) -> list[str]:
    """The files that say when the line opens again (`opens_at`, wall-clock seconds) to a
    caller at `now`: "tomorrow at" 7, "on Monday at" 8 30, ..."""
    opens = dt.datetime.fromtimestamp(opens_at, tz)
    days = (opens.date() - dt.datetime.fromtimestamp(now, tz).date()).days
    if days < 0:
        raise ValueError("the next opening is in the past")
    day = "today" if days == 0 else "tomorrow" if days == 1 else WEEKDAYS[opens.weekday()]
    files = [f"cc/callback-opens-{day}", *number_files(opens.hour)]
    if opens.minute:
        files += number_files(opens.minute)
    return files
