"""The life of a stored delivery: claim it, attempt it, record the outcome, retry with backoff.

A claim is one conditional update: ``status=pending AND next_attempt_at <= now`` becomes "one more
attempt, next_attempt_at = now + lease". Whichever worker's update matches the row sends it; the
others match nothing. If a worker dies mid-send, its lease expires and the delivery becomes due
again, so nothing is lost (a receiver may then see that delivery id twice; it is in the
``X-TopoForge-Delivery`` header to deduplicate on).
"""
import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from alerts import channels
from alerts.messages import config_summary
from anomalies.models import AlertDelivery, DeliveryKind, DeliveryStatus

logger = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=60)  # longer than any single send (webhook timeout 5 s)
RETRY_BASE_DELAY = timedelta(seconds=30)
RETRY_MAX_DELAY = timedelta(minutes=10)
RETRY_WINDOW = timedelta(hours=1)  # after this long since the first attempt: failed
MAX_ERROR_LENGTH = 1000


def retry_delay(attempts):
    """Wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, ... at most 10 min."""
    return min(RETRY_BASE_DELAY * 2 ** (attempts - 1), RETRY_MAX_DELAY)


def max_attempts():
    """Attempts that fit in the retry window: retries stop an hour after the first attempt."""
    elapsed, attempts = timedelta(0), 1
    while elapsed + retry_delay(attempts) <= RETRY_WINDOW:
        elapsed += retry_delay(attempts)
        attempts += 1
    return attempts


def _due(now):
    return AlertDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)


def claim_due(limit=20, now=None):
    """Claim up to ``limit`` due deliveries for this worker; never one another worker holds."""
    now = now or timezone.now()
    lease = {"next_attempt_at": now + CLAIM_LEASE, "attempts": F("attempts") + 1}
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(
                _due(now)
                .select_for_update(skip_locked=True)
                .order_by("next_attempt_at")
                .values_list("pk", flat=True)[:limit]
            )
            _due(now).filter(pk__in=ids).update(**lease)
    else:
        candidates = _due(now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        ids = [pk for pk in candidates if _due(now).filter(pk=pk).update(**lease)]
    return list(AlertDelivery.objects.filter(pk__in=ids).select_related("config"))


def _record(delivery, **fields):
    AlertDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


def attempt(delivery, now=None):
    """Send one claimed delivery and store the outcome (sent, retry later, or failed)."""
    if delivery.kind == DeliveryKind.ALERT and not delivery.config.is_active:
        message = "Not sent: the alert configuration was deactivated before sending."
        _record(delivery, status=DeliveryStatus.FAILED, last_error=message)
        return delivery
    try:
        channels.send(delivery)
    except channels.DeliveryError as error:
        _record_failure(delivery, str(error), error.permanent, now)
    except Exception as error:  # a bug must not kill the worker or lose the delivery
        logger.exception("alert delivery %s crashed", delivery.pk)
        _record_failure(delivery, f"{error.__class__.__name__}: {error}", False, now)
    else:
        _record(delivery, status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
        logger.info("alert delivery %s sent to %s", delivery.pk, delivery.channel.get("type"))
    return delivery


def _record_failure(delivery, message, permanent, now):
    now = now or timezone.now()
    message = message[:MAX_ERROR_LENGTH]
    give_up = (
        permanent or delivery.kind == DeliveryKind.TEST or delivery.attempts >= max_attempts()
    )
    if give_up:
        _record(delivery, status=DeliveryStatus.FAILED, last_error=message)
        logger.warning("alert delivery %s failed for good: %s", delivery.pk, message)
    else:
        retry_at = now + retry_delay(delivery.attempts)
        _record(delivery, last_error=message, next_attempt_at=retry_at)
        logger.info("alert delivery %s failed (%s), retry at %s", delivery.pk, message, retry_at)


def send_test(config):
    """Send a test notification to every channel of ``config`` now; return the deliveries.

    Each delivery is created already claimed (one attempt, leased) so no worker sends it too. A
    test is attempted once: its result is the answer to "does this channel work?".
    """
    now = timezone.now()
    deliveries = [
        AlertDelivery.objects.create(
            config=config,
            channel=channel,
            kind=DeliveryKind.TEST,
            attempts=1,
            next_attempt_at=now + CLAIM_LEASE,
            payload={"config": config_summary(config), "detection": None},
        )
        for channel in config.notification_channels
    ]
    return [attempt(delivery) for delivery in deliveries]
