"""POST /api/auth/refresh rotates the pair; a refresh token works once, reuse ends the session."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Session
from accounts.tests.helpers import claims, error_code

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def refresh(client, token):
    return client.post("/api/auth/refresh", {"refresh": token}, format="json")


def test_refresh_rotates_the_pair_and_keeps_the_session(
    api_client, viewer, login_pair, bearer_client
):
    pair = login_pair(viewer)

    response = refresh(api_client, pair.refresh)

    assert response.status_code == 200
    body = response.json()
    session = Session.objects.get(pk=pair.session.pk)
    assert body["session_id"] == str(session.pk)
    assert session.jti == claims(body["refresh"])["jti"] != claims(pair.refresh)["jti"]
    assert claims(body["access"])["sid"] == str(session.pk)
    assert bearer_client(body["access"]).get(ME).status_code == 200
    assert bearer_client(pair.access).get(ME).status_code == 200  # same session, still alive


def test_rotated_refresh_token_stops_working_and_its_reuse_kills_the_new_tokens(
    api_client, viewer, login_pair, bearer_client
):
    pair = login_pair(viewer)
    rotated = refresh(api_client, pair.refresh).json()

    reused = refresh(api_client, pair.refresh)

    assert reused.status_code == 401
    assert error_code(reused) == "token_revoked"
    session = Session.objects.get(pk=pair.session.pk)
    assert session.revoked_at is not None
    assert session.revoked_reason == "refresh_reuse"
    assert error_code(bearer_client(rotated["access"]).get(ME)) == "token_revoked"
    assert error_code(refresh(api_client, rotated["refresh"])) == "token_revoked"
    assert error_code(bearer_client(pair.access).get(ME)) == "token_revoked"


def test_reuse_ends_only_the_session_of_the_stolen_token(
    api_client, viewer, login_pair, bearer_client
):
    stolen, other = login_pair(viewer), login_pair(viewer)
    refresh(api_client, stolen.refresh)

    refresh(api_client, stolen.refresh)

    assert bearer_client(other.access).get(ME).status_code == 200


def test_refresh_extends_the_session(api_client, viewer, login_pair):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        clock.tick(timedelta(days=3))

        body = refresh(api_client, pair.refresh).json()

        session = Session.objects.get(pk=pair.session.pk)
        assert session.expires_at == timezone.now() + timedelta(days=7)
        assert session.last_used_at == timezone.now()
        assert body["refresh_expires_at"] == "2026-03-11T12:00:00Z"


def test_refresh_of_a_deleted_user_is_401_not_500(api_client, viewer, login_pair):
    pair = login_pair(viewer)
    viewer.delete()

    response = refresh(api_client, pair.refresh)

    assert response.status_code == 401
    assert error_code(response) == "token_revoked"


def test_refresh_of_a_deactivated_user_is_401_and_ends_the_session(api_client, viewer, login_pair):
    pair = login_pair(viewer)
    viewer.is_active = False
    viewer.save()

    response = refresh(api_client, pair.refresh)

    assert response.status_code == 401
    assert error_code(response) == "token_revoked"
    assert Session.objects.get(pk=pair.session.pk).revoked_reason == "user_inactive"


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": None}])
def test_refresh_without_a_token_names_the_field(api_client, body):
    response = api_client.post("/api/auth/refresh", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["refresh"]


@pytest.mark.parametrize("token", ["not.a.jwt", 42])
def test_refresh_with_garbage_is_token_invalid(api_client, token):
    response = refresh(api_client, token)

    assert response.status_code == 401
    assert error_code(response) == "token_invalid"
