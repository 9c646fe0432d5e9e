"""APScheduler only wakes the engine; the database holds every timer.

Two jobs: a short poll (`HERALD_ESCALATION_POLL_SECONDS`, default 1 s) that ticks the engine and then books a
one-off wake-up at the next due step when that comes sooner than the next poll (so a step fires within milliseconds
of its due time, not up to a poll late), and the sweep (`HERALD_ESCALATION_SWEEP_SECONDS`) that runs the auditor,
shift reminders and P3 digests. A tick already running in this process makes the others return at once.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot.clock import Clock, SystemClock
from bot.escalation.auditor import Auditor
from bot.escalation.engine import EscalationEngine
from bot.escalation.periodic import Periodic

log = logging.getLogger(__name__)

# Longer than SQLite's busy-wait poll (100 ms), so a waiting API request gets the write lock between batches.
YIELD_SECONDS = 0.12


class EngineRunner:
    def __init__(
        self,
        engine: EscalationEngine,
        auditor: Auditor,
        periodic: Periodic,
        clock: Clock,
        *,
        poll_seconds: float,
        sweep_seconds: float,
    ) -> None:
        self.engine = engine
        self.auditor = auditor
        self.periodic = periodic
        self._clock = clock
        self._poll = poll_seconds
        self._sweep = sweep_seconds
        self._busy = threading.Lock()
        self._scheduler: BaseScheduler | None = None

    def install(self, scheduler: BaseScheduler) -> None:
        self._scheduler = scheduler
        common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(self.tick, "interval", seconds=self._poll, id="escalation-poll", **common)
        scheduler.add_job(self.sweep, "interval", seconds=self._sweep, id="escalation-sweep", **common)

    def tick(self) -> int:
        if not self._busy.acquire(blocking=False):
            return 0
        try:
            fired = 0
            while (batch := self.engine.tick(self._clock.now(), max_batches=1)) > 0:
                fired += batch
                time.sleep(YIELD_SECONDS)  # let API requests and other writers take the database between batches
            self._book_wake_up()
            return fired
        except Exception:  # the next poll retries; the database still holds every step
            log.exception("escalation tick failed")
            return 0
        finally:
            self._busy.release()

    def sweep(self) -> None:
        try:
            now = self._clock.now()
            self.auditor.run(now)
            self.periodic.run(now)
        except Exception:
            log.exception("escalation sweep failed")

    def _book_wake_up(self) -> None:
        due = self.engine.next_due()
        if due is None or self._scheduler is None:
            return
        delay = (due - self._clock.now()).total_seconds()
        if 0 < delay < self._poll:
            run_at = SystemClock().now() + timedelta(seconds=delay)
            self._scheduler.add_job(
                self.tick, "date", run_date=run_at, id="escalation-wake", replace_existing=True, misfire_grace_time=None
            )
