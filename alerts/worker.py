"""The loop that sends due deliveries, outside the detection pipeline.

Every state change is stored before the next step, so stopping the worker at any moment loses no
delivery: pending ones stay pending, a claimed one becomes due again when its lease ends. Several
workers (and several threads of one worker) may run at once; the claim in
``delivery.claim_due`` keeps them from sending one twice. Each thread claims one delivery at a
time, right before sending it, so a claim never waits behind other slow sends and its lease
(60 s) always outlasts the send (5 s webhook timeout, 10 s SMTP timeout).
"""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection

from alerts.delivery import attempt, claim_due

logger = logging.getLogger(__name__)


class AlertWorker:
    def __init__(self, *, concurrency=1, poll_interval=None):
        self.concurrency = concurrency
        self.poll_interval = (
            settings.ALERT_WORKER_POLL_SECONDS if poll_interval is None else poll_interval
        )
        self._stop = threading.Event()

    def run_once(self):
        """Send everything due now (in ``concurrency`` threads); the number attempted."""
        if self.concurrency == 1:
            return self._drain()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="alert-worker") as pool:
            return sum(pool.map(lambda _: self._drain_in_thread(), range(self.concurrency)))

    def _drain(self):
        attempted = 0
        while not self._stop.is_set():
            claimed = claim_due(limit=1)
            if not claimed:
                break
            attempt(claimed[0])
            attempted += 1
        return attempted

    def _drain_in_thread(self):
        try:
            return self._drain()
        finally:
            connection.close()  # the thread's own connection; the pool's threads end here

    def run_forever(self):
        logger.info(
            "alert worker started (%d threads, poll every %s s)", self.concurrency, self.poll_interval
        )
        while not self._stop.is_set():
            close_old_connections()
            try:
                self.run_once()
            except Exception:  # the database went away for a moment: try again next round
                logger.exception("alert worker round failed")
            self._stop.wait(self.poll_interval)
        close_old_connections()
        logger.info("alert worker stopped")

    def stop(self):
        """Finish the deliveries in hand, then return from ``run_forever``."""
        self._stop.set()
