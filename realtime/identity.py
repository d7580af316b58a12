"""Who a realtime client is, how it proved it, and whether that proof still holds.

A WebSocket or SSE connection outlives the request that opened it, so the connection keeps an
``Identity`` and re-checks it periodically: a logout, a revoked session or a deactivated account
closes the stream within ``REALTIME_SESSION_CHECK_SECONDS``.
"""
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from accounts.authentication import authenticate_access_token, session_is_active
from accounts.models import Session

# Close codes of /ws/anomalies (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408


class AuthFailure(Exception):
    def __init__(self, code, message, close_code=CLOSE_UNAUTHENTICATED):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    # Exactly one of these says what to re-check: an API login session (JWT) or a dashboard login.
    session_id: str | None = None
    django_session_key: str | None = None

    def as_dict(self):
        return asdict(self)


def identity_from_access_token(raw_token):
    """Raises ``accounts.authentication.TokenError`` (with ``error_code``) for a bad token."""
    user, session = authenticate_access_token(raw_token)
    return Identity(str(user.pk), user.username, session_id=str(session.pk))


def identity_from_request(request):
    """The identity of an authenticated DRF request: ticket, bearer token or Django session."""
    if isinstance(request.auth, Identity):
        return request.auth
    if isinstance(request.auth, Session):
        return Identity(str(request.user.pk), request.user.username, session_id=str(request.auth.pk))
    session_key = request._request.session.session_key
    return Identity(str(request.user.pk), request.user.username, django_session_key=session_key)


def identity_from_django_session(user, session_key):
    return Identity(str(user.pk), user.username, django_session_key=session_key)


def revocation_reason(identity):
    """None while the identity still holds; else the error code to close the stream with."""
    if identity.session_id is not None and not session_is_active(identity.session_id):
        return "token_revoked"
    if identity.django_session_key is not None and not _django_session_holds(identity):
        return "session_ended"
    if not get_user_model().objects.filter(pk=identity.user_id, is_active=True).exists():
        return "user_inactive"
    return None


def _django_session_holds(identity):
    """The dashboard login is still there: same user, same password (Django's session hash)."""
    store = import_string(settings.SESSION_ENGINE).SessionStore(identity.django_session_key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != identity.user_id or BACKEND_SESSION_KEY not in data:
        return False
    user = get_user_model().objects.filter(pk=identity.user_id).first()
    if user is None:
        return False
    return constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


def origin_allowed(origin, host, scheme="http"):
    """A browser may only open a stream from this site or an origin configured as trusted.

    No Origin header (a non-browser client) is allowed: cross-site hijacking needs a browser.
    """
    if not origin:
        return True
    trusted = {o.rstrip("/") for o in (*settings.CSRF_TRUSTED_ORIGINS, *settings.CORS_ALLOWED_ORIGINS)}
    origin = origin.rstrip("/")
    if origin in trusted:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not host:
        return False
    secure_pair = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
    return parts.netloc.lower() == host.lower() and parts.scheme == secure_pair.get(scheme, scheme)
