"""Start-up check of the database: say which one is in use, and fail in one line when it is down.

``setup_database``, the ASGI entry point and ``manage.py`` (for any other command that fails to
connect) call this, so an operator sees ``cannot reach the database postgresql db:5432/topoforge:
connection refused`` instead of a page of traceback.
"""
import logging

from django.db import DatabaseError, connections

from topoforge.config import ConfigurationError, describe_database, is_mongodb

logger = logging.getLogger("topoforge.startup")


class DatabaseUnavailable(ConfigurationError):
    """The configured database does not answer; the message is one line naming it."""


def _connection_errors():
    errors = [DatabaseError]
    try:
        from pymongo.errors import PyMongoError
    except ImportError:  # pragma: no cover - pymongo comes with django-mongodb-backend
        pass
    else:
        errors.append(PyMongoError)
    return tuple(errors)


def _one_line_reason(error, settings_dict):
    """The first line of a driver's error, without pymongo's topology dump and any password."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    reason = reason.split(", Timeout:", 1)[0]  # pymongo appends the whole topology after this
    password = settings_dict.get("PASSWORD")
    if password:
        reason = reason.replace(password, "***")
    return reason[:300]


def ping_database(alias="default"):
    """Connect to the database and run a trivial command; return its description.

    Raises ``DatabaseUnavailable`` when it cannot be reached. MongoDB connects lazily, so a
    ``ping`` is what proves the server answers (after ``serverSelectionTimeoutMS``).
    """
    connection = connections[alias]
    description = describe_database(connection.settings_dict)
    try:
        if is_mongodb(connection.settings_dict):
            connection.database.command("ping")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except _connection_errors() as error:
        reason = _one_line_reason(error, connection.settings_dict)
        raise DatabaseUnavailable(f"cannot reach the database {description}: {reason}") from None
    return description


def check_database_on_start(alias="default"):
    """Log the database in use, or raise ``DatabaseUnavailable`` (one line) if it is down."""
    description = ping_database(alias)
    logger.info("database: %s", description)
    connections[alias].close()  # the check's connection is not the one requests will use
    return description


def unreachable_database_message(error, alias="default"):
    """For a command that failed with ``error``: the one-line reason if the database is down.

    Returns None when the error is not a connection problem (a missing table, a bug), which the
    caller then lets surface with its traceback.
    """
    if isinstance(error, DatabaseUnavailable):
        return str(error)
    if not isinstance(error, _connection_errors()):
        return None
    try:
        ping_database(alias)
    except DatabaseUnavailable as unavailable:
        return str(unavailable)
    return None
