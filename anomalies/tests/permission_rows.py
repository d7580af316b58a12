"""Permission matrix rows of the anomalies app (format: top of accounts/tests/permission_rows.py).

Each helper adds the rows of their own endpoints here; ``{anomaly_id}`` is a detection and
``{alert_config_id}`` an alert configuration owned by the viewer.
"""
from datetime import datetime, timezone

from accounts.tests.permission_rows import Row
from anomalies.models import AlertConfig, AnomalyLog

DETECTION = {
    "timestamp": "2024-01-01T00:00:00Z",
    "source_type": "wikipedia",
    "anomaly_score": 0.97,
    "is_anomaly": True,
}
ALERT_CONFIG = {
    "name": "spikes",
    "threshold": 0.95,
    "notification_channels": [{"type": "email", "target": "ops@example.com"}],
}


def make_anomaly(ctx):
    return AnomalyLog.objects.create_log(
        timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type="wikipedia", anomaly_score=0.5
    )


def make_alert_config(ctx):
    return AlertConfig.objects.create(
        user=ctx.viewer, threshold=0.9, notification_channels=ALERT_CONFIG["notification_channels"]
    )


def make_incident(ctx):
    from anomalies import incidents

    alarm = AnomalyLog.objects.create_log(
        timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc), source_type="wikipedia", anomaly_score=0.999,
        is_anomaly=True,
    )
    return incidents.attach([alarm])[0]


PATH_PARAMS = {"anomaly_id": make_anomaly, "alert_config_id": make_alert_config, "incident_id": make_incident}

ROWS = [
    # Detections: everyone signed in reads; only admins (and admin service accounts) write.
    Row("GET", "/api/anomalies", 401, 200, 200, 200),
    Row("POST", "/api/anomalies", 401, 403, 403, 201, DETECTION),
    Row("POST", "/api/anomalies", 401, 403, 403, 201, [DETECTION, DETECTION]),
    Row("GET", "/api/anomalies/stats", 401, 200, 200, 200),
    Row("GET", "/api/anomalies/export?format=csv", 401, 200, 200, 200),
    Row("GET", "/api/anomalies/export?format=ndjson", 401, 200, 200, 200),
    Row("GET", "/api/anomalies/{anomaly_id}", 401, 200, 200, 200),
    Row("DELETE", "/api/anomalies/{anomaly_id}", 401, 403, 403, 204),
    # Series: everyone signed in reads the registry.
    Row("GET", "/api/series", 401, 200, 200, 200),
    # Feedback: every signed-in user labels detections and reads their history.
    Row("POST", "/api/anomalies/{anomaly_id}/feedback", 401, 201, 201, 201, {"label": "anomaly"}),
    Row("GET", "/api/anomalies/{anomaly_id}/feedback", 401, 200, 200, 200),
    # Incidents: everyone signed in reads them and gives feedback on them.
    Row("GET", "/api/incidents", 401, 200, 200, 200),
    Row("GET", "/api/incidents/{incident_id}", 401, 200, 200, 200),
    Row("POST", "/api/incidents/{incident_id}/feedback", 401, 201, 201, 201, {"label": "anomaly"}),
    # Alert configurations: your own (others' are 404, not 403); an admin's reach is everyone's.
    Row("GET", "/api/alerts/configs", 401, 200, 200, 200),
    Row("POST", "/api/alerts/configs", 401, 201, 201, 201, ALERT_CONFIG),
    Row("GET", "/api/alerts/configs/{alert_config_id}", 401, 200, 404, 200),
    Row("PUT", "/api/alerts/configs/{alert_config_id}", 401, 200, 404, 200, ALERT_CONFIG),
    Row("PATCH", "/api/alerts/configs/{alert_config_id}", 401, 200, 404, 200, {"threshold": 0.5}),
    Row("DELETE", "/api/alerts/configs/{alert_config_id}", 401, 204, 404, 204),
    Row("POST", "/api/alerts/configs/{alert_config_id}/test", 401, 201, 404, 201),
    Row("POST", "/api/alerts/configs/{alert_config_id}/secret", 401, 200, 404, 200),
    # Deliveries: of your own configs; an admin sees all.
    Row("GET", "/api/alerts/deliveries", 401, 200, 200, 200),
    Row("GET", "/api/alerts/deliveries?status=failed", 401, 200, 200, 200),
    # Pushed events: admins and service accounts (admin role) only.
    Row("POST", "/api/events", 401, 403, 403, 202,
        {"stream": "checkout", "events": [{"timestamp": "2024-01-01T00:00:00Z", "value": 1.5}]}),
]
