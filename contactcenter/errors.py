# Errors that are the user's to fix (a bad file, a machine that cannot host the sandbox):
# the CLI prints their message on one line and exits 2, with no traceback. Everything else
# is a bug and keeps its traceback.
from __future__ import annotations


class UserError(Exception):
    """Base of every error the CLI reports as one line and exit code 2."""
