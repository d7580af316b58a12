from django.urls import path

from anomalies.api.alert_delivery_views import AlertConfigSecretView, AlertConfigTestView, AlertDeliveryListView
from anomalies.api.events import EventBatchView
from anomalies.api.alert_views import AlertConfigDetailView, AlertConfigListCreateView
from anomalies.api.views import (
    AnomalyDetailView,
    AnomalyExportView,
    AnomalyListCreateView,
    AnomalyStatsView,
)
from anomalies.api.feedback_views import AnomalyFeedbackView
from anomalies.api.incident_views import IncidentDetailView, IncidentFeedbackView, IncidentListView
from anomalies.api.series_views import SeriesListView

urlpatterns = [
    path("anomalies", AnomalyListCreateView.as_view(), name="anomaly-list"),
    path("anomalies/stats", AnomalyStatsView.as_view(), name="anomaly-stats"),
    path("anomalies/export", AnomalyExportView.as_view(), name="anomaly-export"),
    path("anomalies/<str:id>", AnomalyDetailView.as_view(), name="anomaly-detail"),
    path("anomalies/<str:id>/feedback", AnomalyFeedbackView.as_view(), name="anomaly-feedback"),
    path("incidents", IncidentListView.as_view(), name="incident-list"),
    path("incidents/<str:id>", IncidentDetailView.as_view(), name="incident-detail"),
    path("incidents/<str:id>/feedback", IncidentFeedbackView.as_view(), name="incident-feedback"),
    path("series", SeriesListView.as_view(), name="series-list"),
    path("events", EventBatchView.as_view(), name="event-batch"),
    path("alerts/configs", AlertConfigListCreateView.as_view(), name="alertconfig-list"),
    path("alerts/configs/<str:id>", AlertConfigDetailView.as_view(), name="alertconfig-detail"),
    path("alerts/configs/<str:id>/test", AlertConfigTestView.as_view(), name="alertconfig-test"),
    path(
        "alerts/configs/<str:id>/secret", AlertConfigSecretView.as_view(), name="alertconfig-secret"
    ),
    path("alerts/deliveries", AlertDeliveryListView.as_view(), name="alertdelivery-list"),
]
