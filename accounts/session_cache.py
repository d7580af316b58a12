"""A short-lived cache of session state, so checking the session on every request stays cheap.

An entry lives at most ``SESSION_CACHE_SECONDS``; revoking a session deletes its entry, which makes
the revocation immediate in every process sharing the cache (Redis) and in the revoking process
otherwise (the per-process memory cache), and effective everywhere within the TTL in any case.
"""

from django.core.cache import cache

SESSION_CACHE_SECONDS = 5

# Cached for a session id that names no session or a revoked one; never None, which means a miss.
ENDED = "ended"


def _key(session_id):
    return f"accounts:session:{session_id}"


def get(session_id):
    """The cached ``Session`` instance, ``ENDED``, or None when nothing is cached."""
    return cache.get(_key(session_id))


def remember(session_id, session_or_ended):
    cache.set(_key(session_id), session_or_ended, SESSION_CACHE_SECONDS)


def forget(session_ids):
    cache.delete_many([_key(session_id) for session_id in session_ids])
