# The durable store: today the callbacks, on SQLite (see callbacks.py for its rules). The
# controller holds a CallbackStore, so a PostgreSQL store can take SQLite's place when the
# centre runs on several machines (DESIGN.md, "Beyond one machine").
from __future__ import annotations

from contactcenter.store.callbacks import (
    FINAL_STATES,
    OPEN_STATES,
    Attempt,
    AttemptOutcome,
    CallbackConflict,
    CallbackRecord,
    CallbackState,
    CallbackStore,
    SlotFull,
    SqliteCallbackStore,
    StoreError,
    new_callback_id,
)

__all__ = [
    "FINAL_STATES",
    "OPEN_STATES",
    "Attempt",
    "AttemptOutcome",
    "CallbackConflict",
    "CallbackRecord",
    "CallbackState",
    "CallbackStore",
    "SlotFull",
    "SqliteCallbackStore",
    "StoreError",
    "new_callback_id",
]
