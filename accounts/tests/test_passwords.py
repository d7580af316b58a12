"""Stored password hashes are bcrypt (cost 12), whichever way the password was set."""

import pytest
from django.contrib.auth import get_user_model

import topoforge.settings as project_settings
from accounts.tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db

BCRYPT_COST_12 = "bcrypt_sha256$$2b$12$"


@pytest.fixture(autouse=True)
def project_password_hashers(settings, fast_password_hashing):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def test_registration_stores_a_bcrypt_cost_12_hash(api_client):
    response = api_client.post(
        "/api/auth/register",
        {"username": "newton", "email": "newton@example.com", "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 201
    user = get_user_model().objects.get(username="newton")
    assert user.password.startswith(BCRYPT_COST_12)
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)


def test_password_change_stores_a_bcrypt_cost_12_hash(make_user, login_pair, bearer_client):
    user = make_user("victor")
    pair = login_pair(user)

    response = bearer_client(pair.access).patch(
        "/api/auth/me",
        {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.password.startswith(BCRYPT_COST_12)
    assert user.check_password("a brand new passphrase")
