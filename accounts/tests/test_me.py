"""GET/PATCH /api/auth/me: your profile, and a password change that ends your other sessions."""

import pytest

from accounts.models import Session
from accounts.tests.helpers import PASSWORD, error_code

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"
NEW_PASSWORD = "a brand new passphrase"


def test_me_shows_your_account(viewer, login_pair, bearer_client):
    response = bearer_client(login_pair(viewer).access).get(ME)

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(viewer.pk)
    assert (body["username"], body["email"], body["role"]) == (
        "victor",
        "victor@example.com",
        "viewer",
    )
    assert body["created_at"].endswith("Z")
    assert "password" not in body


def test_me_changes_the_email(viewer, login_pair, bearer_client):
    response = bearer_client(login_pair(viewer).access).patch(
        ME, {"email": "Victor.New@Example.com"}, format="json"
    )

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert viewer.email == response.json()["email"] == "victor.new@example.com"


def test_me_refuses_an_email_someone_else_has(viewer, other_viewer, login_pair, bearer_client):
    response = bearer_client(login_pair(viewer).access).patch(
        ME, {"email": "OLGA@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["email"]
    viewer.refresh_from_db()
    assert viewer.email == "victor@example.com"


def test_me_cannot_raise_your_role(viewer, login_pair, bearer_client):
    response = bearer_client(login_pair(viewer).access).patch(
        ME, {"role": "admin", "is_staff": True, "is_active": False}, format="json"
    )

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert (viewer.role, viewer.is_staff, viewer.is_superuser, viewer.is_active) == (
        "viewer",
        False,
        False,
        True,
    )


def test_password_change_revokes_other_sessions_and_keeps_this_one(
    api_client, viewer, other_viewer, login_pair, bearer_client
):
    current, laptop, phone = login_pair(viewer), login_pair(viewer), login_pair(viewer)
    someone_else = login_pair(other_viewer)

    response = bearer_client(current.access).patch(
        ME, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert viewer.check_password(NEW_PASSWORD)
    assert bearer_client(current.access).get(ME).status_code == 200
    for other in (laptop, phone):
        assert error_code(bearer_client(other.access).get(ME)) == "token_revoked"
        refreshed = api_client.post("/api/auth/refresh", {"refresh": other.refresh}, format="json")
        assert error_code(refreshed) == "token_revoked"
        assert Session.objects.get(pk=other.session.pk).revoked_reason == "password_changed"
    assert bearer_client(someone_else.access).get(ME).status_code == 200
    refreshed = api_client.post("/api/auth/refresh", {"refresh": current.refresh}, format="json")
    assert refreshed.status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": "not it", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
    ],
)
def test_bad_password_changes_name_the_field_and_change_nothing(
    viewer, login_pair, bearer_client, body, field
):
    current, other = login_pair(viewer), login_pair(viewer)

    response = bearer_client(current.access).patch(ME, body, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    viewer.refresh_from_db()
    assert viewer.check_password(PASSWORD)
    assert bearer_client(other.access).get(ME).status_code == 200


def test_me_has_no_put_or_delete(viewer, login_pair, bearer_client):
    client = bearer_client(login_pair(viewer).access)

    assert client.put(ME, {"email": "x@example.com"}, format="json").status_code == 405
    assert client.delete(ME).status_code == 405
