"""The loop that sends due deliveries, outside the detection pipeline.

Every state change is stored before the next step, so stopping the worker at any moment loses no
delivery: pending ones stay pending, a claimed one becomes due again when its lease ends. Several
workers may run at once; the claim in ``delivery.claim_due`` keeps them from sending one twice.
"""
import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from anomalies.alerts.delivery import attempt, claim_due

logger = logging.getLogger(__name__)


class AlertWorker:
    def __init__(self, *, batch_size=20, poll_interval=None):
        self.batch_size = batch_size
        self.poll_interval = (
            settings.ALERT_WORKER_POLL_SECONDS if poll_interval is None else poll_interval
        )
        self._stop = threading.Event()

    def run_once(self):
        """Claim and send what is due now; the number of deliveries attempted."""
        attempted = 0
        while not self._stop.is_set():
            batch = claim_due(self.batch_size)
            for delivery in batch:
                attempt(delivery)
            attempted += len(batch)
            if len(batch) < self.batch_size:
                return attempted
        return attempted

    def run_forever(self):
        logger.info("alert worker started (poll every %s s)", self.poll_interval)
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
        """Finish the delivery in hand, then return from ``run_forever``."""
        self._stop.set()
