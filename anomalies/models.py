import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from anomalies.tda.severity import SEVERITIES, severity_for_score

SCORE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


assert tuple(Severity.values) == SEVERITIES  # the engine and the model speak the same words


def new_dedup_key():
    return uuid.uuid4().hex


class AnomalyLogQuerySet(models.QuerySet):
    def create_log(self, *, timestamp, source_type, anomaly_score, **fields):
        """Store one detection; severity follows from the score unless given."""
        fields.setdefault("severity", severity_for_score(anomaly_score))
        return self.create(
            timestamp=timestamp, source_type=source_type, anomaly_score=anomaly_score, **fields
        )

    def by_timeframe(self, start=None, end=None):
        """Detections with ``start <= timestamp < end`` (either bound may be omitted)."""
        queryset = self
        if start is not None:
            queryset = queryset.filter(timestamp__gte=start)
        if end is not None:
            queryset = queryset.filter(timestamp__lt=end)
        return queryset

    def anomalies_only(self):
        return self.filter(is_anomaly=True)


class AnomalyLog(models.Model):
    """One evaluated window of one source: its topology, its score and whether it was anomalous."""

    timestamp = models.DateTimeField(help_text="End of the evaluated window, UTC.")
    source_type = models.CharField(max_length=64, help_text="wikipedia, ndjson, replay, ...")
    event_data = models.JSONField(default=dict, blank=True)
    betti_h0 = models.PositiveIntegerField(default=0)
    betti_h1 = models.PositiveIntegerField(default=0)
    betti_h2 = models.PositiveIntegerField(default=0)
    anomaly_score = models.FloatField(validators=SCORE_VALIDATORS)
    is_anomaly = models.BooleanField(default=False)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.LOW)
    metadata = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(
        max_length=200,
        unique=True,
        default=new_dedup_key,
        editable=False,
        help_text="Source and window: storing the same window twice is refused.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AnomalyLogQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["timestamp", "source_type"], name="anomalylog_time_source"),
            models.Index(fields=["is_anomaly", "timestamp"], name="anomalylog_flag_time"),
            models.Index(fields=["anomaly_score"], name="anomalylog_score"),
        ]

    def __str__(self):
        return f"{self.source_type} {self.timestamp:%Y-%m-%d %H:%M:%S} score {self.anomaly_score:.3f}"


class AlertConfig(models.Model):
    """A user's wish to be told when detections reach ``threshold``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_configs"
    )
    name = models.CharField(max_length=100, blank=True)
    threshold = models.FloatField(validators=SCORE_VALIDATORS)
    notification_channels = models.JSONField(
        default=list, help_text='A list of {"type": "email" | "webhook" | "slack", "target": ...}.'
    )
    source_type = models.CharField(
        max_length=64, blank=True, help_text="Only detections of this source; blank for all."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user"], name="alertconfig_user")]

    def __str__(self):
        return self.name or f"alert ≥ {self.threshold:.2f} for {self.user}"


class DetectorCheckpoint(models.Model):
    """The saved state of one source's detector, so a restarted pipeline resumes exactly."""

    source_key = models.CharField(max_length=200, unique=True)
    state = models.JSONField(default=dict)
    last_event_id = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.source_key
