import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone

from tda.severity import SEVERITIES, severity_for_score

SCORE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


assert tuple(Severity.values) == SEVERITIES  # the engine and the model speak the same words


class FeedbackLabel(models.TextChoices):
    """What a person said about a detection. ``anomaly`` and ``new_trend`` confirm it."""

    ANOMALY = "anomaly", "Anomaly"
    EXPECTED = "expected", "Expected"
    NOT_ANOMALY = "not_anomaly", "Not an anomaly"
    NEW_TREND = "new_trend", "New trend"


CONFIRMING_LABELS = (FeedbackLabel.ANOMALY, FeedbackLabel.NEW_TREND)


def new_dedup_key():
    return uuid.uuid4().hex


# Fields whose change moves a detection between rollup groups or changes their aggregates.
ROLLUP_FIELDS = frozenset(
    {"timestamp", "source_type", "severity", "is_anomaly", "anomaly_score", "betti_h0",
     "betti_h1", "betti_h2", "feedback_label"}
)


class AnomalyLogQuerySet(models.QuerySet):
    """Every write of detections goes through here, so the rollups follow in the same transaction."""

    def insert_new(self, objects):
        """Insert the detections whose ``dedup_key`` is not stored yet; return those inserted.

        Idempotent: a detection stored twice is ignored and counted in the rollups once.
        """
        from anomalies import rollups

        return rollups.insert_new(self, objects)

    def bulk_create(self, objs, *args, ignore_conflicts=False, **kwargs):
        if ignore_conflicts:
            raise TypeError(
                "AnomalyLog bulk_create(ignore_conflicts=True) cannot tell the rollups which rows "
                "were inserted; use AnomalyLog.objects.insert_new(objects)."
            )
        from anomalies import rollups

        with transaction.atomic(using=self.db):
            created = super().bulk_create(objs, *args, **kwargs)
            rollups.add(created, using=self.db)
        return created

    def delete(self):
        from anomalies import rollups

        with transaction.atomic(using=self.db):
            removed = rollups.groups_of(self)
            result = super().delete()
            rollups.subtract(removed, using=self.db)
        return result

    delete.alters_data = True
    delete.queryset_only = True

    def update(self, **kwargs):
        if not ROLLUP_FIELDS.intersection(kwargs):
            return super().update(**kwargs)
        from anomalies import rollups

        with transaction.atomic(using=self.db):
            return rollups.update_rows(self, kwargs)

    update.alters_data = True

    def create_log(self, *, timestamp, source_type, anomaly_score, **fields):
        """Store one detection; severity follows from the score unless given (low without one)."""
        fields.setdefault("severity", severity_for_score(0.0 if anomaly_score is None else anomaly_score))
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
    series = models.CharField(
        max_length=200, blank=True, default="",
        help_text="The series inside the stream (detect --split-by: a host, a metric, a wiki); blank: one series.",
    )
    event_data = models.JSONField(default=dict, blank=True)
    betti_h0 = models.PositiveIntegerField(default=0)
    betti_h1 = models.PositiveIntegerField(default=0)
    betti_h2 = models.PositiveIntegerField(default=0)
    anomaly_score = models.FloatField(
        null=True, blank=True, validators=SCORE_VALIDATORS,
        help_text="The row's rarity: 1 - the tail probability of its features against the series' "
        "past, in [0, 1]; null while the detector is warming up (no past to rank against yet).",
    )
    is_anomaly = models.BooleanField(default=False)
    suppressed = models.BooleanField(
        default=False,
        help_text="The alarm gate's decision: the row came inside the quiet period of an earlier "
        "alarm (the same incident), so it did not alarm whatever its rarity.",
    )
    warming_up = models.BooleanField(
        default=False, help_text="The detector had too little past to score this row (score null)."
    )
    explanation = models.JSONField(
        default=dict, blank=True,
        help_text="Why the row scored as it did: rare features and tail probabilities, the range "
        "rule, the analogues, the diagram against the series' typical one (docs/DETECTION.md).",
    )
    incident = models.ForeignKey(
        "Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="rows",
        help_text="The incident this alarming row belongs to (its first alarm or a suppressed one).",
    )
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
    feedback_label = models.CharField(
        max_length=16,
        choices=FeedbackLabel.choices,
        blank=True,
        default="",
        db_index=True,
        help_text="The latest feedback label (blank: none yet); the history is in Feedback.",
    )

    objects = AnomalyLogQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp"]
        indexes = [
            models.Index(fields=["timestamp", "source_type"], name="anomalylog_time_source"),
            models.Index(fields=["is_anomaly", "timestamp"], name="anomalylog_flag_time"),
            models.Index(fields=["anomaly_score"], name="anomalylog_score"),
            # The score after the time lets a filtered list (source, flag, time range, min_score)
            # count its rows from the index alone and page through it without reading the table.
            models.Index(
                fields=["source_type", "is_anomaly", "timestamp", "anomaly_score"],
                name="anomalylog_src_flag_time_score",
            ),
            models.Index(fields=["source_type", "series", "timestamp"], name="anomalylog_series_time"),
        ]

    def __str__(self):
        score = "warming up" if self.anomaly_score is None else f"score {self.anomaly_score:.3f}"
        return f"{self.source_type} {self.timestamp:%Y-%m-%d %H:%M:%S} {score}"

    def save(self, *args, **kwargs):
        """A saved detection moves the rollups: out of its stored group, into its new one."""
        from anomalies import rollups

        using = kwargs.get("using") or self._state.db or "default"
        with transaction.atomic(using=using):
            stored = None
            if not self._state.adding and self.pk is not None:
                stored = AnomalyLog.objects.using(using).filter(pk=self.pk)
                stored = rollups.groups_of(stored) if stored.exists() else None
            super().save(*args, **kwargs)
            if stored is not None:
                rollups.subtract(stored, using=using)
            rollups.add([self], using=using)

    def delete(self, *args, **kwargs):
        using = kwargs.get("using") or self._state.db or "default"
        with transaction.atomic(using=using):
            return AnomalyLog.objects.using(using).filter(pk=self.pk).delete()


