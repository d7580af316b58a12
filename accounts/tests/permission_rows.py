"""The permission matrix rows of the accounts endpoints, and the row format every app uses.

``topoforge/tests/test_permission_matrix.py`` collects the module-level ``ROWS`` (and
``PATH_PARAMS``) of every ``<app>/tests/permission_rows.py``, runs each row once per caller, and
fails when an endpoint under /api/ (a URL pattern and one of its HTTP methods) has no row, or a row
names an endpoint that does not exist.

The row format
--------------
``Row(method, path, anonymous, viewer, other_viewer, admin, body=None)``, or a plain tuple in that
order (``("GET", "/api/anomalies", 401, 200, 200, 200)``):

- ``method``: "GET", "POST", "PUT", "PATCH" or "DELETE" (OPTIONS and HEAD are not listed).
- ``path``: the URL with ``{placeholders}`` for its parameters, e.g. ``/api/users/{viewer_id}``.
  A query string may follow (``/api/realtime/stream?max_events=1``); it is sent but not matched.
- ``anonymous``, ``viewer``, ``other_viewer``, ``admin``: the status code each caller must get.
  ``viewer`` owns the objects the placeholders name; ``other_viewer`` is a second viewer who owns
  none of them (so they expect 404 where the issue says "not yours"), ``admin`` is an admin.
  Every caller but ``anonymous`` sends ``Authorization: Bearer <access>`` of a real session.
- ``body``: the JSON body for POST/PUT/PATCH: a dict or list, or ``callable(ctx) -> body`` when it
  needs objects of the test (``lambda ctx: {"refresh": ctx.tokens("viewer").refresh}``). Give a
  body that is valid, so the statuses show permissions and not validation.

Placeholders
------------
Built in: ``{viewer_id}``, ``{other_viewer_id}``, ``{admin_id}`` (the users) and
``{viewer_session_id}`` (the session the viewer's requests use). An app adds its own with a
module-level ``PATH_PARAMS = {"anomaly_id": make_anomaly}``: ``make_anomaly(ctx)`` returns the
object (its ``pk`` is used) or the id itself, built once per test. ``ctx`` offers ``ctx.viewer``,
``ctx.other_viewer``, ``ctx.admin`` (users), ``ctx.user("viewer")`` and ``ctx.tokens("viewer")``
(the ``accounts.tokens.TokenPair`` of that caller's session). Names must be unique across apps.

Every (row, caller) pair is a test of its own in a fresh database, so a DELETE that succeeds for
the admin never disturbs the viewer's case. Users are made by the root conftest's fixtures (alice
is the admin, victor the viewer, olga the other viewer; password "correct horse battery staple").
"""

from typing import Any, NamedTuple

PASSWORD = "correct horse battery staple"


class Row(NamedTuple):
    method: str
    path: str
    anonymous: int
    viewer: int
    other_viewer: int
    admin: int
    body: Any = None


def public(method, path, status, body=None):
    """An endpoint that answers everyone alike."""
    return Row(method, path, status, status, status, status, body)


ROWS = [
    # Public: the token of a caller, if any, is ignored.
    public(
        "POST",
        "/api/auth/register",
        201,
        {"username": "newton", "email": "newton@example.com", "password": "a-long-passphrase-42"},
    ),
    public("POST", "/api/auth/login", 200, {"username": "victor", "password": PASSWORD}),
    public("POST", "/api/auth/refresh", 200, lambda ctx: {"refresh": ctx.tokens("viewer").refresh}),
    # Your own account and sessions.
    Row("POST", "/api/auth/logout", 401, 204, 204, 204),
    Row("GET", "/api/auth/me", 401, 200, 200, 200),
    Row("PATCH", "/api/auth/me", 401, 200, 200, 200, {"first_name": "Renamed"}),
    Row("GET", "/api/auth/sessions", 401, 200, 200, 200),
    Row("DELETE", "/api/auth/sessions/{viewer_session_id}", 401, 204, 404, 404),
    # User management: admins; a viewer only themself.
    Row("GET", "/api/users", 401, 403, 403, 200),
    Row("GET", "/api/users/{viewer_id}", 401, 200, 404, 200),
    Row("PUT", "/api/users/{viewer_id}", 401, 200, 404, 200, {"email": "victor.h@example.com"}),
    Row("PATCH", "/api/users/{viewer_id}", 401, 200, 404, 200, {"last_name": "Hugo"}),
    Row("PATCH", "/api/users/{viewer_id}", 401, 403, 404, 200, {"role": "admin"}),
    Row("DELETE", "/api/users/{viewer_id}", 401, 403, 404, 204),
    Row("DELETE", "/api/users/{admin_id}", 401, 404, 404, 403),
    # The API description is public.
    public("GET", "/api/schema", 200),
    public("GET", "/api/docs", 200),
    public("GET", "/api/redoc", 200),
]
