"""Every bad token answers 401 with the code that says why, never a 500 or a 403."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from freezegun import freeze_time

from accounts.tests.helpers import claims, error_code

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def assert_401(response, code):
    assert response.status_code == 401, response.content
    assert error_code(response) == code
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def forged(payload, key=None, algorithm="HS256"):
    """A token signed by PyJWT directly, as an attacker would build it."""
    return jwt.encode(payload, key or settings.JWT_SECRET, algorithm=algorithm)


def test_no_token_is_token_missing(api_client):
    assert_401(api_client.get(ME), "token_missing")


def test_a_valid_token_authenticates(viewer, login_pair, bearer_client):
    response = bearer_client(login_pair(viewer).access).get(ME)

    assert response.status_code == 200
    assert response.json()["username"] == "victor"


def test_expired_access_token_is_token_expired(viewer, login_pair, bearer_client):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        clock.tick(timedelta(hours=24, seconds=1))

        assert_401(bearer_client(pair.access).get(ME), "token_expired")


def test_access_token_works_until_its_last_second(viewer, login_pair, bearer_client):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        clock.tick(timedelta(hours=23, minutes=59, seconds=59))

        assert bearer_client(pair.access).get(ME).status_code == 200


def test_expired_refresh_token_is_token_expired(api_client, viewer, login_pair):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        clock.tick(timedelta(days=7, seconds=1))

        response = api_client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")

    assert_401(response, "token_expired")


def test_tampered_signature_is_token_invalid(viewer, login_pair, bearer_client):
    header, payload, signature = login_pair(viewer).access.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    assert_401(bearer_client(f"{header}.{payload}.{flipped}").get(ME), "token_invalid")


def test_tampered_payload_is_token_invalid(viewer, admin, login_pair, bearer_client):
    header, payload, signature = login_pair(viewer).access.split(".")
    body = claims(login_pair(viewer).access)
    body.update(user_id=str(admin.pk), role="admin")
    raised = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")

    assert_401(bearer_client(f"{header}.{raised}.{signature}").get(ME), "token_invalid")


def test_alg_none_is_token_invalid(viewer, login_pair, bearer_client):
    payload = claims(login_pair(viewer).access)
    unsigned = jwt.encode(payload, None, algorithm="none")
    assert unsigned.endswith(".")  # no signature at all

    assert_401(bearer_client(unsigned).get(ME), "token_invalid")


def test_wrong_secret_is_token_invalid(viewer, login_pair, bearer_client):
    payload = claims(login_pair(viewer).access)
    token = forged(payload, key="another-secret-that-is-long-enough-for-hs256")

    assert_401(bearer_client(token).get(ME), "token_invalid")


def test_another_algorithm_with_the_right_secret_is_token_invalid(
    viewer, login_pair, bearer_client
):
    payload = claims(login_pair(viewer).access)

    assert_401(bearer_client(forged(payload, algorithm="HS512")).get(ME), "token_invalid")


def test_refresh_token_is_not_an_access_token(viewer, login_pair, bearer_client):
    assert_401(bearer_client(login_pair(viewer).refresh).get(ME), "token_invalid")


def test_access_token_is_not_a_refresh_token(api_client, viewer, login_pair):
    response = api_client.post(
        "/api/auth/refresh", {"refresh": login_pair(viewer).access}, format="json"
    )

    assert_401(response, "token_invalid")


def test_a_token_without_a_session_is_token_invalid(viewer, login_pair, bearer_client):
    payload = claims(login_pair(viewer).access)
    del payload["sid"]

    assert_401(bearer_client(forged(payload)).get(ME), "token_invalid")


def test_a_signed_token_naming_a_deleted_session_is_token_revoked(
    viewer, login_pair, bearer_client
):
    payload = claims(login_pair(viewer).access)
    gone = login_pair(viewer).session
    payload["sid"] = str(gone.pk)
    gone.delete()

    assert_401(bearer_client(forged(payload)).get(ME), "token_revoked")


def test_a_signed_token_naming_a_session_id_of_the_wrong_type_is_token_invalid(
    viewer, login_pair, bearer_client
):
    payload = claims(login_pair(viewer).access)
    payload["sid"] = "not-an-id"
    if settings.USING_MONGODB:
        pytest.skip("every string may be looked up on MongoDB")

    assert_401(bearer_client(forged(payload)).get(ME), "token_invalid")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer garbage", "Bearer ....."])
def test_malformed_authorization_headers_are_token_invalid(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)

    assert_401(api_client.get(ME), "token_invalid")


def test_another_scheme_counts_as_no_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Basic dmljdG9yOnNlY3JldA==")

    assert_401(api_client.get(ME), "token_missing")


def test_a_token_of_a_deleted_user_is_token_revoked(viewer, login_pair, bearer_client):
    client = bearer_client(login_pair(viewer).access)
    assert client.get(ME).status_code == 200  # the session is now cached
    viewer.delete()

    assert_401(client.get(ME), "token_revoked")


def test_a_token_of_a_deactivated_user_is_token_revoked(viewer, login_pair, bearer_client):
    client = bearer_client(login_pair(viewer).access)
    assert client.get(ME).status_code == 200
    viewer.is_active = False
    viewer.save()  # e.g. in Django admin: the sessions stay, the user check catches it

    assert_401(client.get(ME), "token_revoked")