class Incident(models.Model):
    """Consecutive alarms of one stream and series: the row that raised the alarm and the
    rows at or above the threshold that the gate suppressed after it (anomalies/incidents.py)."""

    source_type = models.CharField(max_length=64)
    series = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(help_text="Timestamp of its first alarming row.")
    ended_at = models.DateTimeField(help_text="Timestamp of its latest alarming row.")
    peak_score = models.FloatField(validators=SCORE_VALIDATORS, help_text="Highest rarity of its rows.")
    peak = models.ForeignKey(
        AnomalyLog, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Its rarest row.",
    )
    row_count = models.PositiveIntegerField(default=0, help_text="Its alarming rows.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["source_type", "series", "ended_at"], name="incident_series_end"),
            models.Index(fields=["started_at"], name="incident_start"),
        ]

    def __str__(self):
        return f"{self.source_type} incident from {self.started_at:%Y-%m-%d %H:%M:%S} ({self.row_count} rows)"


class RollupPeriod(models.TextChoices):
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


class DetectionRollup(models.Model):
    """Aggregates of the detections of one hour or day, source, series, severity and flag.

    Maintained by ``AnomalyLogQuerySet`` in the transaction that writes the detections
    (``anomalies/rollups.py``), rebuilt by ``manage.py rebuild_rollups``. Stats and counts read
    whole buckets from here and only the ragged edges of a time range from the detections.
    """

    period = models.CharField(max_length=8, choices=RollupPeriod.choices)
    start = models.DateTimeField(help_text="Start of the hour or day, UTC.")
    source_type = models.CharField(max_length=64)
    series = models.CharField(max_length=200, blank=True, default="")
    severity = models.CharField(max_length=16, choices=Severity.choices)
    is_anomaly = models.BooleanField()
    count = models.BigIntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    score_min = models.FloatField(null=True)
    score_max = models.FloatField(null=True)
    h0_sum = models.BigIntegerField(default=0)
    h1_sum = models.BigIntegerField(default=0)
    h2_sum = models.BigIntegerField(default=0)
    first_at = models.DateTimeField(null=True, help_text="Earliest detection of the group.")
    last_at = models.DateTimeField(null=True, help_text="Latest detection of the group.")
    feedback_anomaly = models.BigIntegerField(default=0)
    feedback_expected = models.BigIntegerField(default=0)
    feedback_not_anomaly = models.BigIntegerField(default=0)
    feedback_new_trend = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start", "source_type", "series", "severity", "is_anomaly"],
                name="rollup_group",
            )
        ]

    def __str__(self):
        return f"{self.period} {self.start:%Y-%m-%d %H:%M} {self.source_type} {self.severity}"


