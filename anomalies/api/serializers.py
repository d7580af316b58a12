"""Serializers of the anomalies API.

``AnomalyLogSerializer(instance).data`` is THE JSON of one detection: the list, the detail, the
export's NDJSON lines and the realtime push all carry exactly this shape.
"""
import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from anomalies.models import AlertConfig, AnomalyLog
from alerts.channel_validation import CHANNEL_TYPES, validate_channels
from tda.severity import severity_for_score
from topoforge.serializers import ModelSerializer, StringIdField

MAX_DETECTIONS_PER_REQUEST = 1000
MAX_ALERT_COOLDOWN_SECONDS = 7 * 24 * 3600
MIN_ALERT_SECRET_LENGTH = 32
MAX_JSON_DEPTH = 64
MAX_BETTI = 2**31 - 1  # PostgreSQL's integer: larger values would fail in the database


def _require_finite(value):
    # DRF's FloatField turns the string "nan" into NaN, which every range validator lets through.
    if not math.isfinite(value):
        raise serializers.ValidationError("A finite number is required.")
    return value


def _json_problem(value):
    """Why a JSON value cannot be stored (a NUL character, nesting too deep), or None.

    Iterative, since the point is to refuse depths that would exhaust Python's recursion when
    the value is encoded for the database.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return f"Nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(item, str):
            if "\x00" in item:
                # PostgreSQL's jsonb cannot store U+0000, in a key or a value.
                return "Text must not contain the NUL character (U+0000)."
        elif isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            pending.extend((inner, depth + 1) for inner in item)
    return None


def _require_object(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError("Expected a JSON object.")
    problem = _json_problem(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class AnomalyLogSerializer(ModelSerializer):
    severity = serializers.ChoiceField(
        choices=AnomalyLog._meta.get_field("severity").choices,
        required=False,
        help_text="low | medium | high | critical. Omitted: derived from `anomaly_score`.",
    )

    class Meta:
        model = AnomalyLog
        fields = [
            "id",
            "timestamp",
            "source_type",
            "anomaly_score",
            "is_anomaly",
            "severity",
            "betti_h0",
            "betti_h1",
            "betti_h2",
            "event_data",
            "metadata",
            "dedup_key",
            "created_at",
            "feedback_label",
            "series",
            "suppressed",
            "warming_up",
            "incident",
            "explanation",
        ]
        read_only_fields = ["dedup_key", "created_at", "feedback_label", "incident"]
        extra_kwargs = {
            "feedback_label": {
                "help_text": "The latest feedback: anomaly | expected | not_anomaly | new_trend, "
                "or empty. Given with POST /api/anomalies/{id}/feedback."
            },
            "anomaly_score": {
                "required": True,
                "help_text": "The row's rarity in [0, 1]: 1 - the tail probability of its features "
                "against the series' past (0.999: rarer than one row in a thousand). Null only "
                "when `warming_up`. Never damped: the gate's decision is `suppressed`.",
            },
            "suppressed": {"help_text": "The alarm gate kept this row from alarming: it came inside the "
                           "quiet period of an earlier alarm (the same incident)."},
            "warming_up": {"help_text": "The detector had too little past to score this row; "
                           "`anomaly_score` is null."},
            "incident": {"help_text": "Id of the incident this alarming row belongs to (GET "
                         "/api/incidents/{id}), or null."},
            "explanation": {"help_text": "Why the row scored as it did (see GET /api/anomalies/{id}): "
                            "rare features, range rule, analogues, diagram against the typical one."},
            "series": {"help_text": "The series inside the stream (a host, a metric, a wiki: detect "
                       "--split-by); empty for a stream that is one series."},
            "is_anomaly": {"help_text": "Whether the detector flagged this window."},
            "event_data": {"help_text": "The window's features or raw event summary (a JSON object)."},
            "metadata": {"help_text": "Free-form JSON object (detector version, parameters, ...)."},
            **{f"betti_h{k}": {"max_value": MAX_BETTI} for k in range(3)},
        }

    def validate_anomaly_score(self, value):
        return value if value is None else _require_finite(value)

    def validate_event_data(self, value):
        return _require_object(value)

    def validate_metadata(self, value):
        return _require_object(value)

    def validate_explanation(self, value):
        return _require_object(value)

    def validate(self, attrs):
        score = attrs.get("anomaly_score", getattr(self.instance, "anomaly_score", None))
        warming_up = attrs.get("warming_up", getattr(self.instance, "warming_up", False))
        if score is None and not warming_up:
            raise serializers.ValidationError({"anomaly_score": "A number is required unless warming_up is true."})
        if score is not None and warming_up:
            raise serializers.ValidationError({"anomaly_score": "Must be null when warming_up is true."})
        attrs.setdefault("severity", severity_for_score(0.0 if score is None else score))
        return attrs


class NotificationChannelSerializer(serializers.Serializer):
    """Documentation only: ``validate_channels`` does the validation."""

    type = serializers.ChoiceField(choices=CHANNEL_TYPES)
    target = serializers.CharField(
        help_text="An email address, or an https URL that receives a POST (webhook, Slack)."
    )


@extend_schema_field(NotificationChannelSerializer(many=True))
class NotificationChannelsField(serializers.JSONField):
    pass


class AlertConfigSerializer(ModelSerializer):
    user = StringIdField(source="user_id", help_text="Owner's id. Always the requesting user on create.")
    secret = serializers.CharField(
        write_only=True,
        required=False,
        min_length=MIN_ALERT_SECRET_LENGTH,
        max_length=64,
        help_text="Your own webhook signing key (32 to 64 characters), if you want to choose it; "
        "by default one is generated. Never shown again except in the create answer.",
    )
    notification_channels = NotificationChannelsField(
        help_text='List of {"type": "email" | "webhook" | "slack", "target": address or https URL}.'
    )

    class Meta:
        model = AlertConfig
        fields = [
            "id",
            "user",
            "name",
            "threshold",
            "notification_channels",
            "source_type",
            "is_active",
            "cooldown_seconds",
            "last_alert_at",
            "created_at",
            "updated_at",
            "secret",
        ]
        read_only_fields = ["last_alert_at", "created_at", "updated_at"]
        extra_kwargs = {
            "threshold": {"help_text": "Alert when a detection's anomaly_score is at least this, in [0, 1]."},
            "cooldown_seconds": {
                "max_value": MAX_ALERT_COOLDOWN_SECONDS,
                "help_text": "At most one alert per this many seconds (default 600); detections in "
                "between are folded into the next alert with their count.",
            },
            "last_alert_at": {"help_text": "When the latest alert was sent or is scheduled."},
        }

    def validate_threshold(self, value):
        return _require_finite(value)

    def validate_notification_channels(self, value):
        return validate_channels(value)


class AlertConfigCreatedSerializer(AlertConfigSerializer):
    """The answer to a create: the configuration plus its webhook signing secret, shown once."""

    secret = serializers.CharField(
        required=False,
        min_length=MIN_ALERT_SECRET_LENGTH,
        max_length=64,
        help_text="Key of the X-TopoForge-Signature HMAC-SHA256 of webhooks: yours if you sent "
        "one, else generated. Shown only in this answer; rotate it with "
        "POST /api/alerts/configs/{id}/secret.",
    )
