"""People's verdicts on detections, and the precision they imply.

Each verdict is kept (``Feedback``, the history); the latest is copied onto the detection
(``AnomalyLog.feedback_label``) so listing, filtering and exporting by it costs no join.
``anomaly`` and ``new_trend`` confirm a detection; ``expected`` and ``not_anomaly`` call it a
false alarm.
"""
from django.db import transaction
from django.db.models import Count
from rest_framework import serializers

from anomalies.models import CONFIRMING_LABELS, AnomalyLog, Feedback, FeedbackLabel


def record_feedback(anomaly, user, label):
    """Store ``user``'s ``label`` for ``anomaly`` and make it the detection's current label."""
    with transaction.atomic():
        feedback = Feedback.objects.create(anomaly=anomaly, user=user, label=label)
        AnomalyLog.objects.filter(pk=anomaly.pk).update(feedback_label=label)
    anomaly.feedback_label = label
    return feedback


def _label_counts(queryset):
    rows = queryset.exclude(feedback_label="").values("feedback_label").annotate(n=Count("pk"))
    counts = dict.fromkeys(FeedbackLabel.values, 0)
    counts.update({row["feedback_label"]: row["n"] for row in rows.order_by()})
    return counts


def feedback_summary(queryset):
    """Precision of the flagged detections in ``queryset`` as judged by their current labels.

    ``precision`` = confirmed / judged among detections with ``is_anomaly``; null when none of
    them has feedback. ``missed`` counts unflagged detections that people labelled anomalous.
    """
    queryset = queryset.order_by()
    flagged = _label_counts(queryset.filter(is_anomaly=True))
    judged = sum(flagged.values())
    confirmed = sum(flagged[label] for label in CONFIRMING_LABELS)
    missed = queryset.filter(is_anomaly=False, feedback_label__in=CONFIRMING_LABELS).count()
    return {
        "judged": judged,
        "confirmed": confirmed,
        "false_alarms": judged - confirmed,
        "precision": confirmed / judged if judged else None,
        "missed": missed,
        "labels": flagged,
    }


class FeedbackLabelCountSerializer(serializers.Serializer):
    anomaly = serializers.IntegerField()
    expected = serializers.IntegerField()
    not_anomaly = serializers.IntegerField()
    new_trend = serializers.IntegerField()


class FeedbackSummarySerializer(serializers.Serializer):
    """Documentation of ``feedback_summary`` (the ``feedback`` key of the stats answer)."""

    judged = serializers.IntegerField(help_text="Flagged detections that have a feedback label.")
    confirmed = serializers.IntegerField(help_text="Of those, labelled anomaly or new_trend.")
    false_alarms = serializers.IntegerField(help_text="Of those, labelled expected or not_anomaly.")
    precision = serializers.FloatField(
        allow_null=True, help_text="confirmed / judged; null when nothing is judged yet."
    )
    missed = serializers.IntegerField(
        help_text="Unflagged detections labelled anomaly or new_trend (missed anomalies)."
    )
    labels = FeedbackLabelCountSerializer(help_text="Flagged detections per current label.")
