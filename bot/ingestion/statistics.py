"""Keeps PostgreSQL's planner statistics of the alerts table fresh while ingestion grows it.

Every batch looks its alerts up by `(source, dedup_key)`. Until the table has statistics (a new deployment, or a
storm far ahead of autovacuum, which looks at a table about once a minute and then only after 10 % growth), the
planner takes it for a few rows and uses the unique index for `source` alone, filtering `dedup_key` row by row: each
lookup then reads every alert of the source. In bench/ingest.py it took a quarter of a batch's time within seconds.
One ANALYZE, which samples a bounded number of rows, puts the lookup back on both index columns.

So this process runs ANALYZE itself once it has inserted `every` alerts since its last one. SQLite plans this
lookup on both index columns without statistics, so nothing runs there.
"""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.db import on_postgresql

ANALYZE_EVERY = 1000  # alerts inserted by this process between two ANALYZEs


class AlertStatistics:
    """Counts the alerts this process inserted and refreshes the statistics every `every` of them."""

    def __init__(self, every: int = ANALYZE_EVERY) -> None:
        self._every = every
        self._pending = 0
        self._lock = threading.Lock()  # Ingestor.commit may run on several threads

    def inserted(self, session: Session, count: int) -> None:
        """Note `count` new alerts of the session's transaction; ANALYZE in it when enough have accumulated."""
        if not on_postgresql(session):
            return
        with self._lock:
            self._pending += count
            due = self._pending >= self._every
            if due:
                self._pending = 0
        if due:
            session.execute(text("ANALYZE alerts"))
