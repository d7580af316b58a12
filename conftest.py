"""Suite-wide fixtures: users of each role, API clients, and the rules for external services.

A test that needs PostgreSQL, Redis or a browser carries a marker (see pytest.ini). Without the
service it is skipped with a message saying how to provide it, or fails when
TOPOFORGE_REQUIRE_SERVICES=1 (CI), so a missing service never hides behind a skip there.
"""
import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("TOPOFORGE_REQUIRE_SERVICES") == "1"


def _reachable(url, default_port):
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def _service_missing(item):
    """Why ``item`` cannot run here, or None. Mongo is never required: no server exists here."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if item.get_closest_marker("postgres") and "postgresql" not in engine:
        return "needs PostgreSQL: set DATABASE_URL=postgres://user@127.0.0.1:5432/test", True
    if item.get_closest_marker("redis"):
        url = os.environ.get("REDIS_URL", "")
        if not url or not _reachable(url, 6379):
            return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0 to a running server", True
    if item.get_closest_marker("mongodb") and not os.environ.get("TOPOFORGE_TEST_MONGODB_URI"):
        return "needs MongoDB: set TOPOFORGE_TEST_MONGODB_URI (see README)", False
    if item.get_closest_marker("browser") and not shutil.which("chromedriver"):
        return "needs a browser: apt-get install chromium chromium-driver", True
    return None


def pytest_runtest_setup(item):
    missing = _service_missing(item)
    if missing:
        reason, required = missing
        if required and REQUIRE_SERVICES:
            pytest.fail(f"{reason} (TOPOFORGE_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)


def _clear_our_cache_keys():
    """Delete this project's cache keys only. ``cache.clear()`` on Redis is FLUSHDB: it would wipe
    whatever else lives in the database REDIS_URL names, including another suite's keys."""
    backend = caches["default"]  # ``cache`` is a proxy: isinstance needs the backend itself
    if not isinstance(backend, RedisCache):
        backend.clear()
        return
    client = backend._cache.get_client(write=True)
    keys = list(client.scan_iter(match=backend.make_key("*"), count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached session checks must not leak between tests."""
    _clear_our_cache_keys()
    yield
    _clear_our_cache_keys()


@pytest.fixture
def make_user(django_user_model):
    def make(username, role="viewer", password="correct horse battery staple", **fields):
        fields.setdefault("email", f"{username}@example.com")
        return django_user_model.objects.create_user(
            username=username, password=password, role=role, **fields
        )

    return make


@pytest.fixture
def admin(make_user):
    return make_user("alice", role="admin")


@pytest.fixture
def viewer(make_user):
    return make_user("victor")


@pytest.fixture
def other_viewer(make_user):
    return make_user("olga")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated as ``user`` (bypasses login; the accounts tests cover that)."""

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make
