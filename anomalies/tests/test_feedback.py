"""POST/GET /api/anomalies/{id}/feedback and precision as judged by feedback in the stats."""
import pytest
from django.utils import timezone

from anomalies.feedback import feedback_summary
from anomalies.models import AnomalyLog, Feedback

pytestmark = pytest.mark.django_db


def detection(score=0.9, is_anomaly=True, source_type="wikipedia"):
    return AnomalyLog.objects.create_log(
        timestamp=timezone.now(), source_type=source_type, anomaly_score=score, is_anomaly=is_anomaly
    )


def give(client, anomaly, label):
    return client.post(f"/api/anomalies/{anomaly.pk}/feedback", {"label": label}, format="json")


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_viewers_and_admins_give_feedback_recorded_with_who_and_when(client_for, make_user, role):
    user = make_user("rater", role=role)
    anomaly = detection()
    before = timezone.now()

    response = give(client_for(user), anomaly, "not_anomaly")

    assert response.status_code == 201
    body = response.json()
    assert body["anomaly"] == str(anomaly.pk)
    assert body["label"] == "not_anomaly"
    assert body["user"] == str(user.pk) and body["username"] == "rater"
    assert body["created_at"].endswith("Z")
    stored = Feedback.objects.get()
    assert (stored.anomaly_id, stored.user_id, stored.label) == (anomaly.pk, user.pk, "not_anomaly")
    assert stored.created_at >= before
    assert AnomalyLog.objects.get(pk=anomaly.pk).feedback_label == "not_anomaly"


def test_latest_label_is_current_and_history_is_kept(client_for, viewer, admin):
    anomaly = detection()
    assert give(client_for(viewer), anomaly, "anomaly").status_code == 201
    assert give(client_for(admin), anomaly, "new_trend").status_code == 201

    assert AnomalyLog.objects.get(pk=anomaly.pk).feedback_label == "new_trend"
    response = client_for(viewer).get(f"/api/anomalies/{anomaly.pk}/feedback")
    assert response.status_code == 200
    history = response.json()
    assert history["count"] == 2
    assert [(f["label"], f["username"]) for f in history["results"]] == [
        ("new_trend", "alice"), ("anomaly", "victor"),
    ]


def test_anonymous_users_may_not_give_feedback(api_client):
    anomaly = detection()
    response = give(api_client, anomaly, "anomaly")
    assert response.status_code == 401
    assert Feedback.objects.count() == 0
    assert AnomalyLog.objects.get(pk=anomaly.pk).feedback_label == ""


def test_unknown_label_is_400_naming_the_field_and_stores_nothing(client_for, viewer):
    anomaly = detection()
    response = give(client_for(viewer), anomaly, "meh")
    assert response.status_code == 400
    assert response.json()["error"]["fields"].keys() == {"label"}
    response = client_for(viewer).post(f"/api/anomalies/{anomaly.pk}/feedback", [], format="json")
    assert response.status_code == 400
    assert Feedback.objects.count() == 0
    assert AnomalyLog.objects.get(pk=anomaly.pk).feedback_label == ""


def test_feedback_on_a_missing_detection_is_404(client_for, viewer):
    client = client_for(viewer)
    assert client.post("/api/anomalies/999999/feedback", {"label": "anomaly"}, format="json").status_code == 404
    assert client.post("/api/anomalies/garbage/feedback", {"label": "anomaly"}, format="json").status_code == 404
    assert client.get("/api/anomalies/999999/feedback").status_code == 404


def test_viewers_give_feedback_but_only_admins_delete_detections(client_for, viewer, admin):
    anomaly = detection()
    give(client_for(viewer), anomaly, "expected")
    assert client_for(viewer).delete(f"/api/anomalies/{anomaly.pk}").status_code == 403
    assert AnomalyLog.objects.filter(pk=anomaly.pk).exists()
    assert client_for(admin).delete(f"/api/anomalies/{anomaly.pk}").status_code == 204
    assert Feedback.objects.count() == 0  # the history goes with its detection


def test_feedback_survives_its_author(client_for, make_user):
    author = make_user("leaver")
    anomaly = detection()
    give(client_for(author), anomaly, "anomaly")
    author.delete()
    feedback = Feedback.objects.get()
    assert feedback.user is None and feedback.label == "anomaly"


def test_precision_counts_confirming_labels_among_judged_flagged_detections(client_for, viewer):
    labels = ["anomaly", "anomaly", "new_trend", "not_anomaly", "expected"]
    for label in labels:
        give(client_for(viewer), detection(), label)
    detection()  # flagged, not judged
    give(client_for(viewer), detection(score=0.2, is_anomaly=False), "anomaly")  # a missed one
    give(client_for(viewer), detection(score=0.1, is_anomaly=False), "not_anomaly")

    summary = feedback_summary(AnomalyLog.objects.all())
    assert summary == {
        "judged": 5,
        "confirmed": 3,
        "false_alarms": 2,
        "precision": 0.6,
        "missed": 1,
        "labels": {"anomaly": 2, "expected": 1, "not_anomaly": 1, "new_trend": 1},
    }


def test_precision_is_null_without_feedback():
    detection()
    assert feedback_summary(AnomalyLog.objects.all())["precision"] is None
    assert feedback_summary(AnomalyLog.objects.all())["judged"] == 0


def test_stats_endpoint_reports_precision_for_the_filtered_detections(client_for, viewer):
    give(client_for(viewer), detection(source_type="wikipedia"), "anomaly")
    give(client_for(viewer), detection(source_type="wikipedia"), "not_anomaly")
    give(client_for(viewer), detection(source_type="ndjson"), "anomaly")

    response = client_for(viewer).get("/api/anomalies/stats")
    assert response.status_code == 200
    feedback = response.json()["feedback"]
    assert (feedback["judged"], feedback["confirmed"]) == (3, 2)
    assert feedback["precision"] == pytest.approx(2 / 3)

    wiki = client_for(viewer).get("/api/anomalies/stats", {"source": "wikipedia"}).json()
    assert wiki["feedback"]["precision"] == 0.5


def test_current_label_is_listed_filterable_and_exported(client_for, viewer):
    confirmed, rejected, unjudged = detection(), detection(), detection()
    give(client_for(viewer), confirmed, "anomaly")
    give(client_for(viewer), rejected, "not_anomaly")
    client = client_for(viewer)

    listed = {row["id"]: row["feedback_label"] for row in client.get("/api/anomalies").json()["results"]}
    assert listed == {str(confirmed.pk): "anomaly", str(rejected.pk): "not_anomaly", str(unjudged.pk): ""}

    filtered = client.get("/api/anomalies", {"feedback_label": "not_anomaly"}).json()["results"]
    assert [row["id"] for row in filtered] == [str(rejected.pk)]
    filtered = client.get("/api/anomalies", {"feedback_label": "none"}).json()["results"]
    assert [row["id"] for row in filtered] == [str(unjudged.pk)]
    response = client.get("/api/anomalies", {"feedback_label": "maybe"})
    assert response.status_code == 400 and "feedback_label" in response.json()["error"]["fields"]

    export = client.get("/api/anomalies/export", {"format": "csv", "ordering": "timestamp"})
    lines = b"".join(export.streaming_content).decode().splitlines()
    header = lines[0].split(",")
    assert header[-6:] == ["feedback_label", "series", "suppressed", "warming_up", "incident", "explanation"]
    assert [line.split(",")[-6] for line in lines[1:]] == ["anomaly", "not_anomaly", ""]
