"""/api/alerts/configs: own configurations for a user, all for an admin; validated channels."""
import pytest
from django.test import override_settings

from anomalies.models import AlertConfig

pytestmark = pytest.mark.django_db

URL = "/api/alerts/configs"
EMAIL = {"type": "email", "target": "ops@example.com"}
WEBHOOK = {"type": "webhook", "target": "https://hooks.example.com/topoforge"}


def config_body(**fields):
    body = {"name": "wiki spikes", "threshold": 0.95, "notification_channels": [EMAIL], "source_type": "wiki"}
    body.update(fields)
    return body


@pytest.fixture
def own(viewer):
    return AlertConfig.objects.create(user=viewer, threshold=0.9, notification_channels=[EMAIL], name="mine")


@pytest.fixture
def others(other_viewer):
    return AlertConfig.objects.create(user=other_viewer, threshold=0.5, notification_channels=[], name="hers")


def test_user_creates_a_config_owned_by_them(client_for, viewer, other_viewer):
    body = config_body(user=str(other_viewer.pk), notification_channels=[EMAIL, WEBHOOK])

    response = client_for(viewer).post(URL, body, format="json")

    assert response.status_code == 201, response.content
    stored = AlertConfig.objects.get()
    assert stored.user == viewer  # a "user" in the body is ignored
    assert response.json()["user"] == str(viewer.pk)
    assert response.json()["id"] == str(stored.pk)
    assert stored.threshold == 0.95 and stored.source_type == "wiki" and stored.is_active
    assert stored.notification_channels == [EMAIL, WEBHOOK]


def test_channels_are_normalised(client_for, viewer):
    body = config_body(notification_channels=[{"type": " Slack ", "target": " https://hooks.slack.com/x "}])

    response = client_for(viewer).post(URL, body, format="json")

    assert response.status_code == 201
    assert AlertConfig.objects.get().notification_channels == [
        {"type": "slack", "target": "https://hooks.slack.com/x"}
    ]


def test_user_lists_only_their_own(client_for, viewer, own, others):
    body = client_for(viewer).get(URL).json()

    assert body["count"] == 1
    assert [item["id"] for item in body["results"]] == [str(own.pk)]


def test_admin_lists_everyone_s(client_for, admin, own, others):
    body = client_for(admin).get(URL).json()

    assert {item["id"] for item in body["results"]} == {str(own.pk), str(others.pk)}


def test_someone_else_s_config_does_not_exist_for_a_user(client_for, viewer, others):
    client = client_for(viewer)
    detail = f"{URL}/{others.pk}"

    assert client.get(detail).status_code == 404
    assert client.patch(detail, {"threshold": 0.1}, format="json").status_code == 404
    assert client.put(detail, config_body(), format="json").status_code == 404
    assert client.delete(detail).status_code == 404
    others.refresh_from_db()
    assert others.threshold == 0.5


def test_user_patches_and_puts_their_own(client_for, viewer, own):
    client = client_for(viewer)

    patched = client.patch(f"{URL}/{own.pk}", {"threshold": 0.7, "is_active": False}, format="json")
    assert patched.status_code == 200
    own.refresh_from_db()
    assert (own.threshold, own.is_active, own.name) == (0.7, False, "mine")

    put = client.put(f"{URL}/{own.pk}", config_body(name="renamed"), format="json")
    assert put.status_code == 200
    own.refresh_from_db()
    assert (own.name, own.threshold, own.source_type) == ("renamed", 0.95, "wiki")


def test_admin_edits_someone_else_s_config_without_taking_it_over(client_for, admin, others, other_viewer):
    response = client_for(admin).patch(f"{URL}/{others.pk}", {"threshold": 0.99}, format="json")

    assert response.status_code == 200
    others.refresh_from_db()
    assert others.threshold == 0.99 and others.user == other_viewer


def test_user_deletes_their_own(client_for, viewer, own):
    response = client_for(viewer).delete(f"{URL}/{own.pk}")

    assert response.status_code == 204
    assert not AlertConfig.objects.exists()


