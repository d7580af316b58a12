"""POST /api/auth/register: a new viewer, or a 400 naming the field."""

import pytest
from django.contrib.auth import get_user_model

from accounts.tests.helpers import PASSWORD, error_code

pytestmark = pytest.mark.django_db

User = get_user_model()


def register(client, **fields):
    body = {"username": "newton", "email": "newton@example.com", "password": PASSWORD, **fields}
    return client.post("/api/auth/register", body, format="json")


def test_register_creates_a_viewer(api_client):
    response = register(api_client, email="Newton@Example.COM")

    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(username="newton")
    assert body["id"] == str(user.pk)
    assert body["role"] == user.role == "viewer"
    assert body["email"] == user.email == "newton@example.com"
    assert (user.is_staff, user.is_superuser, user.is_active) == (False, False, True)
    assert user.check_password(PASSWORD)
    assert "password" not in body


def test_register_ignores_a_requested_admin_role(api_client):
    response = register(api_client, role="admin", is_staff=True)

    assert response.status_code == 201
    user = User.objects.get(username="newton")
    assert (user.role, user.is_staff) == ("viewer", False)


@pytest.mark.parametrize("taken", ["victor", "VICTOR"])
def test_register_duplicate_username_names_the_field(api_client, make_user, taken):
    make_user("victor")

    response = register(api_client, username=taken)

    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert list(response.json()["error"]["fields"]) == ["username"]
    assert User.objects.count() == 1


def test_register_duplicate_email_names_the_field(api_client, make_user):
    make_user("victor", email="victor@example.com")

    response = register(api_client, email="VICTOR@example.com")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["email"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "newton1234"])
def test_register_weak_password_is_refused_by_djangos_validators(api_client, password):
    response = register(api_client, password=password)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["password"]
    assert not User.objects.exists()


def test_register_missing_and_malformed_fields_are_named(api_client):
    response = api_client.post(
        "/api/auth/register", {"username": "bad name!", "email": "nope"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"username", "email", "password"}
    assert not User.objects.exists()


def test_register_rejects_a_body_that_is_not_json(api_client):
    response = api_client.post("/api/auth/register", "{oops", content_type="application/json")

    assert response.status_code == 400
    assert error_code(response) == "parse_error"
    assert not User.objects.exists()
