"""The one index Django's MongoDB backend cannot declare: a TTL index on sessions' expiry.

django-mongodb-backend creates the indexes of ``Meta.indexes`` but has no TTL option, so
``setup_database`` adds it here with pymongo, on the database of the Django connection. The
migration already made a plain index on ``expires_at``; MongoDB refuses a second index with the
same key, so that index is turned into a TTL index (``collMod``) instead of duplicated.
"""
from django.conf import settings
from pymongo.errors import OperationFailure

SECONDS_PER_DAY = 24 * 3600


def ensure_ttl_index(database, collection_name, field, expire_after_seconds):
    """Make ``{field: 1}`` a TTL index of ``expire_after_seconds``.

    Returns "present" (nothing to do), "updated" (an index on the field now expires documents,
    or expires them after the new delay) or "created".
    """
    collection = database[collection_name]
    for name, info in collection.index_information().items():
        if info["key"] != [(field, 1)]:
            continue
        if info.get("expireAfterSeconds") == expire_after_seconds:
            return "present"
        try:
            database.command(
                "collMod",
                collection_name,
                index={"keyPattern": {field: 1}, "expireAfterSeconds": expire_after_seconds},
            )
        except OperationFailure:
            # MongoDB before 5.1 cannot turn a plain index into a TTL one: rebuild it, same name.
            collection.drop_index(name)
            collection.create_index(
                [(field, 1)], name=name, expireAfterSeconds=expire_after_seconds
            )
        return "updated"
    collection.create_index(
        [(field, 1)], name=f"{field}_ttl", expireAfterSeconds=expire_after_seconds
    )
    return "created"


def session_ttl():
    """Collection, field and delay of the sessions' TTL index (kept this long after expiry)."""
    from accounts.models import Session

    return (
        Session._meta.db_table,
        Session._meta.get_field("expires_at").column,
        settings.TOPOFORGE_SESSION_RETENTION_DAYS * SECONDS_PER_DAY,
    )


def ensure_session_ttl_index(connection):
    """``ensure_ttl_index`` for ``accounts.Session.expires_at`` on a MongoDB Django connection."""
    collection_name, field, seconds = session_ttl()
    return ensure_ttl_index(connection.database, collection_name, field, seconds)