def test_admin_deletes_any(client_for, admin, others):
    assert client_for(admin).delete(f"{URL}/{others.pk}").status_code == 204
    assert not AlertConfig.objects.exists()


def test_anonymous_is_refused(api_client, own):
    assert api_client.get(URL).status_code == 401
    assert api_client.post(URL, config_body(), format="json").status_code == 401
    assert api_client.get(f"{URL}/{own.pk}").status_code == 401


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": "nan"}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"threshold": None}, "threshold"),
        ({"notification_channels": "ops@example.com"}, "notification_channels"),
        ({"notification_channels": [EMAIL] * 21}, "notification_channels"),
        ({"notification_channels": [{"type": "sms", "target": "+123"}]}, "notification_channels[0].type"),
        ({"notification_channels": [{"type": "email", "target": "not-an-address"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "email"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "email", "target": 7}]}, "notification_channels[0].target"),
        ({"notification_channels": [EMAIL, {"type": "webhook", "target": "http://hooks.example.com/x"}]}, "notification_channels[1].target"),
        ({"notification_channels": [{"type": "webhook", "target": "ftp://example.com/x"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "webhook", "target": "https://user:pw@example.com/"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "slack", "target": "not a url"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "webhook", "target": "http://127.0.0.1:9000/"}]}, "notification_channels[0].target"),
        ({"notification_channels": [{"type": "email", "target": "a@b.co", "cc": "x"}]}, "notification_channels[0].cc"),
        ({"notification_channels": ["ops@example.com"]}, "notification_channels[0].non_field_errors"),
        ({"name": "n" * 101}, "name"),
        ({"source_type": "s" * 65}, "source_type"),
        ({"is_active": "sometimes"}, "is_active"),
    ],
)
def test_bad_input_is_refused_naming_the_field(client_for, viewer, fields, field):
    response = client_for(viewer).post(URL, config_body(**fields), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not AlertConfig.objects.exists()


def test_threshold_is_required(client_for, viewer):
    body = config_body()
    del body["threshold"]

    response = client_for(viewer).post(URL, body, format="json")

    assert response.status_code == 400
    assert "threshold" in response.json()["error"]["fields"]


@override_settings(DEBUG=True, ALLOW_PRIVATE_WEBHOOKS=True)
@pytest.mark.parametrize("target", ["http://127.0.0.1:9000/hook", "http://localhost:8080/x", "http://[::1]/x"])
def test_http_to_loopback_is_allowed_when_debug(client_for, viewer, target):
    body = config_body(notification_channels=[{"type": "webhook", "target": target}])

    assert client_for(viewer).post(URL, body, format="json").status_code == 201


@override_settings(DEBUG=True)
def test_http_to_a_remote_host_is_refused_even_when_debug(client_for, viewer):
    body = config_body(notification_channels=[{"type": "webhook", "target": "http://example.com/x"}])

    response = client_for(viewer).post(URL, body, format="json")

    assert response.status_code == 400
    assert "notification_channels[0].target" in response.json()["error"]["fields"]


def test_invalid_patch_changes_nothing(client_for, viewer, own):
    response = client_for(viewer).patch(
        f"{URL}/{own.pk}", {"threshold": 0.1, "notification_channels": [{"type": "pager"}]}, format="json"
    )

    assert response.status_code == 400
    own.refresh_from_db()
    assert own.threshold == 0.9 and own.notification_channels == [EMAIL]


def test_body_over_one_megabyte_is_refused_with_413(client_for, viewer, own):
    huge = config_body(name="x" * (1024 * 1024))

    created = client_for(viewer).post(URL, huge, format="json")
    patched = client_for(viewer).patch(f"{URL}/{own.pk}", huge, format="json")

    assert created.status_code == 413 and patched.status_code == 413
    assert created.json()["error"]["code"] == "payload_too_large"
    assert AlertConfig.objects.count() == 1
    own.refresh_from_db()
    assert own.name == "mine"
