"""Stored detections and logins for the realtime tests."""
from django.utils import timezone

from accounts.tokens import issue_token_pair
from anomalies.models import AnomalyLog
from anomalies.signals import detections_stored


def store_detection(source="wikipedia", score=0.5, is_anomaly=False, **fields):
    fields.setdefault(
        "metadata",
        {"diagram": {"h0": [[0.0, 0.4], [0.0, 0.9]], "h1": [[0.2, 0.5]], "h2": []}},
    )
    return AnomalyLog.objects.create_log(
        timestamp=fields.pop("timestamp", timezone.now()),
        source_type=source,
        anomaly_score=score,
        is_anomaly=is_anomaly,
        betti_h0=fields.pop("betti_h0", 2),
        betti_h1=fields.pop("betti_h1", 1),
        **fields,
    )


def store_and_announce(*specs):
    """Store detections the way the pipeline does and send ``detections_stored``."""
    rows = [store_detection(**spec) for spec in specs]
    detections_stored.send(sender=AnomalyLog, detections=rows)
    return rows


def access_token_for(user):
    return issue_token_pair(user).access
