"""POST /api/auth/login: a session and its token pair, with the agreed claims and lifetimes."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Session
from accounts.tests.helpers import PASSWORD, claims, error_code

pytestmark = pytest.mark.django_db


def login(client, password=PASSWORD, **identity):
    return client.post("/api/auth/login", {**identity, "password": password}, format="json")


def test_login_returns_a_token_pair_and_stores_the_session(api_client, viewer):
    response = api_client.post(
        "/api/auth/login",
        {"username": "victor", "password": PASSWORD},
        format="json",
        HTTP_USER_AGENT="curl/8.5",
        REMOTE_ADDR="192.0.2.7",
    )

    assert response.status_code == 200
    body = response.json()
    session = Session.objects.get()
    assert (session.user, session.user_agent, session.ip_address) == (
        viewer,
        "curl/8.5",
        "192.0.2.7",
    )
    assert session.revoked_at is None
    assert body["session_id"] == str(session.pk)
    assert body["token_type"] == "Bearer"
    assert body["user"]["username"] == "victor"
    refresh = claims(body["refresh"])
    assert refresh["jti"] == session.jti
    assert (refresh["token_type"], refresh["sid"], refresh["user_id"]) == (
        "refresh",
        str(session.pk),
        str(viewer.pk),
    )
    viewer.refresh_from_db()
    assert viewer.last_login is not None


def test_access_token_carries_the_agreed_claims(api_client, viewer):
    body = login(api_client, username="victor").json()

    access = claims(body["access"])
    assert set(access) == {"user_id", "username", "role", "sid", "jti", "token_type", "exp", "iat"}
    assert access["user_id"] == str(viewer.pk)
    assert (access["username"], access["role"], access["token_type"]) == (
        "victor",
        "viewer",
        "access",
    )
    assert access["sid"] == body["session_id"]
    assert access["jti"] != claims(body["refresh"])["jti"]


@freeze_time("2026-03-01 12:00:00")
def test_default_lifetimes_are_a_day_and_a_week(api_client, viewer):
    body = login(api_client, username="victor").json()

    now = timezone.now().timestamp()
    assert claims(body["access"])["exp"] - now == 24 * 3600
    assert claims(body["refresh"])["exp"] - now == 7 * 24 * 3600
    assert body["access_expires_at"] == "2026-03-02T12:00:00Z"
    assert body["refresh_expires_at"] == "2026-03-08T12:00:00Z"
    assert Session.objects.get().expires_at == timezone.now() + timedelta(days=7)


@freeze_time("2026-03-01 12:00:00")
def test_lifetimes_follow_the_settings(api_client, viewer, settings):
    settings.JWT_ACCESS_LIFETIME = timedelta(minutes=5)
    settings.JWT_REFRESH_LIFETIME = timedelta(hours=1)

    body = login(api_client, username="victor").json()

    now = timezone.now().timestamp()
    assert claims(body["access"])["exp"] - now == 300
    assert claims(body["refresh"])["exp"] - now == 3600


@freeze_time("2026-03-01 12:00:00")
def test_access_token_never_outlives_its_session(api_client, viewer, settings):
    settings.JWT_ACCESS_LIFETIME = timedelta(days=30)

    body = login(api_client, username="victor").json()

    assert claims(body["access"])["exp"] == claims(body["refresh"])["exp"]


@pytest.mark.parametrize(
    "identity", [{"username": "Victor@Example.com"}, {"email": "victor@example.com"}]
)
def test_login_with_the_email_address(api_client, viewer, identity):
    response = login(api_client, **identity)

    assert response.status_code == 200
    assert claims(response.json()["access"])["user_id"] == str(viewer.pk)


def test_a_username_wins_over_another_users_identical_email(api_client, make_user):
    make_user("carol@example.com", email="carol.real@example.com", password="carol's own secret")
    make_user("mallory", email="carol@example.com")

    response = login(api_client, username="carol@example.com", password="carol's own secret")

    assert response.status_code == 200
    assert response.json()["user"]["username"] == "carol@example.com"


@pytest.mark.parametrize(
    "identity, password",
    [({"username": "victor"}, "wrong password"), ({"username": "nobody"}, PASSWORD)],
)
def test_wrong_credentials_answer_401_and_start_no_session(api_client, viewer, identity, password):
    response = login(api_client, password=password, **identity)

    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert not Session.objects.exists()


def test_a_deactivated_user_cannot_log_in(api_client, viewer):
    viewer.is_active = False
    viewer.save()

    response = login(api_client, username="victor")

    assert response.status_code == 401
    assert error_code(response) == "invalid_credentials"
    assert not Session.objects.exists()


def test_login_without_a_name_names_the_field(api_client, viewer):
    response = api_client.post("/api/auth/login", {"password": PASSWORD}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["username"]


def test_a_stale_authorization_header_does_not_block_logging_in(api_client, viewer):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    response = login(api_client, username="victor")

    assert response.status_code == 200


def test_each_login_is_its_own_session(api_client, viewer):
    first = login(api_client, username="victor").json()
    second = login(api_client, username="victor").json()

    assert first["session_id"] != second["session_id"]
    assert Session.objects.filter(user=viewer).active().count() == 2
