"""Logging out ends the session: its access and refresh tokens both stop working at once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from accounts.authentication import session_is_active
from accounts.models import Session
from accounts.tests.helpers import error_code

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


@pytest.fixture
def memory_cache(settings):
    """A frozen clock moves the expiry of an in-process cache, not of a Redis server."""
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()  # a memory cache outlives the test that filled it
    yield
    cache.clear()


def test_logout_revokes_access_and_refresh_token(api_client, viewer, login_pair, bearer_client):
    pair = login_pair(viewer)
    client = bearer_client(pair.access)
    assert client.get(ME).status_code == 200  # warm the session cache first

    response = client.post("/api/auth/logout")

    assert response.status_code == 204
    session = Session.objects.get(pk=pair.session.pk)
    assert session.revoked_at is not None
    assert session.revoked_reason == "logout"
    after = client.get(ME)
    assert after.status_code == 401
    assert error_code(after) == "token_revoked"
    refreshed = api_client.post("/api/auth/refresh", {"refresh": pair.refresh}, format="json")
    assert refreshed.status_code == 401
    assert error_code(refreshed) == "token_revoked"


def test_logout_leaves_the_users_other_sessions_alone(viewer, login_pair, bearer_client):
    laptop, phone = login_pair(viewer), login_pair(viewer)

    bearer_client(laptop.access).post("/api/auth/logout")

    assert bearer_client(phone.access).get(ME).status_code == 200
    assert list(Session.objects.active()) == [phone.session]


def test_logout_twice_is_token_revoked(viewer, login_pair, bearer_client):
    client = bearer_client(login_pair(viewer).access)
    client.post("/api/auth/logout")

    response = client.post("/api/auth/logout")

    assert response.status_code == 401
    assert error_code(response) == "token_revoked"


def test_logout_needs_a_token(api_client):
    response = api_client.post("/api/auth/logout")

    assert response.status_code == 401
    assert error_code(response) == "token_missing"


def test_revoking_elsewhere_is_immediate_through_a_warm_cache(viewer, login_pair, bearer_client):
    """An admin action or another process revokes with SessionQuerySet.revoke()."""
    pair = login_pair(viewer)
    client = bearer_client(pair.access)
    assert client.get(ME).status_code == 200
    assert session_is_active(pair.session.pk)

    Session.objects.filter(user=viewer).revoke("revoked by an administrator")

    assert not session_is_active(pair.session.pk)
    assert error_code(client.get(ME)) == "token_revoked"


def test_a_revocation_that_bypasses_the_cache_holds_within_five_seconds(
    viewer, login_pair, bearer_client, memory_cache
):
    """The upper bound when nobody clears the entry (a raw UPDATE): the cache TTL."""
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        client = bearer_client(pair.access)
        assert client.get(ME).status_code == 200
        Session.objects.filter(pk=pair.session.pk).update(revoked_at=timezone.now())

        clock.tick(timedelta(seconds=5, milliseconds=1))

        assert error_code(client.get(ME)) == "token_revoked"
        assert not session_is_active(pair.session.pk)


def test_requests_mark_the_session_used(viewer, login_pair, bearer_client, memory_cache):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair = login_pair(viewer)
        bearer_client(pair.access).get(ME)
        assert Session.objects.get(pk=pair.session.pk).last_used_at == timezone.now()

        clock.tick(timedelta(minutes=2))
        bearer_client(pair.access).get(ME)

        assert Session.objects.get(pk=pair.session.pk).last_used_at == timezone.now()


def test_session_is_active_is_false_for_unknown_and_expired_sessions(viewer, login_pair):
    with freeze_time("2026-03-01 12:00:00") as clock:
        pair, gone = login_pair(viewer), login_pair(viewer)
        gone_id = gone.session.pk
        gone.session.delete()
        assert session_is_active(pair.session.pk)
        assert not session_is_active(gone_id)
        assert not session_is_active("not-an-id")

        clock.tick(timedelta(days=7, seconds=1))

        assert not session_is_active(pair.session.pk)


@pytest.mark.redis
def test_session_checks_are_cached_in_redis_for_at_most_five_seconds(
    viewer, login_pair, bearer_client
):
    from django.core.cache import cache

    pair = login_pair(viewer)
    bearer_client(pair.access).get(ME)
    client = cache._cache.get_client()
    key = cache.make_key(f"accounts:session:{pair.session.pk}")

    assert 0 < client.ttl(key) <= 5
    Session.objects.filter(pk=pair.session.pk).revoke("logout")
    assert client.exists(key) == 0
