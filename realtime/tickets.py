"""Single-use WebSocket/SSE tickets: a long-lived token never has to appear in a URL.

``POST /api/realtime/ticket`` stores the caller's ``Identity`` in the cache under the hash of a
random ticket for ``REALTIME_TICKET_TTL_SECONDS``. Redeeming deletes the entry; only the caller
whose delete removed it gets the identity, so a ticket works once even when two processes race
(the cache is Redis when REDIS_URL is set, hence shared by every process).
"""
import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from realtime.identity import Identity

TICKET_BYTES = 32


def _key(ticket):
    return "realtime:ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(identity):
    """Returns ``(ticket, expires_at)``."""
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    ttl = settings.REALTIME_TICKET_TTL_SECONDS
    cache.set(_key(ticket), identity.as_dict(), timeout=ttl)
    return ticket, timezone.now() + timedelta(seconds=ttl)


def redeem_ticket(ticket):
    """The ticket's identity, or None when it is unknown, expired or already used."""
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100:
        return None
    key = _key(ticket)
    stored = cache.get(key)
    if stored is None or not cache.delete(key):
        return None
    return Identity(**stored)
