"""Incidents: an alarm and the rows the gate suppressed after it, per stream and series (#17)."""
from datetime import datetime, timedelta, timezone

import pytest

from anomalies.models import AlertConfig, AlertDelivery, AnomalyLog, Feedback, Incident

pytestmark = pytest.mark.django_db
URL = "/api/anomalies"
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def row(minute, score, *, is_anomaly=False, suppressed=False, source="wiki", series=""):
    return {
        "timestamp": (T0 + timedelta(minutes=minute)).isoformat(), "source_type": source, "series": series,
        "anomaly_score": score, "is_anomaly": is_anomaly, "suppressed": suppressed,
    }


def store(client, rows):
    response = client.post(URL, rows, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_alarm_and_its_suppressed_rows_form_one_incident(client_for, admin):
    client = client_for(admin)
    stored = store(client, [
        row(0, 0.2),
        row(1, 0.995, is_anomaly=True),
        row(2, 0.9999, suppressed=True),
        row(3, 0.4, suppressed=True),
        row(4, 0.3),
        row(1, 0.999, is_anomaly=True, series="other"),  # another series: its own incident
    ])
    ids = [item["id"] for item in stored]

    listed = client.get("/api/incidents", {"source": "wiki", "series": ""}).json()
    assert listed["count"] == 1
    incident = listed["results"][0]
    assert incident["started_at"] == "2024-05-01T00:01:00Z" and incident["ended_at"] == "2024-05-01T00:03:00Z"
    assert incident["row_count"] == 3 and incident["peak"] == ids[2] and incident["peak_score"] == 0.9999
    detail = client.get(f"/api/incidents/{incident['id']}").json()
    assert [r["id"] for r in detail["rows"]] == ids[1:4]
    assert client.get(f"{URL}/{ids[2]}").json()["incident"] == incident["id"]
    assert client.get(f"{URL}/{ids[0]}").json()["incident"] is None
    assert Incident.objects.count() == 2


def test_suppressed_rows_stored_later_extend_the_open_incident(client_for, admin):
    client = client_for(admin)
    store(client, [row(0, 0.999, is_anomaly=True)])
    store(client, [row(1, 0.97, suppressed=True), row(2, 0.99, suppressed=True)])

    incident = Incident.objects.get()
    assert incident.row_count == 3 and incident.ended_at == T0 + timedelta(minutes=2)
    assert incident.peak == AnomalyLog.objects.get(timestamp=T0)


def test_a_new_alarm_opens_a_new_incident(client_for, admin):
    client = client_for(admin)
    store(client, [row(0, 0.999, is_anomaly=True), row(1, 0.95, suppressed=True), row(9, 0.995, is_anomaly=True)])

    listed = client.get("/api/incidents").json()["results"]
    assert [i["row_count"] for i in listed] == [1, 2]  # newest first


def test_feedback_on_an_incident_labels_its_peak_and_points_at_it(client_for, viewer, admin):
    store(client_for(admin), [row(0, 0.995, is_anomaly=True), row(1, 0.9995, suppressed=True)])
    incident = Incident.objects.get()

    response = client_for(viewer).post(f"/api/incidents/{incident.pk}/feedback", {"label": "anomaly"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["incident"] == str(incident.pk)
    assert Feedback.objects.get().incident == incident
    assert AnomalyLog.objects.get(pk=incident.peak_id).feedback_label == "anomaly"


def test_bad_incident_input_is_a_4xx_naming_the_field(client_for, viewer):
    client = client_for(viewer)
    assert client.get("/api/incidents", {"start_date": "yesterday"}).json()["error"]["fields"].keys() == {"start_date"}
    assert client.get("/api/incidents/999999").status_code == 404
    store_response = client.post("/api/incidents/999999/feedback", {"label": "anomaly"}, format="json")
    assert store_response.status_code == 404


def test_an_alert_points_at_the_incident_of_its_detection(client_for, admin, django_capture_on_commit_callbacks):
    AlertConfig.objects.create(user=admin, threshold=0.99, notification_channels=[
        {"type": "webhook", "target": "https://hooks.example.com/x"}])
    with django_capture_on_commit_callbacks(execute=True):
        store(client_for(admin), [row(0, 0.995, is_anomaly=True), row(1, 0.9999, suppressed=True)])

    delivery = AlertDelivery.objects.get()
    assert delivery.incident == Incident.objects.get()
    assert delivery.max_score == 0.995  # the suppressed row is part of the incident, not a new alert
    assert delivery.payload["detection"]["incident"] == str(delivery.incident_id)
