"""JWT authentication that honours logout: a token is only as alive as its session.

SimpleJWT verifies signature, algorithm and expiry but never revokes an access token. Here every
authenticated request also checks the token's ``accounts.Session`` (through a cache of at most
``session_cache.SESSION_CACHE_SECONDS``, cleared when a session is revoked) and loads the user, so
a logout, a password change or a deactivated account takes effect at once.

``request.auth`` is the ``accounts.Session`` of the token. The realtime WebSocket and SSE code
calls ``authenticate_access_token`` and ``session_is_active`` directly.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts import session_cache, tokens
from accounts.exceptions import (  # noqa: F401  (re-exported: the interface other apps import)
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    TokenRevoked,
)
from accounts.models import Session

# last_used_at is written at most this often per session: a write per request would be wasteful.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class SessionJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access token>`` whose session is still active."""

    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        try:
            raw_token = self.get_raw_token(header)
        except AuthenticationFailed:
            raise TokenInvalid("The Authorization header must be 'Bearer <token>'.") from None
        if raw_token is None:
            return None  # another scheme: let the next authentication class look at it
        return authenticate_access_token(raw_token)


def authenticate_access_token(raw_token):
    """The (user, session) of a valid access token of an active session; else a ``TokenError``."""
    if not raw_token:
        raise TokenMissing()
    token = tokens.decode(raw_token, tokens.SessionAccessToken)
    session = _cached_session(token["sid"])
    if session is None:
        raise TokenRevoked()
    if str(session.user_id) != str(token["user_id"]):
        raise TokenInvalid()
    if session.expires_at <= timezone.now():
        raise TokenExpired("The session has expired; log in again.")
    user = get_user_model().objects.filter(pk=session.user_id).first()
    if user is None or not user.is_active:
        raise TokenRevoked("This account has been deleted or disabled.")
    return user, session


def session_is_active(session_id):
    """Whether the session exists, is not revoked and has not expired (cached briefly)."""
    try:
        session = _cached_session(session_id)
    except TokenInvalid:
        return False
    return session is not None and session.expires_at > timezone.now()


def current_session_id(request):
    """The id of the session a request authenticated with, or None (e.g. a Django login)."""
    auth = getattr(request, "auth", None)
    return auth.pk if isinstance(auth, Session) else None


def _cached_session(session_id):
    """The unrevoked ``Session`` with this id, or None; from the cache when it is fresh."""
    cached = session_cache.get(session_id)
    if cached is not None:
        return None if cached == session_cache.ENDED else cached
    try:
        session = Session.objects.filter(pk=session_id, revoked_at__isnull=True).first()
    except (TypeError, ValueError, ValidationError):  # not an id on this database
        raise TokenInvalid() from None
    session_cache.remember(session_id, session or session_cache.ENDED)
    if session is not None:
        _touch(session)
    return session


def _touch(session):
    now = timezone.now()
    if session.last_used_at is None or now - session.last_used_at >= LAST_USED_RESOLUTION:
        Session.objects.filter(pk=session.pk).update(last_used_at=now)
        session.last_used_at = now