class Series(models.Model):
    """The registry of series: one row per (source, series) with its latest detection.

    Upserted by the detection store once per stored batch (``anomalies/series_registry.py``), in
    the batch's transaction; ``GET /api/series`` lists it with the rows counted by the rollups.
    """

    source_type = models.CharField(max_length=64)
    series = models.CharField(max_length=200, blank=True, default="", help_text="Blank: an unsplit stream.")
    last_score = models.FloatField(
        null=True, blank=True, validators=SCORE_VALIDATORS,
        help_text="Rarity of its latest detection (null: that row was a warm-up row).",
    )
    last_at = models.DateTimeField(help_text="Timestamp of its latest detection.")
    last_anomaly_at = models.DateTimeField(null=True, blank=True, help_text="Timestamp of its latest alarming detection.")
    owner = models.CharField(
        max_length=100, blank=True, default="",
        help_text="The worker that stored its latest batch (blank: the single-process detect).",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "series"
        constraints = [models.UniqueConstraint(fields=["source_type", "series"], name="series_identity")]
        indexes = [
            models.Index(fields=["last_score"], name="series_last_score"),
            models.Index(fields=["last_anomaly_at"], name="series_last_anomaly"),
        ]

    def __str__(self):
        return f"{self.source_type} {self.series}" if self.series else self.source_type


DEFAULT_ALERT_COOLDOWN_SECONDS = 600


def new_alert_secret():
    return secrets.token_hex(32)


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
    secret = models.CharField(
        max_length=64,
        default=new_alert_secret,
        help_text="Key of the webhook HMAC-SHA256 signature; shown once, rotatable.",
    )
    cooldown_seconds = models.PositiveIntegerField(
        default=DEFAULT_ALERT_COOLDOWN_SECONDS,
        help_text="At most one alert per this many seconds; detections in between are folded.",
    )
    last_alert_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the latest alert was (or is scheduled to be) sent; cooldown runs from it.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user"], name="alertconfig_user")]

    @property
    def cooldown(self):
        return timedelta(seconds=self.cooldown_seconds)

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


class DeliveryKind(models.TextChoices):
    ALERT = "alert", "Alert"
    TEST = "test", "Test"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertDelivery(models.Model):
    """One notification to one channel of an AlertConfig, stored so that none is lost.

    A pending delivery is due when ``next_attempt_at`` has passed. A worker claims it by moving
    ``next_attempt_at`` a lease ahead and counting the attempt in one conditional update, so two
    workers never send it at once and a crashed worker's claim expires by itself. Detections
    arriving before an alert is first attempted are folded into it (``detection_count``).
    """

    config = models.ForeignKey(AlertConfig, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.JSONField(help_text='The channel, as configured: {"type", "target"}.')
    kind = models.CharField(max_length=8, choices=DeliveryKind.choices, default=DeliveryKind.ALERT)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(
        default=dict, blank=True, help_text="The detection that opened the alert, and the config."
    )
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alert_deliveries",
        help_text="The incident of the detection that opened the alert.",
    )
    detection_count = models.PositiveIntegerField(default=0)
    max_score = models.FloatField(null=True, blank=True)
    first_detection_at = models.DateTimeField(null=True, blank=True)
    last_detection_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_due"),
            models.Index(fields=["config", "status"], name="delivery_config_status"),
        ]

    def __str__(self):
        return f"{self.kind} to {self.channel.get('type', '?')} ({self.status})"


class Feedback(models.Model):
    """One person's verdict on one detection; the latest is copied to the detection itself."""

    anomaly = models.ForeignKey(AnomalyLog, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="feedback",
    )
    label = models.CharField(max_length=16, choices=FeedbackLabel.choices)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback",
        help_text="Set when the verdict was given on a whole incident (it is kept on its peak row).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["anomaly", "created_at"], name="feedback_anomaly_time")]

    def __str__(self):
        return f"{self.label} by {self.user or 'a deleted user'}"


class IngestedEvent(models.Model):
    """An event pushed to ``POST /api/events``, waiting for ``manage.py detect --source http``.

    A durable inbox: the API only validates and stores, so a push never waits for detection and
    survives restarts of either side. The detector reads rows in id order and deletes them
    once its checkpoint past them is stored.
    """

    stream = models.CharField(max_length=64, help_text="Which detector reads it (--stream).")
    event_time = models.DateTimeField(help_text="The event's own time, UTC (its bucket).")
    value = models.FloatField(null=True, blank=True)
    key = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["stream", "id"], name="ingestedevent_stream_id")]

    def __str__(self):
        return f"{self.stream} event at {self.event_time:%Y-%m-%d %H:%M:%S}"
