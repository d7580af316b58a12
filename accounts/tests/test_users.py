"""/api/users: admins manage everyone; a viewer sees and edits only their own profile."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Session
from accounts.tests.helpers import error_code

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def as_user(login_pair, bearer_client):
    return lambda user: bearer_client(login_pair(user).access)


def test_admin_lists_users_paginated(admin, make_user, as_user):
    for index in range(3):
        make_user(f"user{index}")

    response = as_user(admin).get("/api/users", {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [row["username"] for row in body["results"]] == ["alice", "user0"]
    assert body["next"].endswith("limit=2&page=2")
    second = as_user(admin).get("/api/users", {"limit": 2, "page": 2}).json()
    assert [row["username"] for row in second["results"]] == ["user1", "user2"]


def test_admin_searches_and_filters_users(admin, viewer, other_viewer, make_user, as_user):
    make_user("bob", email="robert@corp.example")

    found = as_user(admin).get("/api/users", {"search": "corp.exam"}).json()
    viewers = as_user(admin).get("/api/users", {"role": "viewer"}).json()

    assert [row["username"] for row in found["results"]] == ["bob"]
    assert [row["username"] for row in viewers["results"]] == ["bob", "olga", "victor"]


def test_a_bad_filter_value_names_the_field(admin, as_user):
    response = as_user(admin).get("/api/users", {"role": "superhero"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["role"]


def test_a_viewer_may_not_list_users(viewer, as_user):
    response = as_user(viewer).get("/api/users")

    assert response.status_code == 403
    assert error_code(response) == "permission_denied"


def test_a_viewer_sees_themself_and_not_others(viewer, other_viewer, as_user):
    client = as_user(viewer)

    assert client.get(f"/api/users/{viewer.pk}").json()["username"] == "victor"
    response = client.get(f"/api/users/{other_viewer.pk}")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_a_viewer_edits_their_own_profile(viewer, as_user):
    response = as_user(viewer).patch(
        f"/api/users/{viewer.pk}", {"first_name": "Victor", "email": "V@Example.com"}, format="json"
    )

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert (viewer.first_name, viewer.email) == ("Victor", "v@example.com")


@pytest.mark.parametrize("field, value", [("role", "admin"), ("is_active", False)])
def test_a_viewer_patching_admin_fields_is_403_and_changes_nothing(viewer, as_user, field, value):
    response = as_user(viewer).patch(
        f"/api/users/{viewer.pk}", {field: value, "first_name": "Sneaky"}, format="json"
    )

    assert response.status_code == 403
    assert list(response.json()["error"]["fields"]) == [field]
    viewer.refresh_from_db()
    assert (viewer.role, viewer.is_active, viewer.first_name) == ("viewer", True, "")


def test_a_viewer_patching_is_staff_changes_nothing(viewer, as_user):
    response = as_user(viewer).patch(
        f"/api/users/{viewer.pk}", {"is_staff": True, "is_superuser": True}, format="json"
    )

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert (viewer.is_staff, viewer.is_superuser, viewer.role) == (False, False, "viewer")
    assert response.json()["is_staff"] is False


def test_a_viewer_may_send_back_unchanged_admin_fields(viewer, as_user):
    client = as_user(viewer)
    shown = client.get(f"/api/users/{viewer.pk}").json()

    response = client.put(f"/api/users/{viewer.pk}", {**shown, "last_name": "Hugo"}, format="json")

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert (viewer.last_name, viewer.role) == ("Hugo", "viewer")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_viewer_cannot_change_another_users_email(viewer, other_viewer, as_user, method):
    response = getattr(as_user(viewer), method)(
        f"/api/users/{other_viewer.pk}", {"email": "mine@example.com"}, format="json"
    )

    assert response.status_code == 404
    other_viewer.refresh_from_db()
    assert other_viewer.email == "olga@example.com"


def test_an_email_taken_by_someone_else_names_the_field(viewer, other_viewer, as_user):
    response = as_user(viewer).patch(
        f"/api/users/{viewer.pk}", {"email": "olga@example.com"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["email"]


def test_an_admin_promotes_a_viewer(admin, viewer, as_user):
    response = as_user(admin).patch(f"/api/users/{viewer.pk}", {"role": "admin"}, format="json")

    assert response.status_code == 200
    viewer.refresh_from_db()
    assert (viewer.role, viewer.is_staff, viewer.is_superuser) == ("admin", True, True)
    assert as_user(viewer).get("/api/users").status_code == 200


def test_deactivating_a_user_ends_their_sessions(admin, viewer, login_pair, bearer_client, as_user):
    victim = login_pair(viewer)
    assert bearer_client(victim.access).get("/api/auth/me").status_code == 200

    response = as_user(admin).patch(f"/api/users/{viewer.pk}", {"is_active": False}, format="json")

    assert response.status_code == 200
    assert not Session.objects.filter(user=viewer).active().exists()
    assert error_code(bearer_client(victim.access).get("/api/auth/me")) == "token_revoked"


@pytest.mark.parametrize("field, value", [("role", "viewer"), ("is_active", False)])
def test_an_admin_cannot_demote_or_deactivate_themself(admin, as_user, field, value):
    response = as_user(admin).patch(f"/api/users/{admin.pk}", {field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    admin.refresh_from_db()
    assert (admin.role, admin.is_active) == ("admin", True)


def test_an_admin_deletes_a_user_and_their_sessions_end(
    admin, viewer, login_pair, bearer_client, as_user
):
    victim = login_pair(viewer)
    assert bearer_client(victim.access).get("/api/auth/me").status_code == 200

    response = as_user(admin).delete(f"/api/users/{viewer.pk}")

    assert response.status_code == 204
    assert not User.objects.filter(pk=viewer.pk).exists()
    assert not Session.objects.filter(pk=victim.session.pk).exists()
    assert error_code(bearer_client(victim.access).get("/api/auth/me")) == "token_revoked"


def test_an_admin_cannot_delete_themself(admin, as_user):
    response = as_user(admin).delete(f"/api/users/{admin.pk}")

    assert response.status_code == 403
    assert User.objects.filter(pk=admin.pk).exists()


def test_a_viewer_cannot_delete_anyone(viewer, other_viewer, as_user):
    client = as_user(viewer)

    assert client.delete(f"/api/users/{viewer.pk}").status_code == 403
    assert client.delete(f"/api/users/{other_viewer.pk}").status_code == 404
    assert User.objects.filter(pk__in=[viewer.pk, other_viewer.pk]).count() == 2


@pytest.mark.parametrize("user_id", ["999999", "not-an-id"])
def test_unknown_user_ids_are_404(admin, as_user, user_id):
    assert as_user(admin).get(f"/api/users/{user_id}").status_code == 404
