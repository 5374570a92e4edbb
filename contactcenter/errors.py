# Errors that are the user's to fix (a bad file, a machine that cannot host the sandbox):
# the CLI prints their message on one line and exits 2, with no traceback. Everything else
# is a bug and keeps its traceback. A message quotes what the user gave through `shown`,
# never whole: a value can be a 50 MB line or a 50,000-deep list, and one line must stay a
# line a person reads.
from __future__ import annotations

import itertools
import reprlib

SHOWN_CHARS = 60  # at most this many characters of a value are quoted in a message


class UserError(Exception):
    """Base of every error the CLI reports as one line and exit code 2."""


class _Short(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = self.maxother = SHOWN_CHARS - 4
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxdict = 4

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        # reprlib sorts keys; a person looks for the mapping as they wrote it.
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in itertools.islice(x.items(), self.maxdict)
        ]
        return "{" + ", ".join(pieces) + (", ..." if len(x) > self.maxdict else "") + "}"

    def repr_int(self, x: int, level: int) -> str:
        # repr() itself refuses integers of more than 4,300 digits: name their size instead.
        if abs(x) >= 10**40:
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return repr(x)


_SHORT = _Short()


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` cut short (nesting, length) to at most about `limit` characters, on one
    line (repr escapes line breaks in strings)."""
    try:
        text = _SHORT.repr(value)
    except Exception:  # a hostile __repr__ must not turn a user's mistake into a crash
        text = f"<{type(value).__name__}>"
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."
