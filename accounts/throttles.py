"""Rate limits on login and registration, per client IP and per account name.

Counters live in the default cache (Redis when REDIS_URL is set, so every process counts
together) as fixed windows: ``cache.add`` + ``cache.incr`` are atomic there, so concurrent
guesses cannot slip past the limit the way DRF's read-modify-write history can. Rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``login``, ``register``; set from the environment),
read at request time. A refused request answers 429 with ``Retry-After``.
"""

import hashlib
import time
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate):
    """``"10/minute"`` → ``(10, 60)``; the period is read from its first letter, as DRF does."""
    try:
        count, period = rate.split("/")
        return int(count), PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(
            f"Throttle rate {rate!r} is not '<count>/<second|minute|hour|day>'"
        ) from None


def _body(request):
    """The JSON object of the request, or {} when the body is something else (a list, a string)."""
    return request.data if isinstance(request.data, Mapping) else {}


class FixedWindowThrottle(BaseThrottle):
    """Allow ``rate`` requests per window and per identity; subclasses say what the identity is."""

    scope = None  # the key in DEFAULT_THROTTLE_RATES
    kind = None  # "ip" or "account": part of the cache key

    def identities(self, request):
        """The strings to count this request against (none: not limited by this throttle)."""
        raise NotImplementedError

    def allow_request(self, request, view):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if not rate:
            return True
        limit, window = parse_rate(rate)
        now = time.time()
        window_start = int(now // window * window)
        self._retry_after = window_start + window - now
        for identity in self.identities(request):
            digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
            key = f"throttle:{self.scope}:{self.kind}:{digest}:{window_start}"
            cache.add(key, 0, timeout=window + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # the entry expired between add and incr
                cache.add(key, 1, timeout=window + 1)
                count = 1
            if count > limit:
                return False
        return True

    def wait(self):
        return max(self._retry_after, 1)


class IPThrottle(FixedWindowThrottle):
    kind = "ip"

    def identities(self, request):
        # DRF's get_ident honours X-Forwarded-For only through NUM_PROXIES trusted proxies.
        return [self.get_ident(request)]


class AccountThrottle(FixedWindowThrottle):
    """Counts attempts against the account names in the request body, lower-cased."""

    kind = "account"
    fields = ()

    def identities(self, request):
        data = _body(request)
        values = (data.get(field) for field in self.fields)
        return [
            self.canonical(v.strip().lower()) for v in values if isinstance(v, str) and v.strip()
        ]

    def canonical(self, name):
        return name


class LoginIPThrottle(IPThrottle):
    scope = "login"


class LoginAccountThrottle(AccountThrottle):
    """A username and its email address share one counter: both name the same account."""

    scope = "login"
    fields = ("username", "email")

    def identities(self, request):
        return list(dict.fromkeys(super().identities(request)))

    def canonical(self, name):
        user_id = (
            get_user_model()
            .objects.filter(Q(username__iexact=name) | Q(email__iexact=name))
            .values_list("pk", flat=True)
            .first()
        )
        return f"user:{user_id}" if user_id is not None else f"name:{name}"


class RegisterIPThrottle(IPThrottle):
    scope = "register"


class RegisterAccountThrottle(AccountThrottle):
    scope = "register"
    fields = ("username", "email")


class PasswordCheckThrottle(FixedWindowThrottle):
    """Guesses of the current password in a password change count like login attempts.

    Otherwise a stolen access token would allow unlimited guesses at the account's password.
    """

    scope = "login"
    kind = "password-change"

    def identities(self, request):
        if "current_password" not in _body(request) or not request.user.is_authenticated:
            return []
        return [f"user:{request.user.pk}"]
