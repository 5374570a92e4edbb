# The centre's history: every call, every operator state change and every finished callback
# in SQLite (store.py: the schema and its writers, live and simulated), and the report made
# from it (report.py, `contactcenter report`).
from __future__ import annotations

from contactcenter.records.store import (
    SCHEMA_VERSION,
    RecordsError,
    RecordsWriter,
    RowBuilder,
    SimRecords,
)

__all__ = ["SCHEMA_VERSION", "RecordsError", "RecordsWriter", "RowBuilder", "SimRecords"]
