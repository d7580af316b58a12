from django.urls import path

from anomalies.api.events import EventBatchView
from anomalies.api.alert_views import AlertConfigDetailView, AlertConfigListCreateView
from anomalies.api.views import (
    AnomalyDetailView,
    AnomalyExportView,
    AnomalyListCreateView,
    AnomalyStatsView,
)

urlpatterns = [
    path("anomalies", AnomalyListCreateView.as_view(), name="anomaly-list"),
    path("anomalies/stats", AnomalyStatsView.as_view(), name="anomaly-stats"),
    path("anomalies/export", AnomalyExportView.as_view(), name="anomaly-export"),
    path("anomalies/<str:id>", AnomalyDetailView.as_view(), name="anomaly-detail"),
    path("events", EventBatchView.as_view(), name="event-batch"),
    path("alerts/configs", AlertConfigListCreateView.as_view(), name="alertconfig-list"),
    path("alerts/configs/<str:id>", AlertConfigDetailView.as_view(), name="alertconfig-detail"),
]
