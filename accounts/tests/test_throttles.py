"""Login and registration are rate limited per client IP and per account name."""

import os

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from freezegun import freeze_time

from accounts.models import Session
from accounts.tests.helpers import PASSWORD, error_code
from accounts.throttles import parse_rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(login="10/minute", register="10/minute"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"login": login, "register": register},
        }

    set_rates()
    return set_rates


def login(client, username="victor", password="wrong", ip="192.0.2.1", **extra):
    return client.post(
        "/api/auth/login",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        **extra,
    )


def assert_throttled(response):
    assert response.status_code == 429
    assert error_code(response) == "throttled"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@freeze_time("2026-03-01 12:00:10")
def test_the_eleventh_login_in_a_minute_from_one_ip_is_429(api_client, viewer, rates):
    for attempt in range(10):
        assert login(api_client, username=f"guess{attempt}").status_code == 401

    response = login(api_client, username="victor", password=PASSWORD)

    assert_throttled(response)
    assert response.headers["Retry-After"] == "50"  # the window ends at 12:01:00
    assert not Session.objects.exists()


def test_the_limit_lifts_when_the_window_passes(api_client, viewer, rates):
    with freeze_time("2026-03-01 12:00:00") as clock:
        rates(login="2/minute")
        login(api_client), login(api_client)
        assert_throttled(login(api_client))

        clock.tick(60)

        assert login(api_client, password=PASSWORD).status_code == 200


def test_one_account_is_limited_across_ips(api_client, viewer, rates):
    for attempt in range(10):
        assert login(api_client, ip=f"198.51.100.{attempt}").status_code == 401

    assert_throttled(login(api_client, ip="203.0.113.9", password=PASSWORD))
    assert login(api_client, username="olga", ip="203.0.113.9").status_code == 401


def test_username_and_email_of_one_account_share_a_counter(api_client, viewer, rates):
    rates(login="4/minute")
    for attempt in range(2):
        login(api_client, username="victor", ip=f"198.51.100.{attempt}")
        login(api_client, username="VICTOR@example.com", ip=f"203.0.113.{attempt}")

    assert_throttled(login(api_client, username="Victor", ip="192.0.2.200"))


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_client, rates):
    rates(login="3/minute")
    for attempt in range(3):
        login(api_client, username=f"u{attempt}", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}")

    assert_throttled(login(api_client, username="u9", HTTP_X_FORWARDED_FOR="10.0.0.99"))


def test_the_client_ip_comes_from_the_trusted_proxy_when_configured(
    api_client, viewer, rates, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(login="3/minute")
    for attempt in range(3):
        login(api_client, username=f"u{attempt}", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}")

    response = login(api_client, password=PASSWORD, HTTP_X_FORWARDED_FOR="10.0.0.99")

    assert response.status_code == 200
    assert Session.objects.get().ip_address == "10.0.0.99"


def test_registration_is_limited_per_ip(api_client, rates):
    rates(register="2/minute")
    for index in range(2):
        response = api_client.post(
            "/api/auth/register",
            {"username": f"n{index}", "email": f"n{index}@example.com", "password": PASSWORD},
            format="json",
        )
        assert response.status_code == 201

    response = api_client.post(
        "/api/auth/register",
        {"username": "n9", "email": "n9@example.com", "password": PASSWORD},
        format="json",
    )

    assert_throttled(response)


def test_registration_is_limited_per_name_across_ips(api_client, rates):
    rates(register="2/minute")
    body = {"username": "taken", "email": "taken@example.com", "password": "short"}
    for attempt in range(2):
        api_client.post(
            "/api/auth/register", body, format="json", REMOTE_ADDR=f"198.51.100.{attempt}"
        )

    response = api_client.post("/api/auth/register", body, format="json", REMOTE_ADDR="203.0.113.1")

    assert_throttled(response)


def test_login_and_registration_count_separately(api_client, viewer, rates):
    rates(login="1/minute", register="1/minute")
    login(api_client)

    response = api_client.post(
        "/api/auth/register",
        {"username": "newton", "email": "newton@example.com", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="192.0.2.1",
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "rate, parsed",
    [("10/minute", (10, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("1/day", (1, 86400))],
)
def test_rates_are_parsed_like_drf(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["ten/minute", "10", "10/fortnight", "10/"])
def test_a_malformed_rate_is_a_configuration_error(rate):
    with pytest.raises(ImproperlyConfigured, match="Throttle rate"):
        parse_rate(rate)


@pytest.mark.redis
def test_counters_live_in_redis_where_every_process_sees_them(api_client, rates):
    """REDIS_URL makes the default cache Redis; a second client stands in for another process."""
    from django.core.cache.backends.redis import RedisCache

    rates(login="2/minute")
    login(api_client), login(api_client)
    other_process = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": cache.key_prefix})

    keys = other_process._cache.get_client().keys(f"{cache.key_prefix}*throttle:login:ip:*")

    assert len(keys) == 1
    assert_throttled(login(api_client))


def test_guessing_the_current_password_is_limited_like_logins(
    viewer, login_pair, bearer_client, rates
):
    rates(login="3/minute")
    client = bearer_client(login_pair(viewer).access)
    guess = {"current_password": "guess", "new_password": "a brand new passphrase"}
    for _ in range(3):
        assert client.patch("/api/auth/me", guess, format="json").status_code == 400

    assert_throttled(
        client.patch("/api/auth/me", {**guess, "current_password": PASSWORD}, format="json")
    )
    viewer.refresh_from_db()
    assert viewer.check_password(PASSWORD)
    assert client.patch("/api/auth/me", {"first_name": "V"}, format="json").status_code == 200
