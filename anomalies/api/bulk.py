"""Storing detections that arrive through the API: one bulk write, all or nothing."""
import logging

from django.db import transaction

from anomalies import incidents
from anomalies import series_registry
from anomalies.models import AnomalyLog
from anomalies.signals import detections_stored

logger = logging.getLogger(__name__)


def _announce(detections):
    """Tell the realtime push and the alerts; a failing receiver must not fail a stored write."""
    results = detections_stored.send_robust(sender=AnomalyLog, detections=detections)
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("detections_stored receiver %r failed", receiver, exc_info=result)


def store_detections(validated):
    """Insert validated detections (dicts of model fields) in one transaction and return them.

    ``bulk_create`` sets the primary keys on SQLite, PostgreSQL and MongoDB, so the receivers of
    ``detections_stored`` (sent once the transaction has committed) see complete rows.
    """
    detections = [AnomalyLog(**fields) for fields in validated]
    with transaction.atomic():
        stored = AnomalyLog.objects.bulk_create(detections)
        incidents.attach(stored)
        series_registry.record(stored)
        transaction.on_commit(lambda: _announce(stored))
    return stored
