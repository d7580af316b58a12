"""Issuing, verifying and rotating the JWT pair of a login session.

SimpleJWT encodes and verifies the tokens (HS256 with JWT_SECRET); revocation lives in
``accounts.Session``. Every token carries its session's id (``sid``); the session remembers the jti
of its one valid refresh token, so rotating a refresh token is a compare-and-swap on that jti, and
a refresh token presented after it was rotated ends the whole session (someone else holds a copy).
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework_simplejwt.exceptions import ExpiredTokenError
from rest_framework_simplejwt.exceptions import TokenError as SimpleJWTTokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from accounts.exceptions import TokenExpired, TokenInvalid, TokenRevoked
from accounts.models import Session

logger = logging.getLogger(__name__)


class SessionAccessToken(AccessToken):
    """An access token whose lifetime follows settings at issue time (tests may change it)."""

    @property
    def lifetime(self):
        return settings.JWT_ACCESS_LIFETIME


class SessionRefreshToken(RefreshToken):
    @property
    def lifetime(self):
        return settings.JWT_REFRESH_LIFETIME


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    session: Session
    token_type: ClassVar[str] = "Bearer"


def decode(raw_token, token_class):
    """Verify signature, algorithm, expiry and type; map failures to the API's 401 codes."""
    if isinstance(raw_token, bytes):
        raw_token = raw_token.decode("ascii", errors="replace")
    if not isinstance(raw_token, str) or not raw_token:
        raise TokenInvalid()
    try:
        token = token_class(raw_token)
    except ExpiredTokenError:
        raise TokenExpired() from None
    except SimpleJWTTokenError:
        raise TokenInvalid() from None
    if not token.get("sid") or not token.get("user_id"):
        raise TokenInvalid("The token names no session.")
    return token


def issue_token_pair(user, *, user_agent="", ip_address=None):
    """Start a session for ``user`` (who has just proved their password) and return its tokens."""
    refresh = SessionRefreshToken()
    session = Session.objects.create(
        user=user,
        jti=refresh["jti"],
        expires_at=datetime_from_epoch(refresh["exp"]),
        user_agent=(user_agent or "")[: Session._meta.get_field("user_agent").max_length],
        ip_address=ip_address or None,
    )
    return _pair(user, session, refresh)


def rotate_refresh_token(raw_refresh):
    """Exchange a refresh token for a new pair; the presented one stops working.

    Raises TokenInvalid/TokenExpired for a bad token and TokenRevoked when the session has ended,
    the user is gone or deactivated, or the token was already rotated (which ends the session).
    """
    token = decode(raw_refresh, SessionRefreshToken)
    session = _session_of(token)
    if session is None or session.revoked_at is not None:
        raise TokenRevoked()
    if str(session.user_id) != str(token["user_id"]):
        raise TokenInvalid()
    if session.expires_at <= timezone.now():
        raise TokenExpired()
    user = get_user_model().objects.filter(pk=session.user_id).first()
    if user is None or not user.is_active:
        Session.objects.filter(pk=session.pk).revoke("user_inactive")
        raise TokenRevoked("This account is disabled.")
    if session.jti != token["jti"]:
        _end_reused_session(session)

    refresh = SessionRefreshToken()
    swapped = Session.objects.filter(
        pk=session.pk, jti=token["jti"], revoked_at__isnull=True
    ).update(
        jti=refresh["jti"],
        expires_at=datetime_from_epoch(refresh["exp"]),
        last_used_at=timezone.now(),
    )
    if not swapped:  # a concurrent request rotated the same token first
        _end_reused_session(session)
    session.refresh_from_db()
    return _pair(user, session, refresh)


def _session_of(token):
    try:
        return Session.objects.filter(pk=token["sid"]).first()
    except (TypeError, ValueError, ValidationError):  # a sid that is no id on this database
        raise TokenInvalid() from None


def _end_reused_session(session):
    Session.objects.filter(pk=session.pk).revoke("refresh_reuse")
    logger.warning(
        "A rotated refresh token of session %s (user %s) was presented again; session revoked",
        session.pk,
        session.user_id,
    )
    raise TokenRevoked("This refresh token was already used; the session has been ended.")


def _pair(user, session, refresh):
    refresh["user_id"] = str(user.pk)
    refresh["sid"] = str(session.pk)

    access = SessionAccessToken()
    # An access token never outlives its session.
    access["exp"] = min(access["exp"], datetime_to_epoch(session.expires_at))
    access["user_id"] = str(user.pk)
    access["username"] = user.username
    access["role"] = user.role
    access["sid"] = str(session.pk)
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        access_expires_at=datetime_from_epoch(access["exp"]),
        refresh_expires_at=datetime_from_epoch(refresh["exp"]),
        session=session,
    )
