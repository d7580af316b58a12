"""People's verdicts on detections, and the precision they imply.

Each verdict is kept (``Feedback``, the history); the latest is copied onto the detection
(``AnomalyLog.feedback_label``) so listing, filtering and exporting by it costs no join.
``anomaly`` and ``new_trend`` confirm a detection; ``expected`` and ``not_anomaly`` call it a
false alarm.
"""
from django.db import transaction
from django.db.models import Count, Q
from rest_framework import serializers

from anomalies.models import CONFIRMING_LABELS, AnomalyLog, Feedback, FeedbackLabel


def record_feedback(anomaly, user, label, incident=None):
    """Store ``user``'s ``label`` for ``anomaly`` (given on its ``incident``, if any) and make it
    the detection's current label."""
    with transaction.atomic():
        feedback = Feedback.objects.create(anomaly=anomaly, user=user, label=label, incident=incident)
        AnomalyLog.objects.filter(pk=anomaly.pk).update(feedback_label=label)
    anomaly.feedback_label = label
    return feedback


def feedback_counts():
    """Aggregates the summary is made of: flagged detections per label, and missed ones.

    Usable in ``aggregate()`` or beside other annotations of a ``values().annotate()`` scan
    (the stats add them to their one pass over the table).
    """
    counts = {
        f"flagged_{label}": Count("pk", filter=Q(is_anomaly=True, feedback_label=label))
        for label in FeedbackLabel.values
    }
    counts["missed"] = Count(
        "pk", filter=Q(is_anomaly=False, feedback_label__in=CONFIRMING_LABELS)
    )
    return counts


def summarise_feedback(rows):
    """The summary from rows holding ``feedback_counts()`` (one aggregate, or per-group counts).

    ``precision`` = confirmed / judged among detections with ``is_anomaly``; null when none of
    them has feedback. ``missed`` counts unflagged detections that people labelled anomalous.
    """
    flagged = {
        label: sum(row[f"flagged_{label}"] for row in rows) for label in FeedbackLabel.values
    }
    judged = sum(flagged.values())
    confirmed = sum(flagged[label] for label in CONFIRMING_LABELS)
    return {
        "judged": judged,
        "confirmed": confirmed,
        "false_alarms": judged - confirmed,
        "precision": confirmed / judged if judged else None,
        "missed": sum(row["missed"] for row in rows),
        "labels": flagged,
    }


def feedback_summary(queryset):
    """Precision of the flagged detections in ``queryset`` as judged by their current labels."""
    return summarise_feedback([queryset.order_by().aggregate(**feedback_counts())])


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
