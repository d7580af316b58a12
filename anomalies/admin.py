"""Admin for detections, alert rules and detector checkpoints.

Detections can be exported as CSV from the change list (the selected rows, or all rows of the
current filter with "select all"), in the format of ``GET /api/anomalies/export``: cells are made
safe for spreadsheets (text starting with a formula character gets a leading apostrophe), so a
crafted ``source_type`` or event can never run as a formula in Excel or LibreOffice.
"""
from django import forms
from django.contrib import admin
from django.utils import timezone
from rest_framework.exceptions import ValidationError as APIValidationError

from anomalies.api.export import export_response
from anomalies.models import (
    AlertConfig,
    AlertDelivery,
    AnomalyLog,
    DeliveryStatus,
    DetectorCheckpoint,
    Feedback,
    Incident,
    Series,
)
from alerts.channel_validation import validate_channels


@admin.register(AnomalyLog)
class AnomalyLogAdmin(admin.ModelAdmin):
    list_display = (
        "timestamp", "source_type", "series", "score", "severity", "is_anomaly", "suppressed",
        "warming_up", "incident", "betti", "feedback_label",
    )
    list_filter = ("is_anomaly", "suppressed", "warming_up", "severity", "source_type", "feedback_label", "series")
    search_fields = ("source_type", "series", "dedup_key")
    date_hierarchy = "timestamp"
    readonly_fields = ("dedup_key", "created_at")
    raw_id_fields = ("incident",)
    list_per_page = 50
    show_full_result_count = False  # counting millions of rows on every page is slow
    actions = ["download_csv"]

    @admin.display(description="score", ordering="anomaly_score")
    def score(self, log):
        """The row's rarity; a warm-up row has none."""
        return "warming up" if log.anomaly_score is None else f"{log.anomaly_score:.4f}"

    @admin.display(description="Betti h0/h1/h2")
    def betti(self, log):
        return f"{log.betti_h0} / {log.betti_h1} / {log.betti_h2}"

    @admin.action(description="Download selected detections as CSV", permissions=["view"])
    def download_csv(self, request, queryset):
        """The export endpoint's CSV (same columns, formula-safe cells), oldest first."""
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        return export_response(
            request, queryset.order_by("timestamp", "pk"), "csv", f"anomalies-selected-{stamp}.csv"
        )


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("started_at", "ended_at", "source_type", "series", "peak_score", "row_count")
    list_filter = ("source_type", "series")
    date_hierarchy = "started_at"
    readonly_fields = ("source_type", "series", "started_at", "ended_at", "peak_score", "peak", "row_count", "created_at")
    list_per_page = 50
    show_full_result_count = False


def _channel_messages(detail, prefix=""):
    """DRF's nested error detail of ``validate_channels`` as "[1].target: message" lines."""
    if isinstance(detail, dict):
        for key, inner in detail.items():
            yield from _channel_messages(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list) and not all(isinstance(item, str) for item in detail):
        for index, inner in enumerate(detail):
            yield from _channel_messages(inner, f"{prefix}[{index}]")
    else:
        for message in detail if isinstance(detail, list) else [detail]:
            yield f"{prefix}: {message}" if prefix else str(message)


class AlertConfigForm(forms.ModelForm):
    class Meta:
        model = AlertConfig
        exclude = ("secret",)  # the webhook signing key is shown once, by the API, never here

    def clean_notification_channels(self):
        try:
            return validate_channels(self.cleaned_data["notification_channels"])
        except APIValidationError as error:
            raise forms.ValidationError(list(_channel_messages(error.detail))) from None


@admin.register(AlertConfig)
class AlertConfigAdmin(admin.ModelAdmin):
    form = AlertConfigForm
    list_display = (
        "__str__", "user", "threshold", "source_type", "channel_types", "is_active",
        "last_alert_at", "created_at",
    )
    list_filter = ("is_active", "source_type")
    list_select_related = ("user",)
    search_fields = ("name", "source_type", "user__username", "user__email")
    date_hierarchy = "created_at"
    autocomplete_fields = ("user",)
    readonly_fields = ("last_alert_at", "created_at", "updated_at")

    @admin.display(description="channels")
    def channel_types(self, config):
        channels = config.notification_channels or []
        return ", ".join(str(channel.get("type", "?")) for channel in channels) or "—"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows are written by the application only: the admin lists, shows and deletes them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DetectorCheckpoint)
class DetectorCheckpointAdmin(ReadOnlyAdmin):
    """Read-only: a checkpoint is the detector's own state. Deleting one makes that source's
    detector start afresh (warming up again) at the next start of the pipeline."""

    list_display = ("source_key", "updated_at", "last_event_id")
    search_fields = ("source_key", "last_event_id")
    date_hierarchy = "updated_at"


@admin.register(Series)
class SeriesAdmin(ReadOnlyAdmin):
    """Read-only: the registry is the store's (one row per series, moved by each stored batch)."""

    list_display = ("source_type", "series", "last_score", "last_at", "last_anomaly_at", "owner")
    list_filter = ("source_type", "owner")
    search_fields = ("series", "owner")
    date_hierarchy = "last_at"


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    """Read-only history of notifications; "Retry now" sends failed or waiting ones again."""

    list_display = (
        "created_at", "config", "channel_type", "kind", "status", "attempts", "detection_count",
        "next_attempt_at", "sent_at",
    )
    list_filter = ("status", "kind", "config")
    list_select_related = ("config",)
    search_fields = ("config__name", "last_error")
    date_hierarchy = "created_at"
    actions = ["retry_now"]

    @admin.display(description="channel")
    def channel_type(self, delivery):
        return delivery.channel.get("type", "?")

    @admin.action(description="Retry selected deliveries now", permissions=["view"])
    def retry_now(self, request, queryset):
        retried = queryset.exclude(status=DeliveryStatus.SENT).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        self.message_user(request, f"{retried} deliveries will be retried by the alert worker.")


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    """Read-only: feedback is a history of who said what; the API records it."""

    list_display = ("created_at", "anomaly", "label", "user")
    list_filter = ("label",)
    list_select_related = ("anomaly", "user")
    search_fields = ("user__username", "anomaly__source_type")
    date_hierarchy = "created_at"
