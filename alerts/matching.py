"""From stored detections to pending deliveries, folding everything within a config's cooldown.

The receiver of ``detections_stored`` only writes rows (a few queries per matching config); the
worker sends them. Per config, the first matching detection after a quiet period opens an alert
due at once; later ones open the next alert, due when the cooldown since the previous one ends,
and every detection until then is folded into it (``detection_count``). So a config notifies
each channel at most once per cooldown and no detection goes unreported.
"""
import logging

from django.db import transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from alerts.messages import config_summary, detection_summary
from anomalies.models import AlertConfig, AlertDelivery, DeliveryKind, DeliveryStatus
from anomalies.signals import detections_stored

logger = logging.getLogger(__name__)

MAX_WINDOW_RACES = 5


@receiver(detections_stored, dispatch_uid="alerts.queue_alerts")
def queue_alerts_on_store(sender, detections=(), **kwargs):
    """Never raises into the store: a failure here is logged, the detections stay stored."""
    try:
        queue_alerts(detections)
    except Exception:
        logger.exception("could not queue alerts for %d detections", len(detections))


def matches(config, detection):
    """A scored row the gate let through (a suppressed row belongs to an alerted incident)."""
    if detection.anomaly_score is None or detection.suppressed:
        return False
    return detection.anomaly_score >= config.threshold and (
        not config.source_type or detection.source_type == config.source_type
    )


def queue_alerts(detections, now=None):
    """Fold ``detections`` into the alerts of every active config they match."""
    detections = list(detections)
    if not detections:
        return
    now = now or timezone.now()
    scored = [detection.anomaly_score for detection in detections if detection.anomaly_score is not None]
    if not scored:
        return
    peak = max(scored)
    for config in AlertConfig.objects.filter(is_active=True, threshold__lte=peak):
        matched = [detection for detection in detections if matches(config, detection)]
        if not matched or not config.notification_channels:
            continue
        try:
            fold(config, matched, now)
        except Exception:  # one broken config must not keep the others silent
            logger.exception("could not queue an alert for config %s", config.pk)


def _open_alert(config, now):
    """The deliveries of the config's next alert while they may still grow: not yet attempted."""
    return AlertDelivery.objects.filter(
        config=config,
        kind=DeliveryKind.ALERT,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at__gt=now,
    )


def fold(config, matched, now):
    count = len(matched)
    first = min(detection.timestamp for detection in matched)
    last = max(detection.timestamp for detection in matched)
    peak = max(matched, key=lambda detection: detection.anomaly_score)
    for _ in range(MAX_WINDOW_RACES):
        with transaction.atomic():
            open_alert = _open_alert(config, now)
            if open_alert.update(detection_count=F("detection_count") + count):
                open_alert.filter(first_detection_at__gt=first).update(first_detection_at=first)
                open_alert.filter(last_detection_at__lt=last).update(last_detection_at=last)
                open_alert.filter(max_score__lt=peak.anomaly_score).update(
                    max_score=peak.anomaly_score
                )
                return
        if _open_next_alert(config, matched, count, first, last, peak, now):
            return
        config.refresh_from_db(fields=["last_alert_at"])
    logger.warning("config %s: gave up queueing an alert after repeated races", config.pk)


def _open_next_alert(config, matched, count, first, last, peak, now):
    """Schedule the next alert; False if another process changed the schedule first."""
    previous = config.last_alert_at
    send_at = now if previous is None else max(now, previous + config.cooldown)
    with transaction.atomic():
        claimed = AlertConfig.objects.filter(pk=config.pk, last_alert_at=previous).update(
            last_alert_at=send_at
        )
        if not claimed:
            return False
        payload = {"config": config_summary(config), "detection": detection_summary(peak)}
        AlertDelivery.objects.bulk_create(
            AlertDelivery(
                config=config,
                channel=channel,
                kind=DeliveryKind.ALERT,
                next_attempt_at=send_at,
                payload=payload,
                detection_count=count,
                max_score=peak.anomaly_score,
                first_detection_at=first,
                last_detection_at=last,
                created_at=now,
            )
            for channel in config.notification_channels
        )
    config.last_alert_at = send_at
    return True
